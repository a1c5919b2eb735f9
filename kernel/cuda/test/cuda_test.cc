// Standalone test of the CUDA kernel against the CPU kernel (for a GPU machine without Node; built by
// kernel/cuda/build.sh, run by bench/gpu-check.sh):
//   - random requests with NaNs, infinities, signed zeros, subnormals and rounding ties; every dtype, mixed dtypes
//     and conversions, both arithmetic modes, K = 1 in place and K = 3 separate outputs, segments of every size around the tile size
//     at unaligned host offsets, and a 64 MiB unit-sized request of many tensors
//   - each through the C interface (expo_cuda_extrapolate) with the default and the smallest chunk size, with
//     and without the misaligned (element-wise) device layout, from pageable and from page-locked caller
//     buffers (the pipeline's direct DMA path), output buffers poisoned with two different bytes
//   - outputs compared bit for bit with the CPU kernel (the best SIMD path of this CPU); counts and max|a-b|
//     exactly; sums to the tolerance of gen.h; and every statistic exactly equal to the host emulation of the
//     kernels (emulated_pipeline.h) and to the other runs (deterministic whatever the chunking or alignment)
//   - refusals: a descriptor past a buffer, K = 0
//
// Exit status: 0 all passed, 1 a mismatch or error, 77 no CUDA device visible.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../../src/isa.h"
#include "../expo_cuda.h"
#include "emulated_pipeline.h"
#include "gen.h"

using namespace expo_test;

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "  FAIL %s: %s\n", what, expo_cuda_last_error());
  }
}

int runCuda(expo_cuda_ctx* ctx, expo::Job& j) {
  std::uint8_t* outs[expo::kMaxOutputs];
  std::size_t lens[expo::kMaxOutputs];
  for (int i = 0; i < j.k; ++i) {
    outs[i] = j.outs[i].p;
    lens[i] = j.outs[i].len;
  }
  return expo_cuda_extrapolate(ctx, j.arith, j.k, j.aligned.p, j.aligned.len, j.base.p, j.base.len, outs, lens, j.desc,
                               j.descLen, j.results, j.resultsLen);
}

// A unit-sized request: many tensors of one dtype back to back, as the worker sends them.
Request unitRequest(Gen& g, int arith, int k, bool inPlace, int dtype, std::uint64_t bytes) {
  Request r;
  r.arith = arith;
  r.k = k;
  r.inPlace = inPlace;
  const std::uint64_t sz = std::uint64_t(dtypeSize(dtype));
  std::uint64_t at = 8;  // a safetensors data section is 8-byte aligned, not 16
  while (at < bytes) {
    TestSeg s;
    s.dtype = s.baseDtype = s.outDtype = dtype;
    const std::uint64_t choice = g.below(4);
    s.count = choice == 0 ? 4096 : choice == 1 ? 1 + g.below(100000) : (4u << 20) / sz + g.below(1000);
    if (at + s.count * sz > bytes) s.count = (bytes - at) / sz;
    if (s.count == 0) break;
    s.aOff = s.bOff = s.outOff = at;
    for (int i = 0; i < k; ++i) s.alphas.push_back(i == 0 ? 0.3 : 0.5 * i);
    at += s.count * sz;
    r.segs.push_back(s);
  }
  r.aligned.assign(at + 8, 0);
  r.base.assign(at + 8, 0);
  for (const TestSeg& s : r.segs) g.pairs(dtype, s.count, r.aligned.data() + s.aOff, r.base.data() + s.bOff);
  if (!inPlace) r.outs.assign(k, std::vector<std::uint8_t>(r.aligned.size(), 0));
  return r;
}

// Page-locked copies of a job's buffers (aligned, base, the outputs unless in place), in the library's host
// memory (expo_cuda_host_alloc), as a worker on CUDA holds its unit buffers.
struct PinnedJob {
  expo_cuda_ctx* ctx;
  expo::Job job;
  std::vector<void*> held;
  bool ok = true;

  std::uint8_t* copy(const expo::Span& s) {
    void* p = expo_cuda_host_alloc(ctx, s.len ? s.len : 1);
    if (!p) {
      ok = false;
      return nullptr;
    }
    held.push_back(p);
    if (s.len) std::memcpy(p, s.p, s.len);
    return static_cast<std::uint8_t*>(p);
  }

