// One native call: the caller's buffers, the packed segment descriptors, the results array. Validation is
// separate from running so the JS thread can throw before queueing, and the worker thread checks each
// descriptor again as it reads it (JS could rewrite the Float64Array meanwhile).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel.h"

namespace expo {

struct Span {
  std::uint8_t* p;
  std::size_t len;
};

struct Job {
  int arith;
  int k;
  Span aligned;
  Span base;
  Span outs[kMaxOutputs];
  const double* desc;
  std::size_t descLen;
  double* results;
  std::size_t resultsLen;
};

constexpr std::size_t kErrLen = 256;

std::size_t segmentCount(const Job& j);
// Shape of the descriptor and results arrays. On failure writes a message to err and returns false.
bool checkShape(const Job& j, char* err);
// Reads and validates descriptor i into s.
bool prepareSegment(const Job& j, std::size_t i, SegArgs& s, char* err);
// Validates and computes every segment, writing results; stops at the first invalid descriptor.
bool runJob(const Job& j, SegmentFn fn, char* err);

}  // namespace expo
