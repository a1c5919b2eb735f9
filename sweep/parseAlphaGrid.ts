// --alpha-grid START:STOP:STEP: START, START + STEP, … up to STOP inclusive. Values are rounded to 12
// significant digits, so 0.1:0.5:0.1 gives 0.1, 0.2, 0.3, 0.4, 0.5 (and output names expo-0.3, not
// expo-0.30000000000000004); STOP counts when the sum lands within a millionth of a step of it.
import { UsageError } from "../core/errors.js";

/** More candidates than anyone evaluates: a typo such as a step of 0.0001. */
const MAX_VALUES = 1000;

export function parseAlphaGrid(text: string): number[] {
  const parts = text.split(":");
  const numbers = parts.map((p) => (p.trim() === "" ? Number.NaN : Number(p)));
  if (parts.length !== 3 || !numbers.every(Number.isFinite)) {
    throw new UsageError(`--alpha-grid ${text}: expected START:STOP:STEP with three numbers, e.g. 0.1:0.5:0.1`);
  }
  const [start, stop, step] = numbers as [number, number, number];
  if (step <= 0) throw new UsageError(`--alpha-grid ${text}: STEP must be greater than 0`);
  if (stop < start) throw new UsageError(`--alpha-grid ${text}: empty grid (STOP is below START)`);
  const count = Math.floor((stop - start) / step + 1e-6) + 1;
  if (count > MAX_VALUES) throw new UsageError(`--alpha-grid ${text}: ${count} values (at most ${MAX_VALUES})`);
  return Array.from({ length: count }, (_, i) => Number((start + i * step).toPrecision(12)));
}
