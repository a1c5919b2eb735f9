// The ExPO operation of the CUDA tile traversal (tile.cuh), one element pair at a time: the output bits of
// docs/arithmetic.md (arith.h) and one thread's share of a tile's statistics (Σa², Σb², Σ(a−b)², max |a − b|
// and the non-finite counts over its input pairs, Σout² per output), each summed in fp64 with one
// fma(x, x, s) per element in the traversal's element order.
//
// The general path's hooks skip a pair with a non-finite input (and a non-finite output for Σout²); the fast
// path's are branch-free: such a pair adds fma(0, 0, s) = s to each sum and |0 − 0| = 0 to the maximum, i.e.
// changes nothing (the sums start at +0 and stay >= +0, the maximum starts at +0), so both give the same bits.
#pragma once

#include "../src/arith.h"

namespace expo::cuda {

EXPO_HD std::uint32_t popCount(std::uint32_t m) {
#if defined(__CUDA_ARCH__)
  return std::uint32_t(__popc(m));
#else
  std::uint32_t c = 0;
  for (; m; m &= m - 1) ++c;
  return c;
#endif
}

// An optimization barrier on the device (no effect on the value): keeps a select on the narrow working value
// where it is written instead of letting the compiler move it past the widening to fp64.
EXPO_HD void keepSelect(float& x) {
#if defined(__CUDA_ARCH__)
  asm volatile("" : "+f"(x));
#else
  (void)x;
#endif
}
EXPO_HD void keepSelect(double& x) { (void)x; }

// DT: the inputs' dtype (a mixed segment's compute dtype, its inputs staged by the cast kernel); DO: the outputs'
// (fp32 mode on the mixed tile kernel: BF16, F16 or F64 from F32, narrower than F64 from F64).
template <int DT, int AR, int DO = DT>
struct ExpoOp {
  static constexpr int kDtype = DT;
  static constexpr int kOutDtype = DO;
  using IO = Io<DT>;
  using Bits = typename IO::Bits;
  using OutBits = typename Io<DO>::Bits;
  using W = typename IO::W;
  using OW = typename Io<DO>::W;
  using Param = W;  // α: fp32, or fp64 for F64

  // α from its piece-table word: float bits (zero-extended) for BF16/F16/F32, double bits for F64.
  static EXPO_HD Param param(std::uint64_t word) {
    if constexpr (DT == kF64) {
      return u2d(word);
    } else {
      return u2f(std::uint32_t(word));
    }
  }
  static EXPO_HD W value(Bits h) { return IO::widenBits(h); }
  static EXPO_HD OutBits out(W x, W y, Param alpha) { return roundTo<DO>(result<DT, AR>(x, sub(x, y), alpha)); }

  std::uint32_t finite;  // bit set: both inputs of that element are finite
  std::uint32_t nfOut;   // bit set: finite inputs, a non-finite output for some α
  double a2, b2, d2, mx;
  std::uint32_t nfIn;

  EXPO_HD void clear() {
    finite = nfOut = 0;
    nfIn = 0;
    a2 = b2 = d2 = mx = 0.0;
  }

  // ---- general path ----

  EXPO_HD void input(W x, W y, std::uint32_t bit) {
    if (!(isFinite(x) && isFinite(y))) {
      ++nfIn;
      return;
    }
    finite |= bit;
    const double dx = widen(x);
    const double dy = widen(y);
    const double dd = sub(dx, dy);
    a2 = sumSquare(a2, dx);
    b2 = sumSquare(b2, dy);
    d2 = sumSquare(d2, dd);
    const double ad = absBits(dd);
    if (ad > mx) mx = ad;
  }

  // Σout² of one output: finite outputs of finite inputs; a non-finite output of finite inputs is noted.
  EXPO_HD double outStat(double o2, OutBits bits, std::uint32_t bit) {
    if (finite & bit) {
      const OW ow = Io<DO>::widenBits(bits);
      if (isFinite(ow))
        o2 = sumSquare(o2, widen(ow));
      else
        nfOut |= bit;
    }
    return o2;
  }

  // ---- fast path, branch-free ----

  EXPO_HD bool inputFull(W x, W y, std::uint32_t bit) {
    const bool fin = isFinite(x) && isFinite(y);
    W xs = fin ? x : W(0);
    W ys = fin ? y : W(0);
    keepSelect(xs);  // select the narrow value, then widen (not: widen both, then select two words each)
    keepSelect(ys);
    const double dx = widen(xs);
    const double dy = widen(ys);
    const double dd = sub(dx, dy);
    a2 = sumSquare(a2, dx);
    b2 = sumSquare(b2, dy);
    d2 = sumSquare(d2, dd);
    const double ad = absBits(dd);
    mx = ad > mx ? ad : mx;
    if (fin) finite |= bit;
    return fin;
  }

  EXPO_HD bool finiteAt(std::uint32_t bit) const { return (finite & bit) != 0; }

  EXPO_HD double outStatFull(double o2, OutBits bits, bool fin, std::uint32_t bit) {
    const OW ow = Io<DO>::widenBits(bits);
    const bool okOut = isFinite(ow);
    if (fin && !okOut) nfOut |= bit;
    OW os = fin && okOut ? ow : OW(0);
    keepSelect(os);
    return sumSquare(o2, widen(os));
  }

  // The non-finite pairs of a fast-path thread: its n pairs less the finite ones.
  EXPO_HD void endFull(int n) { nfIn = std::uint32_t(n) - popCount(finite); }

  EXPO_HD std::uint32_t nonfiniteOutputs() const { return popCount(nfOut); }
};

}  // namespace expo::cuda
