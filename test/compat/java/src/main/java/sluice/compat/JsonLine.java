package sluice.compat;

import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Writes one JSON value on one line. The driver prints one object per step so that the node:test
 * suite can read stdout line by line with JSON.parse; a JSON library would be the only
 * dependency besides protobuf and gRPC, for forty lines of code.
 *
 * <p>Supports null, Boolean, Number, CharSequence, Map (keys in iteration order) and List.
 * Non-finite floats, which JSON cannot express, are written as the strings "NaN", "Infinity" and
 * "-Infinity" so that a NaN coming back from the server is visible instead of breaking the line.
 */
final class JsonLine {
  private JsonLine() {}

  static String write(Object value) {
    StringBuilder out = new StringBuilder(256);
    append(out, value);
    return out.toString();
  }

  private static void append(StringBuilder out, Object value) {
    if (value == null) {
      out.append("null");
    } else if (value instanceof Boolean) {
      out.append(value);
    } else if (value instanceof Float f) {
      // Float.toString prints the shortest decimal that reads back as the same float32, so a
      // test can compare with Math.fround() without tolerance.
      appendFloating(out, f.isNaN() || f.isInfinite(), Float.toString(f));
    } else if (value instanceof Double d) {
      appendFloating(out, d.isNaN() || d.isInfinite(), Double.toString(d));
    } else if (value instanceof Number) {
      out.append(value);
    } else if (value instanceof CharSequence s) {
      appendString(out, s);
    } else if (value instanceof Map<?, ?> map) {
      out.append('{');
      Iterator<? extends Map.Entry<?, ?>> it = map.entrySet().iterator();
      while (it.hasNext()) {
        Map.Entry<?, ?> e = it.next();
        appendString(out, String.valueOf(e.getKey()));
        out.append(':');
        append(out, e.getValue());
        if (it.hasNext()) out.append(',');
      }
      out.append('}');
    } else if (value instanceof List<?> list) {
      out.append('[');
      for (int i = 0; i < list.size(); i++) {
        if (i > 0) out.append(',');
        append(out, list.get(i));
      }
      out.append(']');
    } else {
      throw new IllegalArgumentException("cannot write " + value.getClass().getName() + " as JSON");
    }
  }

  private static void appendFloating(StringBuilder out, boolean nonFinite, String text) {
    if (nonFinite) appendString(out, text);
    else out.append(text);
  }

  private static void appendString(StringBuilder out, CharSequence s) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
          else out.append(c);
        }
      }
    }
    out.append('"');
  }
}
