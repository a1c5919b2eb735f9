// GPU benchmark of the CUDA kernel (bench/gpu-check.sh runs it; no Node needed):
//   1. the tile kernel on device buffers: bf16, >= 4 GiB per buffer (a and b read, out written: 3 x bytes),
//      both arithmetic modes, K = 1 (and K = 3 when memory allows), against a device-to-device cudaMemcpy that
//      moves the same bytes (1.5 x reads + 1.5 x writes)
//   2. the staged host -> device -> host pipeline (expo_cuda_extrapolate on host buffers: 2 x bytes up, 1 x
//      down) against raw pinned copies of the same bytes, both directions at once
// and prints a table last. Usage: expo_cuda_bench [GiB per kernel buffer, default 4] [GiB per pipeline buffer,
// default 1]; `expo_cuda_bench copies GIB` measures the raw pinned copies alone. Exit status 77 when no CUDA
// device is visible.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../expo_cuda.h"
#include "../launch.h"

namespace {

#define CK(call)                                                                                        \
  do {                                                                                                  \
    const cudaError_t e_ = (call);                                                                      \
    if (e_ != cudaSuccess) {                                                                            \
      std::fprintf(stderr, "CUDA error in %s: %s (%s)\n", #call, cudaGetErrorString(e_), cudaGetErrorName(e_)); \
      std::exit(1);                                                                                     \
    }                                                                                                   \
  } while (0)

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

__device__ __forceinline__ std::uint32_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return std::uint32_t(x);
}

// Weights-like bf16 pairs: |a| in [2^-8, 2^0), b a few ulps away.
__global__ void fillPairs(std::uint16_t* a, std::uint16_t* b, std::uint64_t n, std::uint64_t seed) {
  for (std::uint64_t i = blockIdx.x * std::uint64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::uint64_t(gridDim.x) * blockDim.x) {
    const std::uint32_t h = mix(i * 0x9E3779B97F4A7C15ull + seed);
    const std::uint16_t x = std::uint16_t(((h & 1u) << 15) | ((119u + ((h >> 1) & 7u)) << 7) | ((h >> 4) & 0x7Fu));
    a[i] = x;
    b[i] = std::uint16_t(x ^ ((h >> 11) & 3u));
  }
}

struct Row {
  std::string name;
  double gbps;
  std::string ratio;
  std::string target;
};

std::vector<Row> rows;

void add(const std::string& name, double bytes, double seconds, const std::string& ratio = "",
         const std::string& target = "") {
  rows.push_back({name, bytes / seconds / 1e9, ratio, target});
  std::printf("  %-58s %9.1f GB/s %s\n", name.c_str(), bytes / seconds / 1e9, ratio.c_str());
  std::fflush(stdout);
}

std::string ratioText(double r, double target) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %s", r, target > 0 ? (r >= target ? "(met)" : "(MISSED)") : "");
  return buf;
}

// Seconds per repetition of fn on `stream` (after one warm-up), by CUDA events.
template <class F>
double timeDevice(cudaStream_t stream, int reps, F fn) {
  cudaEvent_t t0, t1;
  CK(cudaEventCreate(&t0));
  CK(cudaEventCreate(&t1));
  fn();
  CK(cudaStreamSynchronize(stream));
  CK(cudaEventRecord(t0, stream));
  for (int i = 0; i < reps; ++i) fn();
  CK(cudaEventRecord(t1, stream));
  CK(cudaEventSynchronize(t1));
  float ms = 0;
  CK(cudaEventElapsedTime(&ms, t0, t1));
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  return ms / 1e3 / reps;
}

template <class F>
double timeHost(int reps, F fn) {
  fn();
  CK(cudaDeviceSynchronize());
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) fn();
  CK(cudaDeviceSynchronize());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

