// Host side of the CUDA kernel: the C interface of expo_cuda.h and the staged, overlapped transfer pipeline.
//
// A request is planned into chunks (plan.h). Each chunk goes through one of three slots, each with its own
// stream, pinned host staging and device buffers, kept across calls:
//
//   CPU: pack chunk c into the slot's pinned input staging (table, tile refs, a and b data; parallel memcpy)
//   stream: host-to-device copy of the staging, the tile kernel, device-to-host copy of the K output regions
//           into the slot's pinned output staging, an event
//   CPU: when the slot comes round again (chunk c + 3) or at the end: wait for the event, copy the outputs to
//        the caller's buffers
//
// so the host copies of one chunk, the upload of the next, the kernel of another and the download of a third
// overlap (the copy engines for each direction and the SMs run concurrently). The host copies of a slot's
// finished chunk and of its next chunk go to the copy threads as one list (one hand-off per chunk). The per-tile
// partial sums stay on the device for the whole request; one reduction kernel at the end turns them into
// per-segment statistics.
//
// When every caller buffer of a request is page-locked (cudaMallocHost, cudaHostRegister) there is no host
// copy: a chunk's data go by DMA straight between the caller's buffers and the slot's device buffers (runs of
// pieces contiguous on both sides as one copy each; a chunk of many small scattered pieces is staged as
// above). Only the piece table and tile map go through the pinned staging. On an error every stream is
// synchronized before the call returns, so no DMA is left writing into caller memory either way.
#include <cuda_runtime_api.h>

#include <dlfcn.h>

#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../src/job.h"
#include "expo_cuda.h"
#include "launch.h"
#include "plan.h"

#define EXPO_API extern "C" __attribute__((visibility("default")))

