#include "plan.h"

#include <cstring>
#include <stdexcept>

namespace expo::cuda {

int computeDtypeOf(const SegArgs& s) { return computeDtype(s.arith, s.dtype, s.baseDtype, s.outDtype); }

std::uint64_t maxTilesPerChunk(std::uint64_t regionCap) { return regionCap / kTileBytes + kMaxPiecesPerChunk; }

namespace {

// At most two casts per piece (its two inputs, or a conversion); their tiles cover at most the two stage regions
// and the a region (elements of 2 bytes or more), plus one partial tile per cast.
constexpr std::uint64_t kMaxCastsPerChunk = 2 * std::uint64_t(kMaxPiecesPerChunk);
std::uint64_t maxCastTilesPerChunk(std::uint64_t regionCap) {
  return 3 * (regionCap / 2) / kCastElems + kMaxCastsPerChunk;
}

std::uint64_t headerBytes(int k, std::uint64_t regionCap) {
  const std::uint64_t table = alignUp(std::uint64_t(kMaxPiecesPerChunk) * pieceStride(k) * 8, 256);
  const std::uint64_t tiles = alignUp(maxTilesPerChunk(regionCap) * sizeof(TileRef), 256);
  const std::uint64_t casts = alignUp(kMaxCastsPerChunk * kCastWords * 8, 256);
  return table + tiles + casts + alignUp(maxCastTilesPerChunk(regionCap) * sizeof(TileRef), 256);
}

bool isConvert(const SegArgs& s) { return s.op == kConvert; }

std::uint64_t tilesOf(const SegArgs& s) {
  if (isConvert(s)) return 0;
  const std::uint64_t te = tileElems(computeDtypeOf(s));
  return (s.count + te - 1) / te;
}

// Which kernel computes a segment's tiles: the mixed one when the output dtype is not the compute dtype.
bool mixedKernel(const SegArgs& s) { return !isConvert(s) && s.outDtype != computeDtypeOf(s); }

// The five regions a piece may use, by index: a, b, out, stage a, stage b.
enum Region { kRa, kRb, kRo, kRsa, kRsb, kRegions };

// Element size of each region for segment s (0: the segment does not use it).
void regionSizes(const SegArgs& s, std::uint64_t (&sz)[kRegions]) {
  const int c = computeDtypeOf(s);
  const bool convert = isConvert(s);
  sz[kRa] = std::uint64_t(dtypeSize(s.dtype));
  sz[kRb] = convert ? 0 : std::uint64_t(dtypeSize(s.baseDtype));
  sz[kRo] = std::uint64_t(dtypeSize(s.outDtype));
  sz[kRsa] = !convert && s.dtype != c ? std::uint64_t(dtypeSize(c)) : 0;
  sz[kRsb] = !convert && s.baseDtype != c ? std::uint64_t(dtypeSize(c)) : 0;
}

void finishChunk(Plan& p, Chunk& c, const std::uint64_t (&used)[kRegions]) {
  c.pieceEnd = std::uint32_t(p.pieces.size());
  c.aBytes = used[kRa];
  c.bBytes = used[kRb];
  c.oBytes = used[kRo];
  const std::uint64_t table = std::uint64_t(c.pieceEnd - c.pieceBegin) * pieceStride(p.k) * 8;
  c.tilesOff = alignUp(table, 256);
  c.castsOff = alignUp(c.tilesOff + std::uint64_t(c.nTiles + c.nMixedTiles) * sizeof(TileRef), 256);
  c.castTilesOff = alignUp(c.castsOff + std::uint64_t(c.nCasts) * kCastWords * 8, 256);
  c.aOff = alignUp(c.castTilesOff + std::uint64_t(c.nCastTiles) * sizeof(TileRef), 256);
  c.bOff = alignUp(c.aOff + c.aBytes, 256);
  c.inBytes = c.bOff + c.bBytes;
  p.chunks.push_back(c);
}

std::uint64_t castTiles(std::uint64_t n) { return (n + kCastElems - 1) / kCastElems; }

}  // namespace

std::uint64_t inCapacity(int k, std::uint64_t regionCap) {
  return headerBytes(k, regionCap) + 2 * alignUp(regionCap, 256);
}

std::uint64_t stageOffset(int k, std::uint64_t regionCap) { return alignUp(inCapacity(k, regionCap), 256); }

std::uint64_t deviceInCapacity(int k, std::uint64_t regionCap) {
  return stageOffset(k, regionCap) + 2 * alignUp(regionCap, 256);
}

Plan makePlan(const std::vector<SegArgs>& segs, int k, std::uint64_t regionCap, unsigned shift) {
  Plan p;
  p.k = k;
  p.regionCap = regionCap;
  p.stageOff = stageOffset(k, regionCap);
  p.segTiles.resize(2 * segs.size());
  std::uint64_t tile = 0;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    p.segTiles[2 * i] = tile;
    p.segTiles[2 * i + 1] = tilesOf(segs[i]);
    tile += p.segTiles[2 * i + 1];
  }
  p.totalTiles = tile;