void kernelBench(double gib) {
  std::size_t free = 0, total = 0;
  CK(cudaMemGetInfo(&free, &total));
  std::uint64_t bytes = std::uint64_t(gib * kGiB) / expo::cuda::kTileBytes * expo::cuda::kTileBytes;
  const std::uint64_t perTile3 = expo::cuda::partialDoubles(1, 3) * sizeof(double);  // partial rows per tile, K = 3
  const std::uint64_t need3 = 3 * bytes + (bytes / expo::cuda::kTileBytes) * perTile3 + (64u << 20);
  if (need3 > free) {
    bytes = (free - (256u << 20)) / 3 / expo::cuda::kTileBytes * expo::cuda::kTileBytes;
    std::printf("  (only %.1f GiB free on the device: %.2f GiB per buffer)\n", free / kGiB, bytes / kGiB);
  }
  const bool k3 = 5 * bytes + (bytes / expo::cuda::kTileBytes) * perTile3 + (256u << 20) <= free;
  const std::uint64_t n = bytes / 2;
  std::uint8_t* buf = nullptr;
  CK(cudaMalloc(&buf, (k3 ? 5 : 3) * bytes));
  std::uint8_t* a = buf;
  std::uint8_t* b = buf + bytes;
  std::uint8_t* out = buf + 2 * bytes;
  fillPairs<<<1024, 256>>>(reinterpret_cast<std::uint16_t*>(a), reinterpret_cast<std::uint16_t*>(b), n, 1);
  CK(cudaGetLastError());

  const std::uint32_t tiles = std::uint32_t(bytes / expo::cuda::kTileBytes);
  std::vector<expo::cuda::TileRef> refs(tiles);
  for (std::uint32_t i = 0; i < tiles; ++i) refs[i] = {0, i};
  std::uint64_t table[2][expo::cuda::kPieceHead + 3];
  for (int k : {1, 3}) {
    std::uint64_t* row = table[k == 1 ? 0 : 1];
    row[expo::cuda::kPwA] = row[expo::cuda::kPwB] = row[expo::cuda::kPwOut] = 0;
    row[expo::cuda::kPwCount] = n;
    row[expo::cuda::kPwTile0] = 0;
    row[expo::cuda::kPwDtype] = expo::kBF16;
    const float alphas[3] = {0.3f, 0.5f, 0.1f};
    for (int j = 0; j < k; ++j) {
      std::uint32_t u;
      std::memcpy(&u, &alphas[j], 4);
      row[expo::cuda::kPieceHead + j] = u;
    }
  }
  expo::cuda::TileRef* dRefs = nullptr;
  std::uint64_t* dTable = nullptr;
  double* partials = nullptr;
  CK(cudaMalloc(&dRefs, refs.size() * sizeof(expo::cuda::TileRef)));
  CK(cudaMalloc(&dTable, sizeof table));
  CK(cudaMalloc(&partials, std::size_t(expo::cuda::partialDoubles(tiles, 3)) * sizeof(double)));
  CK(cudaMemcpy(dRefs, refs.data(), refs.size() * sizeof(expo::cuda::TileRef), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dTable, table, sizeof table, cudaMemcpyHostToDevice));

  int dev = 0, sms = 0;
  CK(cudaGetDevice(&dev));
  CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  cudaStream_t s;
  CK(cudaStreamCreate(&s));
  const int reps = 5;

  const double tCopy = timeDevice(s, reps, [&] {
    CK(cudaMemcpyAsync(buf + bytes + bytes / 2, buf, bytes + bytes / 2, cudaMemcpyDeviceToDevice, s));
  });
  char name[160];
  std::snprintf(name, sizeof name, "device-to-device cudaMemcpy (%.2f GiB, same bytes moved)", 1.5 * bytes / kGiB);
  add(name, 3.0 * bytes, tCopy, "1.00");
  for (int arith = 0; arith < 2; ++arith) {
    expo::cuda::TileLaunch l{dTable, dRefs, tiles, 1, a, b, out, bytes, partials};
    const int grid = sms * expo::cuda::tileBlocksPerSm(arith, 1);
    const double t = timeDevice(s, reps, [&] { CK(expo::cuda::launchTiles(arith, l, grid, s)); });
    std::snprintf(name, sizeof name, "kernel bf16 %s K=1 (a, b, out: 3 x %.2f GiB)", arith ? "torch" : "fp32",
                  bytes / kGiB);
    add(name, 3.0 * bytes, t, ratioText(tCopy / t, 0.8), ">= 0.8 of D2D");
  }
  if (k3) {
    expo::cuda::TileLaunch l{dTable + expo::cuda::kPieceHead + 3, dRefs, tiles, 3, a, b, out, bytes, partials};
    const int grid = sms * expo::cuda::tileBlocksPerSm(0, 3);
    const double t = timeDevice(s, reps, [&] { CK(expo::cuda::launchTiles(0, l, grid, s)); });
    const double tc = tCopy * 5.0 / 3.0;  // the copy's time for the same 5 x bytes
    std::snprintf(name, sizeof name, "kernel bf16 fp32 K=3 (a, b, 3 outs: 5 x %.2f GiB)", bytes / kGiB);
    add(name, 5.0 * bytes, t, ratioText(tc / t, 0), "(information)");
  }
  CK(cudaStreamDestroy(s));
  cudaFree(buf);
  cudaFree(dRefs);
  cudaFree(dTable);
  cudaFree(partials);
}

