// The AVX2 + FMA + F16C traits of vector_block.h, shared by the equal-dtype path (kernel_avx2.cc) and the
// mixed-dtype one (mixed_avx2.cc): two translation units, so that adding to one cannot change the other's code (the
// compiler's inlining choices depend on everything in a unit). It switches the rest of the including file to
// the ISA's target (target_pop.h, included at the file's end, switches back); everything has internal linkage
// (see element.h).
#pragma once

#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

#include "vector_block.h"

namespace expo {
namespace {

// Eight fp64 partial sums: 0-3 and 4-7.
struct D8 {
  __m256d lo, hi;
};

inline D8 widen8(__m256 v) {
  return {_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))};
}

// See avx512.h for why no NaN fix-up is needed here.
inline __m256i bf16Round(__m256 r) {
  const __m256i u = _mm256_castps_si256(r);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  return _mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
}
inline __m256 upperHalf(__m256i u) {
  return _mm256_castsi256_ps(_mm256_and_si256(u, _mm256_set1_epi32(int(0xFFFF0000u))));
}
inline __m256 abs8f(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
// NaN lanes of v replaced by qnan.
inline __m256 canonical(__m256 v, __m256 qnan) { return _mm256_blendv_ps(v, qnan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q)); }

// Four int64 lanes' low halves as four int32 lanes (masks of fp64 comparisons as fp32 lane masks).
inline __m128i low32(__m256d m) {
  const __m256i idx = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(m), idx));
}

// arith.h's toOdd for 4 doubles: rounded to fp32, one step back toward zero where that rounded away, then the
// last bit set where the result is not exact (NaN stays NaN).
inline __m128 toOdd4(__m256d r) {
  const __m256d abs = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7FFFFFFFFFFFFFFFll));
  __m128 f = _mm256_cvtpd_ps(r);
  const __m256d away = _mm256_cmp_pd(_mm256_and_pd(_mm256_cvtps_pd(f), abs), _mm256_and_pd(r, abs), _CMP_GT_OQ);
  f = _mm_castsi128_ps(_mm_add_epi32(_mm_castps_si128(f), low32(away)));  // -1 where rounded away
  const __m256d lost = _mm256_cmp_pd(_mm256_cvtps_pd(f), r, _CMP_NEQ_UQ);
  return _mm_castsi128_ps(_mm_or_si128(_mm_castps_si128(f), _mm_and_si128(low32(lost), _mm_set1_epi32(1))));
}

// Part of a block's output: streamed (NT, aligned, see forEachBlock) or a normal store.
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

// The ISA traits of vector_block.h: a block of 32 is four 8-lane fp32 vectors, the groups of element.h in
// elemIndex order (lane l of each is partial sum l), and the 8 partial sums are two 4-lane fp64 halves.
struct Avx2 {
  using F = __m256;
  using D = D8;
  static constexpr int kVecs = 4;

  // Per dtype: a block as loaded (kept for the scalar redo), its four groups widened to fp32, and the rounding to
  // storage of groups 2h and 2h + 1 (half h of the block). As in avx512.h, no canonical NaNs here: a
  // non-finite block is redone by the scalar code.
  template <int DT>
  struct Block;
  // fp32 results in element order (groups 0-3: elements 8g to 8g + 7) to BF16, F16 or F64 (mixed segments).
  template <int DO>
  struct Out;

  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F set1(float x) { return _mm256_set1_ps(x); }

