// Segments of a megabyte and more take the streaming-store path; their outputs and statistics must
// be the oracle's bits (test/oracle.ts) on every SIMD path, including blocks redone for NaN/Inf values and
// outputs that do not start on a cache-line boundary.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import type { Arith, FloatDtype } from "../../../core/dtypes.js";
import { extrapolateSync, kernelInfo, setKernelSimd } from "../../../kernel/testing.js";
import { oracleExtrapolate } from "../../support/oracle.js";

const ITEM: Record<FloatDtype, number> = { BF16: 2, F16: 2, F32: 4, F64: 8 };

function inputs(bytes: number, item: number): { a: Buffer; b: Buffer } {
  const a = Buffer.alloc(bytes + 64);
  const b = Buffer.alloc(bytes + 64);
  let x = 12345;
  for (let i = 0; i < a.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    a[i] = x >>> 24;
    b[i] = (x >>> 8) & 255;
  }
  // Exponent-max bytes scattered through: NaN and Inf inputs in many blocks.
  for (let i = 0; i < 200; i++) {
    const p = ((i * 7919 * 13) % ((bytes - 8) / item)) * item;
    a[p + item - 1] = 0x7f;
    a[p + item - 2] = (a[p + item - 2] as number) | 0xf0;
  }
  return { a, b };
}

function digest(outs: Uint8Array[]): string {
  const h = createHash("sha256");
  for (const o of outs) h.update(o);
  return h.digest("hex");
}

describe("large segments (streaming stores)", () => {
  const paths = kernelInfo().available;
  for (const dtype of ["BF16", "F16", "F32", "F64"] as FloatDtype[]) {
    for (const arith of ["fp32", "torch"] as Arith[]) {
      it(`${dtype} ${arith}: every SIMD path (${paths.join(", ")}) writes the oracle's bits`, () => {
        const item = ITEM[dtype];
        const count = (1.5 * 1024 * 1024) / item + 37;
        const bytes = count * item;
        const { a: a0, b } = inputs(bytes, item);
        for (const [k, inPlace] of [
          [1, true],
          [3, false],
        ] as const) {
          const alphas = [0.3, -1.7, 2.5].slice(0, k);
          // The segment's data are the same bytes at every offset, so one oracle run serves them all.
          const want = oracleExtrapolate(dtype, arith, a0.subarray(0, bytes), b.subarray(0, bytes), alphas);
          const wantOuts = digest(want.outs);
          for (const offset of [0, 16, 48]) {
            for (const simd of paths) {
              setKernelSimd(simd);
              const a = Buffer.alloc(bytes + 64);
              a0.copy(a, inPlace ? offset : 0, 0, bytes);
              const outs = inPlace ? [a] : Array.from({ length: k }, () => Buffer.alloc(bytes + 128, 0xcc));
              const stats = extrapolateSync({
                arith,
                aligned: a,
                base: b,
                outs,
                segments: [
                  { dtype, count, alignedOffset: inPlace ? offset : 0, baseOffset: 0, outOffset: offset, alphas },
                ],
              });
              assert.ok((stats[0]?.nonfiniteInputs ?? 0) > 0, "the data holds non-finite values");
              const where = `K=${k} offset ${offset} [${simd}]`;
              assert.deepEqual(stats, [want.stats], `${where}: statistics differ from the oracle's`);
              const got = digest(outs.map((o) => o.subarray(offset, offset + bytes)));
              if (got !== wantOuts)
                outs.forEach((o, j) => {
                  const w = want.outs[j] as Uint8Array;
                  const at = o.subarray(offset, offset + bytes).findIndex((x, i) => x !== w[i]);
                  if (at >= 0)
                    assert.fail(`${where}: output ${j} differs from the oracle's at element ${Math.floor(at / item)}`);
                });
            }
          }
        }
        setKernelSimd("auto");
      });
    }
  }
});
