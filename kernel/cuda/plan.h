// How one request (many segments over host buffers) travels through the GPU: cut into chunks that fit a
// staging slot, each chunk a list of pieces (whole segments, or parts of a segment cut at a tile boundary).
// Pure host code with no CUDA dependency, shared by the CUDA pipeline (pipeline.cc) and the host emulation of
// the whole pipeline (test/emulate_test.cc), which checks the layout, packing and unpacking without a GPU.
//
// A chunk's input staging (pinned host memory, copied to the device as one block):
//   [piece table: pieceStride(K) words per piece][tile refs: 8 bytes per tile, the tile kernel's then the mixed
//    tile kernel's][cast table: kCastWords words per cast][cast tile refs][a data][b data]
// each part at a 256-byte boundary. Every region holds at most regionCap bytes: a, b (the inputs in their own
// dtypes), the outputs (K regions of regionCap, output j at j * regionCap) and, on the device only, two stage
// regions after the largest staging (stageOffset): the inputs of mixed segments converted to the dtype they
// compute in (arith.h, computeDtype) by the cast kernel, which also writes convert segments' outputs. A piece
// starts 16-byte aligned in each region it uses (plus the test-only shift), so the kernels use 16-byte loads
// and stores throughout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../src/kernel.h"
#include "cast.cuh"
#include "tile.cuh"

namespace expo::cuda {

// A piece's offset in a region it does not use.
constexpr std::uint64_t kNoRegion = ~std::uint64_t(0);

struct Piece {
  std::uint32_t seg;        // index into the request's segments
  std::uint64_t first;      // first element (a multiple of the compute dtype's tile elements)
  std::uint64_t count;      // elements
  std::uint64_t offA;       // byte offset in the a region
  std::uint64_t offB;       // in the b region (kNoRegion for a convert segment)
  std::uint64_t offO;       // in each output region
  std::uint64_t stA, stB;   // in the stage regions (kNoRegion where the input is already in the compute dtype)
  std::uint64_t tile0;      // global index of its first tile
};

struct Chunk {
  std::uint32_t pieceBegin, pieceEnd;
  std::uint32_t nTiles;       // tiles of the tile kernel (equal-dtype arithmetic, staged inputs included)
  std::uint32_t nMixedTiles;  // tiles of the mixed tile kernel (fp32 mode, output dtype other than the compute one)
  std::uint32_t nCasts, nCastTiles;
  std::uint64_t aBytes, bBytes, oBytes;  // used bytes of the a, b and each output region
  // Staging layout (byte offsets from the slot's start).
  std::uint64_t tilesOff, castsOff, castTilesOff, aOff, bOff, inBytes;
};

struct Plan {
  int k = 0;
  std::uint64_t regionCap = 0;
  std::uint64_t stageOff = 0;  // the stage regions' offset in a slot's device input buffer
  std::vector<Piece> pieces;
  std::vector<Chunk> chunks;
  std::vector<std::uint64_t> segTiles;  // per segment: first global tile, tile count
  std::uint64_t totalTiles = 0;
};

constexpr std::uint32_t kMaxPiecesPerChunk = 4096;
// The smallest region: one tile of any segment in every region it uses, alignment and shift included (a tile of a
// 2-byte compute dtype whose input is F64 takes 4 x kTileBytes of the a or b region).
constexpr std::uint64_t kMinRegionCap = 5 * std::uint64_t(kTileBytes);

inline std::uint64_t alignUp(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }

// A segment's compute dtype on the device: its tiles are tiles of this dtype (convert segments have none).
int computeDtypeOf(const SegArgs& s);
// Worst-case staging bytes of one slot for K outputs and a data region of regionCap bytes.
std::uint64_t inCapacity(int k, std::uint64_t regionCap);
// Where the two stage regions start in a slot's device input buffer, and that buffer's bytes.
std::uint64_t stageOffset(int k, std::uint64_t regionCap);
std::uint64_t deviceInCapacity(int k, std::uint64_t regionCap);
std::uint64_t maxTilesPerChunk(std::uint64_t regionCap);
// regionCap: the data bytes one chunk may hold per region (a multiple of kTileBytes, at least kMinRegionCap).
// shift: 0, or 8 to place every piece 8 bytes past a 16-byte boundary (tests the element-wise path).
Plan makePlan(const std::vector<SegArgs>& segs, int k, std::uint64_t regionCap, unsigned shift);

struct CopyOp {
  void* dst;
  const void* src;
  std::size_t n;
};

// Writes chunk c's piece table, tile refs and casts into the staging slot and lists the data copies that fill it.
void packChunk(const Plan& plan, std::size_t c, const std::vector<SegArgs>& segs, std::uint8_t* staging,
               std::vector<CopyOp>& copies);
// Lists the copies of chunk c's outputs from the output staging (K regions of regionCap) to the caller's buffers.
void unpackChunk(const Plan& plan, std::size_t c, const std::vector<SegArgs>& segs, const std::uint8_t* outStaging,
                 std::vector<CopyOp>& copies);

// The launches of chunk c over a device copy of its staging at `in` (stage regions included), outputs at `out`
// (K regions of regionCap): the tile kernel's, the mixed tile kernel's, the cast kernel's.
TileLaunch launchOf(const Plan& plan, std::size_t c, const std::uint8_t* in, std::uint8_t* out, double* partials);
TileLaunch mixedLaunchOf(const Plan& plan, std::size_t c, const std::uint8_t* in, std::uint8_t* out,
                         double* partials);
CastLaunch castLaunchOf(const Plan& plan, std::size_t c, std::uint8_t* in, std::uint8_t* out);

}  // namespace expo::cuda
