// The plan's work units, kept packed in typed columns and handed out as WorkUnit objects one at a time. A
// coordinator holds every unit of its job for as long as it runs: as objects, DeepSeek-V3's 82k units with their
// 174k segments and 129k reads are ~110 MiB of heap (most of it object headers, arrays and boxed byte offsets);
// packed they are ~17 MiB, which is what lets a restarted coordinator of a 100k-unit job stay within 300 MiB.
import type { RangeRead, SegmentAction, UnitSegment, WorkUnit } from "./workUnit.js";

const ACTIONS: readonly SegmentAction[] = ["extrapolate", "copy", "convert"];

/** Strings (file and tensor names, dtypes) and α lists stored once, referred to by index. */
class Interned<T> {
  readonly values: T[] = [];
  private readonly index = new Map<string, number>();
  constructor(private readonly keyOf: (value: T) => string) {}
  add(value: T): number {
    const key = this.keyOf(value);
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.values.length;
      this.values.push(value);
      this.index.set(key, i);
    }
    return i;
  }
}

type NumberArray = Float64Array | Uint32Array | Uint8Array;

/**
 * A column of numbers that grows in fixed chunks: planning appends 100k units without copying what it holds
 * (a doubling array leaves its old copies as garbage, which is what set a planning coordinator's peak).
 */
class Column<T extends NumberArray> {
  private static readonly SHIFT = 15;
  private readonly chunks: T[] = [];
  length = 0;
  constructor(private readonly make: (n: number) => T) {}

  push(value: number): void {
    const i = this.length & ((1 << Column.SHIFT) - 1);
    if (i === 0) this.chunks.push(this.make(1 << Column.SHIFT));
    (this.chunks[this.chunks.length - 1] as T)[i] = value;
    this.length++;
  }

  at(index: number): number {
    return (this.chunks[index >>> Column.SHIFT] as T)[index & ((1 << Column.SHIFT) - 1)] as number;
  }

  /** Gives back the unused tail of the last chunk. */
  trim(): void {
    const used = this.length & ((1 << Column.SHIFT) - 1);
    const last = this.chunks.length - 1;
    if (used > 0) this.chunks[last] = (this.chunks[last] as T).slice(0, used) as T;
  }
}

const f64 = () => new Column((n) => new Float64Array(n));
const u32 = () => new Column((n) => new Uint32Array(n));
const u8 = () => new Column((n) => new Uint8Array(n));

function columns() {
  return {
    // Per unit. A unit's reads and segments are the rows from its first to the next unit's first.
    shard: u32(),
    partNumber: u32(),
    dataStart: f64(),
    dataEnd: f64(),
    alignedLength: f64(),
    baseLength: f64(),
    inPlace: u8(),
    firstAlignedRead: u32(),
    firstBaseRead: u32(),
    firstSegment: u32(),
    // Per read (aligned and base reads share the columns).
    readFile: u32(),
    readOffset: f64(),
    readLength: f64(),
    readBufferOffset: f64(),
    // Per segment.
    tensor: u32(),
    action: u8(),
    dtype: u8(),
    baseDtype: u8(),
    outDtype: u8(),
    elemStart: f64(),
    count: f64(),
    offset: f64(),
    alignedOffset: f64(),
    baseOffset: f64(),
    alphas: u32(),
  };
}

type Columns = ReturnType<typeof columns>;

/** Read-only, in id order (unit ids are 0..length-1). Every call returns a fresh object the caller may keep. */
export class WorkUnits implements Iterable<WorkUnit> {
  constructor(
    private readonly c: Columns,
    private readonly names: readonly string[],
    private readonly dtypes: readonly string[],
    private readonly alphaLists: readonly (readonly number[])[],
  ) {}

  get length(): number {
    return this.c.shard.length;
  }

  has(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.length;
  }

