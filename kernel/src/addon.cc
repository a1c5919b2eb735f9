// N-API surface of the kernel:
//   extrapolate(arith, aligned, base, outs, desc, results, device?): Promise<Float64Array>  (libuv pool)
//   extrapolateSync(same arguments): Float64Array                                            (calling thread)
//   info(): { simd, available, maxOutputs }
//   layout(): layout.h as a plain object (the wrapper checks its own constants against it at load)
//   setSimd(name): string    memcpy(dst, src): void  (a baseline for benchmarks)
//   cudaProbe(libraryPath): { available, reason, description }  loads the CUDA kernel (cuda_loader.h)
//   cudaHostAlloc(bytes): Buffer   page-locked host memory from the CUDA library (after a successful cudaProbe)
//   cudaHostFree(buffer): void     detaches the buffer's ArrayBuffer, then frees the memory
//   cudaStats(): { calls, chunks, directChunks, bytesIn, bytesOut, seconds, hostBuffers, hostBytes }
// device: "cpu" (default) or "cuda" (after a successful cudaProbe; never falls back to the CPU).
// desc packs per segment the words of layout.h's DescWord, then K alphas; results receives per segment the words
// of ResultWord, then K sumOut2.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "cuda_loader.h"
#include "isa.h"
#include "job.h"
#include "sha256.h"

