// The C interface of expo_cuda.h: device probing (with a reason when there is no usable device), contexts, and
// requests validated with the CPU kernel's rules (kernel/src/job.cc) before the pipeline runs them.
#include <cuda_runtime_api.h>

#include <dlfcn.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "../src/job.h"
#include "errors.h"
#include "expo_cuda.h"
#include "launch.h"
#include "pipeline.h"
#include "settings.h"

#define EXPO_API extern "C" __attribute__((visibility("default")))

using expo::cuda::CudaFailure;
using expo::cuda::setError;
using expo::cuda::visibleDevices;

struct expo_cuda_ctx {
  int device = 0;
  std::string description;
  std::mutex mu;
  expo::cuda::Pipeline pipe;
  std::string broken;  // set after a sticky error: every later call fails with it
  std::FILE* trace = nullptr;  // LLM_EXPO_CUDA_TRACE, written under mu
  // Not under mu, so that reading them or allocating host memory never waits for a call in flight.
  std::mutex statsMu;
  expo_cuda_counters stats{};
  std::unordered_map<void*, std::size_t> host;  // live host allocations and their bytes
};

EXPO_API int expo_cuda_abi(void) { return EXPO_CUDA_ABI; }

EXPO_API const char* expo_cuda_last_error(void) { return expo::cuda::lastError(); }

