// The arithmetic of DESIGN.md §3, one element at a time: the reference every vector path must match bit for
// bit, and the code those paths use for tails and for blocks holding non-finite values.
//
// Everything here has internal linkage and uses only compiler builtins, no standard-library inlines: each
// kernel_*.cc compiles this header under its own target ISA, and a shared out-of-line copy could let the
// linker hand AVX-512 code to the scalar path on a CPU without AVX-512.
#pragma once

#include "kernel.h"

namespace expo {
namespace {

constexpr std::uint32_t kQNaN32 = 0x7FC00000u;
constexpr std::uint64_t kQNaN64 = 0x7FF8000000000000ull;

inline std::uint32_t f2u(float f) {
  std::uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  return u;
}
inline float u2f(std::uint32_t u) {
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

inline float bf16ToF32(std::uint16_t h) { return u2f(std::uint32_t(h) << 16); }

// Round to nearest even by carrying into the kept half. A NaN is replaced first: the carry could turn it
// into an infinity or wrap it around to a zero.
inline std::uint16_t f32ToBf16(float f) {
  if (__builtin_isnan(f)) return 0x7FC0;
  const std::uint32_t u = f2u(f);
  return std::uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

inline float f16ToF32(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  const std::uint32_t man = h & 0x3FFu;
  if (exp == 0x1F) return u2f(sign | 0x7F800000u | (man << 13));
  if (exp == 0) {
    const float m = float(man) * 0x1p-24f;  // exact: man < 2^10
    return sign ? -m : m;
  }
  return u2f(sign | ((exp + 112u) << 23) | (man << 13));
}

// Exact software conversion (the scalar path has no F16C): one rounding, to nearest even, with f16
// subnormals and overflow to infinity. NaN becomes the canonical quiet NaN.
inline std::uint16_t f32ToF16(float f) {
  const std::uint32_t u = f2u(f);
  const std::uint16_t sign = std::uint16_t((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return 0x7E00;
  if (a >= 0x477FF000u) return sign | 0x7C00u;  // 65520 and up: the tie above 65504 goes to the even infinity
  if (a >= 0x38800000u) {                       // 2^-14 and up: normal f16
    std::uint32_t r = a - 0x38000000u;          // rebias the exponent from 127 to 15
    r += 0xFFFu + ((r >> 13) & 1u);
    return std::uint16_t(sign | (r >> 13));
  }
  // Subnormal f16: in units of 2^-24 the value is below 2^10, so adding 2^23 makes the FPU round it to an
  // integer, to nearest even. 1024 means it rounded up to the smallest normal, whose bits are 0x400.
  const float t = u2f(a) * 0x1p24f;
  const float n = (t + 0x1p23f) - 0x1p23f;
  return std::uint16_t(sign | std::uint16_t(n));
}

template <int DT>
struct Io;

template <>
struct Io<kBF16> {
  using W = float;
  static W load(const std::uint8_t* p) {
    std::uint16_t h;
    __builtin_memcpy(&h, p, 2);
    return bf16ToF32(h);
  }
  // Rounds to the storage dtype (canonical NaN), stores when asked, returns the stored value widened.
  template <bool STORE>
  static W put(W r, std::uint8_t* p) {
    const std::uint16_t h = f32ToBf16(r);
    if (STORE) __builtin_memcpy(p, &h, 2);
    return bf16ToF32(h);
  }
  static W through(W x) { return bf16ToF32(f32ToBf16(x)); }
};

template <>
struct Io<kF16> {
  using W = float;
  static W load(const std::uint8_t* p) {
    std::uint16_t h;
    __builtin_memcpy(&h, p, 2);
    return f16ToF32(h);
  }
  template <bool STORE>
  static W put(W r, std::uint8_t* p) {
    const std::uint16_t h = f32ToF16(r);
    if (STORE) __builtin_memcpy(p, &h, 2);
    return f16ToF32(h);
  }
  static W through(W x) { return f16ToF32(f32ToF16(x)); }
};

template <>
struct Io<kF32> {
  using W = float;
  static W load(const std::uint8_t* p) {
    float f;
    __builtin_memcpy(&f, p, 4);
    return f;
  }
  template <bool STORE>
  static W put(W r, std::uint8_t* p) {
    const W o = __builtin_isnan(r) ? u2f(kQNaN32) : r;
    if (STORE) __builtin_memcpy(p, &o, 4);
    return o;
  }
  static W through(W x) { return x; }
};

template <>
struct Io<kF64> {
  using W = double;
  static W load(const std::uint8_t* p) {
    double f;
    __builtin_memcpy(&f, p, 8);
    return f;
  }
  template <bool STORE>
  static W put(W r, std::uint8_t* p) {
    W o = r;
    if (__builtin_isnan(r)) __builtin_memcpy(&o, &kQNaN64, 8);
    if (STORE) __builtin_memcpy(p, &o, 8);
    return o;
  }
  static W through(W x) { return x; }
};

inline float fusedMulAdd(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
inline double fusedMulAdd(double a, double b, double c) { return __builtin_fma(a, b, c); }

inline float alphaOf(const SegArgs& s, int k, float) { return s.alphaF[k]; }
inline double alphaOf(const SegArgs& s, int k, double) { return s.alphaD[k]; }

// The unrounded result in the working precision; put() applies the final rounding R.
// Relies on -ffp-contract=off: a contracted alpha * d + a in torch mode would skip a rounding.
template <int DT, int AR>
inline typename Io<DT>::W result(typename Io<DT>::W a, typename Io<DT>::W d, typename Io<DT>::W alpha) {
  using IO = Io<DT>;
  if constexpr (AR == kFp32) {
    return fusedMulAdd(alpha, d, a);
  } else {
    const typename IO::W dr = IO::through(d);
    const typename IO::W m = IO::through(alpha * dr);
    return a + m;
  }
}

// Element order within a block of 32, group by group (8 elements per group, element of lane l goes to
// partial sum l). It is the order the vector paths produce naturally: bf16 is widened by splitting each
// 32-bit lane into its even and odd element, the other dtypes in memory order.
template <int DT>
constexpr int elemIndex(int g, int l) {
  return DT == kBF16 ? 16 * (g >> 1) + 2 * l + (g & 1) : 8 * g + l;
}

// Statistics accumulate with one fused multiply-add per element, acc = fma(x, x, acc), on every path: one
// rounding per element, and the vector paths need no separate add.
inline double sumSquare(double acc, double x) { return __builtin_fma(x, x, acc); }

// One element: outputs (stored when STORE), then its statistics into partial sum `slot` of t.
template <int DT, int AR, bool STORE>
inline void element(const SegArgs& s, const std::uint8_t* pa, const std::uint8_t* pb, std::size_t outByte, int slot,
                    Sums& t) {
  using IO = Io<DT>;
  using W = typename IO::W;
  const W a = IO::load(pa);
  const W b = IO::load(pb);
  const W d = a - b;
  const bool finiteIn = __builtin_isfinite(a) && __builtin_isfinite(b);
  bool nonfiniteOut = false;
  for (int k = 0; k < s.k; ++k) {
    const W o = IO::template put<STORE>(result<DT, AR>(a, d, alphaOf(s, k, W())), STORE ? s.out[k] + outByte : nullptr);
    if (!finiteIn) continue;
    if (__builtin_isfinite(o))
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

// One block of 32 into the running sums, in the order the vector paths use. a and b point at the block's
// first element; its outputs start at element `first`. The vector paths hand a block here when it holds a
// non-finite value: with the running sums as they were before the block, so the result is the same bits as
// if the block had been finite, and with STORE, since only this code writes canonical NaNs.
template <int DT, int AR, bool STORE>
inline void block(const SegArgs& s, const std::uint8_t* a, const std::uint8_t* b, std::size_t first, Sums& t) {
  constexpr std::size_t sz = dtypeSize(DT);
  for (int g = 0; g < kBlock / kSlots; ++g) {
    for (int l = 0; l < kSlots; ++l) {
      const std::size_t e = std::size_t(elemIndex<DT>(g, l));
      element<DT, AR, STORE>(s, a + e * sz, b + e * sz, (first + e) * sz, l, t);
    }
  }
}

// Elements after the last whole block, element i into sum (i - first) % 8.
template <int DT, int AR>
inline void tail(const SegArgs& s, std::size_t first, Sums& acc) {
  constexpr std::size_t sz = dtypeSize(DT);
  for (std::size_t i = first; i < s.count; ++i)
    element<DT, AR, true>(s, s.a + i * sz, s.b + i * sz, i * sz, int((i - first) & (kSlots - 1)), acc);
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
