#include "job.h"

#include <cfloat>
#include <cmath>
#include <cstdio>

namespace expo {
namespace {

// Offsets and counts travel as doubles: integers up to 2^53 are exact.
bool asIndex(double x, std::size_t& out) {
  if (!(x >= 0.0 && x <= 9007199254740992.0) || std::floor(x) != x) return false;
  out = std::size_t(x);
  return true;
}

bool overlaps(std::uintptr_t p, std::uintptr_t q, std::size_t n) { return n > 0 && p < q + n && q < p + n; }

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
    std::snprintf(err, kErrLen, "segment descriptor length %zu is not a multiple of %zu (5 + K)", j.descLen, stride);
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
  if (v[kDescDtype] > kF64) {
    std::snprintf(err, kErrLen, "segment %zu: unknown dtype code %zu (0 BF16, 1 F16, 2 F32, 3 F64)", i, v[kDescDtype]);
    return false;
  }
  s.dtype = int(v[kDescDtype]);
  s.arith = j.arith;
  s.k = j.k;
  s.count = v[kDescCount];
  const std::size_t size = dtypeSize(s.dtype);
  const std::size_t bytes = s.count * size;  // no overflow: count <= 2^53 and checked against a buffer below
  const std::size_t aOff = v[kDescAlignedOffset], bOff = v[kDescBaseOffset], oOff = v[kDescOutOffset];
  if (!inBounds(aOff, s.count, size, j.aligned.len)) {
    std::snprintf(err, kErrLen, "segment %zu: aligned bytes [%zu, %zu + %zu x %zu) exceed the buffer (%zu bytes)", i,
                  aOff, aOff, s.count, size, j.aligned.len);
    return false;
  }
  if (!inBounds(bOff, s.count, size, j.base.len)) {
    std::snprintf(err, kErrLen, "segment %zu: base bytes [%zu, %zu + %zu x %zu) exceed the buffer (%zu bytes)", i, bOff,
                  bOff, s.count, size, j.base.len);
    return false;
  }
  s.a = j.aligned.p + aOff;
  s.b = j.base.p + bOff;
  for (int k = 0; k < j.k; ++k) {
    if (!inBounds(oOff, s.count, size, j.outs[k].len)) {
      std::snprintf(err, kErrLen, "segment %zu: output %d bytes [%zu, %zu + %zu x %zu) exceed the buffer (%zu bytes)",
                    i, k, oOff, oOff, s.count, size, j.outs[k].len);
      return false;
    }
    s.out[k] = j.outs[k].p + oOff;
    // In place is fine (each block is read before it is written); a shifted overlap would read results.
    const auto o = reinterpret_cast<std::uintptr_t>(s.out[k]);
    const auto pa = reinterpret_cast<std::uintptr_t>(s.a);
    const auto pb = reinterpret_cast<std::uintptr_t>(s.b);
    if ((o != pa && overlaps(o, pa, bytes)) || (o != pb && overlaps(o, pb, bytes))) {
      std::snprintf(err, kErrLen, "segment %zu: output %d partially overlaps an input (only exact in-place is allowed)",
                    i, k);
      return false;
    }
    for (int q = 0; q < k; ++q) {
      if (overlaps(o, reinterpret_cast<std::uintptr_t>(s.out[q]), bytes)) {
        std::snprintf(err, kErrLen, "segment %zu: outputs %d and %d overlap", i, q, k);
        return false;
      }
    }
    const double alpha = field[kDescHead + k];
    if (!std::isfinite(alpha) || (s.dtype != kF64 && std::fabs(alpha) > double(FLT_MAX))) {
      std::snprintf(err, kErrLen, "segment %zu: alpha %d (%g) is not a finite %s", i, k, alpha,
                    s.dtype == kF64 ? "double" : "float");
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
