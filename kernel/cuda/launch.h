// The device kernels as the host pipeline, the standalone test and the benchmark call them: the tile kernel, the
// mixed tile kernel (outputs in another dtype than the computation), the cast kernel and the reduction.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "cast.cuh"
#include "tile.cuh"

namespace expo::cuda {

// Blocks per SM the tile kernel for (arith, k) keeps resident; 0 on error (the CUDA error is returned by the
// launch that follows).
int tileBlocksPerSm(int arith, int k);
cudaError_t launchTiles(int arith, const TileLaunch& l, int grid, cudaStream_t stream);
int mixedBlocksPerSm(int k);
cudaError_t launchMixedTiles(const TileLaunch& l, int grid, cudaStream_t stream);
cudaError_t launchCasts(const CastLaunch& l, int grid, cudaStream_t stream);
cudaError_t launchReduce(const ReduceLaunch& l, int grid, cudaStream_t stream);

}  // namespace expo::cuda
