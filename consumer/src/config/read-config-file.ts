import { readFile } from "node:fs/promises";
import { errorMessage } from "@sluice/kit";
import { ConsumerError } from "../errors.js";

/**
 * A configuration file's text; a file that cannot be read is a `config_invalid` error naming
 * `what` it was meant to be, the path and the system's reason.
 */
export async function readConfigFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new ConsumerError(
      "config_invalid",
      `cannot read ${what} "${path}": ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
}
