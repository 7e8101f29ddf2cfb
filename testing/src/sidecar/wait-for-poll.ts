/**
 * Waits for a poll-mode sidecar to rescan its repository completely, so a test can check what a
 * poll did NOT do (retry a broken file, drop a serving version) without sleeping a fixed time.
 */
import { randomUUID } from "node:crypto";
import type { ModelClient } from "./model-client.js";
import { IDENTITY_FP32, putVersion } from "./versioned-repository.js";
import { waitFor } from "../wait.js";

/**
 * Adds a small marker model and waits until it is served, twice: the poll that loads the second
 * marker starts after the poll that loaded the first one ended, and that one started after this
 * call, so one whole poll ran between. Markers stay in the repository (as `poll-marker-*`).
 */
export async function waitForFullPoll(repositoryDir: string, models: ModelClient): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const marker = `poll-marker-${randomUUID().slice(0, 8)}`;
    await putVersion(repositoryDir, marker, 1, IDENTITY_FP32);
    await waitFor(`the repository poll to load ${marker}`, () => models.ready(marker));
  }
}
