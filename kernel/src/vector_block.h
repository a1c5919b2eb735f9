// The vector paths' block algorithm, written once over an ISA traits type T (avx2.h, avx512.h):
// one block of 32 elements per step, outputs and the statistics of docs/arithmetic.md in the order element.h
// defines, a block holding a non-finite value (or whose fp32 group sums overflow) redone by the scalar code.
//
// T provides, all inline and compiled under its file's target ISA:
//   F, D                 an fp32 vector; the 8 fp64 partial sums as one value
//   kVecs                fp32 vectors per block of 32 (element.h's lane layout, split as the ISA's width allows)
//   Block<DT>            Raw (a block as loaded), load, spill (for the scalar redo), widen (to kVecs vectors in
//                        element.h's lane order), through (torch's intermediate rounding), put<NT> (rounds to
//                        storage, stores, hands back the stored values widened)
//   Out<DO>              put<NT> of fp32 vectors in element order (the F32 lane order) to BF16, F16 or F64: the
//                        outputs of a mixed segment computed in F32 (staged.h)
//   putNarrow<DO, NT>(p, d)  8 fp64 results rounded to BF16, F16 (straight from the double, arith.h's toOdd) or
//                        F32 and stored; returns the stored values widened: a mixed segment computed in F64
//   cast(from, to, src, dst, n)  staged.h's castRun, vectorized where the ISA makes it cheap
//   add sub mul fma set1 on F and on D; zero, load, store, put<NT> (an output vector of 8 doubles), maxAbs,
//   max (the largest lane), finite (no lane NaN or infinite) on D
//   groupSums<DT>(v)     element.h's fp32 group sums of a block, widened: the partial sums' increments
//   mayRaiseMax(d, th)   some |d| >= th (element.h's maxThreshold filter)
//   maxAbsDiff(mx, a, b) mx with every |double(a) − double(b)| of the block folded in
//
// Included by each kernel_*.cc after its target pragma, so everything here is compiled for that ISA; internal
// linkage keeps the instantiations apart (see element.h).
#pragma once

#include "block_loop.h"
#include "staged.h"

namespace expo {
namespace {

// Running sums of a segment, one fp64 lane per partial sum; o2 holds K of them.
template <class T, int KF>
struct Acc {
  using F = typename T::F;
  using D = typename T::D;
  static constexpr int kCap = KF ? KF : kMaxOutputs;
  D a2, b2, d2, mx;
  D o2[kCap];
  // Narrow dtypes: maxThreshold of the largest mx lane, in every lane (element.h).
  F th;
  std::uint64_t nfIn = 0, nfOut = 0;

  // User-provided so it gets the file's target ISA (an implicit one would not).
  explicit Acc(int k) : a2(T::zero()), b2(T::zero()), d2(T::zero()), mx(T::zero()), th(T::set1(maxThreshold(0.0))) {
    for (int j = 0; j < k; ++j) o2[j] = T::zero();
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
    T::store(t.a2, a2);
    T::store(t.b2, b2);
    T::store(t.d2, d2);
    T::store(t.mx, mx);
    for (int j = 0; j < k; ++j) T::store(t.o2[j], o2[j]);
    t.nfIn = nfIn;
    t.nfOut = nfOut;
  }
  void load(const Sums& t, int k) {
    a2 = T::load(t.a2);
    b2 = T::load(t.b2);
    d2 = T::load(t.d2);
    mx = T::load(t.mx);
    for (int j = 0; j < k; ++j) o2[j] = T::load(t.o2[j]);
    nfIn = t.nfIn;
    nfOut = t.nfOut;
    retune();
  }
  void retune() { th = T::set1(maxThreshold(T::max(mx))); }
  // Sums of squares are NaN or +Inf exactly when a value in them was, or when a narrow block's fp32 group sum
  // overflowed (or, in f64, the sum itself): then the scalar code redoes the block, with the same result.
  bool finite(int k) const {
    D c = T::add(T::add(a2, b2), d2);
    for (int j = 0; j < k; ++j) c = T::add(c, o2[j]);
    return T::finite(c);
  }
};

// A block holding a non-finite value, redone by the scalar code from the sums before the block (outputs
// included: only the scalar code writes canonical NaNs). Works on copies so the running sums never have their
// address taken and stay in registers. DO: the outputs' dtype.
template <class T, int DT, int AR, int KF, int DO = DT>
__attribute__((noinline, cold)) Acc<T, KF> redo(const SegArgs& s, std::uint8_t* const* dst, const std::uint8_t* rawA,
                                                const std::uint8_t* rawB, std::size_t first, Acc<T, KF> acc) {
  const SegArgs r = redirected(s, dst, first, dtypeSize(DO));
  Sums t;
  acc.store(t, s.k);
  block<DT, AR, true, DO>(r, rawA, rawB, first, t);
  acc.load(t, s.k);
  return acc;
}

template <bool B, class X, class Y>
struct Pick {
  using type = X;
};
template <class X, class Y>
struct Pick<false, X, Y> {
  using type = Y;
};

// bf16, f16, f32: arithmetic in fp32 vectors. DO: the outputs' dtype, DT's own or (a mixed segment staged in F32,
// fp32 mode) BF16, F16 or F64 through T::Out.
template <class T, int DT, int AR, int KF, int DO = DT>
struct Narrow {
  using F = typename T::F;
  using VT = typename T::template Block<DT>;
  using OT = typename Pick<DO == DT, VT, typename T::template Out<DO>>::type;
  static constexpr int kVecs = T::kVecs;
  static constexpr std::size_t kBlockBytes = kBlock * dtypeSize(DT);
  static constexpr std::size_t kOutBlockBytes = kBlock * dtypeSize(DO);
  static constexpr int kCap = Acc<T, KF>::kCap;
  const SegArgs& s;
  Acc<T, KF> acc;
  F alpha[kCap];

