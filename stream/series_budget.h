#pragma once

#include <atomic>
#include <cstddef>

#include "detectors/series_store.h"

namespace vigil::stream {

// A dataset's max_series shared by the stores of all its partitions, which
// open series from parallel tasks: lock-free. A series spread over several
// partitions takes one place per partition.
class AtomicSeriesBudget final : public detectors::SeriesBudget {
 public:
  explicit AtomicSeriesBudget(std::size_t cap) : cap_(cap) {}

  bool tryOpen() override {
    if (open_.fetch_add(1, std::memory_order_relaxed) < cap_) return true;
    open_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  void release(std::size_t n) override { open_.fetch_sub(n, std::memory_order_relaxed); }
  std::size_t open() const { return open_.load(std::memory_order_relaxed); }

 private:
  std::size_t cap_;
  std::atomic<std::size_t> open_{0};
};

}  // namespace vigil::stream
