// The AVX-512 traits of vector_block.h, shared by the equal-dtype path (kernel_avx512.cc) and the mixed-dtype
// one (mixed_avx512.cc): two translation units, so that adding to one cannot change the other's code (the
// compiler's inlining choices depend on everything in a unit). It switches the rest of the including file to
// the ISA's target (target_pop.h, included at the file's end, switches back); everything has internal linkage
// (see element.h).
#pragma once

// GCC 12 flags the deliberately undefined pass-through operand inside its own AVX-512 intrinsics (GCC bug
// 105593); the warning points into the header, so it is silenced for this file before including it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx2,fma,f16c")
#endif

#include "vector_block.h"

namespace expo {
namespace {

// fp32 bits rounded to bf16 precision (nearest even) in the upper half, with no NaN fix-up: a NaN result comes
// either from a non-finite input (the block's input sums flag it) or is the x86 default NaN 0xFFC00000, which
// this carry keeps a NaN (the output sums flag it); flagged blocks are redone by the scalar code.
inline __m512i bf16Round(__m512 r) {
  const __m512i u = _mm512_castps_si512(r);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  return _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
}
inline __m512 upperHalf(__m512i u) {
  return _mm512_castsi512_ps(_mm512_and_si512(u, _mm512_set1_epi32(int(0xFFFF0000u))));
}

// One vector of a block's output: streamed (NT, 64-byte aligned, see forEachBlock) or a normal store.
template <bool NT>
inline void put512(std::uint8_t* p, __m512i v) {
  if constexpr (NT)
    _mm512_stream_si512(reinterpret_cast<__m512i*>(p), v);
  else
    _mm512_storeu_si512(p, v);
}

template <bool NT>
inline void put256(std::uint8_t* p, __m256i v) {
  if constexpr (NT)
    _mm256_stream_si256(reinterpret_cast<__m256i*>(p), v);
  else
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
}
template <bool NT>
inline void put128(std::uint8_t* p, __m128i v) {
  if constexpr (NT)
    _mm_stream_si128(reinterpret_cast<__m128i*>(p), v);
  else
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
}

// arith.h's toOdd for 8 doubles: truncated to fp32, the last bit set where that lost anything (NaN stays NaN).
inline __m256 toOdd8(__m512d r) {
  const __m256 t = _mm512_cvt_roundpd_ps(r, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512i lost = _mm512_movm_epi64(_mm512_cmp_pd_mask(_mm512_cvtps_pd(t), r, _CMP_NEQ_UQ));
  const __m256i one = _mm256_and_si256(_mm512_cvtepi64_epi32(lost), _mm256_set1_epi32(1));
  return _mm256_castsi256_ps(_mm256_or_si256(_mm256_castps_si256(t), one));
}

// Lanes 0-7 and 8-15 of an fp32 vector widened to fp64.
inline __m512d lowPd(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
inline __m512d highPd(__m512 v) { return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)); }

// The ISA traits of vector_block.h: a block of 32 is two 16-lane fp32 vectors X and Y, exactly element.h's
// layout; the 8 partial sums are one 8-lane fp64 vector.
struct Avx512 {
  using F = __m512;
  using D = __m512d;
  static constexpr int kVecs = 2;

  // Per dtype: a block as loaded (kept for the scalar redo, since in place the memory is overwritten), widened
  // to X and Y, and the rounding to storage. No canonical NaNs here: any NaN or infinity makes the block's sums
  // non-finite and the scalar redo rewrites its outputs.
  template <int DT>
  struct Block;
  // fp32 results in element order (X: elements 0-15, Y: 16-31) to BF16, F16 or F64 (mixed segments).
  template <int DO>
  struct Out;

  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F set1(float x) { return _mm512_set1_ps(x); }

  static D zero() { return _mm512_setzero_pd(); }
  static D set1(double x) { return _mm512_set1_pd(x); }
  static D load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, D v) { _mm512_storeu_pd(p, v); }
  template <bool NT>
  static void put(std::uint8_t* p, D v) {
    put512<NT>(p, _mm512_castpd_si512(v));
  }
  static D add(D a, D b) { return _mm512_add_pd(a, b); }
  static D sub(D a, D b) { return _mm512_sub_pd(a, b); }
  static D mul(D a, D b) { return _mm512_mul_pd(a, b); }
  static D fma(D a, D b, D c) { return _mm512_fmadd_pd(a, b, c); }
  // max(|acc|, |x|) with the sign cleared, in one instruction (acc is never negative).
  static D maxAbs(D acc, D x) { return _mm512_range_pd(acc, x, 0x0B); }
  static double max(D v) { return _mm512_reduce_max_pd(v); }
  static bool finite(D v) { return _mm512_cmp_pd_mask(v, _mm512_set1_pd(__builtin_inf()), _CMP_NLT_UQ) == 0; }

