// Pinned host and device memory of a context, grown on demand and kept across calls (allocating either is far
// slower than a chunk's copies). Released explicitly, after the streams using it are synchronized.
#pragma once

#include <cstddef>
#include <cstdint>

namespace expo::cuda {

// Whether [p, p + n) is page-locked host memory (its first and last byte; a range that is not is still correct
// to DMA from, only slower).
bool pageLocked(const void* p, std::size_t n);

// One pipeline slot's staging: pinned input and output bytes on the host, their twins on the device (the
// device input buffer larger: it also holds the stage regions, plan.h).
struct SlotBuffers {
  std::uint8_t* hIn = nullptr;
  std::uint8_t* hOut = nullptr;
  std::uint8_t* dIn = nullptr;
  std::uint8_t* dOut = nullptr;
  // `in` (host), `devIn` (device) and `out` bytes (after release()).
  void allocate(std::uint64_t in, std::uint64_t devIn, std::uint64_t out);
  void release();
};

// A device array, grown by a quarter more than asked.
struct DeviceDoubles {
  double* p = nullptr;
  std::size_t cap = 0;  // elements
  void reserve(std::size_t n);
  void release();
};

// A pinned host buffer and its device twin, grown on demand.
template <class T>
struct Mirror {
  T* host = nullptr;
  T* dev = nullptr;
  std::size_t cap = 0;  // elements
  void reserve(std::size_t n);
  void release();
};

}  // namespace expo::cuda
