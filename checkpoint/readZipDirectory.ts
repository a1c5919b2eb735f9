// The entries of a zip file (a torch.save checkpoint) from its central directory, by ranged reads only:
// the tail (end of central directory, zip64 locator), the directory, and the local headers (to find
// where each entry's data starts). Nothing is decompressed: callers read stored entries as byte ranges.
// Sizes, offsets and overlaps are checked, so a crafted archive cannot point reads outside its entries.
import { UsageError } from "../core/errors.js";
import type { Storage } from "../storage/types.js";

export interface ZipEntry {
  name: string;
  /** 0: stored; anything else is compressed and never read. */
  method: number;
  compressedSize: number;
  size: number;
  /** Absolute file offset of the entry's data. */
  dataOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const U32 = 0xffffffff;
/** A state dict's directory is ~100 bytes per tensor: this allows millions of tensors. */
const MAX_DIRECTORY = 256 * 1024 * 1024;
/** Local headers read together when they lie within one window (small tensors sit close together). */
const HEADER_WINDOW = 1024 * 1024;
const HEADER_SLACK = 30 + 512;
const PARALLEL_READS = 16;

export async function readZipDirectory(storage: Storage, file: string, fileSize: number): Promise<ZipEntry[]> {
  const where = `${storage.location}/${file}`;
  const bad = (what: string) => new UsageError(`${where}: not a valid torch.save zip (${what})`);
  const tailLength = Math.min(fileSize, 22 + 0xffff + 20);
  const tail = Buffer.alloc(tailLength);
  await storage.readRange(file, fileSize - tailLength, tailLength, tail, 0);
  let at = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD && i + 22 + tail.readUInt16LE(i + 20) === tailLength) {
      at = i;
      break;
    }
  }
  if (at < 0) throw bad("no end of central directory record");
  let count = tail.readUInt16LE(at + 10);
  let dirSize = tail.readUInt32LE(at + 12);
  let dirOffset = tail.readUInt32LE(at + 16);
  const eocdOffset = fileSize - tailLength + at;
  let dirEnd = eocdOffset;
  if (count === 0xffff || dirSize === U32 || dirOffset === U32) {
    if (at < 20 || tail.readUInt32LE(at - 20) !== ZIP64_LOCATOR) throw bad("zip64 locator missing");
    const recordOffset = safe(tail.readBigUInt64LE(at - 12), bad);
    if (recordOffset + 56 > eocdOffset - 20) throw bad("zip64 record out of range");
    const record = Buffer.alloc(56);
    await storage.readRange(file, recordOffset, 56, record, 0);
    if (record.readUInt32LE(0) !== ZIP64_EOCD) throw bad("zip64 end of central directory record missing");
    count = safe(record.readBigUInt64LE(32), bad);
    dirSize = safe(record.readBigUInt64LE(40), bad);
    dirOffset = safe(record.readBigUInt64LE(48), bad);
    dirEnd = recordOffset;
  }
  if (dirSize > MAX_DIRECTORY) throw bad(`central directory of ${dirSize} bytes`);
  if (dirOffset + dirSize > dirEnd) throw bad("central directory out of range");
  const dir = Buffer.alloc(dirSize);
  await storage.readRange(file, dirOffset, dirSize, dir, 0);
  const central = parseCentral(dir, count, bad);
  const entries = await locateData(storage, file, central, dirOffset, bad);
  // Entries must not share bytes (overlapping entries are how zip bombs multiply their output).
  const sorted = entries.map((e, i) => ({ start: central[i]?.localOffset ?? 0, end: e.dataOffset + e.compressedSize }));
  sorted.sort((x, y) => x.start - y.start);
  for (let i = 1; i < sorted.length; i++) {
    if ((sorted[i] as { start: number }).start < (sorted[i - 1] as { end: number }).end) throw bad("entries overlap");
  }
  return entries;
}

