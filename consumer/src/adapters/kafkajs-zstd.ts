/**
 * zstd for kafkajs, which brings a gzip codec only: record batches that @platformatic/kafka, Java
 * or librdkafka wrote with zstd cannot be read by kafkajs without one, and a pipeline on kafkajs
 * with `kafka.compression: zstd` could not write them. Node's zlib does the work, on the calling
 * thread: a batch of a thousand predictions (400 KB) takes it about 0.4 ms to compress and 0.5 ms
 * to decompress, and the benchmark's output reader used about half as much CPU again when the
 * same work went through the thread pool (docs/benchmarks.md).
 *
 * kafkajs keeps its codecs in one table per process: registering once serves every kafkajs client
 * of the process (the pipeline's, and the benchmark's output reader).
 */
import { zstdCompressSync, zstdDecompressSync } from "node:zlib";
import kafkajs, { type CompressionTypes } from "kafkajs";
import { kafkajsCompressionProblem, type Compression } from "../config/pipeline-config.js";

/** kafkajs's codec shape: its encoder hands over the batch's records as one Buffer. */
const zstdCodec = () => ({
  compress: (encoder: { buffer: Buffer }): Promise<Buffer> =>
    Promise.resolve(zstdCompressSync(encoder.buffer)),
  decompress: (buffer: Buffer): Promise<Buffer> => Promise.resolve(zstdDecompressSync(buffer)),
});

/**
 * Lets every kafkajs client of this process read and write zstd record batches, in place of
 * kafkajs's placeholder (which throws "ZSTD compression not implemented"). Idempotent.
 */
export function registerKafkajsZstd(): void {
  // kafkajs is CommonJS: its tables are reached through the default export.
  const { CompressionCodecs, CompressionTypes } = kafkajs;
  CompressionCodecs[CompressionTypes.ZSTD] = zstdCodec;
}

/** kafkajs's code for `compression`; a TypeError for one it cannot write (snappy, lz4). */
export function kafkajsCompression(compression: Compression): CompressionTypes {
  const problem = kafkajsCompressionProblem(compression);
  if (problem !== undefined) throw new TypeError(`KafkajsClient compression: ${problem}`);
  const { CompressionTypes: types } = kafkajs;
  return compression === "gzip" ? types.GZIP : compression === "zstd" ? types.ZSTD : types.None;
}
