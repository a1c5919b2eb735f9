// Fast reproducible pseudo-random values: xorshift32 bits indexing a table of normal quantiles
// (one 16-bit draw per value), so gigabytes of example weights take seconds, not minutes.

export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = (seed >>> 0) ^ 0x9e3779b9 || 1;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  /** A standard normal value (via the quantile table). */
  normal(): number {
    return NORMAL[this.next() >>> 16] as number;
  }
}

/** NORMAL[i] = Φ⁻¹((i + 0.5) / 65536). */
export const NORMAL: Float32Array = (() => {
  const t = new Float32Array(65536);
  for (let i = 0; i < t.length; i++) t[i] = inverseNormal((i + 0.5) / t.length);
  return t;
})();

// Acklam's rational approximation (relative error < 1.2e-9): plenty for example weights.
function inverseNormal(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239,
  ];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  if (p > 1 - lo) return -inverseNormal(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
    (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1)
  );
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float → bf16 bits, round to nearest even (inputs here are finite). */
export function toBf16(x: number): number {
  f32[0] = x;
  const u = u32[0] as number;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function fromBf16(bits: number): number {
  u32[0] = bits << 16;
  return f32[0] as number;
}
