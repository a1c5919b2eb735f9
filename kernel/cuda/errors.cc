#include "errors.h"

#include <cstdarg>
#include <cstdio>

namespace expo::cuda {
namespace {

thread_local char tlsError[512];

// Errors after which the context (and the process's CUDA state) cannot be trusted.
bool isSticky(cudaError_t e) {
  switch (e) {
    case cudaErrorMemoryAllocation:
    case cudaErrorInvalidValue:
    case cudaErrorNotReady:
      return false;
    default:
      return true;
  }
}

}  // namespace

void setError(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(tlsError, sizeof tlsError, fmt, ap);
  va_end(ap);
}

void clearError() { tlsError[0] = '\0'; }

const char* lastError() { return tlsError; }

void fail(const char* what, cudaError_t e) {
  char buf[400];
  std::snprintf(buf, sizeof buf, "CUDA error in %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
  throw CudaFailure{buf, isSticky(e)};
}

}  // namespace expo::cuda
