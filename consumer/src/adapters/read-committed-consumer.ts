/**
 * `ReadCommittedConsumer`: @platformatic/kafka's Consumer with aborted transactions filtered per
 * transaction, as Kafka's own clients do. Found by `npm run chaos` (docs/reliability.md): the
 * library's filter (2.12) keeps ONE aborted range per producer id per fetch response, from that
 * producer's last listed aborted transaction to its last abort marker in the response. A producer
 * id with several transactions in one response (a restarted exactly-once member keeps its
 * transactional id, so its producer id, with a new epoch) then shows the records of its earlier
 * aborted transactions and hides those of committed transactions between two aborts: a pipeline
 * reading a transactionally written input would score aborted events and skip committed ones.
 *
 * The Fetch API's responses are filtered here before the library sees them, and their list of
 * aborted transactions emptied, so the library's own filter has nothing left to do. Control
 * batches stay: the library needs them to move its positions past the markers.
 */
import {
  Consumer,
  IS_CONTROL,
  IS_TRANSACTIONAL,
  kGetApi,
  type Callback,
  type RecordsBatch,
} from "@platformatic/kafka";

/** The parts of a Fetch response partition this filter reads and rewrites. */
interface FetchedPartition {
  abortedTransactions?: { producerId: bigint; firstOffset: bigint }[] | null;
  records?: RecordsBatch[] | null;
}

/** Control record type 0 is an abort marker (1: commit), in bytes 2-3 of the control key. */
function isAbortMarker(batch: RecordsBatch): boolean {
  return batch.records[0]?.key?.readInt16BE(2) === 0;
}

/**
 * The batches of one fetched partition a read_committed reader may see: every batch but the data
 * of aborted transactions. A producer id is aborted from the first offset of each of its aborted
 * transactions until its next abort marker (Kafka's Java consumer does the same).
 */
export function committedBatches(
  batches: readonly RecordsBatch[],
  aborted: readonly { producerId: bigint; firstOffset: bigint }[],
): RecordsBatch[] {
  const pending = [...aborted].sort((a, b) =>
    a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0,
  );
  const abortedProducers = new Set<bigint>();
  const kept: RecordsBatch[] = [];
  for (const batch of batches) {
    const lastOffset = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    while (pending.length > 0 && pending[0]!.firstOffset <= lastOffset) {
      abortedProducers.add(pending.shift()!.producerId);
    }
    if ((batch.attributes & IS_CONTROL) !== 0) {
      if (isAbortMarker(batch)) abortedProducers.delete(batch.producerId);
      kept.push(batch);
      continue;
    }
    const transactional = (batch.attributes & IS_TRANSACTIONAL) !== 0;
    if (transactional && abortedProducers.has(batch.producerId)) continue;
    kept.push(batch);
  }
  return kept;
}

function filterResponse(response: unknown): void {
  const topics = (response as { responses?: { partitions?: FetchedPartition[] }[] } | undefined)
    ?.responses;
  for (const topic of topics ?? []) {
    for (const partition of topic.partitions ?? []) {
      const aborted = partition.abortedTransactions;
      if (!partition.records || !aborted || aborted.length === 0) continue;
      partition.records = committedBatches(partition.records, aborted);
      partition.abortedTransactions = [];
    }
  }
}

type AnyApi = ((...args: unknown[]) => void) & Record<string, unknown>;

export class ReadCommittedConsumer<
  Key = Buffer,
  Value = Buffer,
  HeaderKey = Buffer,
  HeaderValue = Buffer,
> extends Consumer<Key, Value, HeaderKey, HeaderValue> {
  override [kGetApi]<RequestArguments extends unknown[], ResponseType>(
    name: string,
    callback: Callback<never>,
  ): void {
    super[kGetApi]<RequestArguments, ResponseType>(name, (error, api) => {
      if (error || name !== "Fetch" || api === undefined) {
        callback(error, api as never);
        return;
      }
      const fetchApi = api as unknown as AnyApi;
      // The API's last argument is its callback; its other properties (version) are kept.
      const wrapped = Object.assign((...args: unknown[]) => {
        const done = args.pop() as (error: unknown, result: unknown) => void;
        fetchApi(...args, (error: unknown, result: unknown) => {
          filterResponse(result ?? (error as { response?: unknown } | null)?.response);
          done(error, result);
        });
      }, fetchApi);
      callback(null, wrapped as never);
    });
  }
}
