// Mixed-dtype segments and conversions on the CPU (docs/arithmetic.md, "Mixed dtypes and conversions"). A
// segment whose aligned, base and output dtypes are not all equal computes in one dtype C (computeDtype): chunk
// by chunk, each input whose dtype is not C is converted to C into a small buffer (widened exactly, or in torch
// mode rounded to the output dtype), and the equal-dtype code of C runs on the chunk with its outputs rounded to
// the output dtype. A conversion (op convert) is that conversion of aligned straight into every output.
//
// Chunks are whole blocks of the segment (kStageElems is a multiple of kBlock), so the statistics are those of
// the equal-dtype code of C over the staged values, block for block. In place (an output over its own input's
// bytes, of the same dtype) stays correct: a chunk is staged before any of its outputs is written.
//
// Included by mixed_scalar.cc, and through vector_block.h by the vector paths' files, under their target ISA;
// internal linkage as element.h explains.
#pragma once

#include "element.h"

namespace expo {
namespace {

// Elements per chunk: two staged F64 chunks (16 KiB) stay in L1.
constexpr std::size_t kStageElems = 1024;
static_assert(kStageElems % kBlock == 0, "chunks are whole blocks");

// n elements of dtype FROM at src to dtype TO at dst: R_TO of each value, canonical NaN (exact when TO is at
// least as wide). src == dst is fine for equal sizes (each element is read before it is written).
template <int FROM, int TO>
inline void cast(const std::uint8_t* src, std::uint8_t* dst, std::size_t n) {
  constexpr std::size_t sf = dtypeSize(FROM), st = dtypeSize(TO);
  for (std::size_t i = 0; i < n; ++i) {
    typename Io<FROM>::Bits h;
    __builtin_memcpy(&h, src + i * sf, sf);
    const typename Io<TO>::Bits r = roundTo<TO>(Io<FROM>::widenBits(h));
    __builtin_memcpy(dst + i * st, &r, st);
  }
}

#define EXPO_CAST_CASE(F, T) \
  case F * 4 + T:            \
    return cast<F, T>(src, dst, n);
#define EXPO_CAST_FROM(F) \
  EXPO_CAST_CASE(F, kBF16) EXPO_CAST_CASE(F, kF16) EXPO_CAST_CASE(F, kF32) EXPO_CAST_CASE(F, kF64)

inline void castRun(int from, int to, const std::uint8_t* src, std::uint8_t* dst, std::size_t n) {
  switch (from * 4 + to) {
    EXPO_CAST_FROM(kBF16)
    EXPO_CAST_FROM(kF16)
    EXPO_CAST_FROM(kF32)
    EXPO_CAST_FROM(kF64)
    default:
      return;
  }
}

#undef EXPO_CAST_FROM
#undef EXPO_CAST_CASE

// The chunks of a mixed segment s computed in dtype c: each next() stages the following chunk and points t at
// it: t.a and t.b at the staged copies, or at the segment's own bytes where the input is already in c; the
// outputs at the chunk's; t.count its elements; t.dtype and t.baseDtype c. X::cast converts (castRun, or a
// vector path's faster conversions with the same results).
template <class X>
struct Stage {
  alignas(64) std::uint8_t bufA[kStageElems * 8];
  alignas(64) std::uint8_t bufB[kStageElems * 8];
  const SegArgs& s;
  SegArgs t;
  std::size_t end = 0;

  Stage(const SegArgs& seg, int c) : s(seg), t(seg) {
    t.dtype = c;
    t.baseDtype = c;
    t.count = 0;
  }

  const std::uint8_t* input(const std::uint8_t* p, int dtype, std::uint8_t* buf, std::size_t first, std::size_t n) {
    const std::uint8_t* at = p + first * dtypeSize(dtype);
    if (dtype == t.dtype) return at;
    X::cast(dtype, t.dtype, at, buf, n);
    return buf;
  }

  bool next() {
    const std::size_t first = end;
    if (first >= s.count) return false;
    const std::size_t n = s.count - first < kStageElems ? s.count - first : kStageElems;
    end = first + n;
    t.count = n;
    t.a = input(s.a, s.dtype, bufA, first, n);
    t.b = input(s.b, s.baseDtype, bufB, first, n);
    for (int k = 0; k < s.k; ++k) t.out[k] = s.out[k] + first * dtypeSize(s.outDtype);
    return true;
  }
};

// A mixed segment with the scalar code: every path's reference, and the path of the combinations the vector
// paths leave to it.
template <class X, int C, int AR, int DO>
void stagedScalar(const SegArgs& s, Sums& acc) {
  constexpr std::size_t sz = dtypeSize(C);
  Stage<X> st(s, C);
  while (st.next()) {
    const SegArgs& t = st.t;
    const std::size_t blocks = t.count / kBlock;
    for (std::size_t i = 0; i < blocks; ++i)
      block<C, AR, true, DO>(t, t.a + i * kBlock * sz, t.b + i * kBlock * sz, i * kBlock, acc);
    tail<C, AR, DO>(t, blocks * kBlock, acc);
  }
}

// A conversion, or an extrapolate segment with dtypes not all equal: R::run<C, AR, DO>(s, acc) for its compute
// dtype C, arith and output dtype DO. A conversion (R::cast) has no statistics (acc stays cleared).
template <class R>
void mixedSegment(const SegArgs& s, Sums& acc) {
  if (s.op == kConvert) {
    for (int k = 0; k < s.k; ++k) R::cast(s.dtype, s.outDtype, s.a, s.out[k], s.count);
    return;
  }
  const int c = computeDtype(s.arith, s.dtype, s.baseDtype, s.outDtype);
  switch ((s.arith * 4 + c) * 4 + s.outDtype) {
#define EXPO_MIXED_CASE(AR, C, DO)    \
  case (AR * 4 + C) * 4 + DO:         \
    return R::template run<C, AR, DO>(s, acc);
    EXPO_MIXED_CASE(kTorch, kBF16, kBF16)
    EXPO_MIXED_CASE(kTorch, kF16, kF16)
    EXPO_MIXED_CASE(kTorch, kF32, kF32)
    EXPO_MIXED_CASE(kTorch, kF64, kF64)
    EXPO_MIXED_CASE(kFp32, kF32, kBF16)
    EXPO_MIXED_CASE(kFp32, kF32, kF16)
    EXPO_MIXED_CASE(kFp32, kF32, kF32)
    EXPO_MIXED_CASE(kFp32, kF32, kF64)
    EXPO_MIXED_CASE(kFp32, kF64, kBF16)
    EXPO_MIXED_CASE(kFp32, kF64, kF16)
    EXPO_MIXED_CASE(kFp32, kF64, kF32)
    EXPO_MIXED_CASE(kFp32, kF64, kF64)
#undef EXPO_MIXED_CASE
    default:
      return;
  }
}

// The scalar path's runner for mixedSegment.
struct ScalarMixed {
  static void cast(int from, int to, const std::uint8_t* src, std::uint8_t* dst, std::size_t n) {
    castRun(from, to, src, dst, n);
  }
  template <int C, int AR, int DO>
  static void run(const SegArgs& s, Sums& acc) {
    stagedScalar<ScalarMixed, C, AR, DO>(s, acc);
  }
};

}  // namespace
}  // namespace expo
