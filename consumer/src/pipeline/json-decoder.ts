/** Kafka record value → JSON value. A record that cannot be decoded says why, for its dead letter. */
import { ConsumerError } from "../errors.js";
import { errorMessage } from "@sluice/kit";

export type Decoded =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: ConsumerError };

// fatal: invalid UTF-8 is an error, not U+FFFD silently standing in for the bytes.
const utf8 = new TextDecoder("utf-8", { fatal: true });

function failed(message: string, cause?: unknown): Decoded {
  return {
    ok: false,
    error: new ConsumerError("decode_error", message, { cause, retryable: false }),
  };
}

export function decodeJson(value: Buffer | null): Decoded {
  if (value === null) return failed("record value: expected JSON, got no value (a tombstone)");
  let text: string;
  try {
    text = utf8.decode(value);
  } catch (error) {
    return failed(
      `record value: expected UTF-8 text, got ${value.length} bytes that are not`,
      error,
    );
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
    const reason = errorMessage(error);
    return failed(`record value: expected JSON, got ${JSON.stringify(shown)} (${reason})`, error);
  }
}
