// What the sweep's tests compute on their own, to hold `llm-expo sweep` against: each candidate's tensors by
// the oracle (not by reading the candidate), their scores by the tiny Llama's forward pass, the argmax; and
// readers for the plotted points of sweep.svg.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { FloatDtype } from "../../core/dtypes.js";
import { oracleExtrapolate } from "./oracle.js";
import { readAllTensors } from "./readTensor.js";
import { meanLogLikelihood } from "./tinyLlama.js";

/** `node <this>` scores one model for `--evaluate` (test/support/tinyLlamaEvaluator.ts). */
export const EVALUATOR = join(dirname(fileURLToPath(import.meta.url)), "tinyLlamaEvaluator.js");
export const EVALUATE = `node ${EVALUATOR}`;

const FLOATS = new Set(["BF16", "F16", "F32", "F64"]);

/** θ1 + α(θ1 − θ0) of every tensor, computed by the oracle from the two input folders (α = 0: θ1 itself). */
export function oracleCandidate(
  base: string,
  aligned: string,
  alpha: number,
): Map<string, { dtype: string; data: Buffer }> {
  const b = readAllTensors(base);
  const out = new Map<string, { dtype: string; data: Buffer }>();
  for (const [name, a] of readAllTensors(aligned)) {
    const bt = b.get(name);
    if (alpha === 0 || !FLOATS.has(a.dtype) || !bt) {
      out.set(name, { dtype: a.dtype, data: a.data });
      continue;
    }
    const [data] = oracleExtrapolate(a.dtype as FloatDtype, "fp32", a.data, bt.data, [alpha]).outs;
    out.set(name, { dtype: a.dtype, data: Buffer.from(data as Uint8Array) });
  }
  return out;
}

/** Each α's score (0: the aligned model), computed without llm-expo. */
export function independentScores(base: string, aligned: string, alphas: readonly number[]): Map<number, number> {
  return new Map([0, ...alphas].map((a) => [a, meanLogLikelihood(oracleCandidate(base, aligned, a))]));
}

export function argmax(scores: ReadonlyMap<number, number>): number {
  return [...scores.entries()].sort((x, y) => y[1] - x[1])[0]?.[0] as number;
}

/** The data points, marks and rules of an SVG written by plot/renderLineChart. */
export function svgData(svg: string): {
  points: Array<{ series: string; x: number; y: number; cy: number }>;
  marks: Array<{ x: number; y: number }>;
  rules: number[];
} {
  const attr = (el: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(el)?.[1] as string;
  const elements = (cls: string) => [...svg.matchAll(new RegExp(`<[a-z]+ class="${cls}"[^>]*>`, "g"))].map((m) => m[0]);
  return {
    points: elements("point").map((e) => ({
      series: attr(e, "data-series"),
      x: Number(attr(e, "data-x")),
      y: Number(attr(e, "data-y")),
      cy: Number(attr(e, "cy")),
    })),
    marks: elements("mark").map((e) => ({ x: Number(attr(e, "data-x")), y: Number(attr(e, "data-y")) })),
    rules: elements("rule").map((e) => Number(attr(e, "data-y"))),
  };
}

/** How often each α was evaluated, from the test evaluator's TINY_EVAL_CALLS file. */
export function evaluatorCalls(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (!existsSync(file)) return out;
  for (const a of readFileSync(file, "utf8").trim().split("\n")) if (a !== "") out[a] = (out[a] ?? 0) + 1;
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The process id written to `file` (waits for it: a whole number > 0, never 0, which would name our own group). */
export async function readPid(file: string): Promise<number> {
  for (let i = 0; i < 1500; i++) {
    const pid = existsSync(file) ? Number(readFileSync(file, "utf8")) : 0;
    if (Number.isInteger(pid) && pid > 0) return pid;
    await sleep(20);
  }
  throw new Error(`no process id in ${file}`);
}