  PinnedJob(expo_cuda_ctx* c, const expo::Job& j) : ctx(c), job(j) {
    job.aligned.p = copy(j.aligned);
    job.base.p = copy(j.base);
    for (int i = 0; i < j.k && ok; ++i)
      job.outs[i].p = j.outs[i].p == j.aligned.p ? job.aligned.p : copy(j.outs[i]);
  }
  void copyBack(const expo::Job& j) const {
    std::memcpy(j.aligned.p, job.aligned.p, j.aligned.len);
    for (int i = 0; i < j.k; ++i)
      if (j.outs[i].p != j.aligned.p) std::memcpy(j.outs[i].p, job.outs[i].p, j.outs[i].len);
  }
  ~PinnedJob() {
    for (void* p : held) expo_cuda_host_free(ctx, p);
  }
  PinnedJob(const PinnedJob&) = delete;
  PinnedJob& operator=(const PinnedJob&) = delete;
};

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 3;
  const int devices = expo_cuda_device_count();
  if (devices <= 0) {
    std::printf("no CUDA device: %s\n", expo_cuda_last_error());
    return 77;
  }
  expo_cuda_ctx* ctx = expo_cuda_open(-1);
  if (!ctx) {
    std::fprintf(stderr, "expo_cuda_open failed: %s\n", expo_cuda_last_error());
    return 1;
  }
  const expo::SegmentFn cpu = expo::segmentFn(expo::activeIsa());
  std::printf("CUDA kernel test on %s; CPU reference: %s path\n", expo_cuda_describe(ctx),
              expo::isaName(expo::activeIsa()));

  struct Cfg {
    std::size_t chunk;  // 0: default
    int misalign;
    bool pinned;  // caller buffers in page-locked memory: the pipeline's direct DMA path
  };
  const std::size_t small = std::size_t(expo::cuda::kMinRegionCap);
  const Cfg cfgs[] = {{0, 0, false},   {small, 0, false}, {0, 1, false},
                      {small, 1, false}, {0, 0, true},     {small, 1, true}};
  Compare cmp;
  std::uint64_t runs = 0, elements = 0;
  Gen g(7140);
  char err[expo::kErrLen];

  auto testRequest = [&](Request& r, const char* label) {
    std::vector<std::uint8_t> refAligned = r.aligned;
    std::vector<std::vector<std::uint8_t>> refOuts = r.outs;
    Bound ref;
    bind(r, ref, refOuts, refAligned.data());
    if (!expo::runJob(ref.job, cpu, err)) {
      std::fprintf(stderr, "CPU kernel refused the request: %s\n", err);
      ++failures;
      return;
    }
    // The bits the GPU must give, statistics included.
    std::vector<std::uint8_t> emAligned = r.aligned;
    std::vector<std::vector<std::uint8_t>> emOuts = r.outs;
    Bound em;
    bind(r, em, emOuts, emAligned.data());
    if (!runEmulated(em.job, 8u << 20, 0, 0x11, err)) {
      std::fprintf(stderr, "emulation refused the request: %s\n", err);
      ++failures;
      return;
    }
    for (const Cfg& cfg : cfgs) {
      if (expo_cuda_tune(ctx, cfg.chunk, cfg.misalign, 0) != 0) check(false, "expo_cuda_tune");
      for (std::uint8_t poison : {std::uint8_t(0x5A), std::uint8_t(0xA5)}) {
        std::vector<std::uint8_t> al = r.aligned;
        std::vector<std::vector<std::uint8_t>> outs = r.outs;
        for (auto& o : outs) std::memset(o.data(), poison, o.size());
        Bound b;
        bind(r, b, outs, al.data());
        char where[200];
        std::snprintf(where, sizeof where, "%s %s K=%d%s chunk=%zu misalign=%d%s poison=%02x", label,
                      r.arith ? "torch" : "fp32", r.k, r.inPlace ? " in place" : "", cfg.chunk, cfg.misalign,
                      cfg.pinned ? " pinned" : "", poison);
        cmp.where = where;
        int rc = 0;
        if (!cfg.pinned) {
          rc = runCuda(ctx, b.job);
        } else {
          // The same request from page-locked copies of the caller's buffers, copied back for the comparison.
          expo_cuda_counters before{}, after{};
          expo_cuda_stats(ctx, &before);
          PinnedJob pj(ctx, b.job);
          rc = pj.ok ? runCuda(ctx, pj.job) : -1;
          expo_cuda_stats(ctx, &after);
          if (pj.ok) pj.copyBack(b.job);
          if (!pj.ok) std::fprintf(stderr, "  expo_cuda_host_alloc failed: %s\n", expo_cuda_last_error());
          // A chunk goes direct when its copies make at most 64 runs (pipeline.cc): surely so with at most
          // 64 / max(2, K) pieces.
          if (rc == 0 && r.segs.size() * std::size_t(r.k > 2 ? r.k : 2) <= 64)
            check(after.directChunks - before.directChunks == after.chunks - before.chunks,
                  "page-locked buffers from the library go by DMA straight to and from the device");
        }
        if (rc != 0) {
          ++failures;
          std::fprintf(stderr, "  FAIL %s: expo_cuda_extrapolate: %s\n", where, expo_cuda_last_error());
          continue;
        }
        for (int j = 0; j < r.k; ++j)
          cmp.outputs(r, r.inPlace ? refAligned.data() : refOuts[j].data(), r.inPlace ? al.data() : outs[j].data(), j);
        cmp.stats(r, ref.results, b.results, false);
        cmp.stats(r, em.results, b.results, true);
        ++runs;
        for (const TestSeg& s : r.segs) elements += s.count * std::uint64_t(r.k);
      }
    }
  };

  for (int round = 0; round < rounds; ++round) {
    for (int arith = 0; arith < 2; ++arith) {
      for (int shape = 0; shape < 2; ++shape) {
        const int k = shape == 0 ? 1 : 3;
        for (int only = -1; only < 4; ++only) {
          Request r = makeRequest(g, arith, k, shape == 0, only < 0 ? 16 : 6, only);
          testRequest(r, only < 0 ? "any dtype" : dtypeName(only));
        }
        Request m = makeRequest(g, arith, k, shape == 0, 24, -1, true);
        testRequest(m, "mixed dtypes and conversions");
      }
    }
  }
  for (int arith = 0; arith < 2; ++arith) {
    Request r = unitRequest(g, arith, 1, true, 0, 64u << 20);
    testRequest(r, "64 MiB BF16 unit");
    Request r3 = unitRequest(g, arith, 3, false, 0, 16u << 20);
    testRequest(r3, "16 MiB BF16 unit");
  }

  // Refusals: clear messages, nothing computed.
  {
    std::vector<std::uint8_t> a(64), b(64), o(64);
    double desc[expo::kDescHead + 1] = {expo::kExtrapolate, expo::kBF16, expo::kBF16, expo::kBF16, 100, 0, 0, 0, 0.5};
    double res[7];
    std::uint8_t* outs[1] = {o.data()};
    std::size_t lens[1] = {o.size()};
    const int rc = expo_cuda_extrapolate(ctx, 0, 1, a.data(), a.size(), b.data(), b.size(), outs, lens, desc,
                                         expo::kDescHead + 1, res, 7);
    const std::string msg = expo_cuda_last_error();
    check(rc != 0 && msg.find("exceed") != std::string::npos, "a segment past the buffer is refused");
    const int rc0 = expo_cuda_extrapolate(ctx, 0, 0, a.data(), a.size(), b.data(), b.size(), outs, lens, desc, 0, res, 0);
    check(rc0 != 0 && std::string(expo_cuda_last_error()).find("outs must hold") != std::string::npos,
          "K = 0 is refused");
    check(expo_cuda_host_alloc(ctx, 0) == nullptr, "0 bytes of host memory are refused");
    check(expo_cuda_host_free(ctx, a.data()) != 0 &&
              std::string(expo_cuda_last_error()).find("not allocated by expo_cuda_host_alloc") != std::string::npos,
          "freeing memory the library did not allocate is refused");
    expo_cuda_counters st{};
    check(expo_cuda_stats(ctx, &st) == 0 && st.hostBuffers == 0 && st.hostBytes == 0,
          "every host allocation was freed");
  }
  expo_cuda_close(ctx);

  const bool ok = failures == 0 && cmp.outputMismatches == 0 && cmp.statMismatches == 0;
  std::printf("CUDA vs CPU kernel: %llu runs, %llu output elements, %llu output mismatches, %llu statistic "
              "mismatches, %d other failures: %s\n",
              (unsigned long long)runs, (unsigned long long)elements, (unsigned long long)cmp.outputMismatches,
              (unsigned long long)cmp.statMismatches, failures, ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