namespace {

using expo::cuda::CopyOp;

thread_local char tlsError[512];

void setError(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void setError(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(tlsError, sizeof tlsError, fmt, ap);
  va_end(ap);
}

struct CudaFailure {
  std::string message;
  bool sticky;
};

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

[[noreturn]] void fail(const char* what, cudaError_t e) {
  char buf[400];
  std::snprintf(buf, sizeof buf, "CUDA error in %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
  throw CudaFailure{buf, isSticky(e)};
}

#define CU(call)                                       \
  do {                                                 \
    const cudaError_t e_ = (call);                     \
    if (e_ != cudaSuccess) fail(#call, e_);            \
  } while (0)

const char* visibleDevices() {
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  return v ? v : "(unset)";
}

int envInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return end && *end == '\0' && x > 0 && x < (1 << 20) ? int(x) : fallback;
}

// LLM_EXPO_CUDA_CHUNK_MIB (fractions allowed: tests use small chunks), default 8 MiB.
std::uint64_t envChunkBytes() {
  const char* v = std::getenv("LLM_EXPO_CUDA_CHUNK_MIB");
  if (v && *v) {
    char* end = nullptr;
    const double mib = std::strtod(v, &end);
    if (end && *end == '\0' && mib > 0 && mib <= 4096) return std::uint64_t(mib * 1048576.0);
  }
  return std::uint64_t(8) << 20;
}

// Host copy threads: LLM_EXPO_CUDA_COPY_THREADS, else half the CPUs, 2 to 8.
int defaultCopyThreads() {
  const int hw = int(std::thread::hardware_concurrency());
  const int half = hw / 2 < 2 ? 2 : hw / 2 > 8 ? 8 : hw / 2;
  return envInt("LLM_EXPO_CUDA_COPY_THREADS", half);
}

// memcpy of a list of copies on several threads (the calling thread included), split by bytes.
class CopyPool {
 public:
  explicit CopyPool(int threads) { resize(threads); }
  ~CopyPool() { stop(); }

  void resize(int threads) {
    stop();
    threads_ = threads < 1 ? 1 : threads;
    quit_ = false;
    // A new worker waits for the next run, not one that already happened.
    const std::uint64_t now = generation_;
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i, now] { loop(i, now); });
  }

  void run(const std::vector<CopyOp>& ops) {
    std::size_t total = 0;
    for (const CopyOp& op : ops) total += op.n;
    if (threads_ == 1 || total < (std::size_t(1) << 20)) {
      for (const CopyOp& op : ops) std::memcpy(op.dst, op.src, op.n);
      return;
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      ops_ = &ops;
      total_ = total;
      pending_ = threads_ - 1;
      ++generation_;
    }
    cv_.notify_all();
    part(0);
    std::unique_lock<std::mutex> g(mu_);
    done_.wait(g, [this] { return pending_ == 0; });
    ops_ = nullptr;
  }

 private:
  void stop() {
    {
      std::lock_guard<std::mutex> g(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

  void loop(int index, std::uint64_t seen) {
    for (;;) {
      {
        std::unique_lock<std::mutex> g(mu_);
        cv_.wait(g, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
      }
      part(index);
      {
        std::lock_guard<std::mutex> g(mu_);
        --pending_;
      }
      done_.notify_one();
    }
  }

  // Copies bytes [index, index + 1) / threads of the concatenated list.
  void part(int index) {
    const std::size_t lo = total_ * std::size_t(index) / std::size_t(threads_);
    const std::size_t hi = total_ * std::size_t(index + 1) / std::size_t(threads_);
    std::size_t at = 0;
    for (const CopyOp& op : *ops_) {
      const std::size_t b = at > lo ? at : lo;
      const std::size_t e = at + op.n < hi ? at + op.n : hi;
      if (b < e)
        std::memcpy(static_cast<std::uint8_t*>(op.dst) + (b - at), static_cast<const std::uint8_t*>(op.src) + (b - at),
                    e - b);
      at += op.n;
      if (at >= hi) break;
    }
  }

  int threads_ = 1;
  bool quit_ = false;
  std::uint64_t generation_ = 0;
  int pending_ = 0;
  const std::vector<CopyOp>* ops_ = nullptr;
  std::size_t total_ = 0;
  std::mutex mu_;
  std::condition_variable cv_, done_;
  std::vector<std::thread> workers_;
};

constexpr int kSlots = 3;

struct Slot {
  std::uint8_t* hIn = nullptr;
  std::uint8_t* hOut = nullptr;
  std::uint8_t* dIn = nullptr;
  std::uint8_t* dOut = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t done = nullptr;
  long chunk = -1;      // the chunk in flight, -1 when free
  bool direct = false;  // its data went by DMA from and to the caller's buffers (nothing to unpack)
};

// Whether [p, p + n) is page-locked host memory (its first and last byte; a range that is not is still
// correct to DMA from, only slower).
bool pinned(const void* p, std::size_t n) {
  if (!p || n == 0) return true;
  for (const void* q : {p, static_cast<const void*>(static_cast<const std::uint8_t*>(p) + (n - 1))}) {
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, q) != cudaSuccess) {
      cudaGetLastError();  // not sticky: clear it
      return false;
    }
    if (a.type != cudaMemoryTypeHost) return false;
  }
  return true;
}

// Joins copies that continue each other on both sides into one; returns the number of copies left.
std::size_t mergeRuns(std::vector<CopyOp>& ops) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (n > 0) {
      CopyOp& last = ops[n - 1];
      if (static_cast<const std::uint8_t*>(last.src) + last.n == ops[i].src &&
          static_cast<std::uint8_t*>(last.dst) + last.n == ops[i].dst) {
        last.n += ops[i].n;
        continue;
      }
    }
    ops[n++] = ops[i];
  }
  ops.resize(n);
  return n;
}

// A chunk goes direct when its runs are few: each DMA has a fixed cost of a few microseconds.
constexpr std::size_t kMaxDirectRuns = 64;

// A pinned host buffer and its device twin, grown on demand.
template <class T>
struct Mirror {
  T* host = nullptr;
  T* dev = nullptr;
  std::size_t cap = 0;  // elements
  void reserve(std::size_t n) {
    if (n <= cap) return;
    release();
    const std::size_t want = n < 1024 ? 1024 : n + n / 4;
    CU(cudaMallocHost(reinterpret_cast<void**>(&host), want * sizeof(T)));
    CU(cudaMalloc(reinterpret_cast<void**>(&dev), want * sizeof(T)));
    cap = want;
  }
  void release() {
    if (host) cudaFreeHost(host);
    if (dev) cudaFree(dev);
    host = nullptr;
    dev = nullptr;
    cap = 0;
  }
};

}  // namespace

struct expo_cuda_ctx {
  int device = 0;
  std::string description;
  int sms = 1;
  int blocksPerSm[2][2] = {{0, 0}, {0, 0}};  // [arith][k == 1]
  std::mutex mu;
  Slot slots[kSlots];
  std::uint64_t inCap = 0, outCap = 0;  // bytes allocated per slot
  double* dPartials = nullptr;
  std::size_t partialsCap = 0;  // doubles
  Mirror<std::uint64_t> segTiles;
  Mirror<double> results;
  std::size_t chunkBytes = 0;  // 0: default
  unsigned shift = 0;
  CopyPool pool{1};
  std::string broken;  // set after a sticky error: every later call fails with it

