#include "settings.h"

#include <cstdlib>
#include <thread>

namespace expo::cuda {
namespace {

int envInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return end && *end == '\0' && x > 0 && x < (1 << 20) ? int(x) : fallback;
}

}  // namespace

const char* visibleDevices() {
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  return v ? v : "(unset)";
}

int deviceSetting() {
  const char* v = std::getenv("LLM_EXPO_CUDA_DEVICE");
  return v && *v ? std::atoi(v) : 0;
}

std::uint64_t chunkBytesSetting() {
  const char* v = std::getenv("LLM_EXPO_CUDA_CHUNK_MIB");
  if (v && *v) {
    char* end = nullptr;
    const double mib = std::strtod(v, &end);
    if (end && *end == '\0' && mib > 0 && mib <= 4096) return std::uint64_t(mib * 1048576.0);
  }
  return std::uint64_t(8) << 20;
}

int copyThreadsSetting() {
  const int hw = int(std::thread::hardware_concurrency());
  const int half = hw / 2 < 2 ? 2 : hw / 2 > 8 ? 8 : hw / 2;
  return envInt("LLM_EXPO_CUDA_COPY_THREADS", half);
}

const char* traceSetting() {
  const char* v = std::getenv("LLM_EXPO_CUDA_TRACE");
  return v && *v ? v : nullptr;
}

}  // namespace expo::cuda
