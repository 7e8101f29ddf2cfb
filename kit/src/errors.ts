/**
 * The error base of every Sluice boundary. Each boundary has one subclass with its own const list
 * of codes (lowercase snake_case, stable: tests, dead-letter headers and metric labels carry them),
 * and every failure says two things a caller can act on without parsing text: which kind it was
 * (`code`) and whether the same work may succeed if tried again (`retryable`). The original error
 * is kept as `cause`.
 *
 * Messages say what was expected and what came, so a user can fix their input from the message
 * alone.
 */

export interface SluiceErrorOptions {
  readonly cause?: unknown;
  /** @default the subclass's answer for the code */
  readonly retryable?: boolean;
}

export abstract class SluiceError<Code extends string = string> extends Error {
  /** Whether doing the same work again later may succeed. */
  readonly retryable: boolean;

  constructor(
    readonly code: Code,
    message: string,
    options: SluiceErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? this.retryableByDefault(code);
  }

  /** Whether a failure with `code` is worth another attempt, unless the thrower says otherwise. */
  protected abstract retryableByDefault(code: Code): boolean;

  /** What a log line or a dead letter carries: enough to understand and fix it, nothing internal. */
  toJSON(): { code: Code; message: string; retryable: boolean } {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

/** The message of anything thrown: an Error's message, else its string form. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Anything thrown, as an Error (a thrown string or object becomes the message of a new one). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