  const std::uint64_t maxTiles = maxTilesPerChunk(regionCap);
  const std::uint64_t maxCastTiles = maxCastTilesPerChunk(regionCap);
  Chunk cur{};
  std::uint64_t used[kRegions] = {};
  bool open = false;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const SegArgs& s = segs[i];
    std::uint64_t sz[kRegions];
    regionSizes(s, sz);
    const bool convert = isConvert(s);
    const bool mixed = mixedKernel(s);
    // Pieces of an extrapolate segment start on its tiles; a conversion has none and may be cut anywhere.
    const std::uint64_t te = convert ? 1 : tileElems(computeDtypeOf(s));
    std::uint64_t first = 0;
    while (first < s.count) {
      if (!open) {
        cur = Chunk{};
        cur.pieceBegin = std::uint32_t(p.pieces.size());
        for (std::uint64_t& u : used) u = 0;
        open = true;
      }
      std::uint64_t off[kRegions];
      std::uint64_t fit = s.count - first;
      for (int r = 0; r < kRegions; ++r) {
        off[r] = kNoRegion;
        if (sz[r] == 0) continue;
        off[r] = alignUp(used[r], 16) + shift;
        const std::uint64_t room = regionCap > off[r] ? (regionCap - off[r]) / sz[r] : 0;
        fit = room < fit ? room : fit;
      }
      const std::uint64_t n = fit == s.count - first ? fit : fit / te * te;
      const std::uint64_t tiles = convert ? 0 : (n + te - 1) / te;
      const std::uint64_t casts = convert ? 1 : (sz[kRsa] ? 1 : 0) + (sz[kRsb] ? 1 : 0);
      const std::uint64_t cTiles = casts * castTiles(n);
      if (n == 0 && p.pieces.size() == cur.pieceBegin) throw std::length_error("chunk region below kMinRegionCap");
      if (n == 0 || p.pieces.size() - cur.pieceBegin >= kMaxPiecesPerChunk ||
          cur.nTiles + cur.nMixedTiles + tiles > maxTiles || cur.nCastTiles + cTiles > maxCastTiles) {
        finishChunk(p, cur, used);
        open = false;
        continue;
      }
      p.pieces.push_back(Piece{std::uint32_t(i), first, n, off[kRa], off[kRb], off[kRo], off[kRsa], off[kRsb],
                               p.segTiles[2 * i] + first / te});
      (mixed ? cur.nMixedTiles : cur.nTiles) += std::uint32_t(tiles);
      cur.nCasts += std::uint32_t(casts);
      cur.nCastTiles += std::uint32_t(cTiles);
      for (int r = 0; r < kRegions; ++r)
        if (sz[r]) used[r] = off[r] + n * sz[r];
      first += n;
    }
  }
  if (open) finishChunk(p, cur, used);
  return p;
}

namespace {

// A compute-dtype input of a piece as the tile kernels address it: an offset from its region's base (the a or b
// data of the staging), which for a staged input reaches past the staging into the stage region.
std::uint64_t inputOffset(std::uint64_t raw, std::uint64_t staged, std::uint64_t regionOff, std::uint64_t stageOff) {
  return staged == kNoRegion ? raw : stageOff - regionOff + staged;
}

}  // namespace

