// How the CUDA library reports failure: a one-line message per thread for the C interface
// (expo_cuda_last_error), and CudaFailure thrown through the host code by CU(call), marked sticky when the CUDA
// context can no longer be trusted.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

namespace expo::cuda {

void setError(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void clearError();
const char* lastError();

struct CudaFailure {
  std::string message;
  bool sticky;
};

[[noreturn]] void fail(const char* what, cudaError_t e);

}  // namespace expo::cuda

#define CU(call)                                         \
  do {                                                   \
    const cudaError_t e_ = (call);                       \
    if (e_ != cudaSuccess) ::expo::cuda::fail(#call, e_); \
  } while (0)
