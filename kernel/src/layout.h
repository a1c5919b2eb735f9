// The one definition of what a kernel call exchanges with its caller: dtype and arith codes, the packed segment
// descriptor and the per-segment results. The CPU job code, the addon (which exports it: layout()), the CUDA
// library and its tests all read it from here, and the TypeScript wrapper checks its own constants against the
// exported copy when it loads the addon, so a stale build fails at load instead of misreading words.
//
// Compiled by g++ and by nvcc (host and device passes): EXPO_HD marks what device code calls.
#pragma once

#if defined(__CUDACC__)
#define EXPO_HD __host__ __device__ __forceinline__
#define EXPO_HDC __host__ __device__
#else
#define EXPO_HD inline
#define EXPO_HDC
#endif

namespace expo {

enum Dtype : int { kBF16 = 0, kF16 = 1, kF32 = 2, kF64 = 3 };
enum Arith : int { kFp32 = 0, kTorch = 1 };
// What a segment computes: ExPO from aligned and base, or aligned converted to the output dtype (base and alphas
// unused).
enum Op : int { kExtrapolate = 0, kConvert = 1 };

// Outputs (values of α) per call; bounds the per-output accumulators kept on the stack.
constexpr int kMaxOutputs = 32;

// A segment's descriptor: these words, then its K alphas. Offsets and counts travel as doubles (exact to 2^53).
// dtype is the aligned input's, baseDtype the base input's, outDtype every output's (each buffer in its own
// dtype; the offsets are in bytes).
enum DescWord : int {
  kDescOp,
  kDescDtype,
  kDescBaseDtype,
  kDescOutDtype,
  kDescCount,
  kDescAlignedOffset,
  kDescBaseOffset,
  kDescOutOffset,
  kDescHead
};

// A segment's results: these words, then Σout² for each of the K outputs.
enum ResultWord : int {
  kResSumA2,
  kResSumB2,
  kResSumD2,
  kResMaxAbsDiff,
  kResNonfiniteInputs,
  kResNonfiniteOutputs,
  kResultHead
};

// Names in code order, as the TypeScript wrapper spells them.
constexpr const char* kDtypeNames[] = {"BF16", "F16", "F32", "F64"};
constexpr const char* kArithNames[] = {"fp32", "torch"};
constexpr const char* kOpNames[] = {"extrapolate", "convert"};
constexpr const char* kDescNames[kDescHead] = {"op",    "dtype",         "baseDtype",  "outDtype",
                                               "count", "alignedOffset", "baseOffset", "outOffset"};
constexpr const char* kResultNames[kResultHead] = {"sumA2",      "sumB2",           "sumD2",
                                                   "maxAbsDiff", "nonfiniteInputs", "nonfiniteOutputs"};

EXPO_HDC constexpr int dtypeSize(int dtype) { return dtype == kBF16 || dtype == kF16 ? 2 : dtype == kF32 ? 4 : 8; }

}  // namespace expo
