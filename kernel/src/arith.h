// The per-element arithmetic of docs/arithmetic.md, written once for every kernel: the CPU paths (element.h and
// the kernel_*.cc files), the CUDA kernels (kernel/cuda/tile.cuh) and their host emulation. Bit conversions,
// rounding to bf16 and f16, canonical NaNs, classification and the fp32/torch result formulas.
//
// Every floating-point step is one IEEE operation rounded to nearest even: on the device an explicit _rn
// intrinsic (so neither nvcc's contraction, the library is also built with -fmad=false, nor a fast-math flag
// can change a bit); on the host the plain operation, which relies on -ffp-contract=off (a contracted
// alpha * d + a in torch mode would skip a rounding).
//
// Everything has internal linkage and, on the host, uses only compiler builtins, no standard-library inlines:
// each kernel_*.cc compiles this under its own target ISA, and a shared out-of-line copy could let the linker
// hand AVX-512 code to the scalar path on a CPU without AVX-512.
#pragma once

#include <cstdint>

#include "layout.h"

namespace expo {
namespace {

constexpr std::uint32_t kQNaN32 = 0x7FC00000u;
constexpr std::uint64_t kQNaN64 = 0x7FF8000000000000ull;

// ---- bits ------------------------------------------------------------------------------------------------

EXPO_HD std::uint32_t f2u(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  std::uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  return u;
#endif
}
EXPO_HD float u2f(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
#endif
}
EXPO_HD std::uint64_t d2u(double f) {
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint64_t>(__double_as_longlong(f));
#else
  std::uint64_t u;
  __builtin_memcpy(&u, &f, 8);
  return u;
#endif
}
EXPO_HD double u2d(std::uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double f;
  __builtin_memcpy(&f, &u, 8);
  return f;
#endif
}

// ---- classification --------------------------------------------------------------------------------------
// Host: the compiler's IEEE predicates (the kernels are never built with fast-math flags). Device: one IEEE
// comparison each where that is one instruction (an unordered compare for NaN, |x| < inf for finite: false for
// NaN and both infinities), the bits for an f64 NaN.

EXPO_HD bool isNaN(float x) {
#if defined(__CUDA_ARCH__)
  return isnan(x);
#else
  return __builtin_isnan(x);
#endif
}
EXPO_HD bool isNaN(double x) {
#if defined(__CUDA_ARCH__)
  return (d2u(x) & 0x7FFFFFFFFFFFFFFFull) > 0x7FF0000000000000ull;
#else
  return __builtin_isnan(x);
#endif
}
EXPO_HD bool isFinite(float x) {
#if defined(__CUDA_ARCH__)
  return fabsf(x) < __int_as_float(0x7F800000);
#else
  return __builtin_isfinite(x);
#endif
}
EXPO_HD bool isFinite(double x) {
#if defined(__CUDA_ARCH__)
  return fabs(x) < __longlong_as_double(0x7FF0000000000000ll);
#else
  return __builtin_isfinite(x);
#endif
}
// |x|: the sign bit cleared.
EXPO_HD double absBits(double x) {
#if defined(__CUDA_ARCH__)
  return fabs(x);
#else
  return __builtin_fabs(x);
#endif
}

// ---- IEEE operations, each rounded once to nearest even --------------------------------------------------

EXPO_HD float add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
EXPO_HD float sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
EXPO_HD float mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
EXPO_HD float fma(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return __builtin_fmaf(a, b, c);
#endif
}
EXPO_HD double add(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
EXPO_HD double sub(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}
EXPO_HD double mul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
EXPO_HD double fma(double a, double b, double c) {
#if defined(__CUDA_ARCH__)
  return __fma_rn(a, b, c);
#else
  return __builtin_fma(a, b, c);
#endif
}
// fp32 to fp64 is exact.
EXPO_HD double widen(float x) { return static_cast<double>(x); }
EXPO_HD double widen(double x) { return x; }

// ---- storage conversions ---------------------------------------------------------------------------------

EXPO_HD float bf16ToF32(std::uint16_t h) { return u2f(std::uint32_t(h) << 16); }

// Round to nearest even by carrying into the kept half. A NaN is replaced first: the carry could turn it into
// an infinity or wrap it around to a zero.
EXPO_HD std::uint16_t f32ToBf16(float f) {
  if (isNaN(f)) return 0x7FC0;
  const std::uint32_t u = f2u(f);
  return std::uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

EXPO_HD float f16ToF32(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  const std::uint32_t man = h & 0x3FFu;
  if (exp == 0x1F) return u2f(sign | 0x7F800000u | (man << 13));
  if (exp == 0) {
    const float m = mul(static_cast<float>(man), 0x1p-24f);  // exact: man < 2^10
    return sign ? -m : m;
  }
  return u2f(sign | ((exp + 112u) << 23) | (man << 13));
}

// Exact software conversion (the scalar path has no F16C, the device none in this form): one rounding, to
// nearest even, with f16 subnormals and overflow to infinity. NaN becomes the canonical quiet NaN.
EXPO_HD std::uint16_t f32ToF16(float f) {
  const std::uint32_t u = f2u(f);
  const std::uint16_t sign = std::uint16_t((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return 0x7E00;
  if (a >= 0x477FF000u) return std::uint16_t(sign | 0x7C00u);  // 65520 and up: the tie above 65504 goes to inf
  if (a >= 0x38800000u) {                                     // 2^-14 and up: normal f16
    std::uint32_t r = a - 0x38000000u;                        // rebias the exponent from 127 to 15
    r += 0xFFFu + ((r >> 13) & 1u);
    return std::uint16_t(sign | (r >> 13));
  }
  // Subnormal f16: in units of 2^-24 the value is below 2^10, so adding 2^23 makes the FPU round it to an
  // integer, to nearest even. 1024 means it rounded up to the smallest normal, whose bits are 0x400.
  const float t = mul(u2f(a), 0x1p24f);
  const float n = sub(add(t, 0x1p23f), 0x1p23f);
  return std::uint16_t(sign | std::uint16_t(static_cast<std::uint32_t>(n)));
}

// ---- per dtype: storage bits <-> working value (fp32, or fp64 for F64) -------------------------------------

template <int DT>
struct Io;

template <>
struct Io<kBF16> {
  using W = float;
  using Bits = std::uint16_t;
  static EXPO_HD W widenBits(Bits h) { return bf16ToF32(h); }
  // R: the storage bits of a working value, NaN as the canonical quiet NaN.
  static EXPO_HD Bits round(W r) { return f32ToBf16(r); }
};

template <>
struct Io<kF16> {
  using W = float;
  using Bits = std::uint16_t;
  static EXPO_HD W widenBits(Bits h) { return f16ToF32(h); }
  static EXPO_HD Bits round(W r) { return f32ToF16(r); }
};

template <>
struct Io<kF32> {
  using W = float;
  using Bits = std::uint32_t;
  static EXPO_HD W widenBits(Bits h) { return u2f(h); }
  static EXPO_HD Bits round(W r) { return isNaN(r) ? kQNaN32 : f2u(r); }
};

template <>
struct Io<kF64> {
  using W = double;
  using Bits = std::uint64_t;
  static EXPO_HD W widenBits(Bits h) { return u2d(h); }
  static EXPO_HD Bits round(W r) { return isNaN(r) ? kQNaN64 : d2u(r); }
};

// R and back to the working precision: torch mode's intermediate roundings. F32 and F64 compute in their own
// precision, where R changes at most a NaN's payload; a NaN stays a NaN through the remaining operations and
// the final R writes the canonical one, so there it is the identity.
template <int DT>
EXPO_HD typename Io<DT>::W through(typename Io<DT>::W x) {
  if constexpr (DT == kF32 || DT == kF64) {
    return x;
  } else {
    return Io<DT>::widenBits(Io<DT>::round(x));
  }
}

// The unrounded result in the working precision; Io::round applies the final R.
//   fp32:  fma(α, d, a)                     d = a − b in the working precision
//   torch: d' = R(d); m = R(α · d'); a + m
template <int DT, int AR>
EXPO_HD typename Io<DT>::W result(typename Io<DT>::W a, typename Io<DT>::W d, typename Io<DT>::W alpha) {
  if constexpr (AR == kFp32) {
    return fma(alpha, d, a);
  } else {
    const typename Io<DT>::W dr = through<DT>(d);
    const typename Io<DT>::W m = through<DT>(mul(alpha, dr));
    return add(a, m);
  }
}

// ---- mixed dtypes and conversions --------------------------------------------------------------------------

// fp64 to fp32, rounded to nearest even.
EXPO_HD float narrow(double x) {
#if defined(__CUDA_ARCH__)
  return __double2float_rn(x);
#else
  return static_cast<float>(x);
#endif
}

// x rounded to fp32 "to odd": truncated toward zero, the last bit set when that lost anything (a NaN stays a
// NaN). fp32 keeps at least two bits more than bf16 and f16 everywhere in their range, subnormals included, so
// rounding this to nearest even at their precision gives the one nearest-even rounding of x itself: double
// rounding through fp32 without its error.
EXPO_HD float toOdd(double x) {
#if defined(__CUDA_ARCH__)
  float f = __double2float_rz(x);
#else
  float f = static_cast<float>(x);
  if (absBits(widen(f)) > absBits(x)) f = u2f(f2u(f) - 1u);  // rounded away from zero: one step back (Inf too)
#endif
  if (widen(f) != x) f = u2f(f2u(f) | 1u);
  return f;
}

// R to dtype DO of a working value of either precision: one rounding to nearest even, the canonical NaN. From
// the dtype's own working precision it is Io's rounding; fp32 to F64 is exact; fp64 to F32 one rounding, to
// BF16 and F16 straight from the double (through toOdd).
template <int DO, class W>
EXPO_HD typename Io<DO>::Bits roundTo(W r) {
  if constexpr (sizeof(W) == sizeof(typename Io<DO>::W)) {
    return Io<DO>::round(r);
  } else if constexpr (DO == kF64) {
    return Io<kF64>::round(widen(r));
  } else if constexpr (DO == kF32) {
    return isNaN(r) ? kQNaN32 : f2u(narrow(r));
  } else {
    return Io<DO>::round(toOdd(r));
  }
}

// A segment whose three dtypes are not all equal, or a conversion: computed from inputs staged in the compute
// dtype (docs/arithmetic.md, mixed dtypes).
EXPO_HDC constexpr bool isMixed(int op, int dtype, int baseDtype, int outDtype) {
  return op != kExtrapolate || dtype != baseDtype || dtype != outDtype;
}

// The dtype an extrapolate segment computes in, its inputs staged to it: torch mode the output dtype (each
// input first rounded to it, then that dtype's formula); fp32 mode F64 when an input is F64, else F32 (inputs
// widened exactly; the result rounded once to the output dtype). Equal dtypes: that dtype.
EXPO_HDC constexpr int computeDtype(int arith, int dtype, int baseDtype, int outDtype) {
  return dtype == baseDtype && dtype == outDtype ? dtype
         : arith == kTorch                       ? outDtype
         : dtype == kF64 || baseDtype == kF64    ? kF64
                                                 : kF32;
}

// Sums of squares accumulate with one fused multiply-add per element, acc = fma(x, x, acc): one rounding per
// element on every CPU path (F64) and on the GPU (every dtype).
EXPO_HD double sumSquare(double acc, double x) { return fma(x, x, acc); }

}  // namespace
}  // namespace expo
