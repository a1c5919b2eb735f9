// AVX-512 path (F and DQ): 32 elements per block, 16 fp32 lanes per vector, statistics in 8 fp64 lanes (one lane
// per partial sum). isa.cc checks the CPU.
#include "kernel.h"

#if defined(__x86_64__)
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

#include "loop.h"

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

// Per dtype: a block as loaded (kept for the scalar redo, since in place the memory is overwritten),
// widened to two fp32 vectors x, y, and the rounding to storage. The fast path writes no canonical NaNs:
// any NaN or infinity makes the block's sums non-finite and the scalar redo rewrites its outputs.
template <int DT>
struct V;

template <>
struct V<kBF16> {
  struct Raw {
    __m512i v;
  };
  // Even elements in x, odd in y: a shift and a mask, no shuffles.
  static constexpr bool kEvenOdd = true;
  static Raw load(const std::uint8_t* p) { return {_mm512_loadu_si512(p)}; }
  static void spill(const Raw& r, std::uint8_t* p) { _mm512_storeu_si512(p, r.v); }
  static void widen(const Raw& r, __m512& x, __m512& y) {
    x = _mm512_castsi512_ps(_mm512_slli_epi32(r.v, 16));
    y = upperHalf(r.v);
  }
  static __m512 through(__m512 v) { return upperHalf(bf16Round(v)); }
  static __m512i narrow(__m512 rx, __m512 ry, __m512& ox, __m512& oy) {
    const __m512i ux = bf16Round(rx);
    const __m512i uy = bf16Round(ry);
    ox = upperHalf(ux);
    oy = upperHalf(uy);
    return _mm512_or_si512(_mm512_srli_epi32(ux, 16), _mm512_castps_si512(oy));
  }
};

template <>
struct V<kF16> {
  struct Raw {
    __m256i lo, hi;
  };
  static constexpr bool kEvenOdd = false;
  static Raw load(const std::uint8_t* p) {
    return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32))};
  }
  static void spill(const Raw& r, std::uint8_t* p) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), r.lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 32), r.hi);
  }
  static void widen(const Raw& r, __m512& x, __m512& y) {
    x = _mm512_cvtph_ps(r.lo);
    y = _mm512_cvtph_ps(r.hi);
  }
  static __m512 through(__m512 v) { return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)); }
  static __m512i narrow(__m512 rx, __m512 ry, __m512& ox, __m512& oy) {
    const __m256i hx = _mm512_cvtps_ph(rx, _MM_FROUND_TO_NEAREST_INT);
    const __m256i hy = _mm512_cvtps_ph(ry, _MM_FROUND_TO_NEAREST_INT);
    ox = _mm512_cvtph_ps(hx);
    oy = _mm512_cvtph_ps(hy);
    return _mm512_inserti64x4(_mm512_castsi256_si512(hx), hy, 1);
  }
};

template <>
struct V<kF32> {
  struct Raw {
    __m512 x, y;
  };
  static constexpr bool kEvenOdd = false;
  static Raw load(const std::uint8_t* p) { return {_mm512_loadu_ps(p), _mm512_loadu_ps(p + 64)}; }
  static void spill(const Raw& r, std::uint8_t* p) {
    _mm512_storeu_ps(p, r.x);
    _mm512_storeu_ps(p + 64, r.y);
  }
  static void widen(const Raw& r, __m512& x, __m512& y) {
    x = r.x;
    y = r.y;
  }
  static __m512 through(__m512 v) { return v; }
};

// Statistics of a narrow block (element.h): q = fmaf(y, y, x * x) in 16 fp32 lanes, lanes l and l + 8 added in
// fp32, the 8 sums widened to fp64.
inline __m512d groupSums(__m512 x, __m512 y) {
  const __m512 q = _mm512_fmadd_ps(y, y, _mm512_mul_ps(x, x));
  return _mm512_cvtps_pd(_mm256_add_ps(_mm512_castps512_ps256(q), _mm512_extractf32x8_ps(q, 1)));
}
// Lanes 0-7 and 8-15 of an fp32 vector widened to fp64.
inline __m512d lowPd(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
inline __m512d highPd(__m512 v) { return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)); }

inline __m512d sumSquares(__m512d acc, const __m512d g[4]) {
  for (int i = 0; i < 4; ++i) acc = _mm512_fmadd_pd(g[i], g[i], acc);
  return acc;
}
// max(|acc|, |x|) with the sign cleared, in one instruction (acc is never negative).
inline __m512d maxAbs(__m512d acc, __m512d x) { return _mm512_range_pd(acc, x, 0x0B); }

