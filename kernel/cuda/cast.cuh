// The conversions of a chunk, run on the device before its tile kernels (the cast kernel of kernels.cu) and in
// the host emulation (emulate.h) with this same per-thread code: the inputs of mixed-dtype segments converted to
// the dtype they compute in (into the stage regions), and convert segments' outputs (into every output region).
// Each element is R_to of its value (kernel/src/arith.h: roundTo), as the CPU kernel's staging does, so the tile
// kernels then see exactly the values the CPU kernel computes from.
//
// A cast covers count elements; it is cut into cast tiles of kCastElems, one block per tile, thread t taking
// elements t, t + 256, ... of the tile (coalesced loads and stores; no statistics, so the order is free).
#pragma once

#include "tile.cuh"

namespace expo::cuda {

constexpr int kCastElems = 16 * kThreads;

// A cast in the cast table, as 64-bit words: source byte offset (from the device input buffer), destination
// byte offset (from the device input buffer, or in each output region when toOut), element count, and the kind:
// from | to << 2 | toOut << 4.
enum CastWord : int { kCwSrc = 0, kCwDst = 1, kCwCount = 2, kCwKind = 3, kCastWords = 4 };
EXPO_HDC constexpr std::uint64_t castKind(int from, int to, bool toOut) {
  return std::uint64_t(from) | std::uint64_t(to) << 2 | std::uint64_t(toOut ? 1 : 0) << 4;
}

// One launch of the cast kernel. casts: nCasts rows of kCastWords; tiles: nTiles refs (piece = the cast's row).
struct CastLaunch {
  const std::uint64_t* casts;
  const TileRef* tiles;
  std::uint32_t nTiles;
  int k;
  std::uint8_t* in;
  std::uint8_t* out;
  std::uint64_t outStride;
};

template <int FROM, int TO>
EXPO_HD void castThread(const CastLaunch& l, const std::uint64_t* cast, std::uint32_t tile, int tid) {
  constexpr int sf = dtypeSize(FROM);
  constexpr int st = dtypeSize(TO);
  const std::uint64_t first = std::uint64_t(tile) * kCastElems;
  const std::uint64_t count = cast[kCwCount];
  const bool toOut = (cast[kCwKind] >> 4) & 1u;
  const std::uint8_t* src = l.in + cast[kCwSrc];
#if defined(__CUDA_ARCH__)
#pragma unroll 1
#endif
  for (int j = 0; j < kCastElems / kThreads; ++j) {
    const std::uint64_t e = first + std::uint64_t(tid + kThreads * j);
    if (e >= count) break;
    const auto h = typename Io<FROM>::Bits(loadElem<sf>(src + e * sf));
    const std::uint64_t r = roundTo<TO>(Io<FROM>::widenBits(h));
    if (toOut) {
      for (int k = 0; k < l.k; ++k) storeElem<st>(l.out + std::uint64_t(k) * l.outStride + cast[kCwDst] + e * st, r);
    } else {
      storeElem<st>(l.in + cast[kCwDst] + e * st, r);
    }
  }
}

// One thread's share of cast tile r (the kind is uniform across the block).
EXPO_HD void castTile(const CastLaunch& l, TileRef r, int tid) {
  const std::uint64_t* cast = l.casts + std::uint64_t(r.piece) * kCastWords;
  switch (int(cast[kCwKind] & 15u)) {
#define EXPO_CAST_CASE(F, T) \
  case F | T << 2:           \
    return castThread<F, T>(l, cast, r.tile, tid);
#define EXPO_CAST_FROM(F) \
  EXPO_CAST_CASE(F, kBF16) EXPO_CAST_CASE(F, kF16) EXPO_CAST_CASE(F, kF32) EXPO_CAST_CASE(F, kF64)
    EXPO_CAST_FROM(kBF16)
    EXPO_CAST_FROM(kF16)
    EXPO_CAST_FROM(kF32)
    EXPO_CAST_FROM(kF64)
#undef EXPO_CAST_FROM
#undef EXPO_CAST_CASE
    default:
      return;
  }
}

}  // namespace expo::cuda
