// The raw transfer `bench/s3VsRaw.ts` sets beside an S3 run, in a process of its own so that its CPU is
// counted alone: GET both inputs in unit-sized ranges and PUT the aligned bytes as multipart objects, two
// units in flight (as `run` does by default), with the SDK settings `run` uses. Prints one JSON line.
// Arguments: endpoint base-location aligned-location output-location.
import PQueue from "p-queue";
import { cpuCost } from "../cli/cpuCost.js";
import { S3Storage } from "../storage/s3Storage.js";
import type { WrittenPart } from "../storage/types.js";

const UNIT = 64 * 1024 * 1024;
const [endpoint, baseLoc, alignedLoc, outLoc] = process.argv.slice(2) as [string, string, string, string];
const settings = { endpoint, forcePathStyle: true, region: "us-east-1", maxSockets: 64, partChecksums: true };
const base = new S3Storage(baseLoc, settings);
const aligned = new S3Storage(alignedLoc, settings);
const out = new S3Storage(outLoc, settings);

const files = async (s: S3Storage) => {
  const names = (await s.list()).filter((n) => n.endsWith(".safetensors"));
  return Promise.all(names.map(async (n) => ({ name: n, size: (await s.stat(n))?.size ?? 0 })));
};
// Listing is planning, not transfer: outside the measured span, as `run` measures after planning.
const [baseFiles, alignedFiles] = await Promise.all([files(base), files(aligned)]);
const started = performance.now();
const cpu = process.cpuUsage();
let moved = 0;
const buffers: Array<{ a: Buffer; b: Buffer }> = [0, 1].map(() => ({
  a: Buffer.allocUnsafeSlow(UNIT),
  b: Buffer.allocUnsafeSlow(UNIT),
}));
const queue = new PQueue({ concurrency: 2 });
const baseRanges = baseFiles.flatMap((f) => ranges(f.size).map((r) => ({ file: f.name, ...r })));
for (const f of alignedFiles) {
  const id = await out.createMultipart(f.name, f.size);
  const parts = await Promise.all(
    ranges(f.size).map((r, i) =>
      queue.add(async () => {
        const buf = buffers.pop() as { a: Buffer; b: Buffer };
        try {
          const br = baseRanges.shift();
          await Promise.all([
            aligned.readRange(f.name, r.offset, r.length, buf.a, 0),
            br ? base.readRange(br.file, br.offset, br.length, buf.b, 0) : undefined,
          ]);
          moved += 2 * r.length + (br?.length ?? 0);
          return await out.writePart(f.name, id, i + 1, r.offset, [buf.a.subarray(0, r.length)]);
        } finally {
          buffers.push(buf);
        }
      }),
    ),
  );
  await out.completeMultipart(f.name, id, parts as WrittenPart[]);
}
// Base bytes beyond the aligned ones (different sharding) are read too.
for (const br of baseRanges) {
  await base.readRange(br.file, br.offset, br.length, (buffers[0] as { b: Buffer }).b, 0);
  moved += br.length;
}
process.stdout.write(
  `${JSON.stringify({ seconds: (performance.now() - started) / 1000, bytesMoved: moved, ...cpuCost(cpu, moved) })}\n`,
);

function ranges(size: number): Array<{ offset: number; length: number }> {
  const out: Array<{ offset: number; length: number }> = [];
  for (let offset = 0; offset < size; offset += UNIT) out.push({ offset, length: Math.min(UNIT, size - offset) });
  return out;
}
