// The block loop shared by the vector paths, with software prefetch.
//
// The block math is long (about 40 vector uops per 32 bf16 elements, the statistics about half of it), so the
// out-of-order window spans only a few cache lines of each stream and the hardware prefetchers alone leave one
// core at about half the bandwidth of a copy loop. Prefetching the inputs, and the output for ownership when
// it is a separate buffer, recovers most of it. Streaming (non-temporal) stores through a staging buffer, to
// save the read for ownership of a separate output, were tried and measured no faster (bf16 and f16 are
// compute-bound on one core; for f32 and f64 the copy phases did not overlap the reads), so they are not used.
//
// Included by each kernel_*.cc after its target pragma.
#pragma once

#include "element.h"

namespace expo {
namespace {

#ifndef EXPO_PREFETCH_BYTES
#define EXPO_PREFETCH_BYTES 2048
#endif
constexpr std::size_t kPrefetchBytes = EXPO_PREFETCH_BYTES;

// Prefetches both inputs kPrefetchBytes past the block at byte offset off (BYTES: one block's bytes).
template <std::size_t BYTES>
__attribute__((always_inline)) inline void prefetchInputs(const SegArgs& s, std::size_t off) {
  for (std::size_t l = 0; l < BYTES; l += 64) {
    __builtin_prefetch(s.a + off + kPrefetchBytes + l, 0, 3);
    __builtin_prefetch(s.b + off + kPrefetchBytes + l, 0, 3);
  }
}

inline bool overlapsRange(const std::uint8_t* p, const std::uint8_t* q, std::size_t n) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  const auto b = reinterpret_cast<std::uintptr_t>(q);
  return a < b + n && b < a + n;
}

// Runs kern.step(i, dst) for every whole block i, dst[k] being block i's output k. Kern::kBlockBytes is one
// block's bytes. The kernel (with its running sums) is taken and returned by value and everything is inlined,
// so the sums stay in registers for the whole loop.
template <class Kern>
__attribute__((always_inline)) inline Kern forEachBlock(const SegArgs& s, Kern kern) {
  constexpr std::size_t bb = Kern::kBlockBytes;
  const std::size_t blocks = s.count / kBlock;
  const int K = kern.k();
  std::uint8_t* dst[Kern::kCap];
  // In place the input prefetch already covers the output lines.
  bool separate = true;
  for (int k = 0; k < K; ++k)
    separate = separate && !overlapsRange(s.out[k], s.a, blocks * bb) && !overlapsRange(s.out[k], s.b, blocks * bb);
  for (std::size_t i = 0; i < blocks; ++i) {
    for (int k = 0; k < K; ++k) {
      dst[k] = s.out[k] + i * bb;
      if (separate)
        for (std::size_t l = 0; l < bb; l += 64) __builtin_prefetch(dst[k] + kPrefetchBytes + l, 1, 3);
    }
    kern.step(i, dst);
  }
  return kern;
}

// Arguments for the scalar redo of the block starting at element `first`, whose outputs are at dst.
inline SegArgs redirected(const SegArgs& s, std::uint8_t* const* dst, std::size_t first, std::size_t sz) {
  SegArgs r = s;
  for (int k = 0; k < s.k; ++k)
    r.out[k] = reinterpret_cast<std::uint8_t*>(reinterpret_cast<std::uintptr_t>(dst[k]) - first * sz);
  return r;
}

}  // namespace
}  // namespace expo