  static D zero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  static D set1(double x) { return {_mm256_set1_pd(x), _mm256_set1_pd(x)}; }
  static D load(const double* p) { return {_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)}; }
  static void store(double* p, D v) {
    _mm256_storeu_pd(p, v.lo);
    _mm256_storeu_pd(p + 4, v.hi);
  }
  template <bool NT>
  static void put(std::uint8_t* p, D v) {
    put256<NT>(p, _mm256_castpd_si256(v.lo));
    put256<NT>(p + 32, _mm256_castpd_si256(v.hi));
  }
  static D add(D a, D b) { return {_mm256_add_pd(a.lo, b.lo), _mm256_add_pd(a.hi, b.hi)}; }
  static D sub(D a, D b) { return {_mm256_sub_pd(a.lo, b.lo), _mm256_sub_pd(a.hi, b.hi)}; }
  static D mul(D a, D b) { return {_mm256_mul_pd(a.lo, b.lo), _mm256_mul_pd(a.hi, b.hi)}; }
  static D fma(D a, D b, D c) { return {_mm256_fmadd_pd(a.lo, b.lo, c.lo), _mm256_fmadd_pd(a.hi, b.hi, c.hi)}; }
  static D maxAbs(D acc, D x) {
    const __m256d m = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7FFFFFFFFFFFFFFFll));
    return {_mm256_max_pd(acc.lo, _mm256_and_pd(x.lo, m)), _mm256_max_pd(acc.hi, _mm256_and_pd(x.hi, m))};
  }
  static double max(D v) {
    alignas(32) double m[8];
    store(m, v);
    double x = 0.0;
    for (int l = 0; l < kSlots; ++l) x = m[l] > x ? m[l] : x;
    return x;
  }
  static bool finite(D v) {
    const __m256d inf = _mm256_set1_pd(__builtin_inf());
    const __m256d bad = _mm256_or_pd(_mm256_cmp_pd(v.lo, inf, _CMP_NLT_UQ), _mm256_cmp_pd(v.hi, inf, _CMP_NLT_UQ));
    return _mm256_movemask_pd(bad) == 0;
  }

  // element.h's group sums from the four groups: the AVX-512 path's X vector is groups 0 and 2 for bf16 (0 and
  // 1 otherwise), Y the other two; per lane fmaf(Y, Y, X * X) for lanes 0-7 and for lanes 8-15, added in fp32,
  // widened to fp64.
  template <int DT>
  static D groupSums(const F g[4]) {
    constexpr int x0 = 0, y0 = DT == kBF16 ? 1 : 2, x1 = DT == kBF16 ? 2 : 1, y1 = 3;
    const __m256 q0 = _mm256_fmadd_ps(g[y0], g[y0], _mm256_mul_ps(g[x0], g[x0]));
    const __m256 q1 = _mm256_fmadd_ps(g[y1], g[y1], _mm256_mul_ps(g[x1], g[x1]));
    return widen8(_mm256_add_ps(q0, q1));
  }
  static bool mayRaiseMax(const F d[4], F th) {
    const __m256 m = _mm256_max_ps(_mm256_max_ps(abs8f(d[0]), abs8f(d[1])), _mm256_max_ps(abs8f(d[2]), abs8f(d[3])));
    return _mm256_movemask_ps(_mm256_cmp_ps(m, th, _CMP_GE_OQ)) != 0;
  }
  // 8 fp64 results to BF16, F16 (one rounding: toOdd, then as from fp32) or F32, stored; the stored values
  // widened. No canonical NaNs, as for the blocks: a NaN or infinity makes the output sums non-finite.
  template <int DO, bool NT>
  static D putNarrow(std::uint8_t* p, D r) {
    if constexpr (DO == kF32) {
      const __m256 f = _mm256_set_m128(_mm256_cvtpd_ps(r.hi), _mm256_cvtpd_ps(r.lo));
      put256<NT>(p, _mm256_castps_si256(f));
      return widen8(f);
    } else if constexpr (DO == kF16) {
      const __m128i h = _mm256_cvtps_ph(_mm256_set_m128(toOdd4(r.hi), toOdd4(r.lo)), _MM_FROUND_TO_NEAREST_INT);
      put128<NT>(p, h);
      return widen8(_mm256_cvtph_ps(h));
    } else {
      const __m256i u = bf16Round(_mm256_set_m128(toOdd4(r.hi), toOdd4(r.lo)));
      const __m256i h = _mm256_srli_epi32(u, 16);
      put128<NT>(p, _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08)));
      return widen8(upperHalf(u));
    }
  }
  // NaN lanes replaced by the quiet NaN of positive sign.
  static D quietNaNs(D d) {
    const __m256d q = _mm256_castsi256_pd(_mm256_set1_epi64x(std::int64_t(kQNaN64)));
    return {_mm256_blendv_pd(d.lo, q, _mm256_cmp_pd(d.lo, d.lo, _CMP_UNORD_Q)),
            _mm256_blendv_pd(d.hi, q, _mm256_cmp_pd(d.hi, d.hi, _CMP_UNORD_Q))};
  }
  static D maxAbsDiff(D mx, const F a[4], const F b[4]) {
    for (int g = 0; g < 4; ++g) mx = maxAbs(mx, sub(widen8(a[g]), widen8(b[g])));
    return mx;
  }

  // staged.h's conversions, 8 elements at a time between F32 and BF16 or F16 and from F64 to a narrower dtype
  // (the rest by castRun): the same roundings, NaN lanes replaced by the canonical NaN.
  static void cast(int from, int to, const std::uint8_t* src, std::uint8_t* dst, std::size_t n) {
    const std::size_t v = n / 8 * 8;
    const __m256 qnan = _mm256_castsi256_ps(_mm256_set1_epi32(int(kQNaN32)));
    std::size_t i = 0;
    if (from == kF32 && to == kBF16) {
      for (; i < v; i += 8) {
        const __m256 x = _mm256_loadu_ps(reinterpret_cast<const float*>(src + 4 * i));
        const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
        const __m256 r = _mm256_castsi256_ps(_mm256_srli_epi32(bf16Round(x), 16));
        const __m256i h = _mm256_castps_si256(_mm256_blendv_ps(r, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FC0)), nan));
        // Pack to 16 bits per 128-bit lane, then the two lanes' low halves together.
        const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), _mm256_castsi256_si128(p));
      }
    } else if (from == kBF16 && to == kF32) {
      for (; i < v; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i));
        const __m256 x = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
        _mm256_storeu_ps(reinterpret_cast<float*>(dst + 4 * i), canonical(x, qnan));
      }
    } else if (from == kF32 && to == kF16) {
      for (; i < v; i += 8) {
        const __m256 x = _mm256_loadu_ps(reinterpret_cast<const float*>(src + 4 * i));
        // The canonical fp32 NaN converts to the canonical f16 one.
        const __m256 c = canonical(x, qnan);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), _mm256_cvtps_ph(c, _MM_FROUND_TO_NEAREST_INT));
      }
    } else if (from == kF16 && to == kF32) {
      for (; i < v; i += 8) {
        const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i)));
        _mm256_storeu_ps(reinterpret_cast<float*>(dst + 4 * i), canonical(x, qnan));
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
struct Avx2::Block<kBF16> {
  struct Raw {
    __m256i h[2];
  };
  static Raw load(const std::uint8_t* p) {
    return {{_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)),
             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32))}};
  }
  static void spill(const Raw& r, std::uint8_t* p) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), r.h[0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 32), r.h[1]);
  }
  static void widen(const Raw& r, F g[4]) {
    for (int h = 0; h < 2; ++h) {
      g[2 * h] = _mm256_castsi256_ps(_mm256_slli_epi32(r.h[h], 16));
      g[2 * h + 1] = upperHalf(r.h[h]);
    }
  }
  static F through(F v) { return upperHalf(bf16Round(v)); }
  template <bool NT>
  static void put(std::uint8_t* p, const F r[4], F o[4]) {
    for (int h = 0; h < 2; ++h) {
      const __m256i ux = bf16Round(r[2 * h]);
      const __m256i uy = bf16Round(r[2 * h + 1]);
      o[2 * h] = upperHalf(ux);
      o[2 * h + 1] = upperHalf(uy);
      put256<NT>(p + 32 * h, _mm256_or_si256(_mm256_srli_epi32(ux, 16), _mm256_castps_si256(o[2 * h + 1])));
    }
  }
};

