#!/usr/bin/env node
// The `sluice` command. A committed shim rather than dist/main.js itself, so npm can link the bin
// on a fresh install before `prepare` has built dist/.
try {
  await import("../dist/main.js");
} catch (error) {
  if (error?.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("dist/main.js")) {
    console.error(
      "error: the sluice command is not built yet: run `npm run build` (or `npm ci`) at the repository root",
    );
    process.exit(1);
  }
  throw error;
}
