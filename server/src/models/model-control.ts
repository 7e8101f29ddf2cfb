/**
 * How the set of models changes while the server runs (Triton's model-control modes): "none"
 * loads every model at start and never changes; "poll" also applies what changes in the
 * repository; "explicit" loads only what the repository RPCs (and --load-model) ask for.
 */
export const MODEL_CONTROL_MODES = ["none", "poll", "explicit"] as const;
export type ModelControlMode = (typeof MODEL_CONTROL_MODES)[number];
