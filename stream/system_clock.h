#pragma once

#include <chrono>

#include "detectors/clock.h"

namespace vigil::stream {

// The wall clock: the only place in vigil that reads it for detection.
class SystemClock final : public detectors::Clock {
 public:
  detectors::Timestamp now() const override {
    return std::chrono::floor<detectors::Duration>(std::chrono::system_clock::now());
  }
};

}  // namespace vigil::stream
