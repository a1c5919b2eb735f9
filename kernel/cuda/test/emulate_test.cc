// The CUDA pipeline without a GPU: plan, pack, the kernels' exact per-thread code and reductions (emulate.h),
// unpack; host memory stands in for the staging and device buffers. Every dtype, mixed dtypes and conversions. Checks against the CPU kernel: outputs bit
// for bit (poisoned first, so an element nobody wrote fails), counts and maximum exactly, sums to 1e-9
// relative; and that the statistics are the same bits whatever the chunk size and alignment. Built by
// kernel/cuda/build.sh with the host compiler alone; runs in CI (test/cuda.test.ts) and on any machine.
//
// Exit status: 0 all matched, 1 a mismatch.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "emulated_pipeline.h"
#include "gen.h"

using namespace expo_test;

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 2;
  std::uint64_t cases = 0, elements = 0;
  Compare cmp;
  Gen g(20240917);
  struct Cfg {
    std::uint64_t regionCap;
    unsigned shift;
  };
  const Cfg cfgs[] = {{expo::cuda::kMinRegionCap, 0}, {expo::cuda::kMinRegionCap, 8}, {8u << 20, 0}, {8u << 20, 8}};
  char err[expo::kErrLen];
  for (int round = 0; round < rounds; ++round) {
    for (int arith = 0; arith < 2; ++arith) {
      for (int shape = 0; shape < 2; ++shape) {
        const int k = shape == 0 ? 1 : 3;
        const bool inPlace = shape == 0;
        // only: one dtype throughout (0-3), any equal dtypes (-1), mixed dtypes and conversions (4).
        for (int only = -1; only < 5; ++only) {
          Request r = only == 4 ? makeRequest(g, arith, k, inPlace, 16, -1, true)
                                : makeRequest(g, arith, k, inPlace, only < 0 ? 12 : 5, only);
          // The reference: the CPU kernel's scalar path.
          std::vector<std::uint8_t> refAligned = r.aligned;
          std::vector<std::vector<std::uint8_t>> refOuts = r.outs;
          Bound ref;
          bind(r, ref, refOuts, refAligned.data());
          if (!expo::runJob(ref.job, expo::segmentScalar, err)) {
            std::fprintf(stderr, "CPU kernel refused the request: %s\n", err);
            return 1;
          }
          std::vector<double> firstStats;
          for (const Cfg& cfg : cfgs) {
            for (std::uint8_t poison : {std::uint8_t(0x5A), std::uint8_t(0xA5)}) {
              std::vector<std::uint8_t> al = r.aligned;
              std::vector<std::vector<std::uint8_t>> outs = r.outs;
              for (auto& o : outs) std::memset(o.data(), poison, o.size());
              Bound b;
              bind(r, b, outs, al.data());
              if (!expo_test::runEmulated(b.job, cfg.regionCap, cfg.shift, std::uint8_t(poison ^ 0xFF), err)) {
                std::fprintf(stderr, "emulated pipeline refused the request: %s\n", err);
                return 1;
              }
              char where[160];
              std::snprintf(where, sizeof where, "%s K=%d%s dtype=%s chunk=%llu shift=%u poison=%02x",
                            arith ? "torch" : "fp32", k, inPlace ? " in place" : "",
                            only < 0 ? "any" : only == 4 ? "mixed" : dtypeName(only), (unsigned long long)cfg.regionCap,
                            cfg.shift, poison);
              cmp.where = where;
              for (int j = 0; j < k; ++j)
                cmp.outputs(r, inPlace ? refAligned.data() : refOuts[j].data(), inPlace ? al.data() : outs[j].data(), j);
              cmp.stats(r, ref.results, b.results, false);
              if (firstStats.empty())
                firstStats = b.results;
              else
                cmp.stats(r, firstStats, b.results, true);  // same bits for every chunk size and alignment
              ++cases;
              for (const TestSeg& s : r.segs) elements += s.count * std::uint64_t(k);
            }
          }
        }
      }
    }
  }
  const bool ok = cmp.outputMismatches == 0 && cmp.statMismatches == 0;
  std::printf("cuda emulation vs CPU kernel: %llu runs, %llu output elements, %llu output mismatches, %llu statistic "
              "mismatches: %s\n",
              (unsigned long long)cases, (unsigned long long)elements, (unsigned long long)cmp.outputMismatches,
              (unsigned long long)cmp.statMismatches, ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