template <>
struct Avx2::Block<kF16> {
  struct Raw {
    __m128i q[4];
  };
  static Raw load(const std::uint8_t* p) {
    Raw r;
    for (int g = 0; g < 4; ++g) r.q[g] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * g));
    return r;
  }
  static void spill(const Raw& r, std::uint8_t* p) {
    for (int g = 0; g < 4; ++g) _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 16 * g), r.q[g]);
  }
  static void widen(const Raw& r, F g[4]) {
    for (int i = 0; i < 4; ++i) g[i] = _mm256_cvtph_ps(r.q[i]);
  }
  static F through(F v) { return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)); }
  template <bool NT>
  static void put(std::uint8_t* p, const F r[4], F o[4]) {
    for (int h = 0; h < 2; ++h) {
      const __m128i hx = _mm256_cvtps_ph(r[2 * h], _MM_FROUND_TO_NEAREST_INT);
      const __m128i hy = _mm256_cvtps_ph(r[2 * h + 1], _MM_FROUND_TO_NEAREST_INT);
      put128<NT>(p + 32 * h, hx);
      put128<NT>(p + 32 * h + 16, hy);
      o[2 * h] = _mm256_cvtph_ps(hx);
      o[2 * h + 1] = _mm256_cvtph_ps(hy);
    }
  }
};

