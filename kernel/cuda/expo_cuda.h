/* C interface of libexpo_cuda.so, the CUDA kernel. The N-API addon loads the library with dlopen only when
 * CUDA is asked for (kernel/src/cuda_loader.cc), so the package builds and runs where there is no CUDA.
 *
 * A call takes the same arguments as the CPU kernel (kernel/src/job.h): host buffers, the packed segment
 * descriptors (dtype, count, alignedOffset, baseOffset, outOffset, then K alphas per segment) and the results
 * array (sumA2, sumB2, sumD2, maxAbsDiff, nonfiniteInputs, nonfiniteOutputs, then K sumOut2 per segment). The
 * outputs are bit-identical to the CPU kernel's; the statistics are fp64 sums of the same quantities, in a
 * fixed order of their own (the same bits run to run on any GPU).
 *
 * Errors: functions return -1 (or NULL) and expo_cuda_last_error() gives a one-line message, per thread. */
#ifndef EXPO_CUDA_H
#define EXPO_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raised whenever the call's meaning changes, the descriptor layout of kernel/src/layout.h included (2: op,
 * baseDtype and outDtype per segment; 3: host memory and counters), so a stale library is refused at load rather
 * than misreading requests. */
#define EXPO_CUDA_ABI 3

typedef struct expo_cuda_ctx expo_cuda_ctx;

/* EXPO_CUDA_ABI of the library; the loader refuses a library with another. */
int expo_cuda_abi(void);

/* Visible CUDA devices (CUDA_VISIBLE_DEVICES applies). 0 when there is none or no usable driver, with the
 * reason in expo_cuda_last_error() ("no NVIDIA driver (libcuda.so.1 not found)", ...); -1 on another error. */
int expo_cuda_device_count(void);

/* Opens device `device` (an index among the visible ones; -1: LLM_EXPO_CUDA_DEVICE, else 0). NULL on error.
 * A context serializes its calls; its pinned staging buffers and device buffers are kept between calls. */
expo_cuda_ctx* expo_cuda_open(int device);
void expo_cuda_close(expo_cuda_ctx* ctx);

/* "NVIDIA H100 80GB HBM3 (device 0, sm_90, 132 SMs)" */
const char* expo_cuda_describe(expo_cuda_ctx* ctx);

/* One request: arith 0 = fp32, 1 = torch; k output buffers (1 to 32); outs[i] may be `aligned` itself (K = 1,
 * in place). Validates every descriptor first (the CPU kernel's rules), then computes. 0 on success. */
int expo_cuda_extrapolate(expo_cuda_ctx* ctx, int arith, int k, const uint8_t* aligned, size_t alignedLen,
                          const uint8_t* base, size_t baseLen, uint8_t* const* outs, const size_t* outLens,
                          const double* desc, size_t descLen, double* results, size_t resultsLen);

/* Tuning and tests: bytes of each input per pipeline chunk (0: default, LLM_EXPO_CUDA_CHUNK_MIB or 8 MiB),
 * misalign (1: place data 8 bytes off 16-byte boundaries, exercising the element-wise path), host copy
 * threads (0: default, LLM_EXPO_CUDA_COPY_THREADS or half the CPUs, 2 to 8). 0 on success. */
int expo_cuda_tune(expo_cuda_ctx* ctx, size_t chunkBytes, int misalign, int copyThreads);

/* Page-locked host memory (cudaHostAlloc, portable). A request whose every buffer lies in such memory goes by
 * DMA straight between those buffers and the device, with no host copy: the worker allocates its unit buffers
 * here, once per slot, when its device is CUDA. Not serialized with the context's calls (a slot's buffers may be
 * allocated while other units compute). NULL on error, 0 bytes included. */
void* expo_cuda_host_alloc(expo_cuda_ctx* ctx, size_t bytes);
/* Frees what expo_cuda_host_alloc returned; no call may be using it. -1 for a pointer it did not return. */
int expo_cuda_host_free(expo_cuda_ctx* ctx, void* p);

/* What a context has done since it was opened, and the host memory it has handed out and not taken back. */
typedef struct expo_cuda_counters {
  uint64_t calls;        /* expo_cuda_extrapolate calls that completed */
  uint64_t chunks;       /* pipeline chunks they were planned into */
  uint64_t directChunks; /* of which went by DMA straight between the caller's buffers and the device */
  uint64_t bytesIn;      /* the segments' input bytes (aligned, and base where read) */
  uint64_t bytesOut;     /* the segments' output bytes, all K outputs */
  double seconds;        /* wall time of those calls in the pipeline, context held (queueing not counted) */
  uint64_t hostBuffers;  /* live expo_cuda_host_alloc allocations */
  uint64_t hostBytes;    /* and their bytes */
} expo_cuda_counters;
int expo_cuda_stats(expo_cuda_ctx* ctx, expo_cuda_counters* out);

/* LLM_EXPO_CUDA_TRACE=FILE: each completed call appends one line to FILE (opened when the context is, in append
 * mode; expo_cuda_open fails if it cannot be), for benchmarks of a whole run (bench/gpu-check.sh):
 *   extrapolate segments=N in=BYTES out=BYTES chunks=N direct=N seconds=S */

/* The last error on this thread ("" if none). */
const char* expo_cuda_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* EXPO_CUDA_H */
