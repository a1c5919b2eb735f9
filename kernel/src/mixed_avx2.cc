// Mixed-dtype segments and conversions on the AVX2 + FMA + F16C path (staged.h over vector_block.h and the traits of
// avx2.h), in a translation unit of their own: the equal-dtype code of kernel_avx2.cc stays as it is compiled
// alone.
#include "kernel.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

#include "vector_block.h"
#include "avx2.h"

namespace expo {

void mixedAvx2(const SegArgs& s, Sums& acc) { mixedSegment<VectorMixed<Avx2>>(s, acc); }

}  // namespace expo

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif  // __x86_64__
