/**
 * Who may change what the server runs: the repository RPCs (RepositoryModelLoad/Unload) work only
 * in explicit model-control mode, and, when an admin token is set, only for a caller that sends it
 * as a bearer token. Tokens are compared as SHA-256 digests in constant time, so neither their
 * length nor their content leaks through timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { status, type Metadata } from "@grpc/grpc-js";
import { InferenceError } from "@sluice/proto";
import type { ModelControlMode } from "../models/model-control.js";

export interface AdminAuthOptions {
  readonly controlMode: ModelControlMode;
  /** Bearer token the repository RPCs require; undefined = none required. */
  readonly adminToken: string | undefined;
}

/** Throws FAILED_PRECONDITION, UNAUTHENTICATED or PERMISSION_DENIED unless `action` is allowed. */
export type AdminCheck = (metadata: Metadata, action: string) => void;

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

export function adminCheck({ controlMode, adminToken }: AdminAuthOptions): AdminCheck {
  const expected = adminToken === undefined ? undefined : digest(adminToken);
  return (metadata, action) => {
    if (controlMode !== "explicit") {
      throw new InferenceError(
        status.FAILED_PRECONDITION,
        `${action} is off: the server runs with --model-control-mode ${controlMode}; start it with --model-control-mode explicit to load and unload models through the API`,
      );
    }
    if (expected === undefined) return;
    const header = metadata.get("authorization")[0]?.toString() ?? "";
    const match = /^Bearer (.+)$/i.exec(header);
    if (match === null) {
      throw new InferenceError(
        status.UNAUTHENTICATED,
        `${action} needs an "authorization: Bearer <token>" header`,
      );
    }
    if (!timingSafeEqual(digest(match[1]!), expected)) {
      throw new InferenceError(
        status.PERMISSION_DENIED,
        `${action}: the bearer token is not the admin token`,
      );
    }
  };
}
