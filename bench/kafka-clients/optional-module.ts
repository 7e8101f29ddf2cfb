/**
 * The clients compared besides kafkajs live in this folder's own package (package.json beside this
 * file), not in the workspaces: @confluentinc/kafka-javascript compiles librdkafka on install, which
 * the repository's `npm ci` should not need. Type-checking and linting therefore cannot rely on
 * their type declarations; each adapter declares the few members it uses and loads the package
 * through here, with a message that says how to install it when it is missing.
 */

/** Where the packages are installed from: this folder. */
const INSTALL_HINT =
  "install the benchmark's clients first: CKJS_LINKING=dynamic npm ci --prefix bench/kafka-clients " +
  "(see bench/README.md for the system packages librdkafka needs)";

/** Imports `specifier` from this folder's node_modules, typed as the caller declares it. */
export async function importOptional<T>(specifier: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND")
      throw new Error(`${specifier} is not installed: ${INSTALL_HINT}`, { cause: error });
    throw error;
  }
}
