/** BYTES elements in raw contents: each a 4-byte little-endian length, then its bytes. */

/** Encodes BYTES elements as raw contents. */
export function encodeBytesElements(elements: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const element of elements) total += 4 + element.byteLength;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const element of elements) {
    view.setUint32(offset, element.byteLength, true);
    out.set(element, offset + 4);
    offset += 4 + element.byteLength;
  }
  return out;
}

/**
 * Decodes raw BYTES contents holding exactly `count` elements. Elements are views into `bytes`.
 * Throws a RangeError that says what was expected and what came when the framing is wrong.
 */
export function decodeBytesElements(bytes: Uint8Array, count: number): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const elements: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    if (elements.length === count) {
      throw new RangeError(
        `BYTES: expected ${count} elements, got ${bytes.byteLength - offset} bytes after the last one`,
      );
    }
    if (offset + 4 > bytes.byteLength) {
      throw new RangeError(
        `BYTES element ${elements.length}: expected a 4-byte length prefix, got ${bytes.byteLength - offset} bytes`,
      );
    }
    const length = view.getUint32(offset, true);
    offset += 4;
    if (offset + length > bytes.byteLength) {
      throw new RangeError(
        `BYTES element ${elements.length}: length prefix says ${length} bytes, only ${bytes.byteLength - offset} remain`,
      );
    }
    elements.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  if (elements.length !== count) {
    throw new RangeError(`BYTES: expected ${count} elements, got ${elements.length}`);
  }
  return elements;
}
