// The CUDA kernel (kernel/cuda, loaded by the addon at run time):
// - its host emulation (the kernels' exact per-thread code on the CPU) against the CPU kernel, wherever
//   npm run build:cuda has built it (CI does), GPU or not; every dtype, mixed dtypes and conversions;
// - the real thing against the CPU kernel, bit for bit, through the addon with device "cuda", when a CUDA
//   device is visible ("skipped: no CUDA device" otherwise);
// - page-locked host memory from the library (what a worker on CUDA allocates its unit buffers in): requests
//   over it go by DMA straight from and to it, freeing detaches it; a worker on CUDA takes its buffers there,
//   releases them when it ends, and writes the CPU's bytes;
// - --device cuda without a usable device: a one-line usage error (exit 2), nothing written, never a silent
//   CPU fallback;
// - all of the above again in a child process over libexpo_cuda_emulated.so (the real host pipeline and the
//   addon's CUDA path over an emulated device: the kernels' per-thread code on the host), so the GPU tests and
//   a `run --device cuda` end to end also run in CI, where there is no GPU.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Coordinator } from "../../../coordinator/coordinator.js";
import type { KernelDevice } from "../../../core/device.js";
import type { Arith, FloatDtype } from "../../../core/dtypes.js";
import type { SegmentStats } from "../../../core/statistics.js";
import { loadAddon } from "../../../kernel/addon.js";
import { cudaLibraryPath, cudaStatus } from "../../../kernel/cudaStatus.js";
import { extrapolate } from "../../../kernel/extrapolate.js";
import type { ExtrapolateRequest, Segment } from "../../../kernel/types.js";
import { runWorker } from "../../../worker/runWorker.js";
import { prepareLocalJob } from "../../support/localJob.js";
import { jobArgs, runCli } from "../../support/runCli.js";
import { LOCAL_STORAGE } from "../../support/storageSettings.js";
import { tempDir } from "../../support/tempDir.js";
import { writeCheckpoint } from "../../support/writeCheckpoint.js";

const SIZE: Record<FloatDtype, number> = { BF16: 2, F16: 2, F32: 4, F64: 8 };
const DTYPES: FloatDtype[] = ["BF16", "F16", "F32", "F64"];
const buildDir = dirname(cudaLibraryPath());
const child = process.env.EXPO_CUDA_TEST_CHILD === "1";