void packChunk(const Plan& plan, std::size_t c, const std::vector<SegArgs>& segs, std::uint8_t* staging,
               std::vector<CopyOp>& copies) {
  const Chunk& ch = plan.chunks[c];
  const int stride = pieceStride(plan.k);
  auto* table = reinterpret_cast<std::uint64_t*>(staging);
  auto* tiles = reinterpret_cast<TileRef*>(staging + ch.tilesOff);
  auto* mixedTiles = tiles + ch.nTiles;
  auto* casts = reinterpret_cast<std::uint64_t*>(staging + ch.castsOff);
  auto* castTiles = reinterpret_cast<TileRef*>(staging + ch.castTilesOff);
  const std::uint64_t stageA = plan.stageOff, stageB = plan.stageOff + alignUp(plan.regionCap, 256);
  std::uint32_t t = 0, mt = 0, nc = 0, ct = 0;
  const auto addCast = [&](std::uint64_t src, std::uint64_t dst, std::uint64_t count, std::uint64_t kind) {
    std::uint64_t* w = casts + std::size_t(nc) * kCastWords;
    w[kCwSrc] = src;
    w[kCwDst] = dst;
    w[kCwCount] = count;
    w[kCwKind] = kind;
    for (std::uint32_t j = 0; j * std::uint64_t(kCastElems) < count; ++j) castTiles[ct++] = TileRef{nc, j};
    ++nc;
  };
  for (std::uint32_t i = ch.pieceBegin; i < ch.pieceEnd; ++i) {
    const Piece& pc = plan.pieces[i];
    const SegArgs& s = segs[pc.seg];
    const std::uint32_t local = i - ch.pieceBegin;
    const std::uint64_t szA = std::uint64_t(dtypeSize(s.dtype));
    copies.push_back(CopyOp{staging + ch.aOff + pc.offA, s.a + pc.first * szA, std::size_t(pc.count * szA)});
    std::uint64_t* row = table + std::size_t(local) * stride;
    if (s.op == kConvert) {
      // No tiles; the row is left unused.
      addCast(ch.aOff + pc.offA, pc.offO, pc.count, castKind(s.dtype, s.outDtype, true));
      continue;
    }
    const std::uint64_t szB = std::uint64_t(dtypeSize(s.baseDtype));
    copies.push_back(CopyOp{staging + ch.bOff + pc.offB, s.b + pc.first * szB, std::size_t(pc.count * szB)});
    const int cdt = computeDtypeOf(s);
    if (pc.stA != kNoRegion) addCast(ch.aOff + pc.offA, stageA + pc.stA, pc.count, castKind(s.dtype, cdt, false));
    if (pc.stB != kNoRegion) addCast(ch.bOff + pc.offB, stageB + pc.stB, pc.count, castKind(s.baseDtype, cdt, false));
    row[kPwA] = inputOffset(pc.offA, pc.stA, ch.aOff, stageA);
    row[kPwB] = inputOffset(pc.offB, pc.stB, ch.bOff, stageB);
    row[kPwOut] = pc.offO;
    row[kPwCount] = pc.count;
    row[kPwTile0] = pc.tile0;
    // The tile kernel's rows carry the dtype; the mixed one's the compute and the output dtype.
    const bool mixed = s.outDtype != cdt;
    row[kPwDtype] = mixed ? std::uint64_t(cdt) | std::uint64_t(s.outDtype) << 2 : std::uint64_t(cdt);
    for (int j = 0; j < plan.k; ++j) {
      if (cdt == kF64) {
        std::memcpy(&row[kPieceHead + j], &s.alphaD[j], 8);
      } else {
        std::uint32_t u;
        std::memcpy(&u, &s.alphaF[j], 4);
        row[kPieceHead + j] = u;
      }
    }
    const std::uint64_t te = tileElems(cdt);
    const std::uint32_t nt = std::uint32_t((pc.count + te - 1) / te);
    for (std::uint32_t j = 0; j < nt; ++j) (mixed ? mixedTiles[mt++] : tiles[t++]) = TileRef{local, j};
  }
}

void unpackChunk(const Plan& plan, std::size_t c, const std::vector<SegArgs>& segs, const std::uint8_t* outStaging,
                 std::vector<CopyOp>& copies) {
  const Chunk& ch = plan.chunks[c];
  for (std::uint32_t i = ch.pieceBegin; i < ch.pieceEnd; ++i) {
    const Piece& pc = plan.pieces[i];
    const SegArgs& s = segs[pc.seg];
    const std::uint64_t sz = std::uint64_t(dtypeSize(s.outDtype));
    for (int j = 0; j < plan.k; ++j)
      copies.push_back(CopyOp{s.out[j] + pc.first * sz, outStaging + std::uint64_t(j) * plan.regionCap + pc.offO,
                              std::size_t(pc.count * sz)});
  }
}

TileLaunch launchOf(const Plan& plan, std::size_t c, const std::uint8_t* in, std::uint8_t* out, double* partials) {
  const Chunk& ch = plan.chunks[c];
  TileLaunch l;
  l.table = reinterpret_cast<const std::uint64_t*>(in);
  l.tiles = reinterpret_cast<const TileRef*>(in + ch.tilesOff);
  l.nTiles = ch.nTiles;
  l.k = plan.k;
  l.a = in + ch.aOff;
  l.b = in + ch.bOff;
  l.out = out;
  l.outStride = plan.regionCap;
  l.partials = partials;
  return l;
}

TileLaunch mixedLaunchOf(const Plan& plan, std::size_t c, const std::uint8_t* in, std::uint8_t* out,
                         double* partials) {
  TileLaunch l = launchOf(plan, c, in, out, partials);
  l.tiles += plan.chunks[c].nTiles;
  l.nTiles = plan.chunks[c].nMixedTiles;
  return l;
}

CastLaunch castLaunchOf(const Plan& plan, std::size_t c, std::uint8_t* in, std::uint8_t* out) {
  const Chunk& ch = plan.chunks[c];
  CastLaunch l;
  l.casts = reinterpret_cast<const std::uint64_t*>(in + ch.castsOff);
  l.tiles = reinterpret_cast<const TileRef*>(in + ch.castTilesOff);
  l.nTiles = ch.nCastTiles;
  l.k = plan.k;
  l.in = in;
  l.out = out;
  l.outStride = plan.regionCap;
  return l;
}

}  // namespace expo::cuda
