// The I/O floor of a run: read both inputs whole, copy the aligned shards to an output folder and
// fsync them. No computation: the least any extrapolation of these files can cost.
import { mkdir, open, readdir, rm } from "node:fs/promises";
import { join } from "node:path";

const CHUNK = 64 * 1024 * 1024;

export async function ioFloor(base: string, aligned: string, out: string): Promise<number> {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const buffer = Buffer.allocUnsafeSlow(CHUNK);
  const started = performance.now();
  for (const f of (await readdir(base)).filter((x) => x.endsWith(".safetensors")))
    await copy(join(base, f), undefined, buffer);
  for (const f of (await readdir(aligned)).filter((x) => x.endsWith(".safetensors")))
    await copy(join(aligned, f), join(out, f), buffer);
  return (performance.now() - started) / 1000;
}

async function copy(from: string, to: string | undefined, buffer: Buffer): Promise<void> {
  const src = await open(from, "r");
  const dst = to ? await open(to, "w") : undefined;
  try {
    let position = 0;
    for (;;) {
      const { bytesRead } = await src.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      if (dst) await dst.write(buffer, 0, bytesRead, position);
      position += bytesRead;
    }
    await dst?.sync();
  } finally {
    await src.close();
    await dst?.close();
  }
}

// Run as a program (`node dist/bench/ioFloor.js BASE ALIGNED OUT`), so the floor is timed as a
// process, like `llm-expo run`.
if (
  process.argv[1] &&
  import.meta.url.endsWith(process.argv[1].split("/").pop() as string) &&
  process.argv.length === 5
) {
  const [base, aligned, out] = process.argv.slice(2) as [string, string, string];
  await ioFloor(base, aligned, out);
}
