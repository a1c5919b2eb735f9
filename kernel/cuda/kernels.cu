// The fused extrapolation kernel (outputs and statistics in one pass over the inputs) and the fixed-order
// reduction of its per-tile partial sums. See tile.cuh for the work decomposition, expo_op.cuh for the
// operation per element and kernel/src/arith.h for the arithmetic. Built with -fmad=false as a second guard;
// every operation that matters is an explicit _rn intrinsic anyway.
#include <cuda_runtime.h>

#include "cast.cuh"
#include "expo_op.cuh"
#include "launch.h"

namespace expo::cuda {
namespace {

constexpr unsigned kFullMask = 0xFFFFFFFFu;

// Lane 0 ends with the warp's value; the same tree every time (emulate.h mirrors it).
__device__ __forceinline__ double warpSum(double v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = add(v, __shfl_down_sync(kFullMask, v, off));
  return v;
}
__device__ __forceinline__ double warpMax(double v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const double o = __shfl_down_sync(kFullMask, v, off);
    v = o > v ? o : v;
  }
  return v;
}
__device__ __forceinline__ std::uint32_t warpSumU(std::uint32_t v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(kFullMask, v, off);
  return v;
}

// One tile of a piece: the fast or the general path of the traversal, then the warp trees of the thread's
// statistics into this warp's partial row of the tile.
template <class Op, int KF>
__device__ __forceinline__ void tile(const TileLaunch& l, const std::uint64_t* row, std::uint32_t tileInPiece,
                                     Vec16* stage) {
  constexpr int DT = Op::kDtype;
  constexpr int sz = dtypeSize(DT);
  const int K = KF ? 1 : l.k;
  const int tid = int(threadIdx.x);
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const std::uint64_t first = std::uint64_t(tileInPiece) * tileElems(DT);
  const std::uint64_t left = row[kPwCount] - first;
  const std::uint32_t cnt = std::uint32_t(left < tileElems(DT) ? left : tileElems(DT));
  const std::uint8_t* pa = l.a + row[kPwA] + first * sz;
  const std::uint8_t* pb = l.b + row[kPwB] + first * sz;
  std::uint8_t* po = l.out + row[kPwOut] + first * dtypeSize(Op::kOutDtype);
  const int stride = kResultHead + K;
  // This warp's partial row of the tile (no block-level combination: the reduce kernel does it).
  double* dst = l.partials + ((row[kPwTile0] + tileInPiece) * std::uint64_t(kWarps) + std::uint64_t(warp)) *
                                 std::uint64_t(stride);

  ThreadTile<Op> t;
  if (fullTile<DT>(cnt, pa, pb, po)) {
    if (KF) {
      double o2;
      t.fusedFull(pa, pb, Op::param(row[kPieceHead]), po, tid, stage, o2);
      o2 = warpSum(o2);
      if (lane == 0) dst[kResultHead] = o2;
    } else {
      t.loadFull(pa, pb, tid, stage);
      for (int k = 0; k < K; ++k) {
        const auto alpha = Op::param(row[kPieceHead + k]);
        const double o2 = warpSum(t.outputFull(alpha, po + std::uint64_t(k) * l.outStride, tid));
        if (lane == 0) dst[kResultHead + k] = o2;
      }
    }
  } else {
    t.load(pa, pb, cnt, tid);
    for (int k = 0; k < K; ++k) {
      const auto alpha = Op::param(row[kPieceHead + k]);
      const double o2 = warpSum(t.output(alpha, po + std::uint64_t(k) * l.outStride, tid));
      if (lane == 0) dst[kResultHead + k] = o2;
    }
  }
  const double a2 = warpSum(t.op.a2);
  const double b2 = warpSum(t.op.b2);
  const double d2 = warpSum(t.op.d2);
  const double mx = warpMax(t.op.mx);
  const std::uint32_t counts = warpSumU(packCounts(t.op.nfIn, t.op.nonfiniteOutputs()));
  if (lane == 0) {
    dst[kResSumA2] = a2;
    dst[kResSumB2] = b2;
    dst[kResSumD2] = d2;
    dst[kResMaxAbsDiff] = mx;
    dst[kResNonfiniteInputs] = double(counts & 0xFFFFu);
    dst[kResNonfiniteOutputs] = double(counts >> 16);
  }
}

// Grid-stride over the launch's tiles; the dtype is per piece (uniform within a block's tile). No barrier:
// each warp writes its own partial rows and each thread reads back only its own slots of the load stage, so
// warps run free of each other.
template <int AR, int KF>
__global__ void __launch_bounds__(kThreads, KF ? 4 : 3) tilesKernel(TileLaunch l) {
  __shared__ Vec16 stage[kStageVecs];
  for (std::uint32_t i = blockIdx.x; i < l.nTiles; i += gridDim.x) {
    const TileRef r = l.tiles[i];
    const std::uint64_t* row = l.table + std::uint64_t(r.piece) * std::uint64_t(pieceStride(KF ? 1 : l.k));
    switch (int(row[kPwDtype])) {
      case kBF16:
        tile<ExpoOp<kBF16, AR>, KF>(l, row, r.tile, stage);
        break;
      case kF16:
        tile<ExpoOp<kF16, AR>, KF>(l, row, r.tile, stage);
        break;
      case kF32:
        tile<ExpoOp<kF32, AR>, KF>(l, row, r.tile, stage);
        break;
      default:
        tile<ExpoOp<kF64, AR>, KF>(l, row, r.tile, stage);
        break;
    }
  }
}

// The mixed tile kernel: fp32 mode, pieces whose outputs are in another dtype than the one they compute in (the
// row's dtype word: compute | output << 2). A kernel of its own so that the tile kernel's code stays as it is.
template <int KF>
__global__ void __launch_bounds__(kThreads, KF ? 4 : 3) mixedTilesKernel(TileLaunch l) {
  __shared__ Vec16 stage[kStageVecs];
  for (std::uint32_t i = blockIdx.x; i < l.nTiles; i += gridDim.x) {
    const TileRef r = l.tiles[i];
    const std::uint64_t* row = l.table + std::uint64_t(r.piece) * std::uint64_t(pieceStride(KF ? 1 : l.k));
    switch (int(row[kPwDtype])) {
      case kF32 | kBF16 << 2:
        tile<ExpoOp<kF32, kFp32, kBF16>, KF>(l, row, r.tile, stage);
        break;
      case kF32 | kF16 << 2:
        tile<ExpoOp<kF32, kFp32, kF16>, KF>(l, row, r.tile, stage);
        break;
      case kF32 | kF64 << 2:
        tile<ExpoOp<kF32, kFp32, kF64>, KF>(l, row, r.tile, stage);
        break;
      case kF64 | kBF16 << 2:
        tile<ExpoOp<kF64, kFp32, kBF16>, KF>(l, row, r.tile, stage);
        break;
      case kF64 | kF16 << 2:
        tile<ExpoOp<kF64, kFp32, kF16>, KF>(l, row, r.tile, stage);
        break;
      default:
        tile<ExpoOp<kF64, kFp32, kF32>, KF>(l, row, r.tile, stage);
        break;
    }
  }
}

// The conversions of a chunk (cast.cuh), one block per cast tile (grid-stride).
__global__ void __launch_bounds__(kThreads) castKernel(CastLaunch l) {
  for (std::uint32_t i = blockIdx.x; i < l.nTiles; i += gridDim.x) castTile(l, l.tiles[i], int(threadIdx.x));
}

// One block per segment (grid-stride): each quantity summed over the segment's tiles, thread i taking tiles
// i, i + 256, ... in order, each tile's value the fixed combination of its eight warp rows; then the warp tree
// and the fixed combination of the eight warps.
__global__ void __launch_bounds__(kThreads) reduceKernel(ReduceLaunch l) {
  __shared__ double red[kWarps];
  const int tid = int(threadIdx.x);
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int stride = kResultHead + l.k;
  for (std::uint32_t s = blockIdx.x; s < l.nSegments; s += gridDim.x) {
    const std::uint64_t t0 = l.segTiles[2 * s];
    const std::uint64_t nt = l.segTiles[2 * s + 1];
    for (int q = 0; q < stride; ++q) {
      const bool isMax = isMaxQuantity(q);
      double v = 0.0;
      for (std::uint64_t i = std::uint64_t(tid); i < nt; i += kThreads) {
        const double* p = l.partials + (t0 + i) * std::uint64_t(kWarps) * std::uint64_t(stride) + std::uint64_t(q);
        double w[kWarps];
#pragma unroll
        for (int j = 0; j < kWarps; ++j) w[j] = p[std::uint64_t(j) * std::uint64_t(stride)];
        const double x = isMax ? combineWarpsMax(w) : combineWarps(w);
        v = isMax ? (x > v ? x : v) : add(v, x);
      }
      v = isMax ? warpMax(v) : warpSum(v);
      if (lane == 0) red[warp] = v;
      __syncthreads();
      if (tid == 0) l.results[std::uint64_t(s) * std::uint64_t(stride) + std::uint64_t(q)] =
          isMax ? combineWarpsMax(red) : combineWarps(red);
      __syncthreads();
    }
  }
}

template <int AR, int KF>
int blocksPerSm() {
  int n = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, tilesKernel<AR, KF>, kThreads, 0) != cudaSuccess) return 0;
  return n;
}

}  // namespace

