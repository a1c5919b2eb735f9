// The tile traversal of the CUDA kernels, written once for any per-element operation (the ExPO one is
// expo_op.cuh): which elements one thread of one tile handles, in which order, and how they are loaded and
// stored. Shared by the device kernel (kernels.cu) and its host emulation (emulate.h), so the emulation runs
// exactly the per-thread code and element order the GPU runs.
//
// Work decomposition (in the manner of Apex's multi_tensor_apply): a launch covers many pieces (segments or
// parts of segments) listed in a table in device memory; every piece is cut into tiles of kTileBytes of each
// input; a block of kThreads threads takes a tile at a time (grid-stride over the launch's tiles). In a tile,
// thread t handles the 16-byte vectors t, t + 256, t + 512, t + 768: 16-byte loads and stores when the
// addresses are 16-byte aligned, element by element otherwise (the same elements in the same order either
// way, so the statistics do not depend on alignment). A segment's tiles are numbered from its first element,
// so where a request is cut into chunks or launches changes nothing either: each tile's partial sums go to
// its own rows (one per warp: the tile kernel has no block-level barrier), and a second kernel combines a
// tile's eight warp rows and then a segment's tiles in a fixed order. The statistics are therefore a function
// of the request alone: the same bits run to run, on any GPU, for any grid size or chunk size.
//
// Two per-thread code paths visit the same elements in the same order: the general one (load/output: any
// element count, any alignment, per-element branches) and the fast one for a full tile whose addresses are all
// 16-byte aligned (loadFull/outputFull, and fusedFull for K = 1: one pass that loads, computes and writes),
// whose loads go together through cp.async and which calls the operation's branch-free hooks. The device and
// the host emulation pick the path by the same test (fullTile), so the emulation runs exactly what the GPU
// runs.
//
// The operation Op (per element; see expo_op.cuh for the one there is) provides:
//   Bits, W, Param       storage bits, working value, per-output parameter (decoded by param(piece word))
//   OutBits              the output's storage bits (Bits, or another dtype's: a vector's outputs then take
//                        kLanes x sizeof(OutBits) bytes, 4 to 32, stored together)
//   value(bits)          the working value of an element
//   out(x, y, p)         the output bits of an input pair
//   clear, input(x, y, bit), outStat(s, bits, bit)          the general path's per-thread accumulation
//   inputFull(x, y, bit) -> finite, outStatFull(s, bits, finite, bit), finiteAt(bit), endFull(n)
//                        the fast path's, branch-free
// where bit is 1 << (the element's index among the thread's kVecPerThread x 16 / sizeof(Bits) elements) and s
// a per-output fp64 value the traversal hands back per output.
#pragma once

#include <cstring>
#include <type_traits>

#include "../src/arith.h"

