/** Where things are in the repository, for tests that start real servers on its models and files. */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// This file is <repo>/testing/{src,dist}/paths.*, so the repository root is two up.
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** Small models made for the tests (identity models of every datatype, a slow one, …). */
export const FIXTURE_MODELS = join(REPO_ROOT, "test/fixtures/models");
/** The example repository the README and the demo use (fraud v1/v2, fraud-mlp). */
export const EXAMPLE_MODELS = join(REPO_ROOT, "examples/models");
