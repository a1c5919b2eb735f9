// Mixed-dtype segments and conversions on the portable path (staged.h over element.h), in a translation unit of
// their own as on the vector paths (avx2.h says why).
#include "staged.h"

namespace expo {

void mixedScalar(const SegArgs& s, Sums& acc) { mixedSegment<ScalarMixed>(s, acc); }

}  // namespace expo
