#pragma once

#include "detectors/time.h"

namespace vigil::detectors {

// Source of "now" for anything that must act without new data (freshness timers,
// idle partitions). Detection code never reads the wall clock itself; the process
// passes a system clock (stream/system_clock.h) and tests a ManualClock.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp now() const = 0;
};

// A clock that only moves when told to. Not thread-safe; for tests and replay.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start = Timestamp{}) : now_(start) {}
  Timestamp now() const override { return now_; }
  void advance(Duration d) { now_ += d; }
  void set(Timestamp t) { now_ = t; }

 private:
  Timestamp now_;
};

}  // namespace vigil::detectors
