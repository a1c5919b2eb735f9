// The portable path (any CPU, and aarch64 for now): the reference arithmetic of element.h, block by block
// in the same order as the vector paths, so all paths agree bit for bit on outputs and statistics; mixed
// dtypes and conversions in mixed_scalar.cc.
#include "element.h"

namespace expo {
namespace {

template <int DT, int AR, int KF>
void segment(const SegArgs& s, Sums& acc) {
  constexpr std::size_t sz = dtypeSize(DT);
  const std::size_t blocks = s.count / kBlock;
  for (std::size_t i = 0; i < blocks; ++i) {
    const std::size_t first = i * kBlock;
    block<DT, AR, true>(s, s.a + first * sz, s.b + first * sz, first, acc);
  }
  tail<DT, AR>(s, blocks * kBlock, acc);
}

}  // namespace

void segmentScalar(const SegArgs& s, Sums& acc) {
  if (isMixed(s.op, s.dtype, s.baseDtype, s.outDtype)) return mixedScalar(s, acc);
  EXPO_DISPATCH_SEGMENT(segment, s, acc);
}

}  // namespace expo
