// The host copies of the pipeline (packing a chunk into pinned staging, unpacking its outputs): a list of
// memcpys split by bytes over several threads, the calling thread included.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "plan.h"

namespace expo::cuda {

class CopyPool {
 public:
  explicit CopyPool(int threads) { resize(threads); }
  ~CopyPool() { stop(); }
  CopyPool(const CopyPool&) = delete;
  CopyPool& operator=(const CopyPool&) = delete;

  void resize(int threads);
  // Returns when every copy is done; lists under 1 MiB are copied on the calling thread alone.
  void run(const std::vector<CopyOp>& ops);

 private:
  void stop();
  void loop(int index, std::uint64_t seen);
  void part(int index);

  int threads_ = 1;
  bool quit_ = false;
  std::uint64_t generation_ = 0;
  int pending_ = 0;
  const std::vector<CopyOp>* ops_ = nullptr;
  std::size_t total_ = 0;
  std::mutex mu_;
  std::condition_variable cv_, done_;
  std::vector<std::thread> workers_;
};

}  // namespace expo::cuda
