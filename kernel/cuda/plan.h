// How one request (many segments over host buffers) travels through the GPU: cut into chunks that fit a
// staging slot, each chunk a list of pieces (whole segments, or parts of a segment cut at a tile boundary).
// Pure host code with no CUDA dependency, shared by the CUDA pipeline (pipeline.cc) and the host emulation of
// the whole pipeline (test/emulate_test.cc), which checks the layout, packing and unpacking without a GPU.
//
// A chunk's input staging (pinned host memory, copied to the device as one block):
//   [piece table: pieceStride(K) words per piece][tile refs: 8 bytes per tile][a data][b data]
// each part at a 256-byte boundary; piece p's a bytes at aBase + off(p), its b bytes at bBase + off(p), with
// off(p) a multiple of 16 (plus the test-only shift), so the kernel uses 16-byte loads and stores throughout.
// Outputs come back as K regions of regionCap bytes, piece p of output j at j * regionCap + off(p).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../src/kernel.h"
#include "tile.cuh"

namespace expo::cuda {

struct Piece {
  std::uint32_t seg;    // index into the request's segments
  std::uint64_t first;  // first element (a multiple of the dtype's tile elements)
  std::uint64_t count;  // elements
  std::uint64_t off;    // byte offset in each data region
  std::uint64_t tile0;  // global index of its first tile
};

struct Chunk {
  std::uint32_t pieceBegin, pieceEnd;
  std::uint32_t nTiles;
  std::uint64_t dataBytes;  // used bytes of each data region
  // Staging layout (byte offsets from the slot's start).
  std::uint64_t tilesOff, aOff, bOff, inBytes;
};

struct Plan {
  int k = 0;
  std::uint64_t regionCap = 0;
  std::vector<Piece> pieces;
  std::vector<Chunk> chunks;
  std::vector<std::uint64_t> segTiles;  // per segment: first global tile, tile count
  std::uint64_t totalTiles = 0;
};

constexpr std::uint32_t kMaxPiecesPerChunk = 4096;

inline std::uint64_t alignUp(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }

// Worst-case staging bytes of one slot for K outputs and a data region of regionCap bytes.
std::uint64_t inCapacity(int k, std::uint64_t regionCap);
std::uint64_t maxTilesPerChunk(std::uint64_t regionCap);
// regionCap: the data bytes one chunk may hold per input (a multiple of kTileBytes, at least 2 tiles).
// shift: 0, or 8 to place every piece 8 bytes past a 16-byte boundary (tests the element-wise path).
Plan makePlan(const std::vector<SegArgs>& segs, int k, std::uint64_t regionCap, unsigned shift);

struct CopyOp {
  void* dst;
  const void* src;
  std::size_t n;
};

// Writes chunk c's table and tile refs into the staging slot and lists the data copies that fill it.
void packChunk(const Plan& plan, std::size_t c, const std::vector<SegArgs>& segs, std::uint8_t* staging,
               std::vector<CopyOp>& copies);
// Lists the copies of chunk c's outputs from the output staging (K regions of regionCap) to the caller's buffers.
void unpackChunk(const Plan& plan, std::size_t c, const std::vector<SegArgs>& segs, const std::uint8_t* outStaging,
                 std::vector<CopyOp>& copies);

// The launch of chunk c over a device copy of its staging at `in`, outputs at `out` (K regions of regionCap).
TileLaunch launchOf(const Plan& plan, std::size_t c, const std::uint8_t* in, std::uint8_t* out, double* partials);

}  // namespace expo::cuda
