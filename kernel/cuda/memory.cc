#include "memory.h"

#include <cuda_runtime_api.h>

#include "errors.h"

namespace expo::cuda {

bool pageLocked(const void* p, std::size_t n) {
  if (!p || n == 0) return true;
  for (const void* q : {p, static_cast<const void*>(static_cast<const std::uint8_t*>(p) + (n - 1))}) {
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, q) != cudaSuccess) {
      cudaGetLastError();  // not sticky: clear it
      return false;
    }
    if (a.type != cudaMemoryTypeHost) return false;
  }
  return true;
}

void SlotBuffers::allocate(std::uint64_t in, std::uint64_t devIn, std::uint64_t out) {
  CU(cudaMallocHost(reinterpret_cast<void**>(&hIn), in));
  CU(cudaMallocHost(reinterpret_cast<void**>(&hOut), out));
  CU(cudaMalloc(reinterpret_cast<void**>(&dIn), devIn));
  CU(cudaMalloc(reinterpret_cast<void**>(&dOut), out));
}

void SlotBuffers::release() {
  if (hIn) cudaFreeHost(hIn);
  if (hOut) cudaFreeHost(hOut);
  if (dIn) cudaFree(dIn);
  if (dOut) cudaFree(dOut);
  hIn = hOut = dIn = dOut = nullptr;
}

void DeviceDoubles::reserve(std::size_t n) {
  if (n <= cap) return;
  release();
  const std::size_t want = n + n / 4;
  CU(cudaMalloc(reinterpret_cast<void**>(&p), want * sizeof(double)));
  cap = want;
}

void DeviceDoubles::release() {
  if (p) cudaFree(p);
  p = nullptr;
  cap = 0;
}

template <class T>
void Mirror<T>::reserve(std::size_t n) {
  if (n <= cap) return;
  release();
  const std::size_t want = n < 1024 ? 1024 : n + n / 4;
  CU(cudaMallocHost(reinterpret_cast<void**>(&host), want * sizeof(T)));
  CU(cudaMalloc(reinterpret_cast<void**>(&dev), want * sizeof(T)));
  cap = want;
}

template <class T>
void Mirror<T>::release() {
  if (host) cudaFreeHost(host);
  if (dev) cudaFree(dev);
  host = nullptr;
  dev = nullptr;
  cap = 0;
}

template struct Mirror<std::uint64_t>;
template struct Mirror<double>;

}  // namespace expo::cuda