int mixedBlocksPerSm(int k) {
  int n = 0;
  const cudaError_t e = k == 1 ? cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, mixedTilesKernel<1>, kThreads, 0)
                               : cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, mixedTilesKernel<0>, kThreads, 0);
  return e == cudaSuccess ? n : 0;
}

cudaError_t launchMixedTiles(const TileLaunch& l, int grid, cudaStream_t stream) {
  if (l.nTiles == 0) return cudaSuccess;
  const dim3 g(unsigned(grid < 1 ? 1 : grid));
  if (l.k == 1)
    mixedTilesKernel<1><<<g, kThreads, 0, stream>>>(l);
  else
    mixedTilesKernel<0><<<g, kThreads, 0, stream>>>(l);
  return cudaGetLastError();
}

cudaError_t launchCasts(const CastLaunch& l, int grid, cudaStream_t stream) {
  if (l.nTiles == 0) return cudaSuccess;
  castKernel<<<dim3(unsigned(grid < 1 ? 1 : grid)), kThreads, 0, stream>>>(l);
  return cudaGetLastError();
}

int tileBlocksPerSm(int arith, int k) {
  if (arith == kFp32) return k == 1 ? blocksPerSm<kFp32, 1>() : blocksPerSm<kFp32, 0>();
  return k == 1 ? blocksPerSm<kTorch, 1>() : blocksPerSm<kTorch, 0>();
}

cudaError_t launchTiles(int arith, const TileLaunch& l, int grid, cudaStream_t stream) {
  if (l.nTiles == 0) return cudaSuccess;
  const dim3 g(unsigned(grid < 1 ? 1 : grid));
  if (arith == kFp32) {
    if (l.k == 1)
      tilesKernel<kFp32, 1><<<g, kThreads, 0, stream>>>(l);
    else
      tilesKernel<kFp32, 0><<<g, kThreads, 0, stream>>>(l);
  } else {
    if (l.k == 1)
      tilesKernel<kTorch, 1><<<g, kThreads, 0, stream>>>(l);
    else
      tilesKernel<kTorch, 0><<<g, kThreads, 0, stream>>>(l);
  }
  return cudaGetLastError();
}

cudaError_t launchReduce(const ReduceLaunch& l, int grid, cudaStream_t stream) {
  if (l.nSegments == 0) return cudaSuccess;
  reduceKernel<<<dim3(unsigned(grid < 1 ? 1 : grid)), kThreads, 0, stream>>>(l);
  return cudaGetLastError();
}

}  // namespace expo::cuda