  explicit Narrow(const SegArgs& args) : s(args), acc(k()) {
    for (int j = 0; j < k(); ++j) alpha[j] = T::set1(s.alphaF[j]);
  }
  int k() const { return KF ? KF : s.k; }

  template <bool NT>
  __attribute__((always_inline)) void step(std::size_t i, std::uint8_t* const* dst) {
    const int K = k();
    const std::size_t off = i * kBlockBytes;
    prefetchInputs<kBlockBytes>(s, off);
    const typename VT::Raw ra = VT::load(s.a + off);
    const typename VT::Raw rb = VT::load(s.b + off);
    F a[kVecs], b[kVecs], d[kVecs];
    VT::widen(ra, a);
    VT::widen(rb, b);
    for (int v = 0; v < kVecs; ++v) d[v] = T::sub(a[v], b[v]);

    const Acc<T, KF> before(acc, K);
    acc.a2 = T::add(acc.a2, T::template groupSums<DT>(a));
    acc.b2 = T::add(acc.b2, T::template groupSums<DT>(b));
    acc.d2 = T::add(acc.d2, T::template groupSums<DT>(d));
    // max|a − b| in fp64 only for a block that may raise it (rare): the fp32 filter of element.h.
    if (__builtin_expect(T::mayRaiseMax(d, acc.th), 0)) {
      acc.mx = T::maxAbsDiff(acc.mx, a, b);
      acc.retune();
    }
    if (AR == kTorch)
      for (int v = 0; v < kVecs; ++v) d[v] = VT::through(d[v]);

    for (int k = 0; k < K; ++k) {
      F r[kVecs], o[kVecs];
      for (int v = 0; v < kVecs; ++v)
        r[v] = AR == kFp32 ? T::fma(alpha[k], d[v], a[v]) : T::add(a[v], VT::through(T::mul(alpha[k], d[v])));
      OT::template put<NT>(dst[k], r, o);
      acc.o2[k] = T::add(acc.o2[k], T::template groupSums<DT>(o));
    }

    if (__builtin_expect(!acc.finite(K), 0)) {
      if (NT) _mm_sfence();  // the streamed outputs land before the scalar code rewrites them
      alignas(64) std::uint8_t rawA[kBlockBytes];
      alignas(64) std::uint8_t rawB[kBlockBytes];
      VT::spill(ra, rawA);
      VT::spill(rb, rawB);
      acc.assign(redo<T, DT, AR, KF, DO>(s, dst, rawA, rawB, i * kBlock, before), K);
    }
  }
};

// f64: four groups of 8 doubles per block, group g holding elements 8g to 8g + 7 (elemIndex), one per lane.
// DO: the outputs' dtype, F64 or (a mixed segment computed in F64) a narrower one through T::putNarrow.
template <class T, int AR, int KF, int DO = kF64>
struct Wide {
  using D = typename T::D;
  static constexpr std::size_t kBlockBytes = kBlock * 8;
  static constexpr std::size_t kOutBlockBytes = kBlock * dtypeSize(DO);
  static constexpr int kCap = Acc<T, KF>::kCap;
  const SegArgs& s;
  Acc<T, KF> acc;
  D alpha[kCap];

  explicit Wide(const SegArgs& args) : s(args), acc(k()) {
    for (int j = 0; j < k(); ++j) alpha[j] = T::set1(s.alphaD[j]);
  }
  int k() const { return KF ? KF : s.k; }

  static D sumSquares(D acc, const D g[4]) {
    for (int i = 0; i < 4; ++i) acc = T::fma(g[i], g[i], acc);
    return acc;
  }