  std::uint64_t regionCapFor(int k) const {
    const std::uint64_t want = chunkBytes ? chunkBytes : envChunkBytes();
    std::uint64_t cap = want;
    const std::uint64_t budget = std::uint64_t(64) << 20;  // pinned bytes of data per slot, inputs and outputs
    if (cap * std::uint64_t(2 + k) > budget && budget / std::uint64_t(2 + k) < cap) cap = budget / std::uint64_t(2 + k);
    cap = cap / expo::cuda::kTileBytes * expo::cuda::kTileBytes;
    const std::uint64_t floor = 2 * std::uint64_t(expo::cuda::kTileBytes);
    return cap < floor ? floor : cap;
  }

  void freeSlots() {
    for (Slot& s : slots) {
      if (s.hIn) cudaFreeHost(s.hIn);
      if (s.hOut) cudaFreeHost(s.hOut);
      if (s.dIn) cudaFree(s.dIn);
      if (s.dOut) cudaFree(s.dOut);
      s.hIn = s.hOut = s.dIn = s.dOut = nullptr;
    }
    inCap = outCap = 0;
  }

  void reserveSlots(std::uint64_t in, std::uint64_t out) {
    if (in <= inCap && out <= outCap) return;
    freeSlots();
    for (Slot& s : slots) {
      CU(cudaMallocHost(reinterpret_cast<void**>(&s.hIn), in));
      CU(cudaMallocHost(reinterpret_cast<void**>(&s.hOut), out));
      CU(cudaMalloc(reinterpret_cast<void**>(&s.dIn), in));
      CU(cudaMalloc(reinterpret_cast<void**>(&s.dOut), out));
    }
    inCap = in;
    outCap = out;
  }

  void reservePartials(std::size_t n) {
    if (n <= partialsCap) return;
    if (dPartials) cudaFree(dPartials);
    dPartials = nullptr;
    partialsCap = 0;
    const std::size_t want = n + n / 4;
    CU(cudaMalloc(reinterpret_cast<void**>(&dPartials), want * sizeof(double)));
    partialsCap = want;
  }

  int gridFor(int arith, int k, std::uint32_t tiles) const {
    const int per = blocksPerSm[arith][k == 1 ? 1 : 0];
    const std::uint64_t most = std::uint64_t(sms) * std::uint64_t(per > 0 ? per : 1);
    return int(tiles < most ? tiles : most);
  }

  // Waits for the chunk in slot s and lists the copies of its outputs to the caller's buffers (none when it
  // went direct), appending to `copies`.
  void finish(Slot& s, const expo::cuda::Plan& plan, const std::vector<expo::SegArgs>& segs,
              std::vector<CopyOp>& copies) {
    if (s.chunk < 0) return;
    CU(cudaEventSynchronize(s.done));
    if (!s.direct) expo::cuda::unpackChunk(plan, std::size_t(s.chunk), segs, s.hOut, copies);
    s.chunk = -1;
  }

  // Chunk c by DMA between the caller's (page-locked) buffers and slot s's device buffers, if its data make few
  // enough runs: the table and tile map through the staging, the data straight from and to the caller.
  bool sendDirect(Slot& s, std::size_t c, const expo::cuda::Plan& plan, const std::vector<expo::SegArgs>& segs,
                  int arith, int k) {
    const expo::cuda::Chunk& ch = plan.chunks[c];
    std::vector<CopyOp> up, down;
    expo::cuda::packChunk(plan, c, segs, s.hIn, up);
    expo::cuda::unpackChunk(plan, c, segs, s.hOut, down);
    if (mergeRuns(up) > kMaxDirectRuns || mergeRuns(down) > kMaxDirectRuns) return false;
    CU(cudaMemcpyAsync(s.dIn, s.hIn, ch.aOff, cudaMemcpyHostToDevice, s.stream));
    for (const CopyOp& op : up)
      CU(cudaMemcpyAsync(s.dIn + (static_cast<std::uint8_t*>(op.dst) - s.hIn), op.src, op.n, cudaMemcpyHostToDevice,
                         s.stream));
    const expo::cuda::TileLaunch l = expo::cuda::launchOf(plan, c, s.dIn, s.dOut, dPartials);
    CU(expo::cuda::launchTiles(arith, l, gridFor(arith, k, ch.nTiles), s.stream));
    for (const CopyOp& op : down)
      CU(cudaMemcpyAsync(op.dst, s.dOut + (static_cast<const std::uint8_t*>(op.src) - s.hOut), op.n,
                         cudaMemcpyDeviceToHost, s.stream));
    return true;
  }

