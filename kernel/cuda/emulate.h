// The CUDA kernels of kernels.cu run on the host, thread by thread, with the same per-thread code (tile.cuh's
// traversal of expo_op.cuh's operation, the same choice between its general and fast paths), the same warp
// trees and the same combination of a tile's warp rows: outputs and statistics are the bits the GPU produces.
// Used to check the device arithmetic against the CPU kernel where there is no GPU (CI), and on a GPU to check
// that the device statistics are exactly these bits.
#pragma once

#include <vector>

#include "cast.cuh"
#include "expo_op.cuh"
#include "tile.cuh"

namespace expo::cuda::emulate {

// __shfl_down_sync with offsets 16, 8, 4, 2, 1 (a lane whose source is past the warp keeps its own value).
inline double warpSum(double* v) {
  for (int off = 16; off > 0; off >>= 1)
    for (int l = 0; l < 32; ++l) v[l] = add(v[l], l + off < 32 ? v[l + off] : v[l]);
  return v[0];
}
inline double warpMax(double* v) {
  for (int off = 16; off > 0; off >>= 1)
    for (int l = 0; l < 32; ++l) {
      const double o = l + off < 32 ? v[l + off] : v[l];
      v[l] = o > v[l] ? o : v[l];
    }
  return v[0];
}
inline std::uint32_t warpSumU(std::uint32_t* v) {
  for (int off = 16; off > 0; off >>= 1)
    for (int l = 0; l < 32; ++l) v[l] += l + off < 32 ? v[l + off] : v[l];
  return v[0];
}

template <class Op>
void tile(const TileLaunch& l, const std::uint64_t* row, std::uint32_t tileInPiece) {
  constexpr int DT = Op::kDtype;
  constexpr int sz = dtypeSize(DT);
  const int K = l.k;
  const std::uint64_t first = std::uint64_t(tileInPiece) * tileElems(DT);
  const std::uint64_t left = row[kPwCount] - first;
  const std::uint32_t cnt = std::uint32_t(left < tileElems(DT) ? left : tileElems(DT));
  const std::uint8_t* pa = l.a + row[kPwA] + first * sz;
  const std::uint8_t* pb = l.b + row[kPwB] + first * sz;
  std::uint8_t* po = l.out + row[kPwOut] + first * dtypeSize(Op::kOutDtype);
  const int stride = kResultHead + K;
  // Warp w's partial row of the tile.
  double* rows = l.partials + (row[kPwTile0] + tileInPiece) * std::uint64_t(kWarps) * std::uint64_t(stride);
  std::vector<ThreadTile<Op>> t(kThreads);
  double v[32];
  std::uint32_t u[32];
  // The device's choice of path (kernels.cu: tile).
  if (fullTile<DT>(cnt, pa, pb, po)) {
    if (K == 1) {
      for (int w = 0; w < kWarps; ++w) {
        for (int lane = 0; lane < 32; ++lane)
          t[w * 32 + lane].fusedFull(pa, pb, Op::param(row[kPieceHead]), po, w * 32 + lane, nullptr, v[lane]);
        rows[std::uint64_t(w) * stride + kResultHead] = warpSum(v);
      }
    } else {
      for (int tid = 0; tid < kThreads; ++tid) t[tid].loadFull(pa, pb, tid, nullptr);
      for (int k = 0; k < K; ++k) {
        const auto alpha = Op::param(row[kPieceHead + k]);
        for (int w = 0; w < kWarps; ++w) {
          for (int lane = 0; lane < 32; ++lane)
            v[lane] = t[w * 32 + lane].outputFull(alpha, po + std::uint64_t(k) * l.outStride, w * 32 + lane);
          rows[std::uint64_t(w) * stride + kResultHead + k] = warpSum(v);
        }
      }
    }
  } else {
    for (int tid = 0; tid < kThreads; ++tid) t[tid].load(pa, pb, cnt, tid);
    for (int k = 0; k < K; ++k) {
      const auto alpha = Op::param(row[kPieceHead + k]);
      for (int w = 0; w < kWarps; ++w) {
        for (int lane = 0; lane < 32; ++lane)
          v[lane] = t[w * 32 + lane].output(alpha, po + std::uint64_t(k) * l.outStride, w * 32 + lane);
        rows[std::uint64_t(w) * stride + kResultHead + k] = warpSum(v);
      }
    }
  }
  for (int w = 0; w < kWarps; ++w) {
    const ThreadTile<Op>* tw = &t[w * 32];
    double* dst = rows + std::uint64_t(w) * stride;
    for (int i = 0; i < 32; ++i) v[i] = tw[i].op.a2;
    dst[kResSumA2] = warpSum(v);
    for (int i = 0; i < 32; ++i) v[i] = tw[i].op.b2;
    dst[kResSumB2] = warpSum(v);
    for (int i = 0; i < 32; ++i) v[i] = tw[i].op.d2;
    dst[kResSumD2] = warpSum(v);
    for (int i = 0; i < 32; ++i) v[i] = tw[i].op.mx;
    dst[kResMaxAbsDiff] = warpMax(v);
    for (int i = 0; i < 32; ++i) u[i] = packCounts(tw[i].op.nfIn, tw[i].op.nonfiniteOutputs());
    const std::uint32_t counts = warpSumU(u);
    dst[kResNonfiniteInputs] = double(counts & 0xFFFFu);
    dst[kResNonfiniteOutputs] = double(counts >> 16);
  }
}

template <int AR>
void tiles(const TileLaunch& l) {
  for (std::uint32_t i = 0; i < l.nTiles; ++i) {
    const TileRef r = l.tiles[i];
    const std::uint64_t* row = l.table + std::uint64_t(r.piece) * std::uint64_t(pieceStride(l.k));
    switch (int(row[kPwDtype])) {
      case kBF16:
        tile<ExpoOp<kBF16, AR>>(l, row, r.tile);
        break;
      case kF16:
        tile<ExpoOp<kF16, AR>>(l, row, r.tile);
        break;
      case kF32:
        tile<ExpoOp<kF32, AR>>(l, row, r.tile);
        break;
      default:
        tile<ExpoOp<kF64, AR>>(l, row, r.tile);
        break;
    }
  }
}

// launchTiles on the host (l's pointers are host memory).
inline void runTiles(int arith, const TileLaunch& l) {
  if (arith == kFp32)
    tiles<kFp32>(l);
  else
    tiles<kTorch>(l);
}

// launchMixedTiles on the host.
inline void runMixedTiles(const TileLaunch& l) {
  for (std::uint32_t i = 0; i < l.nTiles; ++i) {
    const TileRef r = l.tiles[i];
    const std::uint64_t* row = l.table + std::uint64_t(r.piece) * std::uint64_t(pieceStride(l.k));
    switch (int(row[kPwDtype])) {
      case kF32 | kBF16 << 2:
        tile<ExpoOp<kF32, kFp32, kBF16>>(l, row, r.tile);
        break;
      case kF32 | kF16 << 2:
        tile<ExpoOp<kF32, kFp32, kF16>>(l, row, r.tile);
        break;
      case kF32 | kF64 << 2:
        tile<ExpoOp<kF32, kFp32, kF64>>(l, row, r.tile);
        break;
      case kF64 | kBF16 << 2:
        tile<ExpoOp<kF64, kFp32, kBF16>>(l, row, r.tile);
        break;
      case kF64 | kF16 << 2:
        tile<ExpoOp<kF64, kFp32, kF16>>(l, row, r.tile);
        break;
      default:
        tile<ExpoOp<kF64, kFp32, kF32>>(l, row, r.tile);
        break;
    }
  }
}

// launchCasts on the host.
inline void runCasts(const CastLaunch& l) {
  for (std::uint32_t i = 0; i < l.nTiles; ++i)
    for (int tid = 0; tid < kThreads; ++tid) castTile(l, l.tiles[i], tid);
}

// launchReduce on the host.
inline void runReduce(const ReduceLaunch& l) {
  const int stride = kResultHead + l.k;
  double v[kThreads];
  for (std::uint32_t s = 0; s < l.nSegments; ++s) {
    const std::uint64_t t0 = l.segTiles[2 * s];
    const std::uint64_t nt = l.segTiles[2 * s + 1];
    for (int q = 0; q < stride; ++q) {
      const bool isMax = isMaxQuantity(q);
      for (int tid = 0; tid < kThreads; ++tid) {
        double x = 0.0;
        for (std::uint64_t i = std::uint64_t(tid); i < nt; i += kThreads) {
          // The tile's value: the fixed combination of its eight warp rows.
          const double* pr = l.partials + (t0 + i) * std::uint64_t(kWarps) * std::uint64_t(stride) + std::uint64_t(q);
          double w[kWarps];
          for (int j = 0; j < kWarps; ++j) w[j] = pr[std::uint64_t(j) * std::uint64_t(stride)];
          const double p = isMax ? combineWarpsMax(w) : combineWarps(w);
          x = isMax ? (p > x ? p : x) : add(x, p);
        }
        v[tid] = x;
      }
      double red[kWarps];
      for (int w = 0; w < kWarps; ++w) red[w] = isMax ? warpMax(v + 32 * w) : warpSum(v + 32 * w);
      l.results[std::uint64_t(s) * std::uint64_t(stride) + std::uint64_t(q)] =
          isMax ? combineWarpsMax(red) : combineWarps(red);
    }
  }
}

}  // namespace expo::cuda::emulate
