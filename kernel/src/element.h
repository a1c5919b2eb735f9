// The CPU kernel one block at a time: the reference every vector path must match bit for bit (outputs and the
// statistics' summation order of docs/arithmetic.md), and the code those paths use for tails and for blocks
// holding non-finite values. The per-element arithmetic itself is arith.h's.
//
// Everything here has internal linkage and uses only compiler builtins, no standard-library inlines: each
// kernel_*.cc compiles this header under its own target ISA, and a shared out-of-line copy could let the
// linker hand AVX-512 code to the scalar path on a CPU without AVX-512.
#pragma once

#include "arith.h"
#include "kernel.h"

namespace expo {
namespace {

// Loads one element and widens it to the working precision.
template <int DT>
inline typename Io<DT>::W load(const std::uint8_t* p) {
  typename Io<DT>::Bits h;
  __builtin_memcpy(&h, p, sizeof h);
  return Io<DT>::widenBits(h);
}

// Rounds a working value to the output dtype DO (canonical NaN), stores when asked, returns the stored value in
// the working precision (exact: a mixed segment's output values fit the precision it computes in).
template <int DO, bool STORE, class W>
inline W put(W r, std::uint8_t* p) {
  const typename Io<DO>::Bits h = roundTo<DO>(r);
  if (STORE) __builtin_memcpy(p, &h, sizeof h);
  return W(Io<DO>::widenBits(h));
}

inline float alphaOf(const SegArgs& s, int k, float) { return s.alphaF[k]; }
inline double alphaOf(const SegArgs& s, int k, double) { return s.alphaD[k]; }

// Element order within a block of 32, group by group (8 elements per group, element of lane l goes to
// partial sum l). It is the order the vector paths produce naturally: bf16 is widened by splitting each
// 32-bit lane into its even and odd element, the other dtypes in memory order. F64 statistics use it.
template <int DT>
constexpr int elemIndex(int g, int l) {
  return DT == kBF16 ? 16 * (g >> 1) + 2 * l + (g & 1) : 8 * g + l;
}

// ---- Statistics of BF16, F16 and F32 blocks ------------------------------------------------------------
//
// A block of 32 elements is seen as two 16-lane fp32 vectors X and Y, as the AVX-512 path loads it: bf16
// X lane j = element 2j, Y lane j = element 2j + 1 (even/odd split of each 32-bit lane); f16 and f32 X lane
// j = element j, Y lane j = element 16 + j. Partial sum l (of 8) owns lanes l and l + 8 of X and Y. For each
// of Σa², Σb², Σd², Σout²[k], with v the value of an element (0 when the element is left out: a non-finite
// input, a non-finite output for Σout², or past the end of the segment in the last, partial block):
//
//   q[j] = fmaf(Y[j], Y[j], X[j] * X[j])     fp32: the product rounded to fp32, then the fused add
//   p[l] = q[l] + q[l + 8]                     fp32
//   sum[l] += double(p[l])                     fp64, block after block
//
// d is the fp32 difference a − b, the one the fp32-mode output uses (before torch mode's rounding). bf16 and
// f16 squares are exact in fp32 over most of the range, so p is within 2 or 3 fp32 roundings (relative
// 2^-23) of the exact sum of its four squares. If p overflows to +Inf (a value of 2^64 or more, bf16 or
// f32 only), that group is summed in fp64 instead, from the same values, d as double(a) − double(b):
// p = fma(Y[l], Y[l], X[l]²) + fma(Y[l+8], Y[l+8], X[l+8]²) in fp64; so the sums overflow only as the old
// fp64 definition would. Squares below 2^-126 (values under 2^-63) keep fp32's subnormal precision.
// max|a − b| is unchanged: the largest |double(a) − double(b)| over elements with finite inputs.
template <int DT>
constexpr int laneElem(int v, int j) {
  return DT == kBF16 ? 2 * j + v : 16 * v + j;
}

// The fp32 group sum of partial sum l, or its fp64 replacement when it overflows. v[0] is X, v[1] Y; w, if
// given, is the fp64 value of each lane for the fallback (for d: double(a) − double(b)).
inline double groupSum(const float (&v)[2][16], const double (&w)[2][16], int l) {
  const float q0 = __builtin_fmaf(v[1][l], v[1][l], v[0][l] * v[0][l]);
  const float q1 = __builtin_fmaf(v[1][l + 8], v[1][l + 8], v[0][l + 8] * v[0][l + 8]);
  const float p = q0 + q1;
  if (p < __builtin_inff()) return double(p);
  const double r0 = __builtin_fma(w[1][l], w[1][l], w[0][l] * w[0][l]);
  const double r1 = __builtin_fma(w[1][l + 8], w[1][l + 8], w[0][l + 8] * w[0][l + 8]);
  return r0 + r1;
}

// Threshold for the vector paths' max|a − b| filter: the largest fp32 value not above m (the running fp64
// maximum), at least 2^-149. An element whose exact |a − b| exceeds m has |fl32(a − b)| >= it (rounding is
// monotonic), so blocks with all |fl32(a − b)| below it cannot raise the maximum and skip the fp64 work.
inline float maxThreshold(double m) {
  float f = float(m);
  if (double(f) > m) f = u2f(f2u(f) - 1u);  // m >= 0, so f > 0 here: one step down
  return f > 0x1p-149f ? f : 0x1p-149f;
}

// One element: outputs (stored when STORE, in dtype DO), then its statistics into partial sum `slot` of t. F64
// only (the inputs F64, as loaded or staged).
template <int DT, int AR, bool STORE, int DO = DT>
inline void element(const SegArgs& s, const std::uint8_t* pa, const std::uint8_t* pb, std::size_t outByte, int slot,
                    Sums& t) {
  using W = typename Io<DT>::W;
  const W a = load<DT>(pa);
  const W b = load<DT>(pb);
  const W d = sub(a, b);
  const bool finiteIn = isFinite(a) && isFinite(b);
  bool nonfiniteOut = false;
  for (int k = 0; k < s.k; ++k) {
    const W o = put<DO, STORE>(result<DT, AR>(a, d, alphaOf(s, k, W())), STORE ? s.out[k] + outByte : nullptr);
    if (!finiteIn) continue;
    if (isFinite(o))
      t.o2[k][slot] = sumSquare(t.o2[k][slot], o);
    else
      nonfiniteOut = true;
  }
  if (!finiteIn) {
    ++t.nfIn;
    return;
  }
  const double da = a;
  const double db = b;
  const double dd = da - db;
  t.a2[slot] = sumSquare(t.a2[slot], da);
  t.b2[slot] = sumSquare(t.b2[slot], db);
  t.d2[slot] = sumSquare(t.d2[slot], dd);
  const double ad = __builtin_fabs(dd);
  if (ad > t.mx[slot]) t.mx[slot] = ad;
  if (nonfiniteOut) ++t.nfOut;
}

// The first n (1..32) elements of a BF16, F16 or F32 block: outputs (in dtype DO), then the statistics as
// described above.
template <int DT, int AR, bool STORE, int DO = DT>
inline void narrowBlock(const SegArgs& s, const std::uint8_t* pa, const std::uint8_t* pb, std::size_t first, int n,
                        Sums& t) {
  constexpr std::size_t sz = dtypeSize(DT);
  constexpr std::size_t szO = dtypeSize(DO);
  float va[2][16], vb[2][16], vd[2][16], vo[kMaxOutputs][2][16];
  double wa[2][16], wb[2][16], wd[2][16], wo[2][16];
  for (int v = 0; v < 2; ++v) {
    for (int j = 0; j < 16; ++j) {
      va[v][j] = vb[v][j] = vd[v][j] = 0.0f;
      for (int k = 0; k < s.k; ++k) vo[k][v][j] = 0.0f;
      const int e = laneElem<DT>(v, j);
      if (e >= n) continue;
      const float a = load<DT>(pa + std::size_t(e) * sz);
      const float b = load<DT>(pb + std::size_t(e) * sz);
      const float d = sub(a, b);
      const bool finiteIn = isFinite(a) && isFinite(b);
      bool nonfiniteOut = false;
      for (int k = 0; k < s.k; ++k) {
        const float o = put<DO, STORE>(result<DT, AR>(a, d, s.alphaF[k]),
                                       STORE ? s.out[k] + (first + std::size_t(e)) * szO : nullptr);
        if (isFinite(o))
          vo[k][v][j] = o;
        else
          nonfiniteOut = true;
      }
      if (!finiteIn) {
        for (int k = 0; k < s.k; ++k) vo[k][v][j] = 0.0f;
        ++t.nfIn;
        continue;
      }
      va[v][j] = a;
      vb[v][j] = b;
      vd[v][j] = d;
      const double ad = __builtin_fabs(double(a) - double(b));
      if (ad > t.mx[j & 7]) t.mx[j & 7] = ad;
      if (nonfiniteOut) ++t.nfOut;
    }
  }
  for (int v = 0; v < 2; ++v)
    for (int j = 0; j < 16; ++j) {
      wa[v][j] = va[v][j];
      wb[v][j] = vb[v][j];
      wd[v][j] = double(va[v][j]) - double(vb[v][j]);
    }
  for (int l = 0; l < kSlots; ++l) {
    t.a2[l] += groupSum(va, wa, l);
    t.b2[l] += groupSum(vb, wb, l);
    t.d2[l] += groupSum(vd, wd, l);
  }
  for (int k = 0; k < s.k; ++k) {
    for (int v = 0; v < 2; ++v)
      for (int j = 0; j < 16; ++j) wo[v][j] = vo[k][v][j];
    for (int l = 0; l < kSlots; ++l) t.o2[k][l] += groupSum(vo[k], wo, l);
  }
}

// One block of 32 into the running sums, in the order the vector paths use. a and b point at the block's
// first element; its outputs start at element `first`. The vector paths hand a block here when it holds a
// non-finite value or a group sum overflows: with the running sums as they were before the block, so the
// result is the same bits as if the vector code had done it, and with STORE, since only this code writes
// canonical NaNs. DO: the outputs' dtype (a mixed segment's; the inputs are staged in DT).
template <int DT, int AR, bool STORE, int DO = DT>
inline void block(const SegArgs& s, const std::uint8_t* a, const std::uint8_t* b, std::size_t first, Sums& t) {
  constexpr std::size_t sz = dtypeSize(DT);
  if constexpr (DT != kF64) {
    narrowBlock<DT, AR, STORE, DO>(s, a, b, first, kBlock, t);
  } else {
    for (int g = 0; g < kBlock / kSlots; ++g) {
      for (int l = 0; l < kSlots; ++l) {
        const std::size_t e = std::size_t(elemIndex<DT>(g, l));
        element<DT, AR, STORE, DO>(s, a + e * sz, b + e * sz, (first + e) * dtypeSize(DO), l, t);
      }
    }
  }
}

// Elements after the last whole block: BF16, F16 and F32 as a partial block; F64 element i into sum
// (i - first) % 8.
template <int DT, int AR, int DO = DT>
inline void tail(const SegArgs& s, std::size_t first, Sums& acc) {
  constexpr std::size_t sz = dtypeSize(DT);
  if constexpr (DT != kF64) {
    if (first < s.count)
      narrowBlock<DT, AR, true, DO>(s, s.a + first * sz, s.b + first * sz, first, int(s.count - first), acc);
  } else {
    for (std::size_t i = first; i < s.count; ++i)
      element<DT, AR, true, DO>(s, s.a + i * sz, s.b + i * sz, i * dtypeSize(DO), int((i - first) & (kSlots - 1)), acc);
  }
}

}  // namespace
}  // namespace expo

