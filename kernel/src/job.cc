#include "job.h"

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <initializer_list>

#include "arith.h"

namespace expo {
namespace {

// Offsets and counts travel as doubles: integers up to 2^53 are exact.
bool asIndex(double x, std::size_t& out) {
  if (!(x >= 0.0 && x <= 9007199254740992.0) || std::floor(x) != x) return false;
  out = std::size_t(x);
  return true;
}

// [p, p + pn) and [q, q + qn) share a byte.
bool overlaps(std::uintptr_t p, std::size_t pn, std::uintptr_t q, std::size_t qn) {
  return pn > 0 && qn > 0 && p < q + qn && q < p + pn;
}

// The bytes a segment touches in one buffer must lie inside it.
bool inBounds(std::size_t offset, std::size_t count, std::size_t size, std::size_t len) {
  return offset <= len && count <= (len - offset) / size;
}

double reduce(const double* v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }

double reduceMax(const double* v) {
  double m = 0.0;
  for (int l = 0; l < kSlots; ++l) m = v[l] > m ? v[l] : m;
  return m;
}

}  // namespace

std::size_t segmentCount(const Job& j) { return j.descLen / std::size_t(kDescHead + j.k); }

bool checkShape(const Job& j, char* err) {
  if (j.k < 1 || j.k > kMaxOutputs) {
    std::snprintf(err, kErrLen, "outs must hold 1 to %d buffers, got %d", kMaxOutputs, j.k);
    return false;
  }
  const std::size_t stride = std::size_t(kDescHead + j.k);
  if (j.descLen % stride != 0) {
    std::snprintf(err, kErrLen, "segment descriptor length %zu is not a multiple of %zu (%d + K)", j.descLen, stride,
                  int(kDescHead));
    return false;
  }
  const std::size_t need = segmentCount(j) * std::size_t(kResultHead + j.k);
  if (j.resultsLen < need) {
    std::snprintf(err, kErrLen, "results array holds %zu values, %zu segments need %zu (6 + K each)", j.resultsLen,
                  segmentCount(j), need);
    return false;
  }
  return true;
}

bool prepareSegment(const Job& j, std::size_t i, SegArgs& s, char* err) {
  const std::size_t stride = std::size_t(kDescHead + j.k);
  // One read of each field: the values checked are the values used.
  double field[kDescHead + kMaxOutputs];
  for (std::size_t f = 0; f < stride; ++f) field[f] = j.desc[i * stride + f];

  std::size_t v[kDescHead];
  for (int f = 0; f < kDescHead; ++f) {
    if (!asIndex(field[f], v[f])) {
      std::snprintf(err, kErrLen, "segment %zu: %s must be an integer in [0, 2^53], got %g", i, kDescNames[f],
                    field[f]);
      return false;
    }
  }
  if (v[kDescOp] > kConvert) {
    std::snprintf(err, kErrLen, "segment %zu: unknown op code %zu (0 extrapolate, 1 convert)", i, v[kDescOp]);
    return false;
  }
  for (int f : {kDescDtype, kDescBaseDtype, kDescOutDtype}) {
    if (v[f] > kF64) {
      std::snprintf(err, kErrLen, "segment %zu: unknown %s code %zu (0 BF16, 1 F16, 2 F32, 3 F64)", i, kDescNames[f],
                    v[f]);
      return false;
    }
  }
  s.op = int(v[kDescOp]);
  s.dtype = int(v[kDescDtype]);
  s.baseDtype = int(v[kDescBaseDtype]);
  s.outDtype = int(v[kDescOutDtype]);
  s.arith = j.arith;
  s.k = j.k;
  s.count = v[kDescCount];
  const bool convert = s.op == kConvert;
  const std::size_t aSize = dtypeSize(s.dtype), bSize = dtypeSize(s.baseDtype), oSize = dtypeSize(s.outDtype);
  // No overflow: count <= 2^53 and checked against a buffer below.
  const std::size_t aBytes = s.count * aSize, bBytes = convert ? 0 : s.count * bSize, oBytes = s.count * oSize;
  const std::size_t aOff = v[kDescAlignedOffset], bOff = v[kDescBaseOffset], oOff = v[kDescOutOffset];
  if (!inBounds(aOff, s.count, aSize, j.aligned.len)) {
    std::snprintf(err, kErrLen, "segment %zu: aligned bytes [%zu, %zu + %zu x %zu) exceed the buffer (%zu bytes)", i,
                  aOff, aOff, s.count, aSize, j.aligned.len);
    return false;
  }
  // A conversion reads no base: its offset is not checked (nor its alphas).
  if (!convert && !inBounds(bOff, s.count, bSize, j.base.len)) {
    std::snprintf(err, kErrLen, "segment %zu: base bytes [%zu, %zu + %zu x %zu) exceed the buffer (%zu bytes)", i, bOff,
                  bOff, s.count, bSize, j.base.len);
    return false;
  }
  s.a = j.aligned.p + aOff;
  s.b = convert ? s.a : j.base.p + bOff;
  // The precision α is used in (docs/arithmetic.md): fp64 where the computation is in fp64.
  const bool wide = computeDtype(s.arith, s.dtype, s.baseDtype, s.outDtype) == kF64;
  for (int k = 0; k < j.k; ++k) {
    if (!inBounds(oOff, s.count, oSize, j.outs[k].len)) {
      std::snprintf(err, kErrLen, "segment %zu: output %d bytes [%zu, %zu + %zu x %zu) exceed the buffer (%zu bytes)",
                    i, k, oOff, oOff, s.count, oSize, j.outs[k].len);
      return false;
    }
    s.out[k] = j.outs[k].p + oOff;
    // In place is fine (each block is read before it is written) when the output has the input's dtype; a
    // shifted overlap would read results, and so would an output of another element size in place.
    const auto o = reinterpret_cast<std::uintptr_t>(s.out[k]);
    const auto pa = reinterpret_cast<std::uintptr_t>(s.a);
    const auto pb = reinterpret_cast<std::uintptr_t>(s.b);
    if (o == pa && s.outDtype != s.dtype) {
      std::snprintf(err, kErrLen,
                    "segment %zu: output %d is the aligned input in place, which needs outDtype %s = dtype %s", i, k,
                    kDtypeNames[s.outDtype], kDtypeNames[s.dtype]);
      return false;
    }
    if (!convert && o == pb && s.outDtype != s.baseDtype) {
      std::snprintf(err, kErrLen,
                    "segment %zu: output %d is the base input in place, which needs outDtype %s = baseDtype %s", i, k,
                    kDtypeNames[s.outDtype], kDtypeNames[s.baseDtype]);
      return false;
    }
    if ((o != pa && overlaps(o, oBytes, pa, aBytes)) || (!convert && o != pb && overlaps(o, oBytes, pb, bBytes))) {
      std::snprintf(err, kErrLen, "segment %zu: output %d partially overlaps an input (only exact in-place is allowed)",
                    i, k);
      return false;
    }
    for (int q = 0; q < k; ++q) {
      if (overlaps(o, oBytes, reinterpret_cast<std::uintptr_t>(s.out[q]), oBytes)) {
        std::snprintf(err, kErrLen, "segment %zu: outputs %d and %d overlap", i, q, k);
        return false;
      }
    }
    const double alpha = field[kDescHead + k];
    if (convert) {
      s.alphaD[k] = 0.0;
      s.alphaF[k] = 0.0f;
      continue;
    }
    if (!std::isfinite(alpha) || (!wide && std::fabs(alpha) > double(FLT_MAX))) {
      std::snprintf(err, kErrLen, "segment %zu: alpha %d (%g) is not a finite %s", i, k, alpha,
                    wide ? "double" : "float");
      return false;
    }
    s.alphaD[k] = alpha;
    s.alphaF[k] = float(alpha);
  }
  return true;
}

bool runJob(const Job& j, SegmentFn fn, char* err) {
  if (!checkShape(j, err)) return false;
  const std::size_t n = segmentCount(j);
  SegArgs s;
  Sums acc;
  for (std::size_t i = 0; i < n; ++i) {
    if (!prepareSegment(j, i, s, err)) return false;
    clearSums(acc, j.k);
    fn(s, acc);
    double* r = j.results + i * std::size_t(kResultHead + j.k);
    r[kResSumA2] = reduce(acc.a2);
    r[kResSumB2] = reduce(acc.b2);
    r[kResSumD2] = reduce(acc.d2);
    r[kResMaxAbsDiff] = reduceMax(acc.mx);
    r[kResNonfiniteInputs] = double(acc.nfIn);
    r[kResNonfiniteOutputs] = double(acc.nfOut);
    for (int k = 0; k < j.k; ++k) r[kResultHead + k] = reduce(acc.o2[k]);
  }
  return true;
}

}  // namespace expo
