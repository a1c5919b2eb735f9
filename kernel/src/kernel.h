// Shared types of the CPU kernel: one segment's arguments, its per-slot partial sums, and the code paths. The
// arithmetic lives in arith.h (per element), element.h (the scalar block reference) and block_loop.h (the
// vector paths' block loop over the ISA traits of avx2.h and avx512.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "layout.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "llm-expo kernel: safetensors data is little-endian; big-endian hosts are not supported"
#endif
#if defined(__i386__) && !defined(__SSE2_MATH__)
#error "llm-expo kernel: x87 excess precision would change results; build with SSE2 math"
#endif

namespace expo {

// Every code path sums statistics into the same 8 partial sums and visits a block's elements in the same
// order (see element.h, elemIndex), so the statistics are bit-identical on every path, not only the outputs.
constexpr int kSlots = 8;
constexpr int kBlock = 32;
enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// One segment: dtype is the aligned input's (and base's and the outputs' unless baseDtype, outDtype differ).
struct SegArgs {
  int dtype;
  int arith;
  int k;
  std::size_t count;
  const std::uint8_t* a;
  const std::uint8_t* b;
  std::uint8_t* out[kMaxOutputs];
  float alphaF[kMaxOutputs];
  double alphaD[kMaxOutputs];
  // After the fields the equal-dtype code reads, so their offsets (and that code) stay as they were.
  int op;
  int baseDtype;
  int outDtype;
};

struct Sums {
  double a2[kSlots];
  double b2[kSlots];
  double d2[kSlots];
  double mx[kSlots];
  double o2[kMaxOutputs][kSlots];
  std::uint64_t nfIn;
  std::uint64_t nfOut;
};

inline void clearSums(Sums& t, int k) {
  for (int l = 0; l < kSlots; ++l) t.a2[l] = t.b2[l] = t.d2[l] = t.mx[l] = 0.0;
  for (int j = 0; j < k; ++j)
    for (int l = 0; l < kSlots; ++l) t.o2[j][l] = 0.0;
  t.nfIn = t.nfOut = 0;
}

// Each adds one whole segment (outputs written, statistics summed into acc, which starts cleared). The mixed*
// functions (staged.h) take the segments whose dtypes are not all equal, and conversions.
using SegmentFn = void (*)(const SegArgs&, Sums&);
void segmentScalar(const SegArgs& s, Sums& acc);
void mixedScalar(const SegArgs& s, Sums& acc);
#if defined(__x86_64__)
void segmentAvx2(const SegArgs& s, Sums& acc);
void segmentAvx512(const SegArgs& s, Sums& acc);
void mixedAvx2(const SegArgs& s, Sums& acc);
void mixedAvx512(const SegArgs& s, Sums& acc);
#endif

}  // namespace expo
