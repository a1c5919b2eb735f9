// TypeScript face of the native kernel (kernel/src; the CUDA kernel of kernel/cuda through it): packs a request
// into the compact descriptor the addon reads, runs it off the JS thread, unpacks the per-segment statistics.
import type { SegmentStats } from "../core/statistics.js";
import { type ExtrapolateArgs, loadAddon } from "./addon.js";
import { DESC_FIELDS, DESC_HEAD, DTYPE_CODE, OP_CODE, RESULT_HEAD } from "./layout.js";
import type { ExtrapolateRequest, Segment } from "./types.js";

function code<K extends string>(table: Readonly<Record<K, number>>, value: unknown): number | undefined {
  return typeof value === "string" && Object.hasOwn(table, value) ? table[value as K] : undefined;
}

/**
 * Packs the segments: per segment the words of DESC_FIELDS (op, dtype, baseDtype, outDtype, count, alignedOffset,
 * baseOffset, outOffset), then K alphas. Defaults: op extrapolate, baseDtype = outDtype = dtype; a convert
 * segment's alphas may be empty (written as 0, unused).
 */
export function packSegments(segments: readonly Segment[], k: number): Float64Array {
  const stride = DESC_HEAD + k;
  const desc = new Float64Array(segments.length * stride);
  segments.forEach((s, i) => {
    const op = code(OP_CODE, s.op ?? "extrapolate");
    if (op === undefined) throw new TypeError(`segment ${i}: op ${String(s.op)} is not one of extrapolate, convert`);
    const dtypes = { dtype: s.dtype, baseDtype: s.baseDtype ?? s.dtype, outDtype: s.outDtype ?? s.dtype };
    const codes: Record<string, number> = {};
    for (const [field, dtype] of Object.entries(dtypes)) {
      const c = code(DTYPE_CODE, dtype);
      if (c === undefined)
        throw new TypeError(`segment ${i}: ${field} ${String(dtype)} is not one of BF16, F16, F32, F64`);
      codes[field] = c;
    }
    const convert = op === OP_CODE.convert;
    if (s.alphas.length !== k && !(convert && s.alphas.length === 0))
      throw new RangeError(`segment ${i}: ${s.alphas.length} alphas for ${k} output buffers (one alpha per output)`);
    const words: Record<(typeof DESC_FIELDS)[number], number> = {
      op,
      dtype: codes.dtype as number,
      baseDtype: codes.baseDtype as number,
      outDtype: codes.outDtype as number,
      count: s.count,
      alignedOffset: s.alignedOffset,
      baseOffset: s.baseOffset,
      outOffset: s.outOffset,
    };
    const o = i * stride;
    DESC_FIELDS.forEach((field, j) => {
      desc[o + j] = words[field];
    });
    for (let j = 0; j < k; j++) desc[o + DESC_HEAD + j] = s.alphas[j] ?? 0;
  });
  return desc;
}

function resultsFor(segments: number, k: number, results?: Float64Array): Float64Array {
  const need = segments * (RESULT_HEAD + k);
  return results && results.length >= need ? results : new Float64Array(need);
}

function unpack(results: Float64Array, segments: number, k: number): SegmentStats[] {
  const stride = RESULT_HEAD + k;
  const stats: SegmentStats[] = [];
  for (let i = 0; i < segments; i++) {
    const o = i * stride;
    stats.push({
      sumA2: results[o] as number,
      sumB2: results[o + 1] as number,
      sumD2: results[o + 2] as number,
      maxAbsDiff: results[o + 3] as number,
      nonfiniteInputs: results[o + 4] as number,
      nonfiniteOutputs: results[o + 5] as number,
      sumOut2: Array.from(results.subarray(o + RESULT_HEAD, o + stride)),
    });
  }
  return stats;
}

/** The addon's arguments for a request, with `results` as the statistics array. */
function addonArgs(req: ExtrapolateRequest, results: Float64Array): ExtrapolateArgs {
  return [req.arith, req.aligned, req.base, req.outs, packSegments(req.segments, req.outs.length), results, req.device];
}

/**
 * Computes every segment of the request into the output buffers, off the JS thread (libuv pool), and returns
 * each segment's statistics (all zero for a convert segment). `results` is optional scratch (6 + K doubles per
 * segment) to reuse across calls.
 * The buffers must not be touched until the promise settles. Bad requests throw (TypeError, RangeError)
 * before any work starts.
 */
export async function extrapolate(req: ExtrapolateRequest, results?: Float64Array): Promise<SegmentStats[]> {
  const k = req.outs.length;
  const out = resultsFor(req.segments.length, k, results);
  await loadAddon().extrapolate(...addonArgs(req, out));
  return unpack(out, req.segments.length, k);
}

/** extrapolate on the calling thread: for tests, benchmarks and tools that have nothing else to do meanwhile. */
export function extrapolateOnThisThread(req: ExtrapolateRequest, results?: Float64Array): SegmentStats[] {
  const k = req.outs.length;
  const out = resultsFor(req.segments.length, k, results);
  loadAddon().extrapolateSync(...addonArgs(req, out));
  return unpack(out, req.segments.length, k);
}
