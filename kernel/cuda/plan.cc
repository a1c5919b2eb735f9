#include "plan.h"

#include <cstring>

namespace expo::cuda {

std::uint64_t maxTilesPerChunk(std::uint64_t regionCap) { return regionCap / kTileBytes + kMaxPiecesPerChunk; }

std::uint64_t inCapacity(int k, std::uint64_t regionCap) {
  return alignUp(std::uint64_t(kMaxPiecesPerChunk) * pieceStride(k) * 8, 256) +
         alignUp(maxTilesPerChunk(regionCap) * sizeof(TileRef), 256) + 2 * alignUp(regionCap, 256);
}

namespace {

std::uint64_t tilesOf(const SegArgs& s) {
  const std::uint64_t te = tileElems(s.dtype);
  return (s.count + te - 1) / te;
}

void finishChunk(Plan& p, Chunk& c, std::uint64_t used) {
  c.pieceEnd = std::uint32_t(p.pieces.size());
  c.dataBytes = used;
  const std::uint64_t table = std::uint64_t(c.pieceEnd - c.pieceBegin) * pieceStride(p.k) * 8;
  c.tilesOff = alignUp(table, 256);
  c.aOff = alignUp(c.tilesOff + std::uint64_t(c.nTiles) * sizeof(TileRef), 256);
  c.bOff = alignUp(c.aOff + used, 256);
  c.inBytes = c.bOff + used;
  p.chunks.push_back(c);
}

}  // namespace

Plan makePlan(const std::vector<SegArgs>& segs, int k, std::uint64_t regionCap, unsigned shift) {
  Plan p;
  p.k = k;
  p.regionCap = regionCap;
  p.segTiles.resize(2 * segs.size());
  std::uint64_t tile = 0;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    p.segTiles[2 * i] = tile;
    p.segTiles[2 * i + 1] = tilesOf(segs[i]);
    tile += p.segTiles[2 * i + 1];
  }
  p.totalTiles = tile;

  const std::uint64_t maxTiles = maxTilesPerChunk(regionCap);
  Chunk cur{};
  std::uint64_t used = 0;
  bool open = false;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const SegArgs& s = segs[i];
    const std::uint64_t sz = std::uint64_t(dtypeSize(s.dtype));
    const std::uint64_t te = tileElems(s.dtype);
    std::uint64_t first = 0;
    while (first < s.count) {
      if (!open) {
        cur = Chunk{};
        cur.pieceBegin = std::uint32_t(p.pieces.size());
        used = 0;
        open = true;
      }
      const std::uint64_t off = alignUp(used, 16) + shift;
      const std::uint64_t room = regionCap > off ? regionCap - off : 0;
      const std::uint64_t leftBytes = (s.count - first) * sz;
      std::uint64_t take = leftBytes <= room ? leftBytes : room / kTileBytes * kTileBytes;
      const std::uint64_t tiles = (take / sz + te - 1) / te;
      if (take == 0 || p.pieces.size() - cur.pieceBegin >= kMaxPiecesPerChunk || cur.nTiles + tiles > maxTiles) {
        finishChunk(p, cur, used);
        open = false;
        continue;
      }
      const std::uint64_t n = take / sz;
      p.pieces.push_back(Piece{std::uint32_t(i), first, n, off, p.segTiles[2 * i] + first / te});
      cur.nTiles += std::uint32_t(tiles);
      used = off + take;
      first += n;
    }
  }
  if (open) finishChunk(p, cur, used);
  return p;
}

void packChunk(const Plan& plan, std::size_t c, const std::vector<SegArgs>& segs, std::uint8_t* staging,
               std::vector<CopyOp>& copies) {
  const Chunk& ch = plan.chunks[c];
  const int stride = pieceStride(plan.k);
  auto* table = reinterpret_cast<std::uint64_t*>(staging);
  auto* tiles = reinterpret_cast<TileRef*>(staging + ch.tilesOff);
  std::uint32_t t = 0;
  for (std::uint32_t i = ch.pieceBegin; i < ch.pieceEnd; ++i) {
    const Piece& pc = plan.pieces[i];
    const SegArgs& s = segs[pc.seg];
    const std::uint64_t sz = std::uint64_t(dtypeSize(s.dtype));
    const std::uint32_t local = i - ch.pieceBegin;
    std::uint64_t* row = table + std::size_t(local) * stride;
    row[kPwA] = pc.off;
    row[kPwB] = pc.off;
    row[kPwOut] = pc.off;
    row[kPwCount] = pc.count;
    row[kPwTile0] = pc.tile0;
    row[kPwDtype] = std::uint64_t(s.dtype);
    for (int j = 0; j < plan.k; ++j) {
      if (s.dtype == kF64) {
        std::memcpy(&row[kPieceHead + j], &s.alphaD[j], 8);
      } else {
        std::uint32_t u;
        std::memcpy(&u, &s.alphaF[j], 4);
        row[kPieceHead + j] = u;
      }
    }
    const std::uint64_t te = tileElems(s.dtype);
    const std::uint32_t nt = std::uint32_t((pc.count + te - 1) / te);
    for (std::uint32_t j = 0; j < nt; ++j) tiles[t++] = TileRef{local, j};
    const std::size_t bytes = std::size_t(pc.count * sz);
    copies.push_back(CopyOp{staging + ch.aOff + pc.off, s.a + pc.first * sz, bytes});
    copies.push_back(CopyOp{staging + ch.bOff + pc.off, s.b + pc.first * sz, bytes});
  }
}

void unpackChunk(const Plan& plan, std::size_t c, const std::vector<SegArgs>& segs, const std::uint8_t* outStaging,
                 std::vector<CopyOp>& copies) {
  const Chunk& ch = plan.chunks[c];
  for (std::uint32_t i = ch.pieceBegin; i < ch.pieceEnd; ++i) {
    const Piece& pc = plan.pieces[i];
    const SegArgs& s = segs[pc.seg];
    const std::uint64_t sz = std::uint64_t(dtypeSize(s.dtype));
    for (int j = 0; j < plan.k; ++j)
      copies.push_back(CopyOp{s.out[j] + pc.first * sz, outStaging + std::uint64_t(j) * plan.regionCap + pc.off,
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

}  // namespace expo::cuda
