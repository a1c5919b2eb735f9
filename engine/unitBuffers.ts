// Buffers for one in-flight unit, allocated once per worker slot and reused for every unit: the
// hot path allocates nothing, and a worker's memory is slots × (aligned + base + extra outputs).

export interface UnitBuffers {
  aligned: Buffer;
  base: Buffer;
  /** One buffer per output; with one output it is `aligned` itself (computed in place). */
  outs: Buffer[];
}

/** Bytes one in-flight unit's buffers take. */
export function unitBufferBytes(maxUnitBytes: number, maxBaseBytes: number, outputs: number): number {
  return Math.max(1, maxUnitBytes) * (outputs === 1 ? 1 : 1 + outputs) + Math.max(1, maxBaseBytes);
}

export function allocateUnitBuffers(maxUnitBytes: number, maxBaseBytes: number, outputs: number): UnitBuffers {
  const aligned = Buffer.allocUnsafeSlow(Math.max(1, maxUnitBytes));
  const base = Buffer.allocUnsafeSlow(Math.max(1, maxBaseBytes));
  const outs =
    outputs === 1
      ? [aligned]
      : Array.from({ length: outputs }, () => Buffer.allocUnsafeSlow(Math.max(1, maxUnitBytes)));
  return { aligned, base, outs };
}

/** Buffers for units in flight: a finished unit's buffers serve the next one. */
export class UnitBufferPool {
  private readonly free: UnitBuffers[] = [];

  constructor(
    private readonly maxUnitBytes: number,
    private readonly maxBaseBytes: number,
    private readonly outputs: number,
  ) {}

  take(): UnitBuffers {
    return this.free.pop() ?? allocateUnitBuffers(this.maxUnitBytes, this.maxBaseBytes, this.outputs);
  }

  give(buffers: UnitBuffers): void {
    this.free.push(buffers);
  }
}
