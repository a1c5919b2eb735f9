// The finished units' reports as the coordinator keeps them: packed (packReport.ts), a third of the memory of the
// reports themselves, and shared with the journal's state, so a 100k-unit job holds one copy. Read as a map of
// whole UnitReports, unpacked on each get (finalize, expo-report.json, the norm gauges read them).
import type { UnitReport } from "../core/leaseService.js";
import type { JobPlan } from "../core/plan.js";
import type { PackedReport } from "./packReport.js";
import { unpackReport } from "./unpackReport.js";

export class UnitReports implements ReadonlyMap<number, UnitReport> {
  private readonly packed = new Map<number, PackedReport>();

  constructor(private readonly plan: JobPlan) {}

  set(unitId: number, report: PackedReport): void {
    this.packed.set(unitId, report);
  }

  get size(): number {
    return this.packed.size;
  }

  has(unitId: number): boolean {
    return this.packed.has(unitId);
  }

  get(unitId: number): UnitReport | undefined {
    const p = this.packed.get(unitId);
    return p && unpackReport(p, this.plan, "coordinator");
  }

  *entries(): MapIterator<[number, UnitReport]> {
    for (const [id, p] of this.packed) yield [id, unpackReport(p, this.plan, "coordinator")];
  }

  keys(): MapIterator<number> {
    return this.packed.keys();
  }

  *values(): MapIterator<UnitReport> {
    for (const [, r] of this.entries()) yield r;
  }

  [Symbol.iterator](): MapIterator<[number, UnitReport]> {
    return this.entries();
  }

  forEach(callback: (value: UnitReport, key: number, map: ReadonlyMap<number, UnitReport>) => void): void {
    for (const [id, r] of this.entries()) callback(r, id, this);
  }
}
