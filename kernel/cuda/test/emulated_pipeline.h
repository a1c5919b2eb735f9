// The whole CUDA pipeline on the host: plan, pack, the kernels' exact per-thread code and reductions
// (emulate.h), unpack; host memory stands in for the staging and device buffers. Gives the bits the GPU must
// give, statistics included.
#pragma once

#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../src/job.h"
#include "../emulate.h"
#include "../plan.h"

namespace expo_test {

struct Aligned {
  std::uint8_t* p = nullptr;
  explicit Aligned(std::size_t n) {
    p = static_cast<std::uint8_t*>(std::aligned_alloc(256, expo::cuda::alignUp(n, 256)));
  }
  ~Aligned() { std::free(p); }
  Aligned(const Aligned&) = delete;
  Aligned& operator=(const Aligned&) = delete;
};

inline bool runEmulated(const expo::Job& job, std::uint64_t regionCap, unsigned shift, std::uint8_t poison, char* err) {
  if (!expo::checkShape(job, err)) return false;
  std::vector<expo::SegArgs> segs(expo::segmentCount(job));
  for (std::size_t i = 0; i < segs.size(); ++i)
    if (!expo::prepareSegment(job, i, segs[i], err)) return false;
  const expo::cuda::Plan plan = expo::cuda::makePlan(segs, job.k, regionCap, shift);
  Aligned in(expo::cuda::deviceInCapacity(job.k, regionCap));
  Aligned out(std::size_t(job.k) * regionCap);
  std::vector<double> partials(std::size_t(expo::cuda::partialDoubles(plan.totalTiles, job.k)), -2.0);
  std::vector<expo::cuda::CopyOp> copies;
  for (std::size_t c = 0; c < plan.chunks.size(); ++c) {
    std::memset(in.p, 0xCD, expo::cuda::deviceInCapacity(job.k, regionCap));
    std::memset(out.p, poison, std::size_t(job.k) * regionCap);
    copies.clear();
    expo::cuda::packChunk(plan, c, segs, in.p, copies);
    for (const auto& op : copies) std::memcpy(op.dst, op.src, op.n);
    expo::cuda::emulate::runCasts(expo::cuda::castLaunchOf(plan, c, in.p, out.p));
    expo::cuda::emulate::runTiles(job.arith, expo::cuda::launchOf(plan, c, in.p, out.p, partials.data()));
    expo::cuda::emulate::runMixedTiles(expo::cuda::mixedLaunchOf(plan, c, in.p, out.p, partials.data()));
    copies.clear();
    expo::cuda::unpackChunk(plan, c, segs, out.p, copies);
    for (const auto& op : copies) std::memcpy(op.dst, op.src, op.n);
  }
  expo::cuda::ReduceLaunch rl{plan.segTiles.data(), std::uint32_t(segs.size()), job.k, partials.data(), job.results};
  expo::cuda::emulate::runReduce(rl);
  return true;
}

}  // namespace expo_test
