// The CUDA kernel, loaded at run time: libexpo_cuda.so (kernel/cuda, built by npm run build:cuda) is opened
// with dlopen only when CUDA is asked for, so the addon itself has no CUDA dependency and the package builds
// and runs where there is no CUDA. One library and one device context per process, opened on first use.
#pragma once

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

}  // namespace expo