template <>
struct Avx2::Block<kF32> {
  struct Raw {
    __m256 v[4];
  };
  static Raw load(const std::uint8_t* p) {
    Raw r;
    for (int g = 0; g < 4; ++g) r.v[g] = _mm256_loadu_ps(reinterpret_cast<const float*>(p + 32 * g));
    return r;
  }
  static void spill(const Raw& r, std::uint8_t* p) {
    for (int g = 0; g < 4; ++g) _mm256_storeu_ps(reinterpret_cast<float*>(p + 32 * g), r.v[g]);
  }
  static void widen(const Raw& r, F g[4]) {
    for (int i = 0; i < 4; ++i) g[i] = r.v[i];
  }
  static F through(F v) { return v; }
  template <bool NT>
  static void put(std::uint8_t* p, const F r[4], F o[4]) {
    for (int g = 0; g < 4; ++g) {
      o[g] = r[g];
      put256<NT>(p + 32 * g, _mm256_castps_si256(r[g]));
    }
  }
};

template <>
struct Avx2::Out<kBF16> {
  template <bool NT>
  static void put(std::uint8_t* p, const F r[4], F o[4]) {
    for (int h = 0; h < 2; ++h) {
      const __m256i ux = bf16Round(r[2 * h]);
      const __m256i uy = bf16Round(r[2 * h + 1]);
      o[2 * h] = upperHalf(ux);
      o[2 * h + 1] = upperHalf(uy);
      // Per 128-bit lane the pack interleaves x and y halves: [x0-3 y0-3 | x4-7 y4-7]; the permute orders them.
      const __m256i packed = _mm256_packus_epi32(_mm256_srli_epi32(ux, 16), _mm256_srli_epi32(uy, 16));
      put256<NT>(p + 32 * h, _mm256_permute4x64_epi64(packed, 0xD8));
    }
  }
};

// The F16 block is already in element order.
template <>
struct Avx2::Out<kF16> : Avx2::Block<kF16> {};

template <>
struct Avx2::Out<kF64> {
  template <bool NT>
  static void put(std::uint8_t* p, const F r[4], F o[4]) {
    for (int g = 0; g < 4; ++g) {
      o[g] = r[g];
      const D8 w = widen8(r[g]);
      put256<NT>(p + 64 * g, _mm256_castpd_si256(w.lo));
      put256<NT>(p + 64 * g + 32, _mm256_castpd_si256(w.hi));
    }
  }
};

}  // namespace
}  // namespace expo
