// Which code path runs: the best one the CPU (and OS) supports, unless narrowed by EXPO_KERNEL_SIMD or by
// setActiveIsa (tests compare all paths in one process).
#pragma once

#include "kernel.h"

namespace expo {

const char* isaName(Isa isa);
bool parseIsa(const char* name, Isa& isa);
bool isaAvailable(Isa isa);
Isa bestIsa();
Isa activeIsa();
// False when the CPU lacks it; the active path is unchanged then.
bool setActiveIsa(Isa isa);
SegmentFn segmentFn(Isa isa);

}  // namespace expo