namespace expo {
namespace {

Span bytesOf(const Napi::Env& env, const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, std::string(what) + " must be a Buffer or Uint8Array");
  auto u8 = v.As<Napi::Uint8Array>();
  return {u8.Data(), u8.ByteLength()};
}

Napi::Float64Array floatsOf(const Napi::Env& env, const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Napi::TypeError::New(env, std::string(what) + " must be a Float64Array");
  return v.As<Napi::Float64Array>();
}

int arithOf(const Napi::Env& env, const Napi::Value& v) {
  if (v.IsString()) {
    const std::string s = v.As<Napi::String>().Utf8Value();
    if (s == kArithNames[kFp32]) return kFp32;
    if (s == kArithNames[kTorch]) return kTorch;
  }
  throw Napi::TypeError::New(env, "arith must be \"fp32\" or \"torch\"");
}

bool shares(const Span& x, const Span& y) {
  const auto a = reinterpret_cast<std::uintptr_t>(x.p);
  const auto b = reinterpret_cast<std::uintptr_t>(y.p);
  return x.len > 0 && y.len > 0 && a < b + y.len && b < a + x.len;
}

// The parsed call plus the JS objects that own its memory, held until the work completes.
struct Call {
  Job job;
  bool cuda = false;
  Napi::Object owners[kMaxOutputs + 4];
  int ownerCount = 0;
};

void parse(const Napi::CallbackInfo& info, Call& call) {
  const Napi::Env env = info.Env();
  if (info.Length() < 6)
    throw Napi::TypeError::New(env, "expected (arith, aligned, base, outs, desc, results)");
  Job& j = call.job;
  j.arith = arithOf(env, info[0]);
  j.aligned = bytesOf(env, info[1], "aligned");
  j.base = bytesOf(env, info[2], "base");
  if (!info[3].IsArray()) throw Napi::TypeError::New(env, "outs must be an array of Buffers");
  const auto outs = info[3].As<Napi::Array>();
  if (outs.Length() < 1 || outs.Length() > std::uint32_t(kMaxOutputs))
    throw Napi::RangeError::New(env, "outs must hold 1 to " + std::to_string(kMaxOutputs) + " buffers, got " +
                                         std::to_string(outs.Length()));
  j.k = int(outs.Length());
  for (int k = 0; k < j.k; ++k) {
    const Napi::Value o = outs.Get(std::uint32_t(k));
    j.outs[k] = bytesOf(env, o, ("outs[" + std::to_string(k) + "]").c_str());
    call.owners[call.ownerCount++] = o.As<Napi::Object>();
  }
  const Napi::Float64Array desc = floatsOf(env, info[4], "desc");
  Napi::Float64Array results = floatsOf(env, info[5], "results");
  j.desc = desc.Data();
  j.descLen = desc.ElementLength();
  j.results = results.Data();
  j.resultsLen = results.ElementLength();
  call.owners[call.ownerCount++] = info[1].As<Napi::Object>();
  call.owners[call.ownerCount++] = info[2].As<Napi::Object>();
  call.owners[call.ownerCount++] = desc;
  call.owners[call.ownerCount++] = results;
  if (info.Length() > 6 && !info[6].IsUndefined()) {
    const std::string device = info[6].IsString() ? info[6].As<Napi::String>().Utf8Value() : "";
    if (device != "cpu" && device != "cuda") throw Napi::TypeError::New(env, "device must be \"cpu\" or \"cuda\"");
    call.cuda = device == "cuda";
  }

  // Results are written and descriptors read while outputs are being written: neither may share memory with
  // anything written.
  const Span descBytes{reinterpret_cast<std::uint8_t*>(const_cast<double*>(j.desc)), j.descLen * sizeof(double)};
  const Span resultBytes{reinterpret_cast<std::uint8_t*>(j.results), j.resultsLen * sizeof(double)};
  if (shares(resultBytes, descBytes) || shares(resultBytes, j.aligned) || shares(resultBytes, j.base))
    throw Napi::RangeError::New(env, "results must not share memory with desc, aligned or base");
  for (int k = 0; k < j.k; ++k)
    if (shares(resultBytes, j.outs[k]) || shares(descBytes, j.outs[k]))
      throw Napi::RangeError::New(env, "desc and results must not share memory with an output buffer");

  // Every descriptor is validated here so a bad request throws synchronously; the worker re-checks.
  char err[kErrLen];
  if (!checkShape(j, err)) throw Napi::RangeError::New(env, err);
  SegArgs s;
  for (std::size_t i = 0, n = segmentCount(j); i < n; ++i)
    if (!prepareSegment(j, i, s, err)) throw Napi::RangeError::New(env, err);
}

class ExtrapolateWorker : public Napi::AsyncWorker {
 public:
  ExtrapolateWorker(const Napi::Env& env, const Call& call, SegmentFn fn)
      : Napi::AsyncWorker(env, "llm-expo:extrapolate"), job_(call.job), cuda_(call.cuda), fn_(fn), deferred_(env) {
    for (int i = 0; i < call.ownerCount; ++i) owners_[i] = Napi::Persistent(call.owners[i]);
    resultsIndex_ = call.ownerCount - 1;
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    if (cuda_) {
      std::string e;
      if (!cudaRunJob(job_, e)) SetError("llm-expo: CUDA kernel: " + e);
      return;
    }
    char err[kErrLen];
    if (!runJob(job_, fn_, err)) SetError(std::string("llm-expo: buffers or descriptors changed while queued: ") + err);
  }
  void OnOK() override { deferred_.Resolve(owners_[resultsIndex_].Value()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Job job_;
  bool cuda_;
  SegmentFn fn_;
  Napi::Promise::Deferred deferred_;
  // Strong references keep every buffer alive until the work is done, even if JS drops them meanwhile.
  Napi::ObjectReference owners_[kMaxOutputs + 4];
  int resultsIndex_ = 0;
};

Napi::Value Extrapolate(const Napi::CallbackInfo& info) {
  Call call;
  parse(info, call);
  auto* worker = new ExtrapolateWorker(info.Env(), call, segmentFn(activeIsa()));
  const Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value ExtrapolateSync(const Napi::CallbackInfo& info) {
  Call call;
  parse(info, call);
  if (call.cuda) {
    std::string e;
    if (!cudaRunJob(call.job, e)) throw Napi::Error::New(info.Env(), "llm-expo: CUDA kernel: " + e);
    return info[5];
  }
  char err[kErrLen];
  if (!runJob(call.job, segmentFn(activeIsa()), err)) throw Napi::RangeError::New(info.Env(), err);
  return info[5];
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("simd", isaName(activeIsa()));
  Napi::Array available = Napi::Array::New(env);
  std::uint32_t n = 0;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (isaAvailable(isa)) available.Set(n++, isaName(isa));
  o.Set("available", available);
  o.Set("maxOutputs", kMaxOutputs);
  return o;
}

Napi::Value Layout(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const auto names = [&env](const char* const* list, int n) {
    Napi::Array a = Napi::Array::New(env, std::size_t(n));
    for (int i = 0; i < n; ++i) a.Set(std::uint32_t(i), list[i]);
    return a;
  };
  const auto codes = [&env](const char* const* list, int n) {
    Napi::Object o = Napi::Object::New(env);
    for (int i = 0; i < n; ++i) o.Set(list[i], i);
    return o;
  };
  Napi::Object o = Napi::Object::New(env);
  o.Set("descHead", int(kDescHead));
  o.Set("resultHead", int(kResultHead));
  o.Set("maxOutputs", kMaxOutputs);
  o.Set("dtypes", codes(kDtypeNames, kF64 + 1));
  o.Set("arith", codes(kArithNames, kTorch + 1));
  o.Set("ops", codes(kOpNames, kConvert + 1));
  o.Set("desc", names(kDescNames, kDescHead));
  o.Set("result", names(kResultNames, kResultHead));
  return o;
}

Napi::Value SetSimd(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(env, "setSimd expects \"scalar\", \"avx2\", \"avx512\" or \"auto\"");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  Isa isa = bestIsa();
  if (name != "auto" && !parseIsa(name.c_str(), isa))
    throw Napi::TypeError::New(env, "unknown SIMD path \"" + name + "\" (scalar, avx2, avx512, auto)");
  if (!setActiveIsa(isa)) throw Napi::RangeError::New(env, "SIMD path \"" + name + "\" is not supported by this CPU");
  return Napi::String::New(env, isaName(activeIsa()));
}

Napi::Value CudaProbeJs(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "cudaProbe expects the library path");
  const CudaProbe p = cudaProbe(info[0].As<Napi::String>().Utf8Value());
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", p.available);
  o.Set("reason", p.reason);
  o.Set("description", p.description);
  return o;
}

// Page-locked host memory as Buffers over external memory. Released explicitly (cudaHostFree): the ArrayBuffer is
// detached first (every view of it then has length 0) so no JS reference can reach the freed memory. A Buffer
// garbage-collected without being released is freed by its finalizer; the finalizer of a released one (Node runs
// it once the detached backing store is dropped) finds it freed and does nothing more.
struct HostBlock {
  void* p;
  std::size_t bytes;
  bool freed;
};
std::mutex hostMu;
std::unordered_map<void*, HostBlock*> hostBlocks;  // live blocks by address

void finalizeHostBlock(Napi::Env, std::uint8_t*, HostBlock* b) {
  bool free = false;
  {
    std::lock_guard<std::mutex> g(hostMu);
    if (!b->freed) {
      hostBlocks.erase(b->p);
      b->freed = free = true;
    }
  }
  std::string err;
  if (free) cudaPinnedFree(b->p, err);  // nowhere to report a failure from a finalizer
  delete b;
}

Napi::Value CudaHostAlloc(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const double n = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(n >= 1 && n <= 9007199254740991.0 && std::floor(n) == n))
    throw Napi::TypeError::New(env, "cudaHostAlloc expects a whole number of bytes >= 1");
  std::string err;
  void* p = cudaPinnedAlloc(std::size_t(n), err);
  if (!p) throw Napi::Error::New(env, "llm-expo: CUDA host memory: " + err);
  auto* b = new HostBlock{p, std::size_t(n), false};
  {
    std::lock_guard<std::mutex> g(hostMu);
    hostBlocks[p] = b;
  }
  try {
    return Napi::Buffer<std::uint8_t>::New(env, static_cast<std::uint8_t*>(p), b->bytes, finalizeHostBlock, b);
  } catch (...) {
    {
      std::lock_guard<std::mutex> g(hostMu);
      hostBlocks.erase(p);
    }
    cudaPinnedFree(p, err);
    delete b;
    throw;
  }
}

Napi::Value CudaHostFree(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer())
    throw Napi::TypeError::New(env, "cudaHostFree expects a Buffer from cudaHostAlloc");
  auto buf = info[0].As<Napi::Buffer<std::uint8_t>>();
  void* p = buf.Data();
  HostBlock* b = nullptr;
  {
    std::lock_guard<std::mutex> g(hostMu);
    const auto it = hostBlocks.find(p);
    if (it != hostBlocks.end() && it->second->bytes == buf.Length() && buf.ByteOffset() == 0) {
      b = it->second;
      hostBlocks.erase(it);
      b->freed = true;  // from here on the finalizer only deletes b
    }
  }
  if (!b) throw Napi::TypeError::New(env, "cudaHostFree: not a whole, live Buffer from cudaHostAlloc");
  try {
    buf.ArrayBuffer().Detach();
  } catch (...) {
    std::lock_guard<std::mutex> g(hostMu);
    b->freed = false;  // still reachable from JS: keep it
    hostBlocks[p] = b;
    throw;
  }
  std::string err;
  if (!cudaPinnedFree(p, err)) throw Napi::Error::New(env, "llm-expo: CUDA host memory: " + err);
  return env.Undefined();
}

Napi::Value CudaStatsJs(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  CudaStats st{};
  std::string err;
  if (!cudaStats(st, err)) throw Napi::Error::New(env, "llm-expo: CUDA kernel: " + err);
  Napi::Object o = Napi::Object::New(env);
  o.Set("calls", double(st.calls));
  o.Set("chunks", double(st.chunks));
  o.Set("directChunks", double(st.directChunks));
  o.Set("bytesIn", double(st.bytesIn));
  o.Set("bytesOut", double(st.bytesOut));
  o.Set("seconds", st.seconds);
  o.Set("hostBuffers", double(st.hostBuffers));
  o.Set("hostBytes", double(st.hostBytes));
  return o;
}

Napi::Value Memcpy(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (info.Length() < 2) throw Napi::TypeError::New(env, "expected (dst, src)");
  const Span dst = bytesOf(env, info[0], "dst");
  const Span src = bytesOf(env, info[1], "src");
  if (dst.len < src.len) throw Napi::RangeError::New(env, "dst is shorter than src");
  std::memcpy(dst.p, src.p, src.len);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("extrapolate", Napi::Function::New(env, Extrapolate, "extrapolate"));
  exports.Set("extrapolateSync", Napi::Function::New(env, ExtrapolateSync, "extrapolateSync"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("layout", Napi::Function::New(env, Layout, "layout"));
  exports.Set("setSimd", Napi::Function::New(env, SetSimd, "setSimd"));
  exports.Set("memcpy", Napi::Function::New(env, Memcpy, "memcpy"));
  exports.Set("cudaProbe", Napi::Function::New(env, CudaProbeJs, "cudaProbe"));
  exports.Set("cudaHostAlloc", Napi::Function::New(env, CudaHostAlloc, "cudaHostAlloc"));
  exports.Set("cudaHostFree", Napi::Function::New(env, CudaHostFree, "cudaHostFree"));
  exports.Set("cudaStats", Napi::Function::New(env, CudaStatsJs, "cudaStats"));
  exports.Set("sha256", Napi::Function::New(env, Sha256, "sha256"));
  return exports;
}

}  // namespace
}  // namespace expo

static Napi::Object InitExpoKernel(Napi::Env env, Napi::Object exports) { return expo::Init(env, exports); }

NODE_API_MODULE(expo_kernel, InitExpoKernel)
