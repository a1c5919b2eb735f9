// Random requests for the CUDA tests: every dtype, bit patterns with NaNs (quiet and signalling, any payload),
// infinities, signed zeros, subnormals, the largest finite values, pairs one unit in the last place apart with
// alphas of 0.5 and 1.5 (their results land on rounding ties), and ordinary nearby pairs; segments of every
// size class around the tile size, at element-aligned but not 16-byte-aligned offsets; in-place K = 1 and
// separate-output K = 3; with mixed dtypes, segments whose base and output dtypes differ from the aligned one
// and conversions. The CPU kernel (kernel/src, scalar path) is the reference.
#pragma once

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../src/job.h"
#include "../../src/staged.h"
#include "../tile.cuh"

namespace expo_test {

using expo::dtypeSize;

inline const char* dtypeName(int dt) { return expo::kDtypeNames[dt]; }

struct Layout {
  int width, man, exp;
};
inline Layout layoutOf(int dt) {
  switch (dt) {
    case 0:
      return {16, 7, 8};
    case 1:
      return {16, 10, 5};
    case 2:
      return {32, 23, 8};
    default:
      return {64, 52, 11};
  }
}

class Gen {
 public:
  explicit Gen(std::uint64_t seed) : rng_(seed) {}
  std::uint64_t bits(int width) {
    const std::uint64_t v = rng_();
    return width == 64 ? v : v & ((1ull << width) - 1);
  }
  std::uint64_t below(std::uint64_t n) { return n ? rng_() % n : 0; }

  // A special value of the format.
  std::uint64_t special(int dt) {
    const Layout l = layoutOf(dt);
    const std::uint64_t sign = below(2) << (l.width - 1);
    const std::uint64_t expMax = (1ull << l.exp) - 1;
    const std::uint64_t manMask = (1ull << l.man) - 1;
    switch (below(9)) {
      case 0:
        return sign;  // ±0
      case 1:
        return sign | (expMax << l.man);  // ±Inf
      case 2:
        return sign | (expMax << l.man) | (1ull << (l.man - 1)) | (bits(l.man) & (manMask >> 1));  // quiet NaN
      case 3:
        return sign | (expMax << l.man) | ((bits(l.man - 1) & (manMask >> 1)) | 1);  // signalling NaN
      case 4:
        return sign | (bits(l.man) & manMask);  // subnormal (or zero)
      case 5:
        return sign | 1;  // smallest subnormal
      case 6:
        return sign | ((expMax - 1) << l.man) | manMask;  // largest finite
      case 7:
        return sign | (1ull << l.man);  // smallest normal
      default:
        return sign | ((expMax - 1) << l.man) | (bits(l.man) & manMask);  // top binade
    }
  }

  // An ordinary value: exponent near 1.0 (within ±range binades).
  std::uint64_t ordinary(int dt, int range) {
    const Layout l = layoutOf(dt);
    const std::int64_t bias = (1ll << (l.exp - 1)) - 1;
    const std::int64_t e = bias + std::int64_t(below(2 * range + 1)) - range;
    const std::uint64_t sign = below(2) << (l.width - 1);
    return sign | (std::uint64_t(e) << l.man) | (bits(l.man) & ((1ull << l.man) - 1));
  }

  // Fills n pairs (a, b) of dtype dt.
  void pairs(int dt, std::size_t n, std::uint8_t* a, std::uint8_t* b) {
    const Layout l = layoutOf(dt);
    const int sz = dtypeSize(dt);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t x, y;
      const std::uint64_t kind = below(20);
      if (kind < 4) {  // random bit patterns
        x = bits(l.width);
        y = bits(l.width);
      } else if (kind < 6) {  // specials on either side
        x = below(2) ? special(dt) : ordinary(dt, 8);
        y = below(2) ? special(dt) : ordinary(dt, 8);
      } else if (kind < 11) {  // one ulp apart (ties with alpha 0.5 / 1.5), sometimes across a binade
        x = ordinary(dt, 4);
        y = below(2) ? x + 1 : x - 1;
      } else if (kind < 13) {  // subnormal pairs
        const std::uint64_t sign = below(2) << (l.width - 1);
        x = sign | (bits(l.man) & ((1ull << l.man) - 1));
        y = below(2) ? x ^ (bits(3)) : sign | (bits(l.man) & ((1ull << l.man) - 1));
      } else {  // nearby pairs: the realistic case, a small relative shift
        x = ordinary(dt, 6);
        y = x ^ (bits(l.man > 6 ? 6 : l.man));
      }
      std::memcpy(a + i * sz, &x, sz);
      std::memcpy(b + i * sz, &y, sz);
    }
  }

