package sluice.compat;

import com.google.protobuf.ByteString;
import inference.GrpcService.InferTensorContents;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Tensor data in the two encodings of the Open Inference Protocol: typed {@code contents} fields
 * and {@code raw_*_contents} bytes (flattened row-major, little-endian, BYTES elements each
 * prefixed with a 4-byte little-endian length). Written from the protocol text, not from Sluice's
 * tensor module, so a disagreement between the two shows up as a failed step.
 */
final class TensorCodec {
  private TensorCodec() {}

  /** A tensor the server sent that does not match its own datatype and shape. */
  static final class DecodeException extends Exception {
    private static final long serialVersionUID = 1L;

    DecodeException(String message) {
      super(message);
    }
  }

  static ByteString encodeFp32(float[] values) {
    ByteBuffer buf = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) buf.putFloat(v);
    buf.flip();
    return ByteString.copyFrom(buf);
  }

  /** Number of elements of a shape; every dimension of a concrete tensor must be >= 0. */
  static long elementCount(String what, List<Long> shape) throws DecodeException {
    long n = 1;
    for (long d : shape) {
      if (d < 0) throw new DecodeException(what + ": shape " + shape + " has a negative dimension");
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /** Bytes per element, or -1 for BYTES whose elements carry their own length. */
  static int elementSize(String what, String datatype) throws DecodeException {
    return switch (datatype) {
      case "BOOL", "INT8", "UINT8" -> 1;
      case "INT16", "UINT16", "FP16", "BF16" -> 2;
      case "INT32", "UINT32", "FP32" -> 4;
      case "INT64", "UINT64", "FP64" -> 8;
      case "BYTES" -> -1;
      default -> throw new DecodeException(what + ": unknown datatype \"" + datatype + "\"");
    };
  }

  /** Decodes one entry of {@code raw_output_contents}. */
  static List<Object> decodeRaw(String what, String datatype, List<Long> shape, ByteString raw)
      throws DecodeException {
    long count = elementCount(what, shape);
    int size = elementSize(what, datatype);
    ByteBuffer buf = raw.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    List<Object> values = new ArrayList<>();
    if (size < 0) {
      while (buf.remaining() >= 4) {
        long len = Integer.toUnsignedLong(buf.getInt());
        if (len > buf.remaining()) {
          throw new DecodeException(what + ": BYTES element " + values.size() + " declares " + len
              + " bytes, but only " + buf.remaining() + " remain");
        }
        byte[] bytes = new byte[(int) len];
        buf.get(bytes);
        values.add(new String(bytes, StandardCharsets.UTF_8));
      }
      if (buf.hasRemaining() || values.size() != count) {
        throw new DecodeException(what + ": expected " + count + " length-prefixed BYTES elements for shape "
            + shape + ", got " + values.size() + " and " + buf.remaining() + " trailing bytes");
      }
      return values;
    }
    if (raw.size() != count * size) {
      throw new DecodeException(what + ": expected " + count + " elements of " + datatype + " ("
          + count * size + " bytes) for shape " + shape + ", got " + raw.size() + " bytes");
    }
    for (long i = 0; i < count; i++) {
      values.add(switch (datatype) {
        case "BOOL" -> buf.get() != 0;
        case "INT8" -> (int) buf.get();
        case "UINT8" -> Byte.toUnsignedInt(buf.get());
        case "INT16" -> (int) buf.getShort();
        case "UINT16" -> Short.toUnsignedInt(buf.getShort());
        case "INT32" -> buf.getInt();
        case "UINT32" -> Integer.toUnsignedLong(buf.getInt());
        case "INT64" -> buf.getLong();
        case "UINT64" -> new BigInteger(Long.toUnsignedString(buf.getLong()));
        case "FP32" -> buf.getFloat();
        case "FP64" -> buf.getDouble();
        // bfloat16 is the high half of a float32.
        case "BF16" -> Float.intBitsToFloat(Short.toUnsignedInt(buf.getShort()) << 16);
        default -> throw new DecodeException(what + ": decoding raw " + datatype + " is not implemented here");
      });
    }
    return values;
  }

  /** Decodes the typed {@code contents} of a tensor, checking the count against its shape. */
  static List<Object> decodeTyped(String what, String datatype, List<Long> shape, InferTensorContents c)
      throws DecodeException {
    long count = elementCount(what, shape);
    List<Object> values = new ArrayList<>();
    String field;
    switch (datatype) {
      case "BOOL" -> { field = "bool_contents"; values.addAll(c.getBoolContentsList()); }
      case "INT8", "INT16", "INT32" -> { field = "int_contents"; values.addAll(c.getIntContentsList()); }
      case "INT64" -> { field = "int64_contents"; values.addAll(c.getInt64ContentsList()); }
      case "UINT8", "UINT16", "UINT32" -> {
        field = "uint_contents";
        for (int v : c.getUintContentsList()) values.add(Integer.toUnsignedLong(v));
      }
      case "UINT64" -> {
        field = "uint64_contents";
        for (long v : c.getUint64ContentsList()) values.add(new BigInteger(Long.toUnsignedString(v)));
      }
      case "FP32" -> { field = "fp32_contents"; values.addAll(c.getFp32ContentsList()); }
      case "FP64" -> { field = "fp64_contents"; values.addAll(c.getFp64ContentsList()); }
      case "BYTES" -> {
        field = "bytes_contents";
        for (ByteString b : c.getBytesContentsList()) values.add(b.toStringUtf8());
      }
      default -> throw new DecodeException(what + ": datatype " + datatype
          + " has no typed contents field (FP16 and BF16 must be sent raw)");
    }
    if (values.size() != count) {
      throw new DecodeException(what + ": expected " + count + " elements of " + datatype + " in contents."
          + field + " for shape " + shape + ", got " + values.size());
    }
    return values;
  }
}
