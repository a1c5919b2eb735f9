// The staged, overlapped transfer pipeline of one context: a request (its segments validated by the C interface)
// from the caller's host buffers through the GPU and back.
//
// A request is planned into chunks (plan.h). Each chunk goes through one of kSlots slots, each with its own
// stream, pinned host staging and device buffers, kept across calls:
//
//   CPU: pack chunk c into the slot's pinned input staging (table, tile refs, a and b data; parallel memcpy)
//   stream: host-to-device copy of the staging, the cast kernel (mixed dtypes' inputs staged in the dtype they
//           compute in, conversions), the tile kernels, device-to-host copy of the K output regions into the
//           slot's pinned output staging, an event
//   CPU: when the slot comes round again (chunk c + kSlots) or at the end: wait for the event, copy the outputs
//        to the caller's buffers
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
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../src/job.h"
#include "copy_pool.h"
#include "memory.h"
#include "plan.h"

namespace expo::cuda {

class Pipeline {
 public:
  static constexpr int kSlots = 3;

  // The device's SMs and the tile kernel's resident blocks per SM ([arith][k == 1]), the mixed tile kernel's
  // ([k == 1]): the grid of a launch.
  int sms = 1;
  int blocksPerSm[2][2] = {{0, 0}, {0, 0}};
  int mixedBlocksPerSm[2] = {0, 0};
  // Bytes of each input per chunk (0: LLM_EXPO_CUDA_CHUNK_MIB or 8 MiB), and 8 to place every piece 8 bytes
  // off a 16-byte boundary (tests of the element-wise path); set by expo_cuda_tune.
  std::size_t chunkBytes = 0;
  unsigned shift = 0;
  CopyPool pool{1};

  // The slots' streams and events (on the current device).
  void createStreams();
  // Synchronizes and destroys the streams, frees every buffer.
  void release();
  // How a request went through: its chunks, and how many of them by DMA straight from and to the caller.
  struct Figures {
    std::size_t chunks = 0;
    std::size_t direct = 0;
  };
  // Runs a request; throws CudaFailure, after synchronizing every stream.
  Figures run(int arith, const Job& job, const std::vector<SegArgs>& segs);

 private:
  struct Slot {
    SlotBuffers buf;
    cudaStream_t stream = nullptr;
    cudaEvent_t done = nullptr;
    long chunk = -1;      // the chunk in flight, -1 when free
    bool direct = false;  // its data went by DMA from and to the caller's buffers (nothing to unpack)
  };

  std::uint64_t regionCapFor(int k) const;
  int gridFor(int perSm, std::uint32_t tiles) const;
  void launch(Slot& s, std::size_t c, const Plan& plan, int arith);
  void reserveStaging(std::uint64_t in, std::uint64_t devIn, std::uint64_t out);
  void finish(Slot& s, const Plan& plan, const std::vector<SegArgs>& segs, std::vector<CopyOp>& copies);
  bool sendDirect(Slot& s, std::size_t c, const Plan& plan, const std::vector<SegArgs>& segs, int arith);

  Slot slots_[kSlots];
  std::uint64_t inCap_ = 0, devInCap_ = 0, outCap_ = 0;  // bytes allocated per slot
  DeviceDoubles partials_;
  Mirror<std::uint64_t> segTiles_;
  Mirror<double> results_;
};

}  // namespace expo::cuda
