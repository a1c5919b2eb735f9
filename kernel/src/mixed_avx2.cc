// Mixed-dtype segments and conversions on the AVX2 + FMA + F16C path (staged.h over vector_block.h and the traits
// of avx2.h), in a translation unit of their own so that the equal-dtype code of kernel_avx2.cc is compiled as
// it is alone.
#include "kernel.h"

#if defined(__x86_64__)
#include "avx2.h"  // the target ISA from here to target_pop.h

namespace expo {

void mixedAvx2(const SegArgs& s, Sums& acc) { mixedSegment<VectorMixed<Avx2>>(s, acc); }

}  // namespace expo

#include "target_pop.h"

#endif  // __x86_64__
