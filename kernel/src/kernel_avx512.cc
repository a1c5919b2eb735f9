// AVX-512 path (F and DQ): the block algorithm of vector_block.h on 16 fp32 lanes per vector, statistics in 8
// fp64 lanes (one lane per partial sum). isa.cc checks the CPU.
#include "kernel.h"

#if defined(__x86_64__)
// GCC 12 flags the deliberately undefined pass-through operand inside its own AVX-512 intrinsics (GCC bug
// 105593); the warning points into the header, so it is silenced for this file before including it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx2,fma,f16c")
#endif

#include "vector_block.h"
#include "avx512.h"

namespace expo {
namespace {

template <int DT, int AR, int KF>
void segment(const SegArgs& s, Sums& out) {
  vectorSegment<Avx512, DT, AR, KF>(s, out);
}

}  // namespace

void segmentAvx512(const SegArgs& s, Sums& acc) {
  if (isMixed(s.op, s.dtype, s.baseDtype, s.outDtype)) return mixedAvx512(s, acc);
  EXPO_DISPATCH_SEGMENT(segment, s, acc);
}

}  // namespace expo

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif  // __x86_64__
