// AVX2 + FMA + F16C path: the block algorithm of vector_block.h on 8-lane fp32 vectors, one group (8 elements)
// per vector, statistics in two 4-lane fp64 halves (partial sums 0-3 and 4-7), same order, same bits.
#include "kernel.h"

#if defined(__x86_64__)
#include "avx2.h"  // the target ISA from here to target_pop.h

namespace expo {
namespace {

template <int DT, int AR, int KF>
void segment(const SegArgs& s, Sums& out) {
  vectorSegment<Avx2, DT, AR, KF>(s, out);
}

}  // namespace

void segmentAvx2(const SegArgs& s, Sums& acc) {
  if (isMixed(s.op, s.dtype, s.baseDtype, s.outDtype)) return mixedAvx2(s, acc);
  EXPO_DISPATCH_SEGMENT(segment, s, acc);
}

}  // namespace expo

#include "target_pop.h"

#endif  // __x86_64__
