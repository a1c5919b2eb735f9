// AVX-512 path (F and DQ): the block algorithm of vector_block.h on 16 fp32 lanes per vector, statistics in 8
// fp64 lanes (one lane per partial sum). isa.cc checks the CPU.
#include "kernel.h"

#if defined(__x86_64__)
#include "avx512.h"  // the target ISA from here to target_pop.h

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

#include "target_pop.h"

#endif  // __x86_64__