  get(id: number): WorkUnit | undefined {
    if (!this.has(id)) return undefined;
    const c = this.c;
    const last = id + 1 === this.length;
    const reads = (from: number, to: number): RangeRead[] => {
      const out: RangeRead[] = [];
      for (let r = from; r < to; r++) {
        out.push({
          file: this.names[c.readFile.at(r)] as string,
          offset: c.readOffset.at(r),
          length: c.readLength.at(r),
          bufferOffset: c.readBufferOffset.at(r),
        });
      }
      return out;
    };
    const segments: UnitSegment[] = [];
    const segmentsEnd = last ? c.tensor.length : c.firstSegment.at(id + 1);
    for (let s = c.firstSegment.at(id); s < segmentsEnd; s++) {
      segments.push({
        tensor: this.names[c.tensor.at(s)] as string,
        action: ACTIONS[c.action.at(s)] as SegmentAction,
        dtype: this.dtypes[c.dtype.at(s)] as string,
        baseDtype: this.dtypes[c.baseDtype.at(s)] as string,
        outDtype: this.dtypes[c.outDtype.at(s)] as string,
        elemStart: c.elemStart.at(s),
        count: c.count.at(s),
        offset: c.offset.at(s),
        alignedOffset: c.alignedOffset.at(s),
        baseOffset: c.baseOffset.at(s),
        alphas: [...(this.alphaLists[c.alphas.at(s)] as number[])],
      });
    }
    return {
      id,
      shard: this.names[c.shard.at(id)] as string,
      partNumber: c.partNumber.at(id),
      dataStart: c.dataStart.at(id),
      dataEnd: c.dataEnd.at(id),
      alignedReads: reads(c.firstAlignedRead.at(id), c.firstBaseRead.at(id)),
      alignedLength: c.alignedLength.at(id),
      baseReads: reads(c.firstBaseRead.at(id), last ? c.readFile.length : c.firstAlignedRead.at(id + 1)),
      baseLength: c.baseLength.at(id),
      inPlace: c.inPlace.at(id) === 1,
      segments,
    };
  }

  *[Symbol.iterator](): Iterator<WorkUnit> {
    for (let id = 0; id < this.length; id++) yield this.get(id) as WorkUnit;
  }
}

/** Packs units as they are planned (each object can be dropped once added), in id order. */
export class WorkUnitsBuilder {
  private readonly names = new Interned<string>((s) => s);
  private readonly dtypes = new Interned<string>((s) => s);
  // String(-0) is "0": the key keeps the sign, so a list is given back bit for bit.
  private readonly alphaLists = new Interned<readonly number[]>((a) =>
    a.map((x) => (Object.is(x, -0) ? "-0" : String(x))).join(","),
  );
  private readonly c = columns();
  private built = false;

  get length(): number {
    return this.c.shard.length;
  }

  add(unit: WorkUnit): void {
    if (this.built) throw new Error("units added after build()");
    if (unit.id !== this.length) throw new Error(`unit ${unit.id} added as unit ${this.length}: ids must run in order`);
    const c = this.c;
    const addReads = (reads: readonly RangeRead[]) => {
      for (const r of reads) {
        c.readFile.push(this.names.add(r.file));
        c.readOffset.push(r.offset);
        c.readLength.push(r.length);
        c.readBufferOffset.push(r.bufferOffset);
      }
    };
    c.shard.push(this.names.add(unit.shard));
    c.partNumber.push(unit.partNumber);
    c.dataStart.push(unit.dataStart);
    c.dataEnd.push(unit.dataEnd);
    c.alignedLength.push(unit.alignedLength);
    c.baseLength.push(unit.baseLength);
    c.inPlace.push(unit.inPlace ? 1 : 0);
    c.firstAlignedRead.push(c.readFile.length);
    addReads(unit.alignedReads);
    c.firstBaseRead.push(c.readFile.length);
    addReads(unit.baseReads);
    c.firstSegment.push(c.tensor.length);
    for (const s of unit.segments) {
      c.tensor.push(this.names.add(s.tensor));
      c.action.push(ACTIONS.indexOf(s.action));
      c.dtype.push(this.dtypes.add(s.dtype));
      c.baseDtype.push(this.dtypes.add(s.baseDtype));
      c.outDtype.push(this.dtypes.add(s.outDtype));
      c.elemStart.push(s.elemStart);
      c.count.push(s.count);
      c.offset.push(s.offset);
      c.alignedOffset.push(s.alignedOffset);
      c.baseOffset.push(s.baseOffset);
      c.alphas.push(this.alphaLists.add([...s.alphas]));
    }
    if (this.dtypes.values.length > 255) throw new Error("more than 255 dtypes in one plan");
  }

  build(): WorkUnits {
    this.built = true;
    for (const column of Object.values(this.c)) column.trim();
    return new WorkUnits(this.c, this.names.values, this.dtypes.values, this.alphaLists.values);
  }
}

/** All units of a list, packed (tests and tools that build units by hand). */
export function packWorkUnits(units: Iterable<WorkUnit>): WorkUnits {
  const builder = new WorkUnitsBuilder();
  for (const unit of units) builder.add(unit);
  return builder.build();
}
