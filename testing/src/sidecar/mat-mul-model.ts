/**
 * A tiny ONNX model built in the test, for failure paths no committed fixture covers:
 * `OUTPUT0 = INPUT0 @ W` with INPUT0 FP32 [batch, k] where k is left dynamic and W is a fixed
 * [4, 4] matrix. ONNX Runtime loads it (k is symbolic), but any run whose k is not 4 fails, so the
 * sidecar's warm-up (zeros, dynamic dimensions set to 1) fails after a successful load: exactly a
 * "version whose warm-up fails".
 *
 * Encoded by hand with protobuf-es's wire writer (field numbers from onnx.proto3) so the tests need
 * no Python and no checked-in binary.
 */
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

const FLOAT = 1;
/** What opset 13's MatMul needs; the committed fixtures use the same IR version. */
const IR_VERSION = 8;
const OPSET = 13;

type Field = (writer: BinaryWriter) => void;

function message(...fields: Field[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const field of fields) field(writer);
  return writer.finish();
}

const sub =
  (no: number, bytes: Uint8Array): Field =>
  (w) =>
    w.tag(no, WireType.LengthDelimited).bytes(bytes);
const str =
  (no: number, value: string): Field =>
  (w) =>
    w.tag(no, WireType.LengthDelimited).string(value);
const int =
  (no: number, value: number): Field =>
  (w) =>
    w.tag(no, WireType.Varint).int64(value);

/** A dimension: a number, or a name for a dynamic one. */
function dimension(dim: number | string): Uint8Array {
  return typeof dim === "number" ? message(int(1, dim)) : message(str(2, dim));
}

function valueInfo(name: string, dims: readonly (number | string)[]): Uint8Array {
  const shape = message(...dims.map((dim) => sub(1, dimension(dim))));
  const tensorType = message(int(1, FLOAT), sub(2, shape));
  return message(str(1, name), sub(2, message(sub(1, tensorType))));
}

/** `OUTPUT0 = INPUT0 @ W`, INPUT0 FP32 [batch, k] (k dynamic), W = identity [4, 4], OUTPUT0 [batch, 4]. */
export function matMulModel(): Uint8Array {
  const weights = new Float32Array(16);
  for (let i = 0; i < 4; i++) weights[i * 4 + i] = 1;
  const initializer = message(int(1, 4), int(1, 4), int(2, FLOAT), str(8, "W"), (w) =>
    w.tag(9, WireType.LengthDelimited).bytes(new Uint8Array(weights.buffer)),
  );
  const node = message(
    str(1, "INPUT0"),
    str(1, "W"),
    str(2, "OUTPUT0"),
    str(3, "matmul"),
    str(4, "MatMul"),
  );
  const graph = message(
    sub(1, node),
    str(2, "mat-mul"),
    sub(5, initializer),
    sub(11, valueInfo("INPUT0", ["batch", "k"])),
    sub(12, valueInfo("OUTPUT0", ["batch", 4])),
  );
  return message(
    int(1, IR_VERSION),
    str(2, "sluice-tests"),
    sub(7, graph),
    sub(8, message(str(1, ""), int(2, OPSET))),
  );
}