interface CentralEntry {
  name: string;
  flags: number;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function parseCentral(dir: Buffer, count: number, bad: (what: string) => UsageError): CentralEntry[] {
  const entries: CentralEntry[] = [];
  const names = new Set<string>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL) throw bad(`central directory entry ${i} malformed`);
    const nameLength = dir.readUInt16LE(p + 28);
    const extraLength = dir.readUInt16LE(p + 30);
    const commentLength = dir.readUInt16LE(p + 32);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > dir.length) throw bad(`central directory entry ${i} runs past the directory`);
    const name = dir.toString("utf8", p + 46, p + 46 + nameLength);
    let size = dir.readUInt32LE(p + 24);
    let compressedSize = dir.readUInt32LE(p + 20);
    let localOffset = dir.readUInt32LE(p + 42);
    // The zip64 extra field holds, in this order, exactly the fields saturated above.
    const extra = dir.subarray(p + 46 + nameLength, p + 46 + nameLength + extraLength);
    for (let x = 0; x + 4 <= extra.length; ) {
      const id = extra.readUInt16LE(x);
      const length = extra.readUInt16LE(x + 2);
      if (x + 4 + length > extra.length) throw bad(`entry ${name}: extra field runs past its end`);
      if (id === 0x0001) {
        let q = x + 4;
        const next = () => {
          if (q + 8 > x + 4 + length) throw bad(`entry ${name}: zip64 field too short`);
          const v = safe(extra.readBigUInt64LE(q), bad);
          q += 8;
          return v;
        };
        if (size === U32) size = next();
        if (compressedSize === U32) compressedSize = next();
        if (localOffset === U32) localOffset = next();
      }
      x += 4 + length;
    }
    if (names.has(name)) throw bad(`entry ${name} appears twice`);
    names.add(name);
    entries.push({
      name,
      flags: dir.readUInt16LE(p + 8),
      method: dir.readUInt16LE(p + 10),
      compressedSize,
      size,
      localOffset,
    });
    p = end;
  }
  return entries;
}

/** Reads the local headers (nearby ones together) to find where each entry's data starts. */
async function locateData(
  storage: Storage,
  file: string,
  central: CentralEntry[],
  dirOffset: number,
  bad: (what: string) => UsageError,
): Promise<ZipEntry[]> {
  const order = central
    .map((_, i) => i)
    .sort((x, y) => (central[x]?.localOffset ?? 0) - (central[y]?.localOffset ?? 0));
  const groups: number[][] = [];
  for (const i of order) {
    const e = central[i] as CentralEntry;
    if (e.flags & 1) throw bad(`entry ${e.name} is encrypted`);
    const group = groups[groups.length - 1];
    const first = group ? (central[group[0] as number] as CentralEntry).localOffset : -1;
    if (group && e.localOffset + HEADER_SLACK + Buffer.byteLength(e.name) - first <= HEADER_WINDOW) group.push(i);
    else groups.push([i]);
  }
  const dataOffsets = new Array<number>(central.length).fill(0);
  const readGroup = async (group: number[]) => {
    const start = (central[group[0] as number] as CentralEntry).localOffset;
    const last = central[group[group.length - 1] as number] as CentralEntry;
    const end = Math.min(dirOffset, last.localOffset + HEADER_SLACK + Buffer.byteLength(last.name));
    if (start + 30 > end) throw bad(`entry ${last.name}: local header out of range`);
    const bytes = Buffer.alloc(end - start);
    await storage.readRange(file, start, end - start, bytes, 0);
    for (const i of group) {
      const e = central[i] as CentralEntry;
      let p = e.localOffset - start;
      let header = bytes;
      if (p + 30 > header.length) throw bad(`entry ${e.name}: local header out of range`);
      const nameLength = header.readUInt16LE(p + 26);
      const extraLength = header.readUInt16LE(p + 28);
      if (p + 30 + nameLength > header.length) {
        // An unusually long local extra field: read this header on its own.
        header = Buffer.alloc(30 + nameLength);
        if (e.localOffset + header.length > dirOffset) throw bad(`entry ${e.name}: local header out of range`);
        await storage.readRange(file, e.localOffset, header.length, header, 0);
        p = 0;
      }
      if (header.readUInt32LE(p) !== LOCAL) throw bad(`entry ${e.name}: local header missing`);
      if (header.toString("utf8", p + 30, p + 30 + nameLength) !== e.name)
        throw bad(`entry ${e.name}: local header names another entry`);
      const dataOffset = e.localOffset + 30 + nameLength + extraLength;
      if (dataOffset + e.compressedSize > dirOffset) throw bad(`entry ${e.name}: data runs past the entries`);
      dataOffsets[i] = dataOffset;
    }
  };
  for (let g = 0; g < groups.length; g += PARALLEL_READS) {
    await Promise.all(groups.slice(g, g + PARALLEL_READS).map(readGroup));
  }
  return central.map((e, i) => ({
    name: e.name,
    method: e.method,
    compressedSize: e.compressedSize,
    size: e.size,
    dataOffset: dataOffsets[i] as number,
  }));
}

function safe(v: bigint, bad: (what: string) => UsageError): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`offset ${v} out of range`);
  return Number(v);
}