describe("CUDA kernel: host emulation", () => {
  const emulator = join(buildDir, "expo_cuda_emulate_test");
  it("runs the kernels' per-thread code on the host and matches the CPU kernel", (t) => {
    if (!existsSync(emulator)) {
      t.skip("skipped: CUDA kernel not built (npm run build:cuda)");
      return;
    }
    const r = spawnSync(emulator, ["2"], { encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /0 output mismatches, 0 statistic mismatches: OK/);
  });
});

// ---- real GPU --------------------------------------------------------------------------------------------

/** Bit patterns of every kind: random, near 1, one ulp apart (ties with α 0.5), specials. */
function fillPairs(dtype: FloatDtype, a: Buffer, b: Buffer, offA: number, offB: number, n: number): void {
  const size = SIZE[dtype];
  const rnd = randomBytes(n * size * 2 + n);
  for (let i = 0; i < n; i++) {
    const kind = (rnd[2 * n * size + i] as number) % 8;
    const x = rnd.subarray(2 * i * size, (2 * i + 1) * size);
    const y = rnd.subarray((2 * i + 1) * size, (2 * i + 2) * size);
    if (kind >= 3) {
      // weights-like: exponent near 1.0; b a few ulps from a (kind 3, 4) or independent
      const top = size - 1;
      x[top] = ((x[top] as number) & 0x80) | (dtype === "F16" ? 0x38 : 0x3f);
      if (kind <= 4) {
        x.copy(y);
        y[0] = ((y[0] as number) + (kind === 3 ? 1 : 255)) & 0xff;
      } else {
        y[top] = ((y[top] as number) & 0x80) | (dtype === "F16" ? 0x38 : 0x3f);
      }
    } else if (kind === 2) {
      x.fill(i % 2 ? 0xff : 0); // NaN or zero
      y[size - 1] = ((y[size - 1] as number) & 0x80) | 0x7f;
    }
    x.copy(a, offA + i * size);
    y.copy(b, offB + i * size);
  }
}

interface Built {
  req: ExtrapolateRequest;
  segments: Segment[];
}

function request(arith: Arith, k: number, inPlace: boolean): Built {
  const segments: Segment[] = [];
  let aLen = 0;
  let bLen = 6;
  let oLen = 2;
  const counts = [0, 1, 7, 8, 33, 1000, 8191, 8192, 8193, 20_000];
  // 14 segments of one dtype each, then 10 of mixed dtypes and conversions (the output the aligned dtype in place).
  for (let i = 0; i < 24; i++) {
    const mixed = i >= 14;
    const dtype = DTYPES[i % 4] as FloatDtype;
    const baseDtype = mixed ? (DTYPES[(i * 3 + 1) % 4] as FloatDtype) : dtype;
    const outDtype = mixed && !inPlace ? (DTYPES[(i * 5 + 2) % 4] as FloatDtype) : dtype;
    const count = counts[(i * 7) % counts.length] as number;
    aLen = Math.ceil(aLen / SIZE[dtype]) * SIZE[dtype] + SIZE[dtype];
    bLen = Math.ceil(bLen / SIZE[baseDtype]) * SIZE[baseDtype] + 2 * SIZE[baseDtype];
    oLen = Math.ceil(oLen / SIZE[outDtype]) * SIZE[outDtype] + SIZE[outDtype];
    segments.push({
      op: mixed && i % 5 === 4 ? "convert" : "extrapolate",
      dtype,
      baseDtype,
      outDtype,
      count,
      alignedOffset: aLen,
      baseOffset: bLen,
      outOffset: inPlace ? aLen : oLen,
      alphas: Array.from({ length: k }, (_, j) => [0.3, 0.5, 1.5][j] as number),
    });
    aLen += count * SIZE[dtype];
    bLen += count * SIZE[baseDtype];
    oLen += count * SIZE[outDtype];
  }
  const aligned = Buffer.alloc(aLen + 8);
  const base = Buffer.alloc(bLen + 8);
  for (const s of segments) {
    const baseDtype = s.baseDtype ?? s.dtype;
    if (baseDtype === s.dtype) {
      fillPairs(s.dtype, aligned, base, s.alignedOffset, s.baseOffset, s.count);
    } else {
      // Each input of its own dtype's kinds.
      fillPairs(s.dtype, aligned, Buffer.alloc(s.count * SIZE[s.dtype]), s.alignedOffset, 0, s.count);
      fillPairs(baseDtype, Buffer.alloc(s.count * SIZE[baseDtype]), base, 0, s.baseOffset, s.count);
    }
  }
  const outs = inPlace ? [aligned] : Array.from({ length: k }, () => Buffer.alloc(oLen + 8, 0x5a));
  return { req: { arith, device: "cpu", aligned, base, outs, segments }, segments };
}

function clone(b: Built): ExtrapolateRequest {
  const aligned = Buffer.from(b.req.aligned);
  const inPlace = b.req.outs[0] === b.req.aligned;
  return {
    ...b.req,
    aligned,
    base: Buffer.from(b.req.base),
    outs: inPlace ? [aligned] : b.req.outs.map((o) => Buffer.from(o)),
  };
}

/** Sums of squares agree to fp32 roundings (the CPU squares BF16/F16/F32 in fp32 pairs, the GPU in fp64). */
function closeSum(x: number, y: number, count: number): boolean {
  return x === y || Math.abs(x - y) <= 1e-6 * Math.max(Math.abs(x), Math.abs(y)) + count * 2 ** -120;
}

function compareStats(cpu: SegmentStats[], gpu: SegmentStats[], segments: Segment[]): void {
  cpu.forEach((c, i) => {
    const g = gpu[i] as SegmentStats;
    const n = (segments[i] as Segment).count;
    const seg = segments[i] as Segment;
    const where = `segment ${i} (${seg.op ?? "extrapolate"} ${seg.dtype}+${seg.baseDtype}->${seg.outDtype}, ${n} elements)`;
    assert.equal(g.nonfiniteInputs, c.nonfiniteInputs, `${where}: nonfiniteInputs`);
    assert.equal(g.nonfiniteOutputs, c.nonfiniteOutputs, `${where}: nonfiniteOutputs`);
    assert.ok(Object.is(g.maxAbsDiff, c.maxAbsDiff), `${where}: maxAbsDiff ${g.maxAbsDiff} vs ${c.maxAbsDiff}`);
    for (const key of ["sumA2", "sumB2", "sumD2"] as const)
      assert.ok(closeSum(g[key], c[key], n), `${where}: ${key} ${g[key]} vs ${c[key]}`);
    for (const [k, s] of c.sumOut2.entries())
      assert.ok(closeSum(g.sumOut2[k] as number, s, n), `${where}: sumOut2[${k}] ${g.sumOut2[k]} vs ${s}`);
  });
}

describe("CUDA kernel on a GPU", () => {
  const status = cudaStatus();
  if (!status.available) console.log(`skipped: no CUDA device (${status.reason})`);

  // The comparisons below would pass vacuously if device "cuda" ran the CPU kernel. The statistics tell them
  // apart: the CUDA kernel sums squares in fp64 per element, the CPU's BF16 path first in fp32 groups, and for
  // 1 and x = 2^-10 · (1 + 2^-7) the fp32 group sum 1 + x² rounds to 1 + 2^-20.
  it("device cuda runs the CUDA kernel: fp64 sums of squares, not the CPU's fp32 groups", async (t) => {
    if (!status.available) {
      t.skip(`skipped: no CUDA device (${status.reason})`);
      return;
    }
    const x = 2 ** -10 * (1 + 2 ** -7);
    const aligned = Buffer.from([0x80, 0x3f, 0x81, 0x3a]); // bf16 1 and x
    const segments: Segment[] = [
      { dtype: "BF16", count: 2, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [0.5] },
    ];
    const run = async (device: "cpu" | "cuda") =>
      (
        await extrapolate({ arith: "fp32", aligned, base: Buffer.alloc(4), outs: [Buffer.alloc(4)], segments, device })
      )[0];
    assert.equal((await run("cpu"))?.sumA2, 1 + 2 ** -20);
    assert.equal((await run("cuda"))?.sumA2, 1 + x * x);
  });

  for (const arith of ["fp32", "torch"] as Arith[]) {
    for (const [k, inPlace] of [
      [1, true],
      [3, false],
    ] as const) {
      it(`matches the CPU kernel bit for bit: ${arith}, K=${k}${inPlace ? " in place" : ""}`, async (t) => {
        if (!status.available) {
          t.skip(`skipped: no CUDA device (${status.reason})`);
          return;
        }
        for (let round = 0; round < 3; round++) {
          const built = request(arith, k, inPlace);
          const cpuReq = clone(built);
          const gpuReq = clone(built);
          const cpu = await extrapolate({ ...cpuReq, device: "cpu" });
          const gpu = await extrapolate({ ...gpuReq, device: "cuda" });
          for (let j = 0; j < k; ++j)
            assert.ok((gpuReq.outs[j] as Buffer).equals(cpuReq.outs[j] as Buffer), `output ${j} differs from the CPU`);
          compareStats(cpu, gpu, built.segments);
          // deterministic: the same request again gives the same statistics, bit for bit
          const again = await extrapolate({ ...clone(built), device: "cuda" });
          assert.deepEqual(again, gpu);
        }
      });
    }
  }

  it("host memory from the library: requests over it go by DMA straight from and to it; freeing detaches it", async (t) => {
    if (!status.available) {
      t.skip(`skipped: no CUDA device (${status.reason})`);
      return;
    }
    const addon = loadAddon();
    const before = addon.cudaStats();
    const built = request("fp32", 3, false);
    const pinned = (b: Buffer) => {
      const p = addon.cudaHostAlloc(b.length);
      b.copy(p);
      return p;
    };
    const req: ExtrapolateRequest = {
      ...built.req,
      device: "cuda",
      aligned: pinned(built.req.aligned),
      base: pinned(built.req.base),
      outs: built.req.outs.map(pinned),
    };
    const held = [req.aligned, req.base, ...req.outs];
    const allocated = addon.cudaStats();
    assert.equal(allocated.hostBuffers - before.hostBuffers, 5);
    assert.equal(
      allocated.hostBytes - before.hostBytes,
      held.reduce((n, b) => n + b.length, 0),
    );

    const cpuReq = clone(built);
    const cpu = await extrapolate({ ...cpuReq, device: "cpu" });
    const gpu = await extrapolate(req);
    for (let j = 0; j < 3; ++j)
      assert.ok((req.outs[j] as Buffer).equals(cpuReq.outs[j] as Buffer), `output ${j} differs from the CPU`);
    compareStats(cpu, gpu, built.segments);
    const direct = addon.cudaStats();
    assert.equal(direct.calls - allocated.calls, 1);
    assert.ok(direct.chunks > allocated.chunks);
    assert.equal(
      direct.directChunks - allocated.directChunks,
      direct.chunks - allocated.chunks,
      "every chunk went by DMA straight from and to the page-locked buffers",
    );
    // The counters the GPU check's figures come from: the segments' bytes, whatever the buffers' sizes.
    const size = (d: FloatDtype | undefined) => SIZE[d as FloatDtype];
    const bytesIn = built.segments.reduce(
      (n, s) => n + s.count * (size(s.dtype) + (s.op === "convert" ? 0 : size(s.baseDtype ?? s.dtype))),
      0,
    );
    const bytesOut = built.segments.reduce((n, s) => n + 3 * s.count * size(s.outDtype ?? s.dtype), 0);
    assert.equal(direct.bytesIn - allocated.bytesIn, bytesIn);
    assert.equal(direct.bytesOut - allocated.bytesOut, bytesOut);
    assert.ok(direct.seconds > allocated.seconds);

    await extrapolate({ ...clone(built), device: "cuda" });
    const pageable = addon.cudaStats();
    assert.ok(pageable.chunks > direct.chunks);
    assert.equal(pageable.directChunks, direct.directChunks, "pageable buffers are staged");

    for (const b of held) addon.cudaHostFree(b);
    assert.ok(
      held.every((b) => b.length === 0 && b.buffer.byteLength === 0),
      "freed buffers are detached",
    );
    assert.throws(() => addon.cudaHostFree(req.aligned), /not a whole, live Buffer from cudaHostAlloc/);
    assert.throws(() => addon.cudaHostFree(Buffer.alloc(16)), /not a whole, live Buffer from cudaHostAlloc/);
    const freed = addon.cudaStats();
    assert.equal(freed.hostBuffers, before.hostBuffers);
    assert.equal(freed.hostBytes, before.hostBytes);
  });

  it("a worker on CUDA: unit buffers page-locked from the library, released when it ends, the CPU's bytes", async (t) => {
    if (!status.available) {
      t.skip(`skipped: no CUDA device (${status.reason})`);
      return;
    }
    const addon = loadAddon();
    const root = await tempDir();
    const tensors = [
      { name: "embed", dtype: "BF16", shape: [300, 64] },
      { name: "norm", dtype: "F32", shape: [64] },
      { name: "proj", dtype: "BF16", shape: [128, 96] },
      { name: "ids", dtype: "I64", shape: [5] },
      { name: "head", dtype: "F16", shape: [96, 80] },
    ];
    await writeCheckpoint(join(root, "sft"), { "model.safetensors": tensors });
    await writeCheckpoint(join(root, "dpo"), { "model.safetensors": tensors });
    const run = async (device: KernelDevice) => {
      const job = await prepareLocalJob(root, join(root, `out-${device}`), 16 * 1024);
      const coordinator = new Coordinator(job.spec, job.plan, job.outputs, {
        jobId: device,
        leaseTtlMs: 60_000,
        maxAttempts: 1,
      });
      await coordinator.start();
      const before = addon.cudaStats();
      const live: number[] = [];
      const outcome = await runWorker(coordinator, {
        workerId: device,
        device,
        storage: LOCAL_STORAGE,
        concurrency: 2,
        observer: {
          started: () => live.push(addon.cudaStats().hostBuffers - before.hostBuffers),
          finished: () => {},
          failed: (unit, error) => assert.fail(`unit ${unit.id}: ${error}`),
        },
      });
      const after = addon.cudaStats();
      coordinator.close();
      await Promise.all([job.aligned.storage.close(), job.base.storage.close(), ...job.outputs.map((o) => o.close())]);
      assert.deepEqual(outcome, { kind: "done" });
      const computing = [...job.plan.units].filter((u) => u.segments.some((s) => s.action !== "copy")).length;
      const parts = [...coordinator.reports.values()]
        .sort((x, y) => x.unitId - y.unitId)
        .flatMap((r) => r.parts.map((p) => p.sha256));
      return { live, before, after, computing, units: job.plan.units.length, parts };
    };

    const cpu = await run("cpu");
    assert.ok(
      cpu.live.every((n) => n === 0),
      "the CPU worker takes no page-locked memory",
    );
    const gpu = await run("cuda");
    assert.ok(gpu.units > 4, `${gpu.units} units`);
    // One α in place: an aligned and a base buffer per slot, at most two slots; all released by the end.
    assert.ok(
      gpu.live.every((n) => n >= 2 && n <= 4 && n % 2 === 0),
      `live page-locked buffers when units started: ${gpu.live.join(", ")}`,
    );
    assert.equal(gpu.after.hostBuffers, gpu.before.hostBuffers, "every unit buffer released when the worker ended");
    assert.equal(gpu.after.hostBytes, gpu.before.hostBytes);
    assert.equal(gpu.after.calls - gpu.before.calls, gpu.computing);
    assert.ok(gpu.after.chunks > gpu.before.chunks);
    assert.equal(
      gpu.after.directChunks - gpu.before.directChunks,
      gpu.after.chunks - gpu.before.chunks,
      "every chunk went by DMA straight from and to the unit buffers",
    );
    assert.deepEqual(gpu.parts, cpu.parts, "the parts' SHA-256 differ from the CPU worker's");
  });

  it("runs a job with --device cuda: the same output bytes as --device cpu", async (t) => {
    if (!status.available) {
      t.skip(`skipped: no CUDA device (${status.reason})`);
      return;
    }
    const root = await tempDir();
    const tensors = [
      { name: "embed", dtype: "BF16", shape: [300, 64] },
      { name: "norm", dtype: "F32", shape: [64] },
      { name: "proj", dtype: "F16", shape: [128, 96] },
      { name: "ids", dtype: "I64", shape: [5] },
    ];
    await writeCheckpoint(join(root, "sft"), { "model.safetensors": tensors });
    await writeCheckpoint(join(root, "dpo"), { "model.safetensors": tensors });
    const outs: Buffer[] = [];
    const trace = join(root, "trace");
    for (const device of ["cpu", "cuda"]) {
      const out = join(root, `out-${device}`);
      const r = await runCli(
        [...jobArgs("run", join(root, "sft"), join(root, "dpo"), out), "--device", device, "--unit-size", "20KiB"],
        { LLM_EXPO_CUDA_TRACE: trace },
      );
      assert.equal(r.code, 0, r.stderr);
      outs.push(await readFile(join(out, "model.safetensors")));
    }
    assert.ok((outs[0] as Buffer).equals(outs[1] as Buffer), "--device cuda wrote other bytes than --device cpu");
    // LLM_EXPO_CUDA_TRACE: a line per call of the CUDA run (none from the CPU run), each chunk of each by DMA
    // straight from and to the worker's page-locked unit buffers.
    const calls = (await readFile(trace, "utf8")).trim().split("\n");
    assert.ok(calls.length > 1, `${calls.length} calls traced`);
    for (const line of calls) {
      const m = /^extrapolate segments=(\d+) in=(\d+) out=(\d+) chunks=(\d+) direct=(\d+) seconds=([\d.]+)$/.exec(line);
      assert.ok(m, line);
      assert.ok(Number(m[4]) > 0 && m[5] === m[4], `not every chunk direct: ${line}`);
    }
  });
});

// The child runs this file over the emulated device; it does not run itself again.
if (!child)
  describe("CUDA pipeline on the emulated device", () => {
    const emulated = join(buildDir, "libexpo_cuda_emulated.so");
    it("passes this file's GPU tests through the addon, in a child process", (t) => {
      if (!existsSync(emulated)) {
        t.skip("skipped: CUDA kernel not built (npm run build:cuda)");
        return;
      }
      const r = spawnSync(process.execPath, ["--test", "--test-reporter=spec", fileURLToPath(import.meta.url)], {
        encoding: "utf8",
        timeout: 300_000,
        env: {
          ...process.env,
          NODE_TEST_CONTEXT: undefined, // a test run of its own, not a subprocess reporting to this runner
          EXPO_CUDA_TEST_CHILD: "1",
          LLM_EXPO_CUDA_LIBRARY: emulated,
          LLM_EXPO_CUDA_CHUNK_MIB: "0.0625", // 64 KiB chunks: many chunks per call, every slot reused
          LLM_EXPO_CUDA_COPY_THREADS: "3",
        },
      });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stdout, /skipped: no CUDA device/);
      assert.match(r.stdout, /✔ device cuda runs the CUDA kernel/);
      assert.match(r.stdout, /✔ matches the CPU kernel bit for bit: torch, K=3/);
      assert.match(r.stdout, /✔ host memory from the library/);
      assert.match(r.stdout, /✔ a worker on CUDA: unit buffers page-locked/);
      assert.match(r.stdout, /ℹ fail 0/);
      assert.match(r.stdout, /ℹ skipped 0/);
    });
  });

