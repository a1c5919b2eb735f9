#include "cuda_loader.h"

#include <dlfcn.h>

#include <cstddef>
#include <cstdint>
#include <mutex>

namespace expo {
namespace {

// The C interface of kernel/cuda/expo_cuda.h, declared here so the addon builds without kernel/cuda.
// EXPO_CUDA_ABI: 2 since the descriptor gained op, baseDtype and outDtype (issue 11); 3 since host memory and
// the counters (issue 14).
constexpr int kAbi = 3;
struct Ctx;
using AbiFn = int (*)();
using DeviceCountFn = int (*)();
using OpenFn = Ctx* (*)(int);
using DescribeFn = const char* (*)(Ctx*);
using LastErrorFn = const char* (*)();
using ExtrapolateFn = int (*)(Ctx*, int, int, const std::uint8_t*, std::size_t, const std::uint8_t*, std::size_t,
                              std::uint8_t* const*, const std::size_t*, const double*, std::size_t, double*,
                              std::size_t);
using HostAllocFn = void* (*)(Ctx*, std::size_t);
using HostFreeFn = int (*)(Ctx*, void*);
using StatsFn = int (*)(Ctx*, CudaStats*);

struct Library {
  std::once_flag once;
  CudaProbe probe;
  Ctx* ctx = nullptr;
  LastErrorFn lastError = nullptr;
  ExtrapolateFn extrapolate = nullptr;
  HostAllocFn hostAlloc = nullptr;
  HostFreeFn hostFree = nullptr;
  StatsFn stats = nullptr;
};

Library& lib() {
  static Library l;
  return l;
}

template <class F>
bool symbol(void* h, const char* name, F& f, std::string& err) {
  f = reinterpret_cast<F>(dlsym(h, name));
  if (!f) err = std::string("CUDA kernel library lacks ") + name + " (rebuild it: npm run build:cuda)";
  return f != nullptr;
}

void load(const std::string& path, Library& l) {
  CudaProbe& p = l.probe;
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    p.reason = std::string("cannot load the CUDA kernel library ") + path + ": " + (e ? e : "unknown error");
    return;
  }
  AbiFn abi;
  DeviceCountFn count;
  OpenFn open;
  DescribeFn describe;
  if (!symbol(h, "expo_cuda_abi", abi, p.reason) || !symbol(h, "expo_cuda_device_count", count, p.reason) ||
      !symbol(h, "expo_cuda_open", open, p.reason) || !symbol(h, "expo_cuda_describe", describe, p.reason) ||
      !symbol(h, "expo_cuda_last_error", l.lastError, p.reason) ||
      !symbol(h, "expo_cuda_extrapolate", l.extrapolate, p.reason))
    return;
  if (abi() != kAbi) {
    p.reason = "CUDA kernel library " + path + " has interface version " + std::to_string(abi()) + ", the addon " +
               std::to_string(kAbi) + " (rebuild both: npm run build && npm run build:cuda)";
    return;
  }
  if (!symbol(h, "expo_cuda_host_alloc", l.hostAlloc, p.reason) ||
      !symbol(h, "expo_cuda_host_free", l.hostFree, p.reason) || !symbol(h, "expo_cuda_stats", l.stats, p.reason))
    return;
  const int n = count();
  if (n <= 0) {
    p.reason = std::string("no CUDA device: ") + l.lastError();
    return;
  }
  l.ctx = open(-1);
  if (!l.ctx) {
    p.reason = l.lastError();
    return;
  }
  p.description = describe(l.ctx);
  p.available = true;
  // The library stays loaded for the life of the process (its context is in use until exit).
}

// Whether cudaProbe succeeded; err says why not.
bool loaded(const Library& l, std::string& err) {
  if (l.probe.available) return true;
  err = l.probe.reason.empty() ? "the CUDA kernel was not loaded" : l.probe.reason;
  return false;
}

}  // namespace

CudaProbe cudaProbe(const std::string& path) {
  Library& l = lib();
  std::call_once(l.once, [&] { load(path, l); });
  return l.probe;
}

bool cudaRunJob(const Job& j, std::string& err) {
  Library& l = lib();
  if (!loaded(l, err)) return false;
  std::uint8_t* outs[kMaxOutputs];
  std::size_t lens[kMaxOutputs];
  for (int k = 0; k < j.k; ++k) {
    outs[k] = j.outs[k].p;
    lens[k] = j.outs[k].len;
  }
  if (l.extrapolate(l.ctx, j.arith, j.k, j.aligned.p, j.aligned.len, j.base.p, j.base.len, outs, lens, j.desc,
                    j.descLen, j.results, j.resultsLen) != 0) {
    err = l.lastError();  // thread-local in the library: this thread's call
    return false;
  }
  return true;
}

void* cudaPinnedAlloc(std::size_t bytes, std::string& err) {
  Library& l = lib();
  if (!loaded(l, err)) return nullptr;
  void* p = l.hostAlloc(l.ctx, bytes);
  if (!p) err = l.lastError();
  return p;
}

bool cudaPinnedFree(void* p, std::string& err) {
  Library& l = lib();
  if (!loaded(l, err)) return false;
  if (l.hostFree(l.ctx, p) == 0) return true;
  err = l.lastError();
  return false;
}

bool cudaStats(CudaStats& out, std::string& err) {
  Library& l = lib();
  if (!loaded(l, err)) return false;
  if (l.stats(l.ctx, &out) == 0) return true;
  err = l.lastError();
  return false;
}

}  // namespace expo
