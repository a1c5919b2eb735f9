// AVX2 + FMA + F16C path: the AVX-512 path's algorithm on 8-lane fp32 vectors, one group (8 elements) per
// vector, statistics in two 4-lane fp64 halves (partial sums 0-3 and 4-7), same order, same bits.
#include "kernel.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

#include "loop.h"

namespace expo {
namespace {

// Eight fp64 partial sums.
struct D8 {
  __m256d lo, hi;
};
inline D8 zero8() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
inline D8 add8(D8 a, D8 b) { return {_mm256_add_pd(a.lo, b.lo), _mm256_add_pd(a.hi, b.hi)}; }
inline D8 mul8(D8 a, D8 b) { return {_mm256_mul_pd(a.lo, b.lo), _mm256_mul_pd(a.hi, b.hi)}; }
inline D8 sub8(D8 a, D8 b) { return {_mm256_sub_pd(a.lo, b.lo), _mm256_sub_pd(a.hi, b.hi)}; }
inline D8 fma8(D8 a, D8 b, D8 c) { return {_mm256_fmadd_pd(a.lo, b.lo, c.lo), _mm256_fmadd_pd(a.hi, b.hi, c.hi)}; }
inline D8 max8(D8 a, D8 b) { return {_mm256_max_pd(a.lo, b.lo), _mm256_max_pd(a.hi, b.hi)}; }
inline D8 abs8(D8 a) {
  const __m256d m = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7FFFFFFFFFFFFFFFll));
  return {_mm256_and_pd(a.lo, m), _mm256_and_pd(a.hi, m)};
}
inline D8 load8(const double* p) { return {_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)}; }
inline void store8(double* p, D8 v) {
  _mm256_storeu_pd(p, v.lo);
  _mm256_storeu_pd(p + 4, v.hi);
}
inline D8 widen8(__m256 v) {
  return {_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))};
}

// See kernel_avx512.cc for why no NaN fix-up is needed here.
inline __m256i bf16Round(__m256 r) {
  const __m256i u = _mm256_castps_si256(r);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  return _mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
}
inline __m256 upperHalf(__m256i u) {
  return _mm256_castsi256_ps(_mm256_and_si256(u, _mm256_set1_epi32(int(0xFFFF0000u))));
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

// Per dtype: a block as loaded (kept for the scalar redo), its four groups widened to fp32 in elemIndex order,
// and the rounding to storage of groups 2h and 2h+1 (half h of the block). As in kernel_avx512.cc, no
// canonical NaNs here: a non-finite block is redone by the scalar code.
template <int DT>
struct V;

template <>
struct V<kBF16> {
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
  static void widen(const Raw& r, __m256 g[4]) {
    for (int h = 0; h < 2; ++h) {
      g[2 * h] = _mm256_castsi256_ps(_mm256_slli_epi32(r.h[h], 16));
      g[2 * h + 1] = upperHalf(r.h[h]);
    }
  }
  static __m256 through(__m256 v) { return upperHalf(bf16Round(v)); }
  template <bool NT>
  static void put(std::uint8_t* p, int h, __m256 rx, __m256 ry, __m256& ox, __m256& oy) {
    const __m256i ux = bf16Round(rx);
    const __m256i uy = bf16Round(ry);
    ox = upperHalf(ux);
    oy = upperHalf(uy);
    put256<NT>(p + 32 * h, _mm256_or_si256(_mm256_srli_epi32(ux, 16), _mm256_castps_si256(oy)));
  }
};

template <>
struct V<kF16> {
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
  static void widen(const Raw& r, __m256 g[4]) {
    for (int i = 0; i < 4; ++i) g[i] = _mm256_cvtph_ps(r.q[i]);
  }
  static __m256 through(__m256 v) { return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)); }
  template <bool NT>
  static void put(std::uint8_t* p, int h, __m256 rx, __m256 ry, __m256& ox, __m256& oy) {
    const __m128i hx = _mm256_cvtps_ph(rx, _MM_FROUND_TO_NEAREST_INT);
    const __m128i hy = _mm256_cvtps_ph(ry, _MM_FROUND_TO_NEAREST_INT);
    put128<NT>(p + 32 * h, hx);
    put128<NT>(p + 32 * h + 16, hy);
    ox = _mm256_cvtph_ps(hx);
    oy = _mm256_cvtph_ps(hy);
  }
};