  void run(int arith, const expo::Job& job, const std::vector<expo::SegArgs>& segs) {
    const int k = job.k;
    const int stride = expo::kResultHead + k;
    const std::uint64_t region = regionCapFor(k);
    const expo::cuda::Plan plan = expo::cuda::makePlan(segs, k, region, shift);
    reserveSlots(expo::cuda::inCapacity(k, region), std::uint64_t(k) * region);
    reservePartials(std::size_t(expo::cuda::partialDoubles(plan.totalTiles, k)) + 1);
    segTiles.reserve(plan.segTiles.size() + 2);
    results.reserve(segs.size() * std::size_t(stride) + 1);
    bool direct = pinned(job.aligned.p, job.aligned.len) && pinned(job.base.p, job.base.len);
    for (int j = 0; j < k && direct; ++j) direct = pinned(job.outs[j].p, job.outs[j].len);

    std::vector<CopyOp> copies;
    try {
      for (std::size_t c = 0; c < plan.chunks.size(); ++c) {
        Slot& s = slots[c % kSlots];
        copies.clear();
        finish(s, plan, segs, copies);  // the outputs of the slot's previous chunk
        const expo::cuda::Chunk& ch = plan.chunks[c];
        s.direct = direct && sendDirect(s, c, plan, segs, arith, k);
        if (!s.direct) {
          expo::cuda::packChunk(plan, c, segs, s.hIn, copies);
          pool.run(copies);  // unpack the old chunk and pack the new one in one hand-off
          copies.clear();
          CU(cudaMemcpyAsync(s.dIn, s.hIn, ch.inBytes, cudaMemcpyHostToDevice, s.stream));
          const expo::cuda::TileLaunch l = expo::cuda::launchOf(plan, c, s.dIn, s.dOut, dPartials);
          CU(expo::cuda::launchTiles(arith, l, gridFor(arith, k, ch.nTiles), s.stream));
          if (k == 1 || ch.dataBytes == region) {
            CU(cudaMemcpyAsync(s.hOut, s.dOut, std::uint64_t(k - 1) * region + ch.dataBytes, cudaMemcpyDeviceToHost,
                               s.stream));
          } else {
            for (int j = 0; j < k; ++j)
              CU(cudaMemcpyAsync(s.hOut + std::uint64_t(j) * region, s.dOut + std::uint64_t(j) * region,
                                 ch.dataBytes, cudaMemcpyDeviceToHost, s.stream));
          }
        } else if (!copies.empty()) {
          pool.run(copies);
          copies.clear();
        }
        CU(cudaEventRecord(s.done, s.stream));
        s.chunk = long(c);
      }
      copies.clear();
      for (std::size_t i = 0; i < kSlots; ++i) {
        // In chunk order: the oldest slot first.
        const std::size_t at = plan.chunks.size() + i;
        finish(slots[at % kSlots], plan, segs, copies);
        pool.run(copies);
        copies.clear();
      }
      if (!segs.empty()) {
        Slot& s = slots[0];
        std::memcpy(segTiles.host, plan.segTiles.data(), plan.segTiles.size() * sizeof(std::uint64_t));
        CU(cudaMemcpyAsync(segTiles.dev, segTiles.host, plan.segTiles.size() * sizeof(std::uint64_t),
                           cudaMemcpyHostToDevice, s.stream));
        const expo::cuda::ReduceLaunch rl{segTiles.dev, std::uint32_t(segs.size()), k, dPartials, results.dev};
        const std::uint32_t grid = std::uint32_t(segs.size()) < std::uint32_t(sms) * 8 ? std::uint32_t(segs.size())
                                                                                       : std::uint32_t(sms) * 8;
        CU(expo::cuda::launchReduce(rl, int(grid), s.stream));
        CU(cudaMemcpyAsync(results.host, results.dev, segs.size() * std::size_t(stride) * sizeof(double),
                           cudaMemcpyDeviceToHost, s.stream));
        CU(cudaStreamSynchronize(s.stream));
        std::memcpy(job.results, results.host, segs.size() * std::size_t(stride) * sizeof(double));
      }
    } catch (...) {
      // Nothing may still be writing into the staging buffers when they are reused or freed.
      for (Slot& s : slots) {
        if (s.stream) cudaStreamSynchronize(s.stream);
        s.chunk = -1;
      }
      throw;
    }
  }
};

EXPO_API int expo_cuda_abi(void) { return EXPO_CUDA_ABI; }