EXPO_API int expo_cuda_device_count(void) {
  expo::cuda::clearError();
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaSuccess) {
    if (n == 0) setError("no device visible (CUDA_VISIBLE_DEVICES=%s)", visibleDevices());
    return n;
  }
  if (e == cudaErrorInsufficientDriver) {
    void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!driver) {
      setError("no NVIDIA driver (libcuda.so.1 not found)");
      return 0;
    }
    dlclose(driver);
    int have = 0, runtime = 0;
    cudaDriverGetVersion(&have);
    cudaRuntimeGetVersion(&runtime);
    setError("the NVIDIA driver supports CUDA %d.%d, this build of the kernel needs %d.%d (%s)", have / 1000,
             have % 1000 / 10, runtime / 1000, runtime % 1000 / 10, cudaGetErrorName(e));
    return 0;
  }
  if (e == cudaErrorNoDevice || e == cudaErrorInitializationError || e == cudaErrorCompatNotSupportedOnDevice ||
      e == cudaErrorSystemDriverMismatch) {
    setError("%s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    return 0;
  }
  setError("CUDA error in cudaGetDeviceCount: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
  return -1;
}

EXPO_API expo_cuda_ctx* expo_cuda_open(int device) {
  expo::cuda::clearError();
  if (device < 0) device = expo::cuda::deviceSetting();
  const int n = expo_cuda_device_count();
  if (n == 0) {
    const std::string reason = expo::cuda::lastError();
    setError("no CUDA device: %s", reason.c_str());
  }
  if (n <= 0) return nullptr;
  if (device >= n) {
    setError("CUDA device %d requested, %d visible (CUDA_VISIBLE_DEVICES=%s)", device, n, visibleDevices());
    return nullptr;
  }
  auto* ctx = new expo_cuda_ctx();
  ctx->device = device;
  expo::cuda::Pipeline& pipe = ctx->pipe;
  try {
    CU(cudaSetDevice(device));
    int major = 0, minor = 0;
    CU(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    CU(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
    CU(cudaDeviceGetAttribute(&pipe.sms, cudaDevAttrMultiProcessorCount, device));
    cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, device));
    if (major < 8) {
      char buf[480];
      std::snprintf(buf, sizeof buf, "CUDA device %d (%s) has compute capability %d.%d; this build needs 8.0 or newer",
                    device, prop.name, major, minor);
      throw CudaFailure{buf, false};
    }
    for (int one = 0; one < 2; ++one) {
      for (int a = 0; a < 2; ++a) pipe.blocksPerSm[a][one] = expo::cuda::tileBlocksPerSm(a, one ? 1 : 2);
      pipe.mixedBlocksPerSm[one] = expo::cuda::mixedBlocksPerSm(one ? 1 : 2);
      if (pipe.blocksPerSm[0][one] <= 0 || pipe.blocksPerSm[1][one] <= 0 || pipe.mixedBlocksPerSm[one] <= 0) {
        CU(cudaGetLastError());
        CU(cudaErrorNoKernelImageForDevice);
      }
    }
    char buf[480];
    std::snprintf(buf, sizeof buf, "%s (device %d, sm_%d%d, %d SMs)", prop.name, device, major, minor, pipe.sms);
    ctx->description = buf;
    pipe.createStreams();
    pipe.pool.resize(expo::cuda::copyThreadsSetting());
    if (const char* path = expo::cuda::traceSetting()) {
      ctx->trace = std::fopen(path, "a");
      if (!ctx->trace) throw CudaFailure{std::string("LLM_EXPO_CUDA_TRACE=") + path + ": " + std::strerror(errno), false};
    }
  } catch (const CudaFailure& f) {
    setError("%s", f.message.c_str());
    expo_cuda_close(ctx);
    return nullptr;
  }
  return ctx;
}

EXPO_API void expo_cuda_close(expo_cuda_ctx* ctx) {
  if (!ctx) return;
  {
    std::lock_guard<std::mutex> g(ctx->mu);
    cudaSetDevice(ctx->device);
    ctx->pipe.release();
    if (ctx->trace) std::fclose(ctx->trace);
  }
  delete ctx;
}

EXPO_API const char* expo_cuda_describe(expo_cuda_ctx* ctx) { return ctx ? ctx->description.c_str() : ""; }

EXPO_API int expo_cuda_tune(expo_cuda_ctx* ctx, size_t chunkBytes, int misalign, int copyThreads) {
  expo::cuda::clearError();
  if (!ctx) {
    setError("expo_cuda_tune: no context");
    return -1;
  }
  std::lock_guard<std::mutex> g(ctx->mu);
  ctx->pipe.chunkBytes = chunkBytes;
  ctx->pipe.shift = misalign ? 8 : 0;
  ctx->pipe.pool.resize(copyThreads > 0 ? copyThreads : expo::cuda::copyThreadsSetting());
  return 0;
}

EXPO_API int expo_cuda_extrapolate(expo_cuda_ctx* ctx, int arith, int k, const uint8_t* aligned, size_t alignedLen,
                                   const uint8_t* base, size_t baseLen, uint8_t* const* outs, const size_t* outLens,
                                   const double* desc, size_t descLen, double* results, size_t resultsLen) {
  expo::cuda::clearError();
  if (!ctx) {
    setError("expo_cuda_extrapolate: no context");
    return -1;
  }
  if (arith != expo::kFp32 && arith != expo::kTorch) {
    setError("arith must be 0 (fp32) or 1 (torch), got %d", arith);
    return -1;
  }
  if (k < 1 || k > expo::kMaxOutputs) {
    setError("outs must hold 1 to %d buffers, got %d", expo::kMaxOutputs, k);
    return -1;
  }
  expo::Job job{};
  job.arith = arith;
  job.k = k;
  job.aligned = {const_cast<std::uint8_t*>(aligned), alignedLen};
  job.base = {const_cast<std::uint8_t*>(base), baseLen};
  for (int i = 0; i < k; ++i) job.outs[i] = {outs[i], outLens[i]};
  job.desc = desc;
  job.descLen = descLen;
  job.results = results;
  job.resultsLen = resultsLen;
  char err[expo::kErrLen];
  if (!expo::checkShape(job, err)) {
    setError("%s", err);
    return -1;
  }
  std::vector<expo::SegArgs> segs(expo::segmentCount(job));
  if (segs.size() > 0xFFFFFFFFu) {
    setError("too many segments in one call (%zu)", segs.size());
    return -1;
  }
  for (std::size_t i = 0; i < segs.size(); ++i) {
    if (!expo::prepareSegment(job, i, segs[i], err)) {
      setError("%s", err);
      return -1;
    }
  }
  std::uint64_t bytesIn = 0, bytesOut = 0;
  for (const expo::SegArgs& s : segs) {
    bytesIn += s.count * std::uint64_t(expo::dtypeSize(s.dtype));
    if (s.op != expo::kConvert) bytesIn += s.count * std::uint64_t(expo::dtypeSize(s.baseDtype));
    bytesOut += std::uint64_t(k) * s.count * std::uint64_t(expo::dtypeSize(s.outDtype));
  }
  std::lock_guard<std::mutex> g(ctx->mu);
  if (!ctx->broken.empty()) {
    setError("%s", ctx->broken.c_str());
    return -1;
  }
  try {
    const auto started = std::chrono::steady_clock::now();
    CU(cudaSetDevice(ctx->device));  // per host thread: libuv runs calls on any pool thread
    const expo::cuda::Pipeline::Figures f = ctx->pipe.run(arith, job, segs);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    {
      std::lock_guard<std::mutex> h(ctx->statsMu);
      expo_cuda_counters& st = ctx->stats;
      ++st.calls;
      st.chunks += f.chunks;
      st.directChunks += f.direct;
      st.bytesIn += bytesIn;
      st.bytesOut += bytesOut;
      st.seconds += seconds;
    }
    if (ctx->trace) {
      std::fprintf(ctx->trace, "extrapolate segments=%zu in=%llu out=%llu chunks=%zu direct=%zu seconds=%.6f\n",
                   segs.size(), static_cast<unsigned long long>(bytesIn), static_cast<unsigned long long>(bytesOut),
                   f.chunks, f.direct, seconds);
      std::fflush(ctx->trace);
    }
  } catch (const CudaFailure& f) {
    if (f.sticky) ctx->broken = f.message + " (earlier call; the CUDA context is unusable, restart the process)";
    setError("%s", f.message.c_str());
    return -1;
  } catch (const std::exception& e) {
    setError("CUDA kernel: %s", e.what());
    return -1;
  }
  return 0;
}

EXPO_API void* expo_cuda_host_alloc(expo_cuda_ctx* ctx, size_t bytes) {
  expo::cuda::clearError();
  if (!ctx || bytes == 0) {
    setError("expo_cuda_host_alloc: %s", ctx ? "0 bytes" : "no context");
    return nullptr;
  }
  void* p = nullptr;
  cudaError_t e = cudaSetDevice(ctx->device);
  if (e == cudaSuccess) e = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
  if (e != cudaSuccess) {
    cudaGetLastError();  // an allocation failure is not sticky: clear it
    setError("cudaHostAlloc of %zu bytes of page-locked host memory: %s (%s)", bytes, cudaGetErrorString(e),
             cudaGetErrorName(e));
    return nullptr;
  }
  std::lock_guard<std::mutex> h(ctx->statsMu);
  ctx->host.emplace(p, bytes);
  ++ctx->stats.hostBuffers;
  ctx->stats.hostBytes += bytes;
  return p;
}

EXPO_API int expo_cuda_host_free(expo_cuda_ctx* ctx, void* p) {
  expo::cuda::clearError();
  if (!ctx) {
    setError("expo_cuda_host_free: no context");
    return -1;
  }
  {
    std::lock_guard<std::mutex> h(ctx->statsMu);
    const auto it = ctx->host.find(p);
    if (it == ctx->host.end()) {
      setError("expo_cuda_host_free: %p was not allocated by expo_cuda_host_alloc (or was freed)", p);
      return -1;
    }
    --ctx->stats.hostBuffers;
    ctx->stats.hostBytes -= it->second;
    ctx->host.erase(it);
  }
  const cudaError_t e = cudaFreeHost(p);
  if (e != cudaSuccess) {
    setError("cudaFreeHost: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    return -1;
  }
  return 0;
}

EXPO_API int expo_cuda_stats(expo_cuda_ctx* ctx, expo_cuda_counters* out) {
  expo::cuda::clearError();
  if (!ctx || !out) {
    setError("expo_cuda_stats: %s", ctx ? "no output" : "no context");
    return -1;
  }
  std::lock_guard<std::mutex> h(ctx->statsMu);
  *out = ctx->stats;
  return 0;
}