namespace expo::cuda {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kVecPerThread = 4;
constexpr int kTileBytes = kThreads * kVecPerThread * 16;  // 16 KiB of each input per tile

EXPO_HDC constexpr std::uint64_t tileElems(int dtype) { return std::uint64_t(kTileBytes / dtypeSize(dtype)); }

// A piece row in the launch table, as 64-bit words: byte offsets of its first element in the a, b and out
// buffers, its element count, the global index of its first tile (its partial-sums row), its dtype (for the
// mixed tile kernel: compute dtype | output dtype << 2), then K words of the operation's per-output parameter
// (Op::param decodes one).
enum PieceWord : int { kPwA = 0, kPwB = 1, kPwOut = 2, kPwCount = 3, kPwTile0 = 4, kPwDtype = 5, kPieceHead = 6 };
EXPO_HDC constexpr int pieceStride(int k) { return kPieceHead + k; }

// Which piece a tile of the launch belongs to, and its index within that piece.
struct TileRef {
  std::uint32_t piece;
  std::uint32_t tile;
};

struct alignas(16) Vec16 {
  std::uint32_t w[4];
};

// The shared-memory stage of the fast path's loads: a and b vectors of every thread of a block (32 KiB).
constexpr int kStageVecs = 2 * kVecPerThread * kThreads;

#if defined(__CUDA_ARCH__)
#define EXPO_UNROLL _Pragma("unroll")
#else
#define EXPO_UNROLL
#endif

EXPO_HD bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

EXPO_HD Vec16 load16(const std::uint8_t* p) {
  Vec16 v;
#if defined(__CUDA_ARCH__)
  const uint4 u = __ldcs(reinterpret_cast<const uint4*>(p));  // streaming: each byte is read once
  v.w[0] = u.x;
  v.w[1] = u.y;
  v.w[2] = u.z;
  v.w[3] = u.w;
#else
  std::memcpy(v.w, p, 16);
#endif
  return v;
}

EXPO_HD void store16(std::uint8_t* p, const Vec16& v) {
#if defined(__CUDA_ARCH__)
  __stcs(reinterpret_cast<uint4*>(p), make_uint4(v.w[0], v.w[1], v.w[2], v.w[3]));
#else
  std::memcpy(p, v.w, 16);
#endif
}

// The outputs of one input vector when the output dtype is narrower or wider than the input's.
template <int BYTES>
struct VecN {
  std::uint32_t w[BYTES / 4];
};

EXPO_HD void storeVec(std::uint8_t* p, const Vec16& v) { store16(p, v); }
EXPO_HD void storeVec(std::uint8_t* p, const VecN<4>& v) {
#if defined(__CUDA_ARCH__)
  __stcs(reinterpret_cast<unsigned int*>(p), v.w[0]);
#else
  std::memcpy(p, v.w, 4);
#endif
}
EXPO_HD void storeVec(std::uint8_t* p, const VecN<8>& v) {
#if defined(__CUDA_ARCH__)
  __stcs(reinterpret_cast<uint2*>(p), make_uint2(v.w[0], v.w[1]));
#else
  std::memcpy(p, v.w, 8);
#endif
}
EXPO_HD void storeVec(std::uint8_t* p, const VecN<32>& v) {
  store16(p, Vec16{{v.w[0], v.w[1], v.w[2], v.w[3]}});
  store16(p + 16, Vec16{{v.w[4], v.w[5], v.w[6], v.w[7]}});
}

// Element e of a vector (Vec16 or VecN) holding SZ-byte elements (little-endian), as raw bits.
template <int SZ, class V>
EXPO_HD std::uint64_t getElem(const V& v, int e) {
  if constexpr (SZ == 2) {
    return (v.w[e >> 1] >> (16 * (e & 1))) & 0xFFFFu;
  } else if constexpr (SZ == 4) {
    return v.w[e];
  } else {
    return std::uint64_t(v.w[2 * e]) | (std::uint64_t(v.w[2 * e + 1]) << 32);
  }
}

template <int SZ, class V>
EXPO_HD void setElem(V& v, int e, std::uint64_t bits) {
  if constexpr (SZ == 2) {
    const int sh = 16 * (e & 1);
    v.w[e >> 1] = (v.w[e >> 1] & ~(0xFFFFu << sh)) | (std::uint32_t(bits & 0xFFFFu) << sh);
  } else if constexpr (SZ == 4) {
    v.w[e] = std::uint32_t(bits);
  } else {
    v.w[2 * e] = std::uint32_t(bits);
    v.w[2 * e + 1] = std::uint32_t(bits >> 32);
  }
}

// Typed scalar accesses; buffers hold whole elements at element-aligned addresses (the host lays them out).
template <int SZ>
EXPO_HD std::uint64_t loadElem(const std::uint8_t* p) {
  if constexpr (SZ == 2) {
    return *reinterpret_cast<const std::uint16_t*>(p);
  } else if constexpr (SZ == 4) {
    return *reinterpret_cast<const std::uint32_t*>(p);
  } else {
    return *reinterpret_cast<const std::uint64_t*>(p);
  }
}

template <int SZ>
EXPO_HD void storeElem(std::uint8_t* p, std::uint64_t bits) {
  if constexpr (SZ == 2) {
    *reinterpret_cast<std::uint16_t*>(p) = std::uint16_t(bits);
  } else if constexpr (SZ == 4) {
    *reinterpret_cast<std::uint32_t*>(p) = std::uint32_t(bits);
  } else {
    *reinterpret_cast<std::uint64_t*>(p) = bits;
  }
}

// One thread's share of one tile: its input vectors (kept in registers across the K outputs) and the
// operation's per-thread state.
template <class Op>
struct ThreadTile {
  using Bits = typename Op::Bits;
  using OutBits = typename Op::OutBits;
  using W = typename Op::W;
  using Param = typename Op::Param;
  static constexpr int kSize = int(sizeof(Bits));
  static constexpr int kLanes = 16 / kSize;  // elements per 16-byte vector
  static constexpr int kOutSize = int(sizeof(OutBits));
  static constexpr int kOutBytes = kLanes * kOutSize;  // one vector's outputs
  using OutVec = std::conditional_t<kOutBytes == 16, Vec16, VecN<kOutBytes>>;

