// The loop over a segment's whole blocks shared by the vector paths (vector_block.h), with software prefetch
// and streaming stores.
//
// The block math is long (about 40 vector uops per 32 bf16 elements, the statistics about half of it), so the
// out-of-order window spans only a few cache lines of each stream and the hardware prefetchers alone leave one
// core at about half the bandwidth of a copy loop. Prefetching the inputs, and the output for ownership when
// it is a separate buffer, recovers most of it. Once the block math got cheaper (about 19.5 GB/s equivalent in
// L2 for bf16), the read for ownership of a separate output became the gap to memcpy, so large separate
// segments are now written with streaming stores (forEachBlock; bf16 fp32 separate went from about 0.68 to
// 0.75 of memcpy on one core). In place keeps normal stores: streaming there measured slower (17.5 -> 13.4 GB/s).
//
// Included by each kernel_*.cc after its target pragma.
#pragma once

#include <cstring>

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

#ifndef EXPO_STREAM_MIN_BYTES
#define EXPO_STREAM_MIN_BYTES (1u << 20)
#endif
// Segments with at least this many bytes per output are written with streaming stores; smaller ones are
// written through the cache, where the next reader may still find them.
constexpr std::size_t kStreamMinBytes = EXPO_STREAM_MIN_BYTES;
// Bytes of each output staged between streaming flushes when an output does not start on a cache line.
#ifndef EXPO_STAGE_BYTES
#define EXPO_STAGE_BYTES 1024
#endif
constexpr std::size_t kStageBytes = EXPO_STAGE_BYTES;

// One staged cache line to memory, streamed (line is 64-byte aligned, src 32-byte aligned).
inline void streamLine(std::uint8_t* line, const std::uint8_t* src) {
  const __m256i lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(src));
  const __m256i hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(src + 32));
  _mm256_stream_si256(reinterpret_cast<__m256i*>(line), lo);
  _mm256_stream_si256(reinterpret_cast<__m256i*>(line + 32), hi);
}

// The blocks of a large segment whose outputs do not all start on a cache line: each output's blocks go
// (normal stores, and the scalar redo of a non-finite block likewise) to a small staging buffer laid out like
// the output's cache lines, kStageBytes at a time, and every whole line is then streamed to the output. The
// first line's bytes before the output are not ours and the last line is partial: both are written with
// normal stores. Only separate outputs come here (forEachBlock).
template <class Kern>
__attribute__((always_inline)) inline void stagedBlocks(const SegArgs& s, Kern& kern, std::size_t blocks) {
  constexpr std::size_t bb = Kern::kBlockBytes;
  constexpr std::size_t nb = kStageBytes / bb;
  static_assert(kStageBytes % bb == 0, "a chunk is whole blocks");
  const int K = kern.k();
  alignas(64) std::uint8_t stage[Kern::kCap][kStageBytes + 64];
  std::size_t lead[Kern::kCap];
  std::uint8_t* dst[Kern::kCap];
  for (int k = 0; k < K; ++k) lead[k] = reinterpret_cast<std::uintptr_t>(s.out[k]) % 64;
  for (std::size_t i0 = 0; i0 < blocks; i0 += nb) {
    const std::size_t n = blocks - i0 < nb ? blocks - i0 : nb;
    for (std::size_t j = 0; j < n; ++j) {
      for (int k = 0; k < K; ++k) dst[k] = stage[k] + lead[k] + j * bb;
      kern.template step<false>(i0 + j, dst);
    }
    for (int k = 0; k < K; ++k) {
      // stage[k][x] is the byte at line + x; lines [0, full) are staged whole, line `full` has lead[k] bytes.
      std::uint8_t* line = s.out[k] + i0 * bb - lead[k];
      const std::size_t full = (lead[k] + n * bb) / 64;
      std::size_t l = 0;
      if (i0 == 0 && lead[k] != 0) {
        std::memcpy(line + lead[k], stage[k] + lead[k], 64 - lead[k]);
        l = 1;
      }
      for (; l < full; ++l) streamLine(line + 64 * l, stage[k] + 64 * l);
      if (i0 + n == blocks)
        std::memcpy(line + 64 * full, stage[k] + 64 * full, lead[k]);
      else
        std::memcpy(stage[k], stage[k] + 64 * full, 64);
    }
  }
}

// Runs kern.step<NT>(i, dst) for every whole block i, dst[k] being block i's output k. Kern::kBlockBytes is one
// block's bytes. The kernel (with its running sums) is taken and returned by value and everything is inlined,
// so the sums stay in registers for the whole loop.
//
// Large segments are written with streaming (non-temporal) stores, like glibc's memcpy for large copies: a
// separate output then costs no read for ownership of each line (a quarter of the traffic). Only separate
// outputs: in place the lines were just read, and streaming them measured slower. NT: block outputs streamed directly (every output 64-byte aligned; block
// bytes are whole lines); otherwise stagedBlocks. A block the scalar code redoes is fenced first (step), and
// the loop ends with a fence, so the tail's and later stores are ordered after the streamed ones.
template <class Kern>
__attribute__((always_inline)) inline Kern forEachBlock(const SegArgs& s, Kern kern) {
  constexpr std::size_t bb = Kern::kBlockBytes;
  static_assert(bb % 64 == 0, "streamed blocks must be whole cache lines");
  const std::size_t blocks = s.count / kBlock;
  const int K = kern.k();
  std::uint8_t* dst[Kern::kCap];
  // In place the input prefetch already covers the output lines.
  bool separate = true;
  for (int k = 0; k < K; ++k)
    separate = separate && !overlapsRange(s.out[k], s.a, blocks * bb) && !overlapsRange(s.out[k], s.b, blocks * bb);
  if (separate && blocks * bb >= kStreamMinBytes) {
    bool aligned = true;
    for (int k = 0; k < K; ++k) aligned = aligned && reinterpret_cast<std::uintptr_t>(s.out[k]) % 64 == 0;
    if (aligned) {
      for (std::size_t i = 0; i < blocks; ++i) {
        for (int k = 0; k < K; ++k) dst[k] = s.out[k] + i * bb;
        kern.template step<true>(i, dst);
      }
    } else {
      stagedBlocks(s, kern, blocks);
    }
    _mm_sfence();
    return kern;
  }
  for (std::size_t i = 0; i < blocks; ++i) {
    for (int k = 0; k < K; ++k) {
      dst[k] = s.out[k] + i * bb;
      if (separate)
        for (std::size_t l = 0; l < bb; l += 64) __builtin_prefetch(dst[k] + kPrefetchBytes + l, 1, 3);
    }
    kern.template step<false>(i, dst);
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
