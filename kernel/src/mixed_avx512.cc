// Mixed-dtype segments and conversions on the AVX-512 path (staged.h over vector_block.h and the traits of
// avx512.h), in a translation unit of their own: the equal-dtype code of kernel_avx512.cc stays as it is compiled
// alone.
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

void mixedAvx512(const SegArgs& s, Sums& acc) { mixedSegment<VectorMixed<Avx512>>(s, acc); }

}  // namespace expo

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif  // __x86_64__
