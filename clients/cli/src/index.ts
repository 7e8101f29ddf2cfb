/** @sluice/cli: the `sluice` program, for its entry point and for tests that run it in-process. */
export { createProgram, runSluice, type RunOptions } from "./program.js";