  Vec16 a[kVecPerThread];
  Vec16 b[kVecPerThread];
  int n[kVecPerThread];  // valid elements in each vector slot (0 past the tile's end)
  Op op;

  EXPO_HD W elemA(int j, int e) const { return Op::value(Bits(getElem<kSize>(a[j], e))); }
  EXPO_HD W elemB(int j, int e) const { return Op::value(Bits(getElem<kSize>(b[j], e))); }

  // Loads the thread's vectors of the tile (pa, pb: the tile's first element; cnt: elements in the tile) and
  // hands every element pair to the operation, in (vector, lane) order.
  EXPO_HD void load(const std::uint8_t* pa, const std::uint8_t* pb, std::uint32_t cnt, int tid) {
    const bool va = aligned16(pa);
    const bool vb = aligned16(pb);
    EXPO_UNROLL
    for (int j = 0; j < kVecPerThread; ++j) {
      const std::uint32_t first = std::uint32_t(tid + kThreads * j) * kLanes;
      const std::uint32_t left = cnt > first ? cnt - first : 0;
      n[j] = left < std::uint32_t(kLanes) ? int(left) : kLanes;
      const std::uint8_t* qa = pa + std::size_t(first) * kSize;
      const std::uint8_t* qb = pb + std::size_t(first) * kSize;
      if (n[j] == kLanes && va) {
        a[j] = load16(qa);
      } else {
        a[j] = Vec16{{0, 0, 0, 0}};
        EXPO_UNROLL
        for (int e = 0; e < kLanes; ++e)
          if (e < n[j]) setElem<kSize>(a[j], e, loadElem<kSize>(qa + e * kSize));
      }
      if (n[j] == kLanes && vb) {
        b[j] = load16(qb);
      } else {
        b[j] = Vec16{{0, 0, 0, 0}};
        EXPO_UNROLL
        for (int e = 0; e < kLanes; ++e)
          if (e < n[j]) setElem<kSize>(b[j], e, loadElem<kSize>(qb + e * kSize));
      }
    }
    op.clear();
    EXPO_UNROLL
    for (int j = 0; j < kVecPerThread; ++j) {
      EXPO_UNROLL
      for (int e = 0; e < kLanes; ++e) {
        if (e >= n[j]) continue;
        op.input(elemA(j, e), elemB(j, e), 1u << (j * kLanes + e));
      }
    }
  }

  // Writes one output of the thread's elements at po (the tile's first output element) and returns the
  // operation's per-output value for it.
  EXPO_HD double output(Param p, std::uint8_t* po, int tid) {
#if defined(__CUDA_ARCH__)
    // Opaque to the optimizer: with K > 1 it would otherwise hoist every widened input out of the caller's
    // loop over the outputs and spill; recomputing them from the raw words is cheaper.
    EXPO_UNROLL
    for (int j = 0; j < kVecPerThread; ++j) {
      EXPO_UNROLL
      for (int i = 0; i < 4; ++i) asm volatile("" : "+r"(a[j].w[i]), "+r"(b[j].w[i]));
    }
#endif
    const bool vo = aligned16(po);
    double s = 0.0;
    EXPO_UNROLL
    for (int j = 0; j < kVecPerThread; ++j) {
      if (n[j] == 0) continue;
      OutVec o{};
      EXPO_UNROLL
      for (int e = 0; e < kLanes; ++e) {
        if (e >= n[j]) continue;
        const OutBits bits = Op::out(elemA(j, e), elemB(j, e), p);
        setElem<kOutSize>(o, e, bits);
        s = op.outStat(s, bits, 1u << (j * kLanes + e));
      }
      std::uint8_t* q = po + std::size_t(std::uint32_t(tid + kThreads * j) * kLanes) * kOutSize;
      if (n[j] == kLanes && vo) {
        storeVec(q, o);
      } else {
        EXPO_UNROLL
        for (int e = 0; e < kLanes; ++e)
          if (e < n[j]) storeElem<kOutSize>(q + e * kOutSize, getElem<kOutSize>(o, e));
      }
    }
    return s;
  }