describe("--device cuda without a usable CUDA device", () => {
  async function pair(): Promise<{ base: string; aligned: string; root: string }> {
    const root = await tempDir();
    const tensors = [{ name: "w", dtype: "BF16", shape: [16, 16] }];
    await writeCheckpoint(join(root, "sft"), { "model.safetensors": tensors });
    await writeCheckpoint(join(root, "dpo"), { "model.safetensors": tensors });
    return { base: join(root, "sft"), aligned: join(root, "dpo"), root };
  }

  it("is a one-line usage error (exit 2) when no device is visible, and nothing is written", async () => {
    const { base, aligned, root } = await pair();
    const out = join(root, "out");
    const r = await runCli([...jobArgs("run", base, aligned, out), "--device", "cuda"], { CUDA_VISIBLE_DEVICES: "" });
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] as string, /^llm-expo: --device cuda: /);
    assert.ok(!existsSync(out) || (await readdir(out)).length === 0, "nothing written");
  });

  it("says so when the CUDA kernel is not built", async () => {
    const { base, aligned, root } = await pair();
    const r = await runCli([...jobArgs("run", base, aligned, join(root, "out")), "--device", "cuda"], {
      LLM_EXPO_CUDA_LIBRARY: join(root, "missing", "libexpo_cuda.so"),
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--device cuda: the CUDA kernel is not built .*npm run build:cuda/);
  });

  it("--device auto falls back to the CPU then, and the run succeeds", async () => {
    const { base, aligned, root } = await pair();
    const r = await runCli([...jobArgs("run", base, aligned, join(root, "out")), "--device", "auto"], {
      CUDA_VISIBLE_DEVICES: "",
    });
    assert.equal(r.code, 0, r.stderr);
  });
});