  template <bool NT>
  __attribute__((always_inline)) void step(std::size_t i, std::uint8_t* const* dst) {
    const int K = k();
    const std::size_t off = i * kBlockBytes;
    prefetchInputs<kBlockBytes>(s, off);
    D A[4], B[4], Df[4];
    for (int g = 0; g < 4; ++g) {
      A[g] = T::load(reinterpret_cast<const double*>(s.a + off + 64 * g));
      B[g] = T::load(reinterpret_cast<const double*>(s.b + off + 64 * g));
      Df[g] = T::sub(A[g], B[g]);
    }
    const Acc<T, KF> before(acc, K);
    acc.a2 = sumSquares(acc.a2, A);
    acc.b2 = sumSquares(acc.b2, B);
    acc.d2 = sumSquares(acc.d2, Df);
    for (int g = 0; g < 4; ++g) acc.mx = T::maxAbs(acc.mx, Df[g]);

    for (int k = 0; k < K; ++k) {
      D R[4];
      for (int g = 0; g < 4; ++g) {
        R[g] = AR == kFp32 ? T::fma(alpha[k], Df[g], A[g]) : T::add(A[g], T::mul(alpha[k], Df[g]));
        if constexpr (DO == kF64)
          T::template put<NT>(dst[k] + 64 * g, R[g]);
        else
          R[g] = T::template putNarrow<DO, NT>(dst[k] + 8 * dtypeSize(DO) * g, R[g]);
      }
      acc.o2[k] = sumSquares(acc.o2[k], R);
    }

    if (__builtin_expect(!acc.finite(K), 0)) {
      if (NT) _mm_sfence();  // the streamed outputs land before the scalar code rewrites them
      alignas(64) std::uint8_t rawA[kBlockBytes];
      alignas(64) std::uint8_t rawB[kBlockBytes];
      for (int g = 0; g < 4; ++g) {
        T::store(reinterpret_cast<double*>(rawA + 64 * g), A[g]);
        T::store(reinterpret_cast<double*>(rawB + 64 * g), B[g]);
      }
      acc.assign(redo<T, kF64, AR, KF, DO>(s, dst, rawA, rawB, i * kBlock, before), K);
    }
  }
};

// One whole segment: the whole blocks through the vector step, the rest through the scalar tail.
template <class T, int DT, int AR, int KF>
void vectorSegment(const SegArgs& s, Sums& out) {
  if constexpr (DT == kF64) {
    const Wide<T, AR, KF> kern = forEachBlock(s, Wide<T, AR, KF>(s));
    kern.acc.store(out, kern.k());
  } else {
    const Narrow<T, DT, AR, KF> kern = forEachBlock(s, Narrow<T, DT, AR, KF>(s));
    kern.acc.store(out, kern.k());
  }
  tail<DT, AR>(s, s.count / kBlock * kBlock, out);
}

template <class T>
struct VectorMixed;

// A mixed segment computed in C with outputs in DO (staged.h): the chunks' whole blocks through the vector step,
// the last chunk's partial block through the scalar tail.
template <class T, int C, int AR, int DO, int KF>
void stagedVector(const SegArgs& s, Sums& out) {
  using Kern = typename Pick<C == kF64, Wide<T, AR, KF, DO>, Narrow<T, C, AR, KF, DO>>::type;
  Stage<VectorMixed<T>> st(s, C);
  Kern kern(st.t);
  const int K = kern.k();
  std::uint8_t* dst[Kern::kCap];
  while (st.next()) {
    const std::size_t blocks = st.t.count / kBlock;
    for (std::size_t i = 0; i < blocks; ++i) {
      for (int k = 0; k < K; ++k) dst[k] = st.t.out[k] + i * Kern::kOutBlockBytes;
      kern.template step<false>(i, dst);
    }
    if (blocks * kBlock < st.t.count) {  // only the last chunk is not whole blocks
      kern.acc.store(out, K);
      tail<C, AR, DO>(st.t, blocks * kBlock, out);
      return;
    }
  }
  kern.acc.store(out, K);
}

// The vector paths' runner for mixedSegment.
template <class T>
struct VectorMixed {
  static void cast(int from, int to, const std::uint8_t* src, std::uint8_t* dst, std::size_t n) {
    T::cast(from, to, src, dst, n);
  }
  template <int C, int AR, int DO>
  static void run(const SegArgs& s, Sums& acc) {
    if (s.k == 1) {
      stagedVector<T, C, AR, DO, 1>(s, acc);
    } else {
      stagedVector<T, C, AR, DO, 0>(s, acc);
    }
  }
};

}  // namespace
}  // namespace expo
