// Mixed-dtype segments and conversions on the AVX-512 path (staged.h over vector_block.h and the traits
// of avx512.h), in a translation unit of their own so that the equal-dtype code of kernel_avx512.cc is compiled as
// it is alone.
#include "kernel.h"

#if defined(__x86_64__)
#include "avx512.h"  // the target ISA from here to target_pop.h

namespace expo {

void mixedAvx512(const SegArgs& s, Sums& acc) { mixedSegment<VectorMixed<Avx512>>(s, acc); }

}  // namespace expo

#include "target_pop.h"

#endif  // __x86_64__