// Raw pinned copies of 3 x `bytes` (2 up, 1 down, as the pipeline moves a K = 1 request) between pinned host
// buffers and device buffers: up alone, down alone, both directions at once (the pipeline's reference).
struct CopyTimes {
  double up, down, both;
};

CopyTimes pinnedCopies(std::uint8_t* hA, std::uint8_t* hB, std::uint8_t* hO, std::uint64_t bytes) {
  std::uint8_t *dA, *dB, *dO;
  CK(cudaMalloc(&dA, bytes));
  CK(cudaMalloc(&dB, bytes));
  CK(cudaMalloc(&dO, bytes));
  cudaStream_t up, down;
  CK(cudaStreamCreateWithFlags(&up, cudaStreamNonBlocking));
  CK(cudaStreamCreateWithFlags(&down, cudaStreamNonBlocking));
  const int reps = 3;
  CopyTimes t{};
  t.up = timeHost(reps, [&] {
    CK(cudaMemcpyAsync(dA, hA, bytes, cudaMemcpyHostToDevice, up));
    CK(cudaMemcpyAsync(dB, hB, bytes, cudaMemcpyHostToDevice, up));
    CK(cudaStreamSynchronize(up));
  });
  t.down = timeHost(reps, [&] {
    CK(cudaMemcpyAsync(hO, dO, bytes, cudaMemcpyDeviceToHost, down));
    CK(cudaStreamSynchronize(down));
  });
  t.both = timeHost(reps, [&] {
    CK(cudaMemcpyAsync(dA, hA, bytes, cudaMemcpyHostToDevice, up));
    CK(cudaMemcpyAsync(hO, dO, bytes, cudaMemcpyDeviceToHost, down));
    CK(cudaMemcpyAsync(dB, hB, bytes, cudaMemcpyHostToDevice, up));
    CK(cudaStreamSynchronize(up));
    CK(cudaStreamSynchronize(down));
  });
  char name[160];
  std::snprintf(name, sizeof name, "pinned host-to-device cudaMemcpy (2 x %.2f GiB)", bytes / kGiB);
  add(name, 2.0 * bytes, t.up);
  std::snprintf(name, sizeof name, "pinned device-to-host cudaMemcpy (%.2f GiB)", bytes / kGiB);
  add(name, double(bytes), t.down);
  std::snprintf(name, sizeof name, "pinned copies, both directions at once (3 x %.2f GiB)", bytes / kGiB);
  add(name, 3.0 * bytes, t.both, "1.00");
  CK(cudaFree(dA));
  CK(cudaFree(dB));
  CK(cudaFree(dO));
  cudaStreamDestroy(up);
  cudaStreamDestroy(down);
  return t;
}

