#pragma once

#include <algorithm>
#include <deque>
#include <optional>
#include <utility>

#include "detectors/time.h"
#include "stream/record.h"

namespace vigil::stream {

// Per step of event time, the lowest input offset placed in it: where a
// rebuild must start re-reading for the windows from a given time on to be
// whole again. Steps arrive mostly in order, so the newest is found first;
// forgetBefore() drops what no window needs any more. One per lane; not
// thread-safe.
class WindowOffsets {
 public:
  explicit WindowOffsets(detectors::Duration step) : step_(step) {}

  void placed(detectors::Timestamp event_time, Offset offset) {
    const detectors::Timestamp start = detectors::alignDown(event_time, step_);
    auto it = steps_.end();
    while (it != steps_.begin() && std::prev(it)->first > start) --it;
    if (it != steps_.begin() && std::prev(it)->first == start) {
      std::prev(it)->second = std::min(std::prev(it)->second, offset);
    } else {
      steps_.insert(it, {start, offset});
    }
  }

  // Forgets the steps that end at or before `t`.
  void forgetBefore(detectors::Timestamp t) {
    while (!steps_.empty() && steps_.front().first + step_ <= t) steps_.pop_front();
  }

  // The lowest offset placed in a step not forgotten; nullopt if none.
  std::optional<Offset> oldest() const {
    std::optional<Offset> out;
    for (const auto& [start, offset] : steps_) out = out ? std::min(*out, offset) : offset;
    return out;
  }

  std::size_t steps() const { return steps_.size(); }

 private:
  detectors::Duration step_;
  std::deque<std::pair<detectors::Timestamp, Offset>> steps_;  // by step start, ascending
};

}  // namespace vigil::stream
