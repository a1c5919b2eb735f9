// The CUDA kernel, loaded at run time: libexpo_cuda.so (kernel/cuda, built by npm run build:cuda) is opened
// with dlopen only when CUDA is asked for, so the addon itself has no CUDA dependency and the package builds
// and runs where there is no CUDA. One library and one device context per process, opened on first use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "job.h"

namespace expo {

struct CudaProbe {
  bool available = false;
  std::string reason;       // why not, when not available
  std::string description;  // the device, when available
};

// Loads the library at `path` and opens a context on the visible device (CUDA_VISIBLE_DEVICES applies;
// LLM_EXPO_CUDA_DEVICE picks among them). Cached: the first call's outcome holds for the process.
CudaProbe cudaProbe(const std::string& path);

// Runs a validated job on the GPU (cudaProbe must have succeeded). False with a one-line message in err.
bool cudaRunJob(const Job& j, std::string& err);

// Page-locked host memory from the library (expo_cuda_host_alloc; cudaProbe must have succeeded): buffers the
// GPU reads and writes by DMA, with no host copy. nullptr / false with a one-line message in err.
void* cudaPinnedAlloc(std::size_t bytes, std::string& err);
bool cudaPinnedFree(void* p, std::string& err);

// The context's counters (expo_cuda.h's expo_cuda_counters, field for field).
struct CudaStats {
  std::uint64_t calls, chunks, directChunks, bytesIn, bytesOut;
  double seconds;
  std::uint64_t hostBuffers, hostBytes;
};
static_assert(sizeof(CudaStats) == 8 * sizeof(std::uint64_t), "CudaStats mirrors expo_cuda_counters");
bool cudaStats(CudaStats& out, std::string& err);

}  // namespace expo