  // ---- the fast path: a full tile (tileElems elements), a, b and every output 16-byte aligned -------------

  // The thread's eight 16-byte vectors of a full aligned tile. On the device they go through the block's
  // shared-memory stage (kStageVecs vectors; each thread reads back only the slots it wrote itself, so no
  // barrier) by asynchronous copies, all eight in flight at once: plain loads would be spread through the
  // computation by the assembler, one load latency per vector. On the host (emulation) plain copies.
  EXPO_HD void loadVectors(const std::uint8_t* pa, const std::uint8_t* pb, int tid, Vec16* stage) {
#if defined(__CUDA_ARCH__)
    const std::uint32_t base = std::uint32_t(__cvta_generic_to_shared(stage));
    EXPO_UNROLL
    for (int j = 0; j < kVecPerThread; ++j) {
      const std::size_t at = std::size_t(std::uint32_t(tid + kThreads * j) * 16u);
      const std::uint32_t sa = base + std::uint32_t((2 * j) * kThreads + tid) * 16u;
      const std::uint32_t sb = base + std::uint32_t((2 * j + 1) * kThreads + tid) * 16u;
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(sa), "l"(pa + at) : "memory");
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(sb), "l"(pb + at) : "memory");
    }
    asm volatile("cp.async.commit_group;" ::: "memory");
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    EXPO_UNROLL
    for (int j = 0; j < kVecPerThread; ++j) {
      a[j] = stage[(2 * j) * kThreads + tid];
      b[j] = stage[(2 * j + 1) * kThreads + tid];
      n[j] = kLanes;
    }
#else
    (void)stage;
    EXPO_UNROLL
    for (int j = 0; j < kVecPerThread; ++j) {
      const std::size_t at = std::size_t(std::uint32_t(tid + kThreads * j) * 16u);
      a[j] = load16(pa + at);
      b[j] = load16(pb + at);
      n[j] = kLanes;
    }
#endif
  }

  // load() for a full aligned tile: all loads first (eight 16-byte loads in flight), then the pairs in the
  // same (vector, lane) order, branch-free.
  EXPO_HD void loadFull(const std::uint8_t* pa, const std::uint8_t* pb, int tid, Vec16* stage) {
    loadVectors(pa, pb, tid, stage);
    op.clear();
    EXPO_UNROLL
    for (int j = 0; j < kVecPerThread; ++j) {
      EXPO_UNROLL
      for (int e = 0; e < kLanes; ++e) op.inputFull(elemA(j, e), elemB(j, e), 1u << (j * kLanes + e));
    }
    op.endFull(kVecPerThread * kLanes);
  }

  // output() for a full aligned tile (after loadFull), branch-free.
  EXPO_HD double outputFull(Param p, std::uint8_t* po, int tid) {
#if defined(__CUDA_ARCH__)
    EXPO_UNROLL
    for (int j = 0; j < kVecPerThread; ++j) {
      EXPO_UNROLL
      for (int i = 0; i < 4; ++i) asm volatile("" : "+r"(a[j].w[i]), "+r"(b[j].w[i]));
    }
#endif
    double s = 0.0;
    EXPO_UNROLL
    for (int j = 0; j < kVecPerThread; ++j) {
      OutVec o{};
      EXPO_UNROLL
      for (int e = 0; e < kLanes; ++e) {
        const OutBits bits = Op::out(elemA(j, e), elemB(j, e), p);
        setElem<kOutSize>(o, e, bits);
        const std::uint32_t bit = 1u << (j * kLanes + e);
        s = op.outStatFull(s, bits, op.finiteAt(bit), bit);
      }
      storeVec(po + std::size_t(std::uint32_t(tid + kThreads * j) * std::uint32_t(kOutBytes)), o);
    }
    return s;
  }

  // K = 1 on a full aligned tile in one pass: per element the input, the output and its statistics, in the
  // order of load() and output(); s receives the output's value.
  EXPO_HD void fusedFull(const std::uint8_t* pa, const std::uint8_t* pb, Param p, std::uint8_t* po, int tid,
                         Vec16* stage, double& s) {
    loadVectors(pa, pb, tid, stage);
    op.clear();
    double acc = 0.0;
    EXPO_UNROLL
    for (int j = 0; j < kVecPerThread; ++j) {
      OutVec o{};
      EXPO_UNROLL
      for (int e = 0; e < kLanes; ++e) {
        const W x = elemA(j, e);
        const W y = elemB(j, e);
        const std::uint32_t bit = 1u << (j * kLanes + e);
        const bool fin = op.inputFull(x, y, bit);
        const OutBits bits = Op::out(x, y, p);
        setElem<kOutSize>(o, e, bits);
        acc = op.outStatFull(acc, bits, fin, bit);
      }
      storeVec(po + std::size_t(std::uint32_t(tid + kThreads * j) * std::uint32_t(kOutBytes)), o);
    }
    op.endFull(kVecPerThread * kLanes);
    s = acc;
  }
};