template <>
struct V<kF32> {
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
  static void widen(const Raw& r, __m256 g[4]) {
    for (int i = 0; i < 4; ++i) g[i] = r.v[i];
  }
  static __m256 through(__m256 v) { return v; }
  template <bool NT>
  static void put(std::uint8_t* p, int h, __m256 rx, __m256 ry, __m256& ox, __m256& oy) {
    ox = rx;
    oy = ry;
    put256<NT>(p + 64 * h, _mm256_castps_si256(rx));
    put256<NT>(p + 64 * h + 32, _mm256_castps_si256(ry));
  }
};

// Statistics of a narrow block (element.h), from its four groups in elemIndex order: the X vector of the
// AVX-512 path is groups 0 and 2 for bf16 (0 and 1 otherwise), Y the other two; per lane,
// fmaf(Y, Y, X * X) for lanes 0-7 and for lanes 8-15, added in fp32, widened to fp64.
inline __m256 abs8f(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
template <int DT>
inline D8 groupSums(const __m256 g[4]) {
  constexpr int x0 = 0, y0 = DT == kBF16 ? 1 : 2, x1 = DT == kBF16 ? 2 : 1, y1 = 3;
  const __m256 q0 = _mm256_fmadd_ps(g[y0], g[y0], _mm256_mul_ps(g[x0], g[x0]));
  const __m256 q1 = _mm256_fmadd_ps(g[y1], g[y1], _mm256_mul_ps(g[x1], g[x1]));
  return widen8(_mm256_add_ps(q0, q1));
}

inline D8 sumSquares(D8 acc, const D8 g[4]) {
  for (int i = 0; i < 4; ++i) acc = fma8(g[i], g[i], acc);
  return acc;
}
inline D8 maxAbs(D8 acc, D8 x) { return max8(acc, abs8(x)); }

template <int KF>
struct Acc {
  static constexpr int kCap = KF ? KF : kMaxOutputs;
  D8 a2, b2, d2, mx;
  D8 o2[kCap];
  // Narrow dtypes: maxThreshold of the largest mx lane, in every lane (element.h).
  __m256 th;
  std::uint64_t nfIn = 0, nfOut = 0;

  // User-provided so it gets this file's target ISA (an implicit one would not).
  explicit Acc(int k)
      : a2(zero8()), b2(zero8()), d2(zero8()), mx(zero8()), th(_mm256_set1_ps(maxThreshold(0.0))) {
    for (int j = 0; j < k; ++j) o2[j] = zero8();
  }
  Acc(const Acc& o, int k) : a2(o.a2), b2(o.b2), d2(o.d2), mx(o.mx), th(o.th), nfIn(o.nfIn), nfOut(o.nfOut) {
    for (int j = 0; j < k; ++j) o2[j] = o.o2[j];
  }
  void assign(const Acc& o, int k) {
    a2 = o.a2, b2 = o.b2, d2 = o.d2, mx = o.mx, th = o.th;
    for (int j = 0; j < k; ++j) o2[j] = o.o2[j];
    nfIn = o.nfIn, nfOut = o.nfOut;
  }
  void store(Sums& t, int k) const {
    store8(t.a2, a2);
    store8(t.b2, b2);
    store8(t.d2, d2);
    store8(t.mx, mx);
    for (int j = 0; j < k; ++j) store8(t.o2[j], o2[j]);
    t.nfIn = nfIn;
    t.nfOut = nfOut;
  }
  void load(const Sums& t, int k) {
    a2 = load8(t.a2);
    b2 = load8(t.b2);
    d2 = load8(t.d2);
    mx = load8(t.mx);
    for (int j = 0; j < k; ++j) o2[j] = load8(t.o2[j]);
    nfIn = t.nfIn;
    nfOut = t.nfOut;
    retune();
  }
  void retune() {
    alignas(32) double m[8];
    store8(m, mx);
    double x = 0.0;
    for (int l = 0; l < kSlots; ++l) x = m[l] > x ? m[l] : x;
    th = _mm256_set1_ps(maxThreshold(x));
  }
  bool finite(int k) const {
    D8 c = add8(add8(a2, b2), d2);
    for (int j = 0; j < k; ++j) c = add8(c, o2[j]);
    const __m256d inf = _mm256_set1_pd(__builtin_inf());
    const __m256d bad = _mm256_or_pd(_mm256_cmp_pd(c.lo, inf, _CMP_NLT_UQ), _mm256_cmp_pd(c.hi, inf, _CMP_NLT_UQ));
    return _mm256_movemask_pd(bad) == 0;
  }
};

template <int DT, int AR, int KF>
__attribute__((noinline, cold)) Acc<KF> redo(const SegArgs& s, std::uint8_t* const* dst, const std::uint8_t* rawA,
                                             const std::uint8_t* rawB, std::size_t first, Acc<KF> acc) {
  const SegArgs r = redirected(s, dst, first, dtypeSize(DT));
  Sums t;
  acc.store(t, s.k);
  block<DT, AR, true>(r, rawA, rawB, first, t);
  acc.load(t, s.k);
  return acc;
}

template <int DT, int AR, int KF>
struct Narrow {
  using VT = V<DT>;
  static constexpr std::size_t kSize = dtypeSize(DT);
  static constexpr std::size_t kBlockBytes = kBlock * kSize;
  static constexpr int kCap = Acc<KF>::kCap;
  const SegArgs& s;
  Acc<KF> acc;
  __m256 alpha[kCap];

  explicit Narrow(const SegArgs& args) : s(args), acc(k()) {
    for (int j = 0; j < k(); ++j) alpha[j] = _mm256_set1_ps(s.alphaF[j]);
  }
  int k() const { return KF ? KF : s.k; }

  template <bool NT>
  __attribute__((always_inline)) void step(std::size_t i, std::uint8_t* const* dst) {
    const int K = k();
    const std::size_t off = i * kBlockBytes;
    prefetchInputs<kBlockBytes>(s, off);
    const typename VT::Raw ra = VT::load(s.a + off);
    const typename VT::Raw rb = VT::load(s.b + off);
    __m256 a[4], b[4], d[4];
    VT::widen(ra, a);
    VT::widen(rb, b);
    const Acc<KF> before(acc, K);
    for (int g = 0; g < 4; ++g) d[g] = _mm256_sub_ps(a[g], b[g]);
    acc.a2 = add8(acc.a2, groupSums<DT>(a));
    acc.b2 = add8(acc.b2, groupSums<DT>(b));
    acc.d2 = add8(acc.d2, groupSums<DT>(d));
    // max|a − b| in fp64 only for a block that may raise it (rare): the fp32 filter of element.h.
    const __m256 m = _mm256_max_ps(_mm256_max_ps(abs8f(d[0]), abs8f(d[1])), _mm256_max_ps(abs8f(d[2]), abs8f(d[3])));
    if (__builtin_expect(_mm256_movemask_ps(_mm256_cmp_ps(m, acc.th, _CMP_GE_OQ)) != 0, 0)) {
      for (int g = 0; g < 4; ++g) acc.mx = maxAbs(acc.mx, sub8(widen8(a[g]), widen8(b[g])));
      acc.retune();
    }
    if (AR == kTorch)
      for (int g = 0; g < 4; ++g) d[g] = VT::through(d[g]);
    for (int k = 0; k < K; ++k) {
      __m256 r[4], o[4];
      for (int g = 0; g < 4; ++g)
        r[g] = AR == kFp32 ? _mm256_fmadd_ps(alpha[k], d[g], a[g])
                           : _mm256_add_ps(a[g], VT::through(_mm256_mul_ps(alpha[k], d[g])));
      VT::template put<NT>(dst[k], 0, r[0], r[1], o[0], o[1]);
      VT::template put<NT>(dst[k], 1, r[2], r[3], o[2], o[3]);
      acc.o2[k] = add8(acc.o2[k], groupSums<DT>(o));
    }
    if (__builtin_expect(!acc.finite(K), 0)) {
      if (NT) _mm_sfence();  // the streamed outputs land before the scalar code rewrites them
      alignas(32) std::uint8_t rawA[kBlockBytes];
      alignas(32) std::uint8_t rawB[kBlockBytes];
      VT::spill(ra, rawA);
      VT::spill(rb, rawB);
      acc.assign(redo<DT, AR, KF>(s, dst, rawA, rawB, i * kBlock, before), K);
    }
  }
};

template <int AR, int KF>
struct Wide {
  static constexpr std::size_t kBlockBytes = kBlock * 8;
  static constexpr int kCap = Acc<KF>::kCap;
  const SegArgs& s;
  Acc<KF> acc;
  __m256d alpha[kCap];

  explicit Wide(const SegArgs& args) : s(args), acc(k()) {
    for (int j = 0; j < k(); ++j) alpha[j] = _mm256_set1_pd(s.alphaD[j]);
  }
  int k() const { return KF ? KF : s.k; }

  template <bool NT>
  __attribute__((always_inline)) void step(std::size_t i, std::uint8_t* const* dst) {
    const int K = k();
    const std::size_t off = i * kBlockBytes;
    prefetchInputs<kBlockBytes>(s, off);
    D8 A[4], B[4], D[4];
    for (int g = 0; g < 4; ++g) {
      A[g] = load8(reinterpret_cast<const double*>(s.a + off + 64 * g));
      B[g] = load8(reinterpret_cast<const double*>(s.b + off + 64 * g));
      D[g] = sub8(A[g], B[g]);
    }
    const Acc<KF> before(acc, K);
    acc.a2 = sumSquares(acc.a2, A);
    acc.b2 = sumSquares(acc.b2, B);
    acc.d2 = sumSquares(acc.d2, D);
    for (int g = 0; g < 4; ++g) acc.mx = maxAbs(acc.mx, D[g]);
    for (int k = 0; k < K; ++k) {
      const D8 al = {alpha[k], alpha[k]};
      D8 R[4];
      for (int g = 0; g < 4; ++g) {
        R[g] = AR == kFp32 ? fma8(al, D[g], A[g]) : add8(A[g], mul8(al, D[g]));
        put256<NT>(dst[k] + 64 * g, _mm256_castpd_si256(R[g].lo));
        put256<NT>(dst[k] + 64 * g + 32, _mm256_castpd_si256(R[g].hi));
      }
      acc.o2[k] = sumSquares(acc.o2[k], R);
    }
    if (__builtin_expect(!acc.finite(K), 0)) {
      if (NT) _mm_sfence();  // the streamed outputs land before the scalar code rewrites them
      alignas(32) std::uint8_t rawA[kBlockBytes];
      alignas(32) std::uint8_t rawB[kBlockBytes];
      for (int g = 0; g < 4; ++g) {
        store8(reinterpret_cast<double*>(rawA + 64 * g), A[g]);
        store8(reinterpret_cast<double*>(rawB + 64 * g), B[g]);
      }
      acc.assign(redo<kF64, AR, KF>(s, dst, rawA, rawB, i * kBlock, before), K);
    }
  }
};

template <int DT, int AR, int KF>
void segment(const SegArgs& s, Sums& out) {
  if constexpr (DT == kF64) {
    const Wide<AR, KF> kern = forEachBlock(s, Wide<AR, KF>(s));
    kern.acc.store(out, kern.k());
  } else {
    const Narrow<DT, AR, KF> kern = forEachBlock(s, Narrow<DT, AR, KF>(s));
    kern.acc.store(out, kern.k());
  }
  tail<DT, AR>(s, s.count / kBlock * kBlock, out);
}

}  // namespace

void segmentAvx2(const SegArgs& s, Sums& acc) { EXPO_DISPATCH_SEGMENT(segment, s, acc); }

}  // namespace expo

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif  // __x86_64__
