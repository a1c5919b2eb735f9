// The environment settings of the CUDA library, read when a context is opened or a request planned.
#pragma once

#include <cstdint>

namespace expo::cuda {

// CUDA_VISIBLE_DEVICES as it is, for messages ("(unset)" when it is).
const char* visibleDevices();
// LLM_EXPO_CUDA_DEVICE, else 0.
int deviceSetting();
// Bytes of each input per pipeline chunk: LLM_EXPO_CUDA_CHUNK_MIB (fractions allowed: tests use small chunks),
// default 8 MiB.
std::uint64_t chunkBytesSetting();
// Host copy threads: LLM_EXPO_CUDA_COPY_THREADS, else half the CPUs, 2 to 8.
int copyThreadsSetting();
// LLM_EXPO_CUDA_TRACE: the file each call's figures are appended to (expo_cuda.h), or nullptr.
const char* traceSetting();

}  // namespace expo::cuda
