#include "pipeline.h"

#include <cstring>

#include "errors.h"
#include "launch.h"
#include "settings.h"

namespace expo::cuda {
namespace {

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

}  // namespace

void Pipeline::createStreams() {
  for (Slot& s : slots_) {
    CU(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    CU(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming | cudaEventBlockingSync));
  }
}

void Pipeline::release() {
  for (Slot& s : slots_) {
    if (s.stream) cudaStreamSynchronize(s.stream);
    if (s.done) cudaEventDestroy(s.done);
    if (s.stream) cudaStreamDestroy(s.stream);
    s.done = nullptr;
    s.stream = nullptr;
  }
  for (Slot& s : slots_) s.buf.release();
  inCap_ = devInCap_ = outCap_ = 0;
  partials_.release();
  segTiles_.release();
  results_.release();
}

std::uint64_t Pipeline::regionCapFor(int k) const {
  const std::uint64_t want = chunkBytes ? chunkBytes : chunkBytesSetting();
  std::uint64_t cap = want;
  const std::uint64_t budget = std::uint64_t(64) << 20;  // pinned bytes of data per slot, inputs and outputs
  if (cap * std::uint64_t(2 + k) > budget && budget / std::uint64_t(2 + k) < cap) cap = budget / std::uint64_t(2 + k);
  cap = cap / kTileBytes * kTileBytes;
  const std::uint64_t floor = kMinRegionCap;
  return cap < floor ? floor : cap;
}

int Pipeline::gridFor(int perSm, std::uint32_t tiles) const {
  const std::uint64_t most = std::uint64_t(sms) * std::uint64_t(perSm > 0 ? perSm : 1);
  return int(tiles < most ? tiles : most);
}

// Chunk c's kernels on slot s's stream, its staging already on the device: the casts first (the tile kernels
// read what they stage), then the tile kernel and the mixed tile kernel.
void Pipeline::launch(Slot& s, std::size_t c, const Plan& plan, int arith) {
  const Chunk& ch = plan.chunks[c];
  const int one = plan.k == 1 ? 1 : 0;
  CU(launchCasts(castLaunchOf(plan, c, s.buf.dIn, s.buf.dOut), gridFor(8, ch.nCastTiles), s.stream));
  const TileLaunch l = launchOf(plan, c, s.buf.dIn, s.buf.dOut, partials_.p);
  CU(launchTiles(arith, l, gridFor(blocksPerSm[arith][one], ch.nTiles), s.stream));
  const TileLaunch m = mixedLaunchOf(plan, c, s.buf.dIn, s.buf.dOut, partials_.p);
  CU(launchMixedTiles(m, gridFor(mixedBlocksPerSm[one], ch.nMixedTiles), s.stream));
}

void Pipeline::reserveStaging(std::uint64_t in, std::uint64_t devIn, std::uint64_t out) {
  if (in <= inCap_ && devIn <= devInCap_ && out <= outCap_) return;
  for (Slot& s : slots_) s.buf.release();
  inCap_ = devInCap_ = outCap_ = 0;
  for (Slot& s : slots_) s.buf.allocate(in, devIn, out);
  inCap_ = in;
  devInCap_ = devIn;
  outCap_ = out;
}

// Waits for the chunk in slot s and lists the copies of its outputs to the caller's buffers (none when it went
// direct), appending to `copies`.
void Pipeline::finish(Slot& s, const Plan& plan, const std::vector<SegArgs>& segs, std::vector<CopyOp>& copies) {
  if (s.chunk < 0) return;
  CU(cudaEventSynchronize(s.done));
  if (!s.direct) unpackChunk(plan, std::size_t(s.chunk), segs, s.buf.hOut, copies);
  s.chunk = -1;
}

// Chunk c by DMA between the caller's (page-locked) buffers and slot s's device buffers, if its data make few
// enough runs: the table and tile map through the staging, the data straight from and to the caller.
bool Pipeline::sendDirect(Slot& s, std::size_t c, const Plan& plan, const std::vector<SegArgs>& segs, int arith) {
  const Chunk& ch = plan.chunks[c];
  std::vector<CopyOp> up, down;
  packChunk(plan, c, segs, s.buf.hIn, up);
  unpackChunk(plan, c, segs, s.buf.hOut, down);
  if (mergeRuns(up) > kMaxDirectRuns || mergeRuns(down) > kMaxDirectRuns) return false;
  CU(cudaMemcpyAsync(s.buf.dIn, s.buf.hIn, ch.aOff, cudaMemcpyHostToDevice, s.stream));
  for (const CopyOp& op : up)
    CU(cudaMemcpyAsync(s.buf.dIn + (static_cast<std::uint8_t*>(op.dst) - s.buf.hIn), op.src, op.n,
                       cudaMemcpyHostToDevice, s.stream));
  launch(s, c, plan, arith);
  for (const CopyOp& op : down)
    CU(cudaMemcpyAsync(op.dst, s.buf.dOut + (static_cast<const std::uint8_t*>(op.src) - s.buf.hOut), op.n,
                       cudaMemcpyDeviceToHost, s.stream));
  return true;
}

Pipeline::Figures Pipeline::run(int arith, const Job& job, const std::vector<SegArgs>& segs) {
  const int k = job.k;
  const int stride = kResultHead + k;
  const std::uint64_t region = regionCapFor(k);
  const Plan plan = makePlan(segs, k, region, shift);
  reserveStaging(inCapacity(k, region), deviceInCapacity(k, region), std::uint64_t(k) * region);
  partials_.reserve(std::size_t(partialDoubles(plan.totalTiles, k)) + 1);
  segTiles_.reserve(plan.segTiles.size() + 2);
  results_.reserve(segs.size() * std::size_t(stride) + 1);
  bool direct = pageLocked(job.aligned.p, job.aligned.len) && pageLocked(job.base.p, job.base.len);
  for (int j = 0; j < k && direct; ++j) direct = pageLocked(job.outs[j].p, job.outs[j].len);

  std::vector<CopyOp> copies;
  Figures figures;
  figures.chunks = plan.chunks.size();
  try {
    for (std::size_t c = 0; c < plan.chunks.size(); ++c) {
      Slot& s = slots_[c % kSlots];
      copies.clear();
      finish(s, plan, segs, copies);  // the outputs of the slot's previous chunk
      const Chunk& ch = plan.chunks[c];
      s.direct = direct && sendDirect(s, c, plan, segs, arith);
      if (s.direct) ++figures.direct;
      if (!s.direct) {
        packChunk(plan, c, segs, s.buf.hIn, copies);
        pool.run(copies);  // unpack the old chunk and pack the new one in one hand-off
        copies.clear();
        CU(cudaMemcpyAsync(s.buf.dIn, s.buf.hIn, ch.inBytes, cudaMemcpyHostToDevice, s.stream));
        launch(s, c, plan, arith);
        if (k == 1 || ch.oBytes == region) {
          CU(cudaMemcpyAsync(s.buf.hOut, s.buf.dOut, std::uint64_t(k - 1) * region + ch.oBytes,
                             cudaMemcpyDeviceToHost, s.stream));
        } else {
          for (int j = 0; j < k; ++j)
            CU(cudaMemcpyAsync(s.buf.hOut + std::uint64_t(j) * region, s.buf.dOut + std::uint64_t(j) * region,
                               ch.oBytes, cudaMemcpyDeviceToHost, s.stream));
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
      finish(slots_[at % kSlots], plan, segs, copies);
      pool.run(copies);
      copies.clear();
    }
    if (!segs.empty()) {
      Slot& s = slots_[0];
      std::memcpy(segTiles_.host, plan.segTiles.data(), plan.segTiles.size() * sizeof(std::uint64_t));
      CU(cudaMemcpyAsync(segTiles_.dev, segTiles_.host, plan.segTiles.size() * sizeof(std::uint64_t),
                         cudaMemcpyHostToDevice, s.stream));
      const ReduceLaunch rl{segTiles_.dev, std::uint32_t(segs.size()), k, partials_.p, results_.dev};
      const std::uint32_t grid =
          std::uint32_t(segs.size()) < std::uint32_t(sms) * 8 ? std::uint32_t(segs.size()) : std::uint32_t(sms) * 8;
      CU(launchReduce(rl, int(grid), s.stream));
      CU(cudaMemcpyAsync(results_.host, results_.dev, segs.size() * std::size_t(stride) * sizeof(double),
                         cudaMemcpyDeviceToHost, s.stream));
      CU(cudaStreamSynchronize(s.stream));
      std::memcpy(job.results, results_.host, segs.size() * std::size_t(stride) * sizeof(double));
    }
  } catch (...) {
    // Nothing may still be writing into the staging buffers when they are reused or freed.
    for (Slot& s : slots_) {
      if (s.stream) cudaStreamSynchronize(s.stream);
      s.chunk = -1;
    }
    throw;
  }
  return figures;
}

}  // namespace expo::cuda