// Pinned host buffers a and b (filled) and o, for the raw copies and the pipeline's pinned calls.
struct PinnedTriple {
  std::uint8_t *a, *b, *o;
  explicit PinnedTriple(std::uint64_t bytes) {
    CK(cudaMallocHost(&a, bytes));
    CK(cudaMallocHost(&b, bytes));
    CK(cudaMallocHost(&o, bytes));
    std::memset(a, 0x3C, bytes);
    std::memset(b, 0x3B, bytes);
  }
  ~PinnedTriple() {
    cudaFreeHost(a);
    cudaFreeHost(b);
    cudaFreeHost(o);
  }
  PinnedTriple(const PinnedTriple&) = delete;
  PinnedTriple& operator=(const PinnedTriple&) = delete;
};

// `expo_cuda_bench copies GIB`: the reference alone, for figures measured elsewhere in the same run (the worker's
// pipeline in bench/gpu-check.sh); its last line, "reference_gbps=X", is for scripts.
void copiesOnly(double gib) {
  const std::uint64_t bytes = std::uint64_t(gib * kGiB) / (1u << 20) * (1u << 20);
  PinnedTriple h(bytes);
  const CopyTimes t = pinnedCopies(h.a, h.b, h.o, bytes);
  std::printf("reference_gbps=%.3f\n", 3.0 * bytes / t.both / 1e9);
}

void pipelineBench(double gib) {
  const std::uint64_t bytes = std::uint64_t(gib * kGiB) / (64u << 20) * (64u << 20);
  const std::uint64_t unit = 64u << 20;
  const int reps = 3;
  PinnedTriple h(bytes);
  std::uint8_t *hA = h.a, *hB = h.b, *hO = h.o;
  const double tBoth = pinnedCopies(hA, hB, hO, bytes).both;
  char name[160];

  // The staged pipeline on pageable caller buffers (what Node passes) and on pinned ones.
  auto* pa = static_cast<std::uint8_t*>(std::aligned_alloc(4096, bytes));
  auto* pb = static_cast<std::uint8_t*>(std::aligned_alloc(4096, bytes));
  auto* po = static_cast<std::uint8_t*>(std::aligned_alloc(4096, bytes));
  std::uint64_t x = 88172645463325252ull;
  for (std::uint64_t i = 0; i < bytes / 8; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const std::uint64_t w = (x & 0x807F807F807F807Full) | 0x3C003C003C003C00ull;
    std::memcpy(pa + 8 * i, &w, 8);
    const std::uint64_t v = w ^ ((x >> 3) & 0x0003000300030003ull);
    std::memcpy(pb + 8 * i, &v, 8);
  }
  std::memcpy(hA, pa, bytes);
  std::memcpy(hB, pb, bytes);
  std::memset(po, 0, bytes);

  expo_cuda_ctx* ctx = expo_cuda_open(-1);
  if (!ctx) {
    std::fprintf(stderr, "expo_cuda_open: %s\n", expo_cuda_last_error());
    std::exit(1);
  }
  // One call per 64 MiB unit (16 tensors of 4 MiB each, as the worker sends them), or one call for everything.
  auto call = [&](const std::uint8_t* a, const std::uint8_t* b, std::uint8_t* o, std::uint64_t len) {
    const std::uint64_t tensors = len / (4u << 20);
    std::vector<double> desc, res(tensors * 7);
    for (std::uint64_t t = 0; t < tensors; ++t) {
      const double off = double(t * (4u << 20));
      // op extrapolate, BF16 throughout, count, offsets, α (layout.h's DescWord, then the alpha).
      const double d[expo::kDescHead + 1] = {expo::kExtrapolate, expo::kBF16, expo::kBF16, expo::kBF16,
                                            double((4u << 20) / 2), off, off, off, 0.3};
      desc.insert(desc.end(), d, d + expo::kDescHead + 1);
    }
    std::uint8_t* outs[1] = {o};
    std::size_t lens[1] = {len};
    if (expo_cuda_extrapolate(ctx, 0, 1, a, len, b, len, outs, lens, desc.data(), desc.size(), res.data(),
                              res.size()) != 0) {
      std::fprintf(stderr, "expo_cuda_extrapolate: %s\n", expo_cuda_last_error());
      std::exit(1);
    }
  };
  auto perUnit = [&](const std::uint8_t* a, const std::uint8_t* b, std::uint8_t* o) {
    for (std::uint64_t u = 0; u < bytes; u += unit) call(a + u, b + u, o + u, unit);
  };
  const double tUnits = timeHost(reps, [&] { perUnit(pa, pb, po); });
  const double tWhole = timeHost(reps, [&] { call(pa, pb, po, bytes); });
  const double tPinned = timeHost(reps, [&] { perUnit(hA, hB, hO); });
  std::snprintf(name, sizeof name, "staged pipeline, %llu calls of 64 MiB, pageable buffers",
                (unsigned long long)(bytes / unit));
  add(name, 3.0 * bytes, tUnits, ratioText(tBoth / tUnits, 0.7), ">= 0.7 of pinned copies");
  std::snprintf(name, sizeof name, "staged pipeline, one call of %.2f GiB, pageable buffers", bytes / kGiB);
  add(name, 3.0 * bytes, tWhole, ratioText(tBoth / tWhole, 0.7), ">= 0.7 of pinned copies");
  std::snprintf(name, sizeof name, "staged pipeline, %llu calls of 64 MiB, pinned buffers",
                (unsigned long long)(bytes / unit));
  add(name, 3.0 * bytes, tPinned, ratioText(tBoth / tPinned, 0.7), ">= 0.7 of pinned copies");
  // For information: the pageable 64 MiB calls with other chunk sizes and copy thread counts (the knobs of
  // expo_cuda_tune), then the defaults again.
  const struct {
    int chunkMiB, threads;
  } knobs[] = {{8, 16}, {16, 8}, {16, 16}, {4, 8}};
  for (const auto& kn : knobs) {
    if (expo_cuda_tune(ctx, std::size_t(kn.chunkMiB) << 20, 0, kn.threads) != 0) continue;
    const double t = timeHost(reps, [&] { perUnit(pa, pb, po); });
    std::snprintf(name, sizeof name, "  same, pageable, chunk %d MiB, %d copy threads", kn.chunkMiB, kn.threads);
    add(name, 3.0 * bytes, t, ratioText(tBoth / t, 0), "(information)");
  }
  expo_cuda_tune(ctx, 0, 0, 0);
  expo_cuda_close(ctx);
  std::free(pa);
  std::free(pb);
  std::free(po);
}

}  // namespace

