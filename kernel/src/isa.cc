#include "isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace expo {
namespace {

Isa detect() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  // __builtin_cpu_supports also checks that the OS saves the wider registers (XGETBV).
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) return Isa::kAvx512;
  if (avx2) return Isa::kAvx2;
#endif
  return Isa::kScalar;
}

Isa initial() {
  Isa isa = detect();
  Isa wanted;
  const char* env = std::getenv("EXPO_KERNEL_SIMD");
  if (env != nullptr && parseIsa(env, wanted) && int(wanted) < int(isa)) isa = wanted;
  return isa;
}

std::atomic<int>& active() {
  static std::atomic<int> value{int(initial())};
  return value;
}

}  // namespace

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2:
      return "avx2";
    default:
      return "scalar";
  }
}

bool parseIsa(const char* name, Isa& isa) {
  for (Isa candidate : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (std::strcmp(name, isaName(candidate)) == 0) {
      isa = candidate;
      return true;
    }
  }
  return false;
}

Isa bestIsa() {
  static const Isa best = detect();
  return best;
}

bool isaAvailable(Isa isa) { return int(isa) <= int(bestIsa()); }

Isa activeIsa() { return Isa(active().load(std::memory_order_relaxed)); }

bool setActiveIsa(Isa isa) {
  if (!isaAvailable(isa)) return false;
  active().store(int(isa), std::memory_order_relaxed);
  return true;
}

SegmentFn segmentFn(Isa isa) {
  switch (isa) {
#if defined(__x86_64__)
    case Isa::kAvx512:
      return segmentAvx512;
    case Isa::kAvx2:
      return segmentAvx2;
#endif
    default:
      return segmentScalar;
  }
}

}  // namespace expo
