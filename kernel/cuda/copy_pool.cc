#include "copy_pool.h"

#include <cstring>

namespace expo::cuda {

void CopyPool::resize(int threads) {
  stop();
  threads_ = threads < 1 ? 1 : threads;
  quit_ = false;
  // A new worker waits for the next run, not one that already happened.
  const std::uint64_t now = generation_;
  for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i, now] { loop(i, now); });
}

void CopyPool::run(const std::vector<CopyOp>& ops) {
  std::size_t total = 0;
  for (const CopyOp& op : ops) total += op.n;
  if (threads_ == 1 || total < (std::size_t(1) << 20)) {
    for (const CopyOp& op : ops) std::memcpy(op.dst, op.src, op.n);
    return;
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    ops_ = &ops;
    total_ = total;
    pending_ = threads_ - 1;
    ++generation_;
  }
  cv_.notify_all();
  part(0);
  std::unique_lock<std::mutex> g(mu_);
  done_.wait(g, [this] { return pending_ == 0; });
  ops_ = nullptr;
}

void CopyPool::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void CopyPool::loop(int index, std::uint64_t seen) {
  for (;;) {
    {
      std::unique_lock<std::mutex> g(mu_);
      cv_.wait(g, [&] { return quit_ || generation_ != seen; });
      if (quit_) return;
      seen = generation_;
    }
    part(index);
    {
      std::lock_guard<std::mutex> g(mu_);
      --pending_;
    }
    done_.notify_one();
  }
}

// Copies bytes [index, index + 1) / threads of the concatenated list.
void CopyPool::part(int index) {
  const std::size_t lo = total_ * std::size_t(index) / std::size_t(threads_);
  const std::size_t hi = total_ * std::size_t(index + 1) / std::size_t(threads_);
  std::size_t at = 0;
  for (const CopyOp& op : *ops_) {
    const std::size_t b = at > lo ? at : lo;
    const std::size_t e = at + op.n < hi ? at + op.n : hi;
    if (b < e)
      std::memcpy(static_cast<std::uint8_t*>(op.dst) + (b - at), static_cast<const std::uint8_t*>(op.src) + (b - at),
                  e - b);
    at += op.n;
    if (at >= hi) break;
  }
}

}  // namespace expo::cuda