int main(int argc, char** argv) {
  if (expo_cuda_device_count() <= 0) {
    std::printf("no CUDA device: %s\n", expo_cuda_last_error());
    return 77;
  }
  if (argc > 1 && std::strcmp(argv[1], "copies") == 0) {
    copiesOnly(argc > 2 ? std::atof(argv[2]) : 1.0);
    return 0;
  }
  const double kernelGiB = argc > 1 ? std::atof(argv[1]) : 4.0;
  const double pipeGiB = argc > 2 ? std::atof(argv[2]) : 1.0;
  int dev = -1;
  CK(cudaSetDevice(0));
  CK(cudaGetDevice(&dev));
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, dev));
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  const char* copyThreads = std::getenv("LLM_EXPO_CUDA_COPY_THREADS");
  std::printf("GPU: %s (sm_%d%d, %d SMs, %.1f GiB), driver %d, runtime %d, copy threads %s\n", prop.name, prop.major,
              prop.minor, prop.multiProcessorCount, prop.totalGlobalMem / kGiB, driver, runtime,
              copyThreads ? copyThreads : "default (half the CPUs, 2 to 8)");
  std::printf("kernel on device buffers:\n");
  kernelBench(kernelGiB);
  std::printf("host <-> device:\n");
  pipelineBench(pipeGiB);

  std::printf("\n| measurement | GB/s | ratio | target |\n|---|---:|---:|---|\n");
  for (const Row& r : rows)
    std::printf("| %s | %.1f | %s | %s |\n", r.name.c_str(), r.gbps, r.ratio.c_str(), r.target.c_str());
  return 0;
}