// Running sums of a segment, one fp64 lane per partial sum; o2 holds K of them.
template <int KF>
struct Acc {
  static constexpr int kCap = KF ? KF : kMaxOutputs;
  __m512d a2, b2, d2, mx;
  __m512d o2[kCap];
  // Narrow dtypes: maxThreshold of the largest mx lane, in every lane (element.h).
  __m512 th;
  std::uint64_t nfIn = 0, nfOut = 0;

  // User-provided so it gets this file's target ISA (an implicit one would not).
  explicit Acc(int k)
      : a2(_mm512_setzero_pd()), b2(_mm512_setzero_pd()), d2(_mm512_setzero_pd()), mx(a2),
        th(_mm512_set1_ps(maxThreshold(0.0))) {
    for (int j = 0; j < k; ++j) o2[j] = _mm512_setzero_pd();
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
    _mm512_storeu_pd(t.a2, a2);
    _mm512_storeu_pd(t.b2, b2);
    _mm512_storeu_pd(t.d2, d2);
    _mm512_storeu_pd(t.mx, mx);
    for (int j = 0; j < k; ++j) _mm512_storeu_pd(t.o2[j], o2[j]);
    t.nfIn = nfIn;
    t.nfOut = nfOut;
  }
  void load(const Sums& t, int k) {
    a2 = _mm512_loadu_pd(t.a2);
    b2 = _mm512_loadu_pd(t.b2);
    d2 = _mm512_loadu_pd(t.d2);
    mx = _mm512_loadu_pd(t.mx);
    for (int j = 0; j < k; ++j) o2[j] = _mm512_loadu_pd(t.o2[j]);
    nfIn = t.nfIn;
    nfOut = t.nfOut;
    retune();
  }
  void retune() { th = _mm512_set1_ps(maxThreshold(_mm512_reduce_max_pd(mx))); }
  // Sums of squares are NaN or +Inf exactly when a value in them was, or when a narrow block's fp32 group sum
  // overflowed (or, in f64, the sum itself): then the scalar code redoes the block, with the same result.
  bool finite(int k) const {
    __m512d c = _mm512_add_pd(_mm512_add_pd(a2, b2), d2);
    for (int j = 0; j < k; ++j) c = _mm512_add_pd(c, o2[j]);
    return _mm512_cmp_pd_mask(c, _mm512_set1_pd(__builtin_inf()), _CMP_NLT_UQ) == 0;
  }
};

// A block holding a non-finite value, redone by the scalar code from the sums before the block (outputs
// included: only the scalar code writes canonical NaNs). Works on copies so the running sums never have their
// address taken and stay in registers.
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

// bf16, f16, f32: arithmetic in fp32 vectors of 16.
template <int DT, int AR, int KF>
struct Narrow {
  using VT = V<DT>;
  static constexpr std::size_t kSize = dtypeSize(DT);
  static constexpr std::size_t kBlockBytes = kBlock * kSize;
  static constexpr int kCap = Acc<KF>::kCap;
  const SegArgs& s;
  Acc<KF> acc;
  __m512 alpha[kCap];

  explicit Narrow(const SegArgs& args) : s(args), acc(k()) {
    for (int j = 0; j < k(); ++j) alpha[j] = _mm512_set1_ps(s.alphaF[j]);
  }
  int k() const { return KF ? KF : s.k; }

