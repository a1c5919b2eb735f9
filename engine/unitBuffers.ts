// Buffers for one in-flight unit, allocated once per worker slot and reused for every unit: the
// hot path allocates nothing, and a worker's memory is slots × (aligned + base + separate outputs).
// The memory comes from a HostAllocator: Node's on the CPU, page-locked from the CUDA library when the
// worker's device is CUDA (kernel/hostAllocator.ts).
import { hostAllocator } from "../kernel/hostAllocator.js";
import type { HostAllocator } from "../kernel/types.js";

export interface UnitBuffers {
  aligned: Buffer;
  base: Buffer;
  /** K output buffers; none when the job has one α and every unit is computed in place in `aligned`. */
  outs: Buffer[];
}

/** The largest unit's buffers, from the plan: what every slot allocates. */
export interface BufferSizes {
  maxUnitBytes: number;
  maxAlignedBytes: number;
  maxBaseBytes: number;
  outputs: number;
  /** Every unit is computed in place (with one α the aligned buffer is the output). */
  inPlace: boolean;
}

function separateOutputs(sizes: BufferSizes): number {
  return sizes.outputs === 1 && sizes.inPlace ? 0 : sizes.outputs;
}

/** Bytes one in-flight unit's buffers take. */
export function unitBufferBytes(sizes: BufferSizes): number {
  return (
    Math.max(1, sizes.maxAlignedBytes) +
    Math.max(1, sizes.maxBaseBytes) +
    separateOutputs(sizes) * Math.max(1, sizes.maxUnitBytes)
  );
}

function allocateUnitBuffers(sizes: BufferSizes, memory: HostAllocator): UnitBuffers {
  const made: Buffer[] = [];
  const allocate = (bytes: number) => {
    const buffer = memory.allocate(Math.max(1, bytes));
    made.push(buffer);
    return buffer;
  };
  try {
    return {
      aligned: allocate(sizes.maxAlignedBytes),
      base: allocate(sizes.maxBaseBytes),
      outs: Array.from({ length: separateOutputs(sizes) }, () => allocate(sizes.maxUnitBytes)),
    };
  } catch (e) {
    for (const buffer of made) memory.release(buffer);
    throw e;
  }
}

function releaseUnitBuffers(buffers: UnitBuffers, memory: HostAllocator): void {
  for (const buffer of [buffers.aligned, buffers.base, ...buffers.outs]) memory.release(buffer);
}

/**
 * Buffers for units in flight: a finished unit's buffers serve the next one. Closed when its owner ends, which
 * releases the buffers at once, or, for those still in use then, when they are given back.
 */
export class UnitBufferPool {
  private readonly free: UnitBuffers[] = [];
  private closed = false;

  constructor(
    private readonly sizes: BufferSizes,
    private readonly memory: HostAllocator = hostAllocator("cpu"),
  ) {}

  take(): UnitBuffers {
    if (this.closed) throw new Error("llm-expo: unit buffers taken after their pool was closed");
    return this.free.pop() ?? allocateUnitBuffers(this.sizes, this.memory);
  }

  give(buffers: UnitBuffers): void {
    if (this.closed) releaseUnitBuffers(buffers, this.memory);
    else this.free.push(buffers);
  }

  close(): void {
    this.closed = true;
    for (const buffers of this.free.splice(0)) releaseUnitBuffers(buffers, this.memory);
  }
}
