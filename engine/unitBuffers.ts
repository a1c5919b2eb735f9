// Buffers for one in-flight unit, allocated once per worker slot and reused for every unit: the
// hot path allocates nothing, and a worker's memory is slots × (aligned + base + separate outputs).

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

export function allocateUnitBuffers(sizes: BufferSizes): UnitBuffers {
  return {
    aligned: Buffer.allocUnsafeSlow(Math.max(1, sizes.maxAlignedBytes)),
    base: Buffer.allocUnsafeSlow(Math.max(1, sizes.maxBaseBytes)),
    outs: Array.from({ length: separateOutputs(sizes) }, () => Buffer.allocUnsafeSlow(Math.max(1, sizes.maxUnitBytes))),
  };
}

/** Buffers for units in flight: a finished unit's buffers serve the next one. */
export class UnitBufferPool {
  private readonly free: UnitBuffers[] = [];

  constructor(private readonly sizes: BufferSizes) {}

  take(): UnitBuffers {
    return this.free.pop() ?? allocateUnitBuffers(this.sizes);
  }

  give(buffers: UnitBuffers): void {
    this.free.push(buffers);
  }
}