  // Fills n pairs (a of dtype da, b of dtype db): mostly b near a (the partner pairs() makes for a, rounded to
  // db, sometimes a unit in its last place off), else of db's own kinds.
  void mixedPairs(int da, int db, std::size_t n, std::uint8_t* a, std::uint8_t* b) {
    const int sb = dtypeSize(db);
    std::vector<std::uint8_t> near(n * std::size_t(dtypeSize(da))), own(n * std::size_t(sb)), spare(own.size());
    pairs(da, n, a, near.data());
    expo::castRun(da, db, near.data(), b, n);
    pairs(db, n, own.data(), spare.data());
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t kind = below(4);
      if (kind == 0) std::memcpy(b + i * sb, own.data() + i * sb, std::size_t(sb));
      if (kind == 1) b[i * sb] ^= 1;
    }
  }

 private:
  std::mt19937_64 rng_;
};

struct TestSeg {
  int op = expo::kExtrapolate;
  int dtype = expo::kBF16;
  int baseDtype = expo::kBF16;
  int outDtype = expo::kBF16;
  std::uint64_t count;
  std::uint64_t aOff, bOff, outOff;
  std::vector<double> alphas;
};

// A request over owned buffers; outs alias `aligned` when inPlace.
struct Request {
  int arith = 0;
  int k = 1;
  bool inPlace = false;
  std::vector<std::uint8_t> aligned, base;
  std::vector<std::vector<std::uint8_t>> outs;
  std::vector<TestSeg> segs;

  std::vector<double> desc() const {
    std::vector<double> d;
    for (const TestSeg& s : segs) {
      d.push_back(s.op);
      d.push_back(s.dtype);
      d.push_back(s.baseDtype);
      d.push_back(s.outDtype);
      d.push_back(double(s.count));
      d.push_back(double(s.aOff));
      d.push_back(double(s.bOff));
      d.push_back(double(s.outOff));
      for (double x : s.alphas) d.push_back(x);
    }
    return d;
  }
};

// Element counts around the tile sizes of every dtype.
inline std::uint64_t pickCount(Gen& g, int dt) {
  const std::uint64_t t = expo::cuda::tileElems(dt);
  const std::uint64_t v = 16 / std::uint64_t(dtypeSize(dt));
  const std::uint64_t c[] = {0, 1, v - 1, v, v + 1, 31, 255, t - 1, t, t + 1, 2 * t + v + 3, 3 * t - 1};
  const std::uint64_t r = g.below(16);
  return r < 12 ? c[r] : 1 + g.below(4 * t);
}

// nseg segments of random dtypes (onlyDtype >= 0: all of that dtype, equal dtypes); with mixed, base and output
// dtypes drawn too (the output the aligned one's in place) and a sixth of the segments conversions.
inline Request makeRequest(Gen& g, int arith, int k, bool inPlace, int nseg, int onlyDtype = -1, bool mixed = false) {
  Request r;
  r.arith = arith;
  r.k = k;
  r.inPlace = inPlace;
  const double alphaSet[] = {0.5, 1.5, 0.3, 0.1, 2.0, 0.25, -0.7, 0.0, 1e-3, 3.0};
  std::uint64_t aLen = 0, bLen = 0, oLen = 0;
  for (int i = 0; i < nseg; ++i) {
    TestSeg s;
    s.dtype = onlyDtype >= 0 ? onlyDtype : int(g.below(4));
    s.baseDtype = mixed && g.below(2) ? int(g.below(4)) : s.dtype;
    s.outDtype = mixed && !inPlace && g.below(2) ? int(g.below(4)) : s.dtype;
    s.op = mixed && g.below(6) == 0 ? expo::kConvert : expo::kExtrapolate;
    s.count = pickCount(g, s.dtype);
    const std::uint64_t sz = std::uint64_t(dtypeSize(s.dtype));
    const std::uint64_t szB = std::uint64_t(dtypeSize(s.baseDtype));
    const std::uint64_t szO = std::uint64_t(dtypeSize(s.outDtype));
    // element-aligned, rarely 16-byte aligned, with gaps, and base at a different offset than aligned
    aLen = (aLen + sz - 1) / sz * sz + sz * g.below(3);
    bLen = (bLen + szB - 1) / szB * szB + szB * g.below(5);
    oLen = (oLen + szO - 1) / szO * szO + szO * g.below(3);
    s.aOff = aLen;
    s.bOff = bLen;
    s.outOff = inPlace ? aLen : oLen;
    aLen += s.count * sz;
    bLen += s.count * szB;
    oLen += s.count * szO;
    for (int j = 0; j < k; ++j) s.alphas.push_back(alphaSet[g.below(sizeof alphaSet / sizeof alphaSet[0])]);
    r.segs.push_back(s);
  }
  r.aligned.assign(aLen + 8, 0);
  r.base.assign(bLen + 8, 0);
  for (const TestSeg& s : r.segs)
    g.mixedPairs(s.dtype, s.baseDtype, s.count, r.aligned.data() + s.aOff, r.base.data() + s.bOff);
  if (!inPlace) r.outs.assign(k, std::vector<std::uint8_t>(oLen + 8, 0));
  return r;
}

