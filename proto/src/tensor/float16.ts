/**
 * IEEE 754 half-precision conversion. FP16 tensors are held as their raw 16-bit words (Node 20 has
 * no Float16Array); these convert single elements for code that needs the numbers.
 */

const scratch = new DataView(new ArrayBuffer(4));

/** The number an FP16 word stands for. */
export function float16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** The FP16 word nearest to `value` (round half to even; overflow to ±Infinity). */
export function numberToFloat16(value: number): number {
  // Through float32 first: its bit layout makes the rounding below a matter of shifting fields. That
  // rounds twice, which can differ from direct rounding only for values within float32 precision of a tie.
  scratch.setFloat32(0, value);
  const x = scratch.getUint32(0);
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half (or zero): shift the mantissa, with its implicit leading 1, into place.
    if (halfExponent < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    return sign | roundShift(full, shift);
  }
  // Carrying out of the mantissa on round-up bumps the exponent, which is the right answer.
  return sign | ((halfExponent << 10) + roundShift(mantissa, 13));
}

function roundShift(value: number, shift: number): number {
  const truncated = value >>> shift;
  const remainder = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return remainder > half || (remainder === half && (truncated & 1) === 1)
    ? truncated + 1
    : truncated;
}
