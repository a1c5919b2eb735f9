// The arithmetic of DESIGN.md §3 for the CUDA kernel, one element at a time, written once for the device and
// the host. It mirrors kernel/src/element.h operation for operation: the same integer rounding code for bf16 and
// f16, the same canonical NaNs, and every floating-point operation an explicit IEEE round-to-nearest-even
// intrinsic on the device (__fsub_rn, __fmaf_rn, __fmul_rn, __fadd_rn, __dsub_rn, __fma_rn, ...), so neither
// nvcc's contraction (the library is also built with -fmad=false) nor a fast-math flag can change a bit.
//
// On the host (g++ or nvcc's host pass, with -ffp-contract=off) the same functions compile to plain IEEE
// operations: the host emulation of the kernel (kernel/cuda/emulate.h) uses them, so this mirror is checked
// against the CPU kernel on machines without a GPU, and the GPU is checked against both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define EXPO_HD __host__ __device__ __forceinline__
#define EXPO_HDC __host__ __device__
#else
#define EXPO_HD inline
#define EXPO_HDC
#endif

namespace expo_cuda {

// The descriptor codes of kernel/src/kernel.h.
enum Dtype : int { kBF16 = 0, kF16 = 1, kF32 = 2, kF64 = 3 };
enum Arith : int { kFp32 = 0, kTorch = 1 };
constexpr int kMaxOutputs = 32;
constexpr int kResultHead = 6;  // sumA2, sumB2, sumD2, maxAbsDiff, nonfiniteInputs, nonfiniteOutputs, K sumOut2

EXPO_HDC constexpr int dtypeSize(int dtype) { return dtype == kBF16 || dtype == kF16 ? 2 : dtype == kF32 ? 4 : 8; }

constexpr std::uint32_t kQNaN32 = 0x7FC00000u;
constexpr std::uint64_t kQNaN64 = 0x7FF8000000000000ull;

// ---- bits ------------------------------------------------------------------------------------------------

EXPO_HD float u2f(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}
EXPO_HD std::uint32_t f2u(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}
EXPO_HD double u2d(std::uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double f;
  std::memcpy(&f, &u, 8);
  return f;
#endif
}
EXPO_HD std::uint64_t d2u(double f) {
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint64_t>(__double_as_longlong(f));
#else
  std::uint64_t u;
  std::memcpy(&u, &f, 8);
  return u;
#endif
}

// Classification on the bits: no dependence on math-library flags. On the device the same predicates as one
// IEEE comparison each (an unordered compare for NaN, |x| < inf for finite: false for NaN and both
// infinities), which the compiler cannot relax (no fast-math flag is ever used) and which are one instruction
// instead of a mask and an integer compare.
EXPO_HD bool isNaN(float x) {
#if defined(__CUDA_ARCH__)
  return isnan(x);
#else
  return (f2u(x) & 0x7FFFFFFFu) > 0x7F800000u;
#endif
}
EXPO_HD bool isNaN(double x) { return (d2u(x) & 0x7FFFFFFFFFFFFFFFull) > 0x7FF0000000000000ull; }
EXPO_HD bool isFinite(float x) {
#if defined(__CUDA_ARCH__)
  return fabsf(x) < __int_as_float(0x7F800000);
#else
  return (f2u(x) & 0x7F800000u) != 0x7F800000u;
#endif
}
EXPO_HD bool isFinite(double x) {
#if defined(__CUDA_ARCH__)
  return fabs(x) < __longlong_as_double(0x7FF0000000000000ll);
#else
  return (d2u(x) & 0x7FF0000000000000ull) != 0x7FF0000000000000ull;
#endif
}
// |x| by clearing the sign bit (fabs does exactly that on the device).
EXPO_HD double absBits(double x) {
#if defined(__CUDA_ARCH__)
  return fabs(x);
#else
  return u2d(d2u(x) & 0x7FFFFFFFFFFFFFFFull);
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

// ---- storage conversions (element.h's integer code, line for line) ----------------------------------------

EXPO_HD float bf16ToF32(std::uint16_t h) { return u2f(std::uint32_t(h) << 16); }

// Round to nearest even by carrying into the kept half; a NaN is replaced first (the carry could turn it into
// an infinity or wrap it to a zero).
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

// One rounding to nearest even, f16 subnormals, overflow to infinity; NaN becomes the canonical quiet NaN.
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
  // Subnormal f16: in units of 2^-24 the value is below 2^10; adding 2^23 rounds it to an integer, to nearest
  // even. 1024 means it rounded up to the smallest normal, whose bits are 0x400.
  const float t = mul(u2f(a), 0x1p24f);
  const float n = sub(add(t, 0x1p23f), 0x1p23f);
  return std::uint16_t(sign | std::uint16_t(static_cast<std::uint32_t>(n)));
}

// ---- per dtype: storage bits <-> working value ------------------------------------------------------------

template <int DT>
struct Io;

template <>
struct Io<kBF16> {
  using W = float;
  using Bits = std::uint16_t;
  static EXPO_HD W widenBits(Bits h) { return bf16ToF32(h); }
  // R: the storage bits of the working value (canonical NaN).
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

template <int DT>
EXPO_HD typename Io<DT>::W through(typename Io<DT>::W x) {
  return Io<DT>::widenBits(Io<DT>::round(x));
}

// The unrounded result in the working precision (fp32, or fp64 for F64); Io::round applies the final R.
//   fp32:  fma(α, a − b, a)
//   torch: d = R(a − b); m = R(α·d); a + m
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

// Statistics accumulate with one fused multiply-add per element, as on every CPU path.
EXPO_HD double sumSquare(double acc, double x) { return fma(x, x, acc); }

}  // namespace expo_cuda
