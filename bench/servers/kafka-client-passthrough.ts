/**
 * Child process of the Kafka clients benchmark and probes: one client's passthrough (see
 * bench/kafka-clients/), given its settings as one JSON argument. Prints `benchReady` once it
 * consumes, and `{"firstRecords": <epoch ms>}` when the first records reach it; stops gracefully
 * (the batch in hand committed, the group left) on SIGTERM or when its parent goes away.
 *
 *   node --conditions=source --import tsx bench/servers/kafka-client-passthrough.ts '<PassthroughSettings JSON>'
 */
import { startConfluentNativePassthrough } from "../kafka-clients/confluent-native-passthrough.js";
import { startConfluentPassthrough } from "../kafka-clients/confluent-passthrough.js";
import { startKafkajsPassthrough } from "../kafka-clients/kafkajs-passthrough.js";
import type {
  OnRecords,
  PassthroughSettings,
  StopPassthrough,
} from "../kafka-clients/passthrough-settings.js";
import { startPlatformaticPassthrough } from "../kafka-clients/platformatic-passthrough.js";
import { announceReady, exitWithParent } from "../lib/child.js";

const argument = process.argv[2];
if (argument === undefined) throw new Error("usage: kafka-client-passthrough.ts <settings JSON>");
const settings = JSON.parse(argument) as PassthroughSettings;

let first = true;
const onRecords: OnRecords = (count) => {
  if (first && count > 0) {
    first = false;
    process.stdout.write(`${JSON.stringify({ firstRecords: Date.now() })}\n`);
  }
};

function start(): Promise<StopPassthrough> {
  switch (settings.client) {
    case "kafkajs":
      return startKafkajsPassthrough(settings, onRecords);
    case "platformatic":
      return startPlatformaticPassthrough(settings, onRecords);
    case "confluent":
      return startConfluentPassthrough(settings, onRecords);
    case "confluent-native":
      return startConfluentNativePassthrough(settings, onRecords);
  }
}

const stop = await start();
exitWithParent(stop);
announceReady({});
