// An S3 run against the same-run raw transfer of the same bytes with the same SDK settings: GET
// both inputs in unit-sized ranges, PUT the aligned bytes as a multipart object, two units in
// flight (as `run` does by default). MinIO on loopback. Target: run throughput >= 0.8 x raw.
import PQueue from "p-queue";
import { type S3Server, s3StorageSettings, startMinio } from "../harness/s3Servers.js";
import { S3Storage } from "../storage/s3Storage.js";
import { runMeasured } from "./runCommand.js";

const UNIT = 64 * 1024 * 1024;

export async function benchS3VsRaw(rounds = 2) {
  const server = await startMinio(["models", "outputs"]);
  if (!server) return undefined;
  Object.assign(process.env, server.env);
  try {
    await runMeasured(["make-example", "s3://models/pair", "--size", "1GiB", "--seed", "2"]);
    const raw: number[] = [];
    const run: number[] = [];
    for (let i = 0; i < rounds; i++) {
      raw.push(await rawTransfer(server, "s3://models/pair/sft", "s3://models/pair/dpo", `s3://outputs/raw-${i}`));
      run.push(
        (
          await runMeasured([
            "run",
            "--base",
            "s3://models/pair/sft",
            "--aligned",
            "s3://models/pair/dpo",
            "--alpha",
            "0.3",
            "--out",
            `s3://outputs/run-${i}`,
          ])
        ).seconds,
      );
    }
    const best = (xs: number[]) => Math.min(...xs);
    return { rawSeconds: best(raw), runSeconds: best(run), ratio: best(raw) / best(run), raw, run };
  } finally {
    await server.stop();
  }
}

async function rawTransfer(server: S3Server, baseLoc: string, alignedLoc: string, outLoc: string): Promise<number> {
  const { s3 } = s3StorageSettings(server);
  const base = new S3Storage(baseLoc, s3);
  const aligned = new S3Storage(alignedLoc, s3);
  const out = new S3Storage(outLoc, s3);
  const started = performance.now();
  const files = async (s: S3Storage) => {
    const names = (await s.list()).filter((n) => n.endsWith(".safetensors"));
    return Promise.all(names.map(async (n) => ({ name: n, size: (await s.stat(n))?.size ?? 0 })));
  };
  const [baseFiles, alignedFiles] = await Promise.all([files(base), files(aligned)]);
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
            return await out.writePart(f.name, id, i + 1, r.offset, [buf.a.subarray(0, r.length)]);
          } finally {
            buffers.push(buf);
          }
        }),
      ),
    );
    await out.completeMultipart(f.name, id, parts as Awaited<ReturnType<S3Storage["writePart"]>>[]);
  }
  // Base bytes beyond the aligned ones (different sharding) are read too.
  for (const br of baseRanges) await base.readRange(br.file, br.offset, br.length, (buffers[0] as { b: Buffer }).b, 0);
  return (performance.now() - started) / 1000;
}

function ranges(size: number): Array<{ offset: number; length: number }> {
  const out: Array<{ offset: number; length: number }> = [];
  for (let offset = 0; offset < size; offset += UNIT) out.push({ offset, length: Math.min(UNIT, size - offset) });
  return out;
}