  // q = fmaf(y, y, x * x) in 16 fp32 lanes, lanes l and l + 8 added in fp32, the 8 sums widened to fp64.
  template <int DT>
  static D groupSums(const F v[2]) {
    const __m512 q = _mm512_fmadd_ps(v[1], v[1], _mm512_mul_ps(v[0], v[0]));
    return _mm512_cvtps_pd(_mm256_add_ps(_mm512_castps512_ps256(q), _mm512_extractf32x8_ps(q, 1)));
  }
  static bool mayRaiseMax(const F d[2], F th) {
    return _mm512_cmp_ps_mask(_mm512_range_ps(d[0], d[1], 0x0B), th, _CMP_GE_OQ) != 0;
  }
  // 8 fp64 results to BF16, F16 (one rounding: toOdd, then as from fp32) or F32, stored; the stored values
  // widened. No canonical NaNs, as for the blocks: a NaN or infinity makes the output sums non-finite.
  template <int DO, bool NT>
  static D putNarrow(std::uint8_t* p, D r) {
    if constexpr (DO == kF32) {
      const __m256 f = _mm512_cvtpd_ps(r);
      put256<NT>(p, _mm256_castps_si256(f));
      return _mm512_cvtps_pd(f);
    } else if constexpr (DO == kF16) {
      const __m128i h = _mm256_cvtps_ph(toOdd8(r), _MM_FROUND_TO_NEAREST_INT);
      put128<NT>(p, h);
      return _mm512_cvtps_pd(_mm256_cvtph_ps(h));
    } else {
      const __m256i u = _mm256_castps_si256(toOdd8(r));
      const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
      const __m256i h = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF))), 16);
      put128<NT>(p, _mm256_castsi256_si128(_mm512_cvtepi32_epi16(_mm512_castsi256_si512(h))));
      return _mm512_cvtps_pd(_mm256_castsi256_ps(_mm256_slli_epi32(h, 16)));
    }
  }
  // NaN lanes replaced by the quiet NaN of positive sign.
  static D quietNaNs(D d) {
    const __m512d q = _mm512_castsi512_pd(_mm512_set1_epi64(std::int64_t(kQNaN64)));
    return _mm512_mask_mov_pd(d, _mm512_cmp_pd_mask(d, d, _CMP_UNORD_Q), q);
  }
  static D maxAbsDiff(D mx, const F a[2], const F b[2]) {
    mx = maxAbs(mx, _mm512_sub_pd(lowPd(a[0]), lowPd(b[0])));
    mx = maxAbs(mx, _mm512_sub_pd(highPd(a[0]), highPd(b[0])));
    mx = maxAbs(mx, _mm512_sub_pd(lowPd(a[1]), lowPd(b[1])));
    return maxAbs(mx, _mm512_sub_pd(highPd(a[1]), highPd(b[1])));
  }

  // staged.h's conversions, 16 elements at a time between F32 and BF16 or F16 and 8 from F64 to a narrower
  // dtype (the rest by castRun): the same roundings, NaN lanes replaced by the canonical NaN.
  static void cast(int from, int to, const std::uint8_t* src, std::uint8_t* dst, std::size_t n) {
    const std::size_t v = n / 16 * 16;
    const __m512 qnan = _mm512_castsi512_ps(_mm512_set1_epi32(int(kQNaN32)));
    std::size_t i = 0;
    if (from == kF32 && to == kBF16) {
      for (; i < v; i += 16) {
        const __m512 x = _mm512_loadu_ps(src + 4 * i);
        const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
        const __m512i r = _mm512_srli_epi32(bf16Round(x), 16);
        const __m512i h = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7FC0));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 2 * i), _mm512_cvtepi32_epi16(h));
      }
    } else if (from == kBF16 && to == kF32) {
      for (; i < v; i += 16) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * i));
        const __m512 x = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        _mm512_storeu_ps(dst + 4 * i, _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), qnan));
      }
    } else if (from == kF32 && to == kF16) {
      for (; i < v; i += 16) {
        const __m512 x = _mm512_loadu_ps(src + 4 * i);
        // The canonical fp32 NaN converts to the canonical f16 one.
        const __m512 c = _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), qnan);
        const __m256i h = _mm512_cvtps_ph(c, _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 2 * i), h);
      }
    } else if (from == kF16 && to == kF32) {
      for (; i < v; i += 16) {
        const __m512 x = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * i)));
        _mm512_storeu_ps(dst + 4 * i, _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), qnan));
      }
    }
    if (from == kF64 && to != kF64) {
      // putNarrow's roundings; a NaN made the quiet one first, which every format rounds to its canonical NaN.
      for (; i + 8 <= n; i += 8) {
        const D d = quietNaNs(load(reinterpret_cast<const double*>(src + 8 * i)));
        if (to == kF32)
          putNarrow<kF32, false>(dst + 4 * i, d);
        else if (to == kF16)
          putNarrow<kF16, false>(dst + 2 * i, d);
        else
          putNarrow<kBF16, false>(dst + 2 * i, d);
      }
    }
    castRun(from, to, src + i * dtypeSize(from), dst + i * dtypeSize(to), n - i);
  }
};