  template <bool NT>
  __attribute__((always_inline)) void step(std::size_t i, std::uint8_t* const* dst) {
    const int K = k();
    const std::size_t off = i * kBlockBytes;
    prefetchInputs<kBlockBytes>(s, off);
    const typename VT::Raw ra = VT::load(s.a + off);
    const typename VT::Raw rb = VT::load(s.b + off);
    __m512 ax, ay, bx, by;
    VT::widen(ra, ax, ay);
    VT::widen(rb, bx, by);
    __m512 dx = _mm512_sub_ps(ax, bx);
    __m512 dy = _mm512_sub_ps(ay, by);

    const Acc<KF> before(acc, K);
    acc.a2 = _mm512_add_pd(acc.a2, groupSums(ax, ay));
    acc.b2 = _mm512_add_pd(acc.b2, groupSums(bx, by));
    acc.d2 = _mm512_add_pd(acc.d2, groupSums(dx, dy));
    // max|a − b| in fp64 only for a block that may raise it (rare): the fp32 filter of element.h.
    if (__builtin_expect(_mm512_cmp_ps_mask(_mm512_range_ps(dx, dy, 0x0B), acc.th, _CMP_GE_OQ) != 0, 0)) {
      acc.mx = maxAbs(acc.mx, _mm512_sub_pd(lowPd(ax), lowPd(bx)));
      acc.mx = maxAbs(acc.mx, _mm512_sub_pd(highPd(ax), highPd(bx)));
      acc.mx = maxAbs(acc.mx, _mm512_sub_pd(lowPd(ay), lowPd(by)));
      acc.mx = maxAbs(acc.mx, _mm512_sub_pd(highPd(ay), highPd(by)));
      acc.retune();
    }
    if (AR == kTorch) dx = VT::through(dx), dy = VT::through(dy);

    for (int k = 0; k < K; ++k) {
      __m512 rx, ry;
      if (AR == kFp32) {
        rx = _mm512_fmadd_ps(alpha[k], dx, ax);
        ry = _mm512_fmadd_ps(alpha[k], dy, ay);
      } else {
        rx = _mm512_add_ps(ax, VT::through(_mm512_mul_ps(alpha[k], dx)));
        ry = _mm512_add_ps(ay, VT::through(_mm512_mul_ps(alpha[k], dy)));
      }
      if constexpr (DT == kF32) {
        put512<NT>(dst[k], _mm512_castps_si512(rx));
        put512<NT>(dst[k] + 64, _mm512_castps_si512(ry));
        acc.o2[k] = _mm512_add_pd(acc.o2[k], groupSums(rx, ry));
      } else {
        __m512 ox, oy;
        put512<NT>(dst[k], VT::narrow(rx, ry, ox, oy));
        acc.o2[k] = _mm512_add_pd(acc.o2[k], groupSums(ox, oy));
      }
    }

    if (__builtin_expect(!acc.finite(K), 0)) {
      if (NT) _mm_sfence();  // the streamed outputs land before the scalar code rewrites them
      alignas(64) std::uint8_t rawA[kBlockBytes];
      alignas(64) std::uint8_t rawB[kBlockBytes];
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
  __m512d alpha[kCap];

  explicit Wide(const SegArgs& args) : s(args), acc(k()) {
    for (int j = 0; j < k(); ++j) alpha[j] = _mm512_set1_pd(s.alphaD[j]);
  }
  int k() const { return KF ? KF : s.k; }

  template <bool NT>
  __attribute__((always_inline)) void step(std::size_t i, std::uint8_t* const* dst) {
    const int K = k();
    const std::size_t off = i * kBlockBytes;
    prefetchInputs<kBlockBytes>(s, off);
    __m512d A[4], B[4], D[4];
    for (int g = 0; g < 4; ++g) {
      A[g] = _mm512_loadu_pd(s.a + off + 64 * g);
      B[g] = _mm512_loadu_pd(s.b + off + 64 * g);
      D[g] = _mm512_sub_pd(A[g], B[g]);
    }
    const Acc<KF> before(acc, K);
    acc.a2 = sumSquares(acc.a2, A);
    acc.b2 = sumSquares(acc.b2, B);
    acc.d2 = sumSquares(acc.d2, D);
    for (int g = 0; g < 4; ++g) acc.mx = maxAbs(acc.mx, D[g]);

    for (int k = 0; k < K; ++k) {
      __m512d R[4];
      for (int g = 0; g < 4; ++g) {
        R[g] = AR == kFp32 ? _mm512_fmadd_pd(alpha[k], D[g], A[g])
                           : _mm512_add_pd(A[g], _mm512_mul_pd(alpha[k], D[g]));
        put512<NT>(dst[k] + 64 * g, _mm512_castpd_si512(R[g]));
      }
      acc.o2[k] = sumSquares(acc.o2[k], R);
    }

    if (__builtin_expect(!acc.finite(K), 0)) {
      if (NT) _mm_sfence();  // the streamed outputs land before the scalar code rewrites them
      alignas(64) std::uint8_t rawA[kBlockBytes];
      alignas(64) std::uint8_t rawB[kBlockBytes];
      for (int g = 0; g < 4; ++g) {
        _mm512_storeu_pd(rawA + 64 * g, A[g]);
        _mm512_storeu_pd(rawB + 64 * g, B[g]);
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

void segmentAvx512(const SegArgs& s, Sums& acc) { EXPO_DISPATCH_SEGMENT(segment, s, acc); }

}  // namespace expo

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif  // __x86_64__