// The fast path's condition, the same on the device and in the emulation (uniform across a block).
template <int DT>
EXPO_HD bool fullTile(std::uint32_t cnt, const std::uint8_t* pa, const std::uint8_t* pb, const std::uint8_t* po) {
  return cnt == tileElems(DT) && aligned16(pa) && aligned16(pb) && aligned16(po);
}

// One launch of the tile kernel over device buffers. table: the piece rows (pieceStride(k) words each);
// tiles: nTiles entries; every piece offset is relative to a, b and out; output j of a piece is at
// out + j * outStride + its out offset (outStride a multiple of 16). partials: kWarps rows of (kResultHead + k)
// doubles per global tile, row w holding warp w's values (partialDoubles).
struct TileLaunch {
  const std::uint64_t* table;
  const TileRef* tiles;
  std::uint32_t nTiles;
  int k;
  const std::uint8_t* a;
  const std::uint8_t* b;
  std::uint8_t* out;
  std::uint64_t outStride;
  double* partials;
};

// Per segment: its first global tile and its tile count (2 words); results: (kResultHead + k) per segment.
struct ReduceLaunch {
  const std::uint64_t* segTiles;
  std::uint32_t nSegments;
  int k;
  const double* partials;
  double* results;
};

// Doubles of per-tile partial rows for `tiles` tiles and K outputs: one row per warp.
EXPO_HDC constexpr std::uint64_t partialDoubles(std::uint64_t tiles, int k) {
  return tiles * std::uint64_t(kWarps) * std::uint64_t(kResultHead + k);
}

// The two counts of a thread or warp travel in one word through the warp tree (each is at most 1024 per warp).
EXPO_HD std::uint32_t packCounts(std::uint32_t nfIn, std::uint32_t nfOut) { return nfIn | (nfOut << 16); }

// The fixed combination of a tile's eight warp values (sums; max for maxAbsDiff), done by the reduce kernel.
EXPO_HD double combineWarps(const double* w) {
  return add(add(add(w[0], w[1]), add(w[2], w[3])), add(add(w[4], w[5]), add(w[6], w[7])));
}
EXPO_HD double combineWarpsMax(const double* w) {
  double m = w[0];
  for (int i = 1; i < kWarps; ++i) m = w[i] > m ? w[i] : m;
  return m;
}

// Result/partial-row quantity q is a maximum (maxAbsDiff) rather than a sum.
EXPO_HD bool isMaxQuantity(int q) { return q == kResMaxAbsDiff; }

}  // namespace expo::cuda