template <>
struct Avx512::Block<kBF16> {
  struct Raw {
    __m512i v;
  };
  // Even elements in X, odd in Y: a shift and a mask, no shuffles.
  static Raw load(const std::uint8_t* p) { return {_mm512_loadu_si512(p)}; }
  static void spill(const Raw& r, std::uint8_t* p) { _mm512_storeu_si512(p, r.v); }
  static void widen(const Raw& r, F v[2]) {
    v[0] = _mm512_castsi512_ps(_mm512_slli_epi32(r.v, 16));
    v[1] = upperHalf(r.v);
  }
  static F through(F v) { return upperHalf(bf16Round(v)); }
  template <bool NT>
  static void put(std::uint8_t* p, const F r[2], F o[2]) {
    const __m512i ux = bf16Round(r[0]);
    const __m512i uy = bf16Round(r[1]);
    o[0] = upperHalf(ux);
    o[1] = upperHalf(uy);
    put512<NT>(p, _mm512_or_si512(_mm512_srli_epi32(ux, 16), _mm512_castps_si512(o[1])));
  }
};

template <>
struct Avx512::Block<kF16> {
  struct Raw {
    __m256i lo, hi;
  };
  static Raw load(const std::uint8_t* p) {
    return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32))};
  }
  static void spill(const Raw& r, std::uint8_t* p) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), r.lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 32), r.hi);
  }
  static void widen(const Raw& r, F v[2]) {
    v[0] = _mm512_cvtph_ps(r.lo);
    v[1] = _mm512_cvtph_ps(r.hi);
  }
  static F through(F v) { return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)); }
  template <bool NT>
  static void put(std::uint8_t* p, const F r[2], F o[2]) {
    const __m256i hx = _mm512_cvtps_ph(r[0], _MM_FROUND_TO_NEAREST_INT);
    const __m256i hy = _mm512_cvtps_ph(r[1], _MM_FROUND_TO_NEAREST_INT);
    o[0] = _mm512_cvtph_ps(hx);
    o[1] = _mm512_cvtph_ps(hy);
    put512<NT>(p, _mm512_inserti64x4(_mm512_castsi256_si512(hx), hy, 1));
  }
};

template <>
struct Avx512::Block<kF32> {
  struct Raw {
    __m512 x, y;
  };
  static Raw load(const std::uint8_t* p) { return {_mm512_loadu_ps(p), _mm512_loadu_ps(p + 64)}; }
  static void spill(const Raw& r, std::uint8_t* p) {
    _mm512_storeu_ps(p, r.x);
    _mm512_storeu_ps(p + 64, r.y);
  }
  static void widen(const Raw& r, F v[2]) {
    v[0] = r.x;
    v[1] = r.y;
  }
  static F through(F v) { return v; }
  template <bool NT>
  static void put(std::uint8_t* p, const F r[2], F o[2]) {
    o[0] = r[0];
    o[1] = r[1];
    put512<NT>(p, _mm512_castps_si512(r[0]));
    put512<NT>(p + 64, _mm512_castps_si512(r[1]));
  }
};

template <>
struct Avx512::Out<kBF16> {
  template <bool NT>
  static void put(std::uint8_t* p, const F r[2], F o[2]) {
    const __m512i ux = bf16Round(r[0]);
    const __m512i uy = bf16Round(r[1]);
    o[0] = upperHalf(ux);
    o[1] = upperHalf(uy);
    const __m256i hx = _mm512_cvtepi32_epi16(_mm512_srli_epi32(ux, 16));
    const __m256i hy = _mm512_cvtepi32_epi16(_mm512_srli_epi32(uy, 16));
    put512<NT>(p, _mm512_inserti64x4(_mm512_castsi256_si512(hx), hy, 1));
  }
};

// The F16 block is already in element order.
template <>
struct Avx512::Out<kF16> : Avx512::Block<kF16> {};

template <>
struct Avx512::Out<kF64> {
  template <bool NT>
  static void put(std::uint8_t* p, const F r[2], F o[2]) {
    o[0] = r[0];
    o[1] = r[1];
    put512<NT>(p, _mm512_castpd_si512(lowPd(r[0])));
    put512<NT>(p + 64, _mm512_castpd_si512(highPd(r[0])));
    put512<NT>(p + 128, _mm512_castpd_si512(lowPd(r[1])));
    put512<NT>(p + 192, _mm512_castpd_si512(highPd(r[1])));
  }
};

}  // namespace
}  // namespace expo