// Instantiates SEG_TEMPLATE<DT, AR, KF> for the segment's dtype and arith; KF = 1 is the common single-output
// case with its accumulators in registers, KF = 0 any K.
#define EXPO_DISPATCH_SEGMENT(SEG_TEMPLATE, s, acc)                                      \
  do {                                                                                  \
    const bool k1 = (s).k == 1;                                                         \
    switch ((s).dtype * 2 + (s).arith) {                                                \
      case kBF16 * 2 + kFp32:                                                           \
        return k1 ? SEG_TEMPLATE<kBF16, kFp32, 1>(s, acc) : SEG_TEMPLATE<kBF16, kFp32, 0>(s, acc); \
      case kBF16 * 2 + kTorch:                                                          \
        return k1 ? SEG_TEMPLATE<kBF16, kTorch, 1>(s, acc) : SEG_TEMPLATE<kBF16, kTorch, 0>(s, acc); \
      case kF16 * 2 + kFp32:                                                            \
        return k1 ? SEG_TEMPLATE<kF16, kFp32, 1>(s, acc) : SEG_TEMPLATE<kF16, kFp32, 0>(s, acc); \
      case kF16 * 2 + kTorch:                                                           \
        return k1 ? SEG_TEMPLATE<kF16, kTorch, 1>(s, acc) : SEG_TEMPLATE<kF16, kTorch, 0>(s, acc); \
      case kF32 * 2 + kFp32:                                                            \
        return k1 ? SEG_TEMPLATE<kF32, kFp32, 1>(s, acc) : SEG_TEMPLATE<kF32, kFp32, 0>(s, acc); \
      case kF32 * 2 + kTorch:                                                           \
        return k1 ? SEG_TEMPLATE<kF32, kTorch, 1>(s, acc) : SEG_TEMPLATE<kF32, kTorch, 0>(s, acc); \
      case kF64 * 2 + kFp32:                                                            \
        return k1 ? SEG_TEMPLATE<kF64, kFp32, 1>(s, acc) : SEG_TEMPLATE<kF64, kFp32, 0>(s, acc); \
      case kF64 * 2 + kTorch:                                                           \
        return k1 ? SEG_TEMPLATE<kF64, kTorch, 1>(s, acc) : SEG_TEMPLATE<kF64, kTorch, 0>(s, acc); \
      default:                                                                          \
        return;                                                                         \
    }                                                                                   \
  } while (0)
