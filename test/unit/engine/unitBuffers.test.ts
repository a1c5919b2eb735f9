// The unit buffer pool: one set of buffers per slot from its allocator, reused unit after unit, every buffer
// given back to the allocator when the pool is closed (at once if free, when given back if still in use).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type BufferSizes, UnitBufferPool, unitBufferBytes } from "../../../engine/unitBuffers.js";
import type { HostAllocator } from "../../../kernel/types.js";

const SIZES: BufferSizes = { maxUnitBytes: 300, maxAlignedBytes: 200, maxBaseBytes: 100, outputs: 2, inPlace: false };

/** An allocator that keeps the books: what it handed out, what came back. */
function counting(failAfter = Number.POSITIVE_INFINITY) {
  const live = new Set<Buffer>();
  let allocated = 0;
  const memory: HostAllocator = {
    allocate: (bytes) => {
      if (allocated >= failAfter) throw new Error("out of page-locked memory");
      allocated++;
      const b = Buffer.alloc(bytes);
      live.add(b);
      return b;
    },
    release: (b) => {
      assert.ok(live.delete(b), "released a buffer that is not live");
    },
  };
  return { memory, live, allocated: () => allocated };
}

describe("UnitBufferPool", () => {
  it("allocates one set per unit in flight from its allocator and reuses it for the next unit", () => {
    const books = counting();
    const pool = new UnitBufferPool(SIZES, books.memory);
    const first = pool.take();
    assert.equal(first.aligned.length, 200);
    assert.equal(first.base.length, 100);
    assert.deepEqual(
      first.outs.map((o) => o.length),
      [300, 300],
    );
    const second = pool.take();
    assert.equal(books.allocated(), 8);
    assert.equal(
      [...books.live].reduce((n, b) => n + b.length, 0),
      2 * unitBufferBytes(SIZES),
    );
    pool.give(first);
    assert.equal(pool.take(), first, "a finished unit's buffers serve the next one");
    pool.give(first);
    pool.give(second);
    pool.take();
    pool.take();
    assert.equal(books.allocated(), 8, "nothing allocated after the first two sets");
  });

  it("on close releases the free buffers at once and those in use when they are given back", () => {
    const books = counting();
    const pool = new UnitBufferPool(SIZES, books.memory);
    const inUse = pool.take();
    pool.give(pool.take());
    pool.close();
    assert.equal(books.live.size, 4, "only the set in use is still allocated");
    assert.ok([inUse.aligned, inUse.base, ...inUse.outs].every((b) => books.live.has(b)));
    pool.give(inUse);
    assert.equal(books.live.size, 0);
    assert.throws(() => pool.take(), /taken after their pool was closed/);
  });

  it("gives back the buffers of a set it could not complete", () => {
    const books = counting(3);
    const pool = new UnitBufferPool(SIZES, books.memory);
    assert.throws(() => pool.take(), /out of page-locked memory/);
    assert.equal(books.allocated(), 3);
    assert.equal(books.live.size, 0);
  });

  it("with one α computed in place allocates no output buffer, and plain Node buffers by default", () => {
    const pool = new UnitBufferPool({ ...SIZES, outputs: 1, inPlace: true });
    const set = pool.take();
    assert.deepEqual(set.outs, []);
    assert.ok(Buffer.isBuffer(set.aligned) && set.aligned.length === 200);
    pool.close();
    assert.equal(set.aligned.length, 200, "Node memory is left to the garbage collector, not detached");
  });
});