// A request's buffers as the kernels see them; `outs` is filled with `poison` first (separate outputs).
struct Bound {
  expo::Job job;
  std::vector<double> desc;
  std::vector<double> results;
};

inline void bind(Request& r, Bound& b, std::vector<std::vector<std::uint8_t>>& outs, std::uint8_t* alignedCopy) {
  b.desc = r.desc();
  b.results.assign(r.segs.size() * std::size_t(expo::kResultHead + r.k), -1.0);
  expo::Job& j = b.job;
  j.arith = r.arith;
  j.k = r.k;
  j.aligned = {alignedCopy, r.aligned.size()};
  j.base = {r.base.data(), r.base.size()};
  for (int i = 0; i < r.k; ++i) j.outs[i] = r.inPlace ? j.aligned : expo::Span{outs[i].data(), outs[i].size()};
  j.desc = b.desc.data();
  j.descLen = b.desc.size();
  j.results = b.results.data();
  j.resultsLen = b.results.size();
}

inline std::string describe(const TestSeg& s) {
  if (s.op == expo::kConvert) return std::string("convert ") + dtypeName(s.dtype) + "->" + dtypeName(s.outDtype);
  return std::string(dtypeName(s.dtype)) + "+" + dtypeName(s.baseDtype) + "->" + dtypeName(s.outDtype);
}

// Compares a run's outputs and statistics with the reference; prints the first few differences.
struct Compare {
  std::uint64_t outputMismatches = 0;
  std::uint64_t statMismatches = 0;
  int printed = 0;
  std::string where;

  void note(const char* fmt, ...) __attribute__((format(printf, 2, 3)));

  void outputs(const Request& r, const std::uint8_t* want, const std::uint8_t* got, int out) {
    for (std::size_t si = 0; si < r.segs.size(); ++si) {
      const TestSeg& s = r.segs[si];
      const std::size_t sz = std::size_t(dtypeSize(s.outDtype));
      for (std::uint64_t e = 0; e < s.count; ++e) {
        const std::size_t o = std::size_t(s.outOff + e * sz);
        if (std::memcmp(want + o, got + o, sz) != 0) {
          ++outputMismatches;
          std::uint64_t x = 0, y = 0;
          std::memcpy(&x, want + o, sz);
          std::memcpy(&y, got + o, sz);
          note("%s: output %d segment %zu (%s) element %llu: want 0x%llx got 0x%llx", where.c_str(), out, si,
               describe(s).c_str(), (unsigned long long)e, (unsigned long long)x, (unsigned long long)y);
        }
      }
    }
  }

  // Counts and the maximum exactly; sums exactly when `exact`, else to a tolerance: the CPU kernel squares
  // BF16/F16/F32 values in fp32 groups of four before summing in fp64 (kernel/src/element.h), the GPU squares
  // and sums in fp64, so they agree to a few fp32 roundings (relative 1e-6), and absolutely to n x 2^-120
  // where fp32 squares are subnormal or zero.
  void stats(const Request& r, const std::vector<double>& want, const std::vector<double>& got, bool exact,
             double rel = 1e-6) {
    const std::size_t stride = std::size_t(expo::kResultHead + r.k);
    for (std::size_t si = 0; si < r.segs.size(); ++si) {
      for (std::size_t q = 0; q < stride; ++q) {
        const double w = want[si * stride + q];
        const double g = got[si * stride + q];
        bool ok;
        if (exact || q == expo::kResMaxAbsDiff || q == expo::kResNonfiniteInputs || q == expo::kResNonfiniteOutputs) {
          ok = std::memcmp(&w, &g, 8) == 0;
        } else if (w == g) {
          ok = true;
        } else {
          const double d = w > g ? w - g : g - w;
          const double m = (w > 0 ? w : -w) > (g > 0 ? g : -g) ? (w > 0 ? w : -w) : (g > 0 ? g : -g);
          ok = d <= rel * m + double(r.segs[si].count) * 0x1p-120;
        }
        if (!ok) {
          ++statMismatches;
          const bool head = q < std::size_t(expo::kResultHead);
          note("%s: segment %zu (%s, %llu elements) %s%s: want %.17g got %.17g", where.c_str(), si,
               describe(r.segs[si]).c_str(), (unsigned long long)r.segs[si].count,
               head ? expo::kResultNames[q] : "sumOut2 #", head ? "" : std::to_string(q - expo::kResultHead).c_str(),
               w, g);
        }
      }
    }
  }
};

inline void Compare::note(const char* fmt, ...) {
  if (printed >= 12) return;
  ++printed;
  va_list ap;
  va_start(ap, fmt);
  std::fputs("  MISMATCH ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
}

}  // namespace expo_test
