// An emulated CUDA device for machines without one: the few CUDA runtime functions the host code calls, over
// host memory (copies are memcpy, streams and events are synchronous), and the kernel launches of launch.h
// run by the host emulation (emulate.h). Linked with the library's host sources (build.sh: host_srcs) and the
// CPU kernel's job.cc instead of the CUDA runtime and kernels.cu, it makes libexpo_cuda_emulated.so: the real
// host pipeline (planning, staging, slots, copy threads, the C interface, the addon's loading and its device
// "cuda") end to end with the kernels' exact per-thread code. test/cuda.test.ts runs the GPU comparison against
// it in CI.
//
// CUDA_VISIBLE_DEVICES="" hides the emulated device, as it would a real one.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "../emulate.h"
#include "../launch.h"

namespace expo::cuda {

int tileBlocksPerSm(int, int) { return 4; }

cudaError_t launchTiles(int arith, const TileLaunch& l, int, cudaStream_t) {
  emulate::runTiles(arith, l);
  return cudaSuccess;
}

int mixedBlocksPerSm(int) { return 4; }

cudaError_t launchMixedTiles(const TileLaunch& l, int, cudaStream_t) {
  emulate::runMixedTiles(l);
  return cudaSuccess;
}

cudaError_t launchCasts(const CastLaunch& l, int, cudaStream_t) {
  emulate::runCasts(l);
  return cudaSuccess;
}

cudaError_t launchReduce(const ReduceLaunch& l, int, cudaStream_t) {
  emulate::runReduce(l);
  return cudaSuccess;
}

}  // namespace expo::cuda

namespace {
bool hidden() {
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  return v && *v == '\0';
}
int token;
}  // namespace

cudaError_t cudaGetDeviceCount(int* count) {
  if (hidden()) {
    *count = 0;
    return cudaErrorNoDevice;
  }
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidDevice; }
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int) {
  switch (attr) {
    case cudaDevAttrComputeCapabilityMajor:
      *value = 9;
      break;
    case cudaDevAttrComputeCapabilityMinor:
      *value = 0;
      break;
    case cudaDevAttrMultiProcessorCount:
      *value = 4;
      break;
    default:
      *value = 0;
  }
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int) {
  std::memset(prop, 0, sizeof *prop);
  std::strcpy(prop->name, "emulated CUDA device (host)");
  prop->major = 9;
  prop->multiProcessorCount = 4;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated CUDA error"; }
const char* cudaGetErrorName(cudaError_t e) { return e == cudaSuccess ? "cudaSuccess" : "cudaErrorEmulated"; }
cudaError_t cudaGetLastError(void) { return cudaSuccess; }

cudaError_t cudaMalloc(void** p, size_t n) {
  *p = std::aligned_alloc(256, (n + 255) / 256 * 256);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}

// "Page-locked" host allocations, so that the pipeline's direct (no staging copy) path runs here too.
namespace {
std::mutex pinnedMu;
std::map<std::uintptr_t, std::size_t> pinnedRanges;  // start -> bytes
}  // namespace

cudaError_t cudaMallocHost(void** p, size_t n) {
  const cudaError_t e = cudaMalloc(p, n);
  if (e == cudaSuccess) {
    std::lock_guard<std::mutex> g(pinnedMu);
    pinnedRanges[reinterpret_cast<std::uintptr_t>(*p)] = n;
  }
  return e;
}
cudaError_t cudaHostAlloc(void** p, size_t n, unsigned int) { return cudaMallocHost(p, n); }
cudaError_t cudaFreeHost(void* p) {
  {
    std::lock_guard<std::mutex> g(pinnedMu);
    pinnedRanges.erase(reinterpret_cast<std::uintptr_t>(p));
  }
  return cudaFree(p);
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* a, const void* p) {
  std::memset(a, 0, sizeof *a);
  a->type = cudaMemoryTypeUnregistered;
  const auto q = reinterpret_cast<std::uintptr_t>(p);
  std::lock_guard<std::mutex> g(pinnedMu);
  auto it = pinnedRanges.upper_bound(q);
  if (it != pinnedRanges.begin()) {
    --it;
    if (q < it->first + it->second) {
      a->type = cudaMemoryTypeHost;
      a->hostPointer = const_cast<void*>(p);
    }
  }
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind, cudaStream_t) {
  std::memcpy(dst, src, n);
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) {
  *s = reinterpret_cast<cudaStream_t>(&token);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) {
  *e = reinterpret_cast<cudaEvent_t>(&token);
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
