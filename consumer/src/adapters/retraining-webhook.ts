/**
 * The retraining webhook (`retraining.webhook`): each retraining event POSTed as JSON to a URL,
 * for whatever retrains (a CI job, an orchestrator). One attempt per event, bounded by
 * `timeoutMs`: the event is also on the retraining topic when one is configured, and the trigger
 * fires again after its cooldown while the condition holds, so a missed POST is logged, not
 * retried into the pipeline.
 */
import { errorMessage } from "@sluice/kit";
import type { RetrainingEventJson, RetrainingSink } from "../monitoring/model-monitor.js";

/** `POST url` with the event as its JSON body; rejects on a network error, a timeout or a non-2xx answer. */
export function retrainingWebhook(url: string, timeoutMs: number): RetrainingSink {
  return async (event: RetrainingEventJson) => {
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "sluice-retraining" },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new Error(`POST ${url}: ${errorMessage(error)} (timeout ${timeoutMs} ms)`, {
        cause: error,
      });
    }
    // The body is not read beyond this: drain it so the connection can be reused.
    const text = await response.text().catch(() => "");
    if (!response.ok) {
      throw new Error(
        `POST ${url}: expected a 2xx answer, got ${response.status} ${response.statusText}${text === "" ? "" : `: ${text.slice(0, 200)}`}`,
      );
    }
  };
}