EXPO_API const char* expo_cuda_last_error(void) { return tlsError; }

EXPO_API int expo_cuda_device_count(void) {
  tlsError[0] = '\0';
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
    setError("the NVIDIA driver supports CUDA %d.%d, this build of the kernel needs %d.%d (%s)",
             have / 1000, have % 1000 / 10, runtime / 1000, runtime % 1000 / 10, cudaGetErrorName(e));
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
  tlsError[0] = '\0';
  if (device < 0) {
    const char* v = std::getenv("LLM_EXPO_CUDA_DEVICE");
    device = v && *v ? std::atoi(v) : 0;
  }
  const int n = expo_cuda_device_count();
  if (n == 0) {
    char reason[sizeof tlsError];
    std::memcpy(reason, tlsError, sizeof reason);
    setError("no CUDA device: %s", reason);
  }
  if (n <= 0) return nullptr;
  if (device >= n) {
    setError("CUDA device %d requested, %d visible (CUDA_VISIBLE_DEVICES=%s)", device, n,
             visibleDevices());
    return nullptr;
  }
  auto* ctx = new expo_cuda_ctx();
  ctx->device = device;
  try {
    CU(cudaSetDevice(device));
    int major = 0, minor = 0;
    CU(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    CU(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
    CU(cudaDeviceGetAttribute(&ctx->sms, cudaDevAttrMultiProcessorCount, device));
    cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, device));
    if (major < 8) {
      char buf[480];
      std::snprintf(buf, sizeof buf, "CUDA device %d (%s) has compute capability %d.%d; this build needs 8.0 or newer",
                    device, prop.name, major, minor);
      throw CudaFailure{buf, false};
    }
    for (int a = 0; a < 2; ++a)
      for (int one = 0; one < 2; ++one) {
        ctx->blocksPerSm[a][one] = expo::cuda::tileBlocksPerSm(a, one ? 1 : 2);
        if (ctx->blocksPerSm[a][one] <= 0) {
          CU(cudaGetLastError());
          CU(cudaErrorNoKernelImageForDevice);
        }
      }
    char buf[480];
    std::snprintf(buf, sizeof buf, "%s (device %d, sm_%d%d, %d SMs)", prop.name, device, major, minor, ctx->sms);
    ctx->description = buf;
    for (Slot& s : ctx->slots) {
      CU(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
      CU(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming | cudaEventBlockingSync));
    }
    ctx->pool.resize(defaultCopyThreads());
    ctx->shift = envInt("LLM_EXPO_CUDA_TEST_MISALIGN", 0) ? 8 : 0;  // tests: the element-wise load/store path
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
    for (Slot& s : ctx->slots) {
      if (s.stream) cudaStreamSynchronize(s.stream);
      if (s.done) cudaEventDestroy(s.done);
      if (s.stream) cudaStreamDestroy(s.stream);
      s.done = nullptr;
      s.stream = nullptr;
    }
    ctx->freeSlots();
    if (ctx->dPartials) cudaFree(ctx->dPartials);
    ctx->segTiles.release();
    ctx->results.release();
  }
  delete ctx;
}

EXPO_API const char* expo_cuda_describe(expo_cuda_ctx* ctx) { return ctx ? ctx->description.c_str() : ""; }

EXPO_API int expo_cuda_tune(expo_cuda_ctx* ctx, size_t chunkBytes, int misalign, int copyThreads) {
  tlsError[0] = '\0';
  if (!ctx) {
    setError("expo_cuda_tune: no context");
    return -1;
  }
  std::lock_guard<std::mutex> g(ctx->mu);
  ctx->chunkBytes = chunkBytes;
  ctx->shift = misalign ? 8 : 0;
  ctx->pool.resize(copyThreads > 0 ? copyThreads : defaultCopyThreads());
  return 0;
}

EXPO_API int expo_cuda_extrapolate(expo_cuda_ctx* ctx, int arith, int k, const uint8_t* aligned, size_t alignedLen,
                                   const uint8_t* base, size_t baseLen, uint8_t* const* outs, const size_t* outLens,
                                   const double* desc, size_t descLen, double* results, size_t resultsLen) {
  tlsError[0] = '\0';
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
  std::lock_guard<std::mutex> g(ctx->mu);
  if (!ctx->broken.empty()) {
    setError("%s", ctx->broken.c_str());
    return -1;
  }
  try {
    CU(cudaSetDevice(ctx->device));  // per host thread: libuv runs calls on any pool thread
    ctx->run(arith, job, segs);
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
