#pragma once

// Member definitions of WindowRing; included at the end of detectors/window.h.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <utility>

#include "detectors/time.h"
#include "detectors/window.h"

namespace vigil::detectors {

template <class Stat>
WindowRing<Stat>::WindowRing(Duration window, Duration step, std::size_t lookahead)
    : window_(window), step_(step) {
  if (step.count() <= 0 || window.count() <= 0) {
    throw std::invalid_argument("WindowRing: window and step must be positive");
  }
  // ceil, so that a window that is not a multiple of the step still has a slot for every step
  // that overlaps it.
  const auto steps = static_cast<std::size_t>((window.count() + step.count() - 1) / step.count());
  starts_.assign(steps + lookahead, Timestamp::min());
  pooled_.assign(steps + lookahead, kNone);
}

template <class Stat>
std::size_t WindowRing<Stat>::indexOf(Timestamp step_start) const {
  // Floor modulo, so steps before 1970 (negative step numbers) map into the ring as well.
  const std::int64_t n = toMillis(step_start) / step_.count();
  const auto cap = static_cast<std::int64_t>(starts_.size());
  std::int64_t i = n % cap;
  if (i < 0) i += cap;
  return static_cast<std::size_t>(i);
}

template <class Stat>
Stat* WindowRing<Stat>::slotFor(Timestamp t, Timestamp read_from) {
  const Timestamp s = alignDown(t, step_);
  // A step a whole ring or more behind the newest is late whatever its slot
  // holds now, so lateness does not depend on which slots happen to be empty.
  if (newest_ != Timestamp::min() &&
      s <= newest_ - step_ * static_cast<std::int64_t>(starts_.size())) {
    return nullptr;
  }
  const std::size_t i = indexOf(s);
  if (starts_[i] > s) return nullptr;  // the slot already moved on to a newer step
  if (s > newest_) newest_ = s;
  if (starts_[i] < s) {
    // Empty (Timestamp::min()) or an older step at least `capacity` steps back: that step is
    // outside every window the lookahead protects, so its statistics can go.
    if (pooled_[i] == kNone) pooled_[i] = takeStat(i, newest_, read_from);
    stats_[pooled_[i]].clear();
    starts_[i] = s;
  }
  return &stats_[pooled_[i]];
}

template <class Stat>
std::uint32_t WindowRing<Stat>::takeStat(std::size_t i, Timestamp newest, Timestamp read_from) {
  // Steps at or before this are refused by slotFor (a whole ring behind).
  const Timestamp refused = newest - step_ * static_cast<std::int64_t>(starts_.size());
  for (std::size_t k = 0; k < owner_.size(); ++k) {
    const std::size_t j = owner_[k];
    if (starts_[j] <= refused && starts_[j] < read_from) {
      // Slot j's step goes: nothing will ask for it, and slotFor refuses it
      // with or without its statistics (j now holds nothing, as if never used).
      starts_[j] = Timestamp::min();
      pooled_[j] = kNone;
      owner_[k] = static_cast<std::uint32_t>(i);
      return static_cast<std::uint32_t>(k);
    }
  }
  if (stats_.size() == stats_.capacity()) {
    // Grow by doubling, but never past one Stat per slot: a dense series ends
    // with exactly capacity() of them.
    const std::size_t n = std::min(starts_.size(), std::max<std::size_t>(4, stats_.size() * 2));
    stats_.reserve(n);
    owner_.reserve(n);
  }
  stats_.emplace_back();
  owner_.push_back(static_cast<std::uint32_t>(i));
  return static_cast<std::uint32_t>(stats_.size() - 1);
}

template <class Stat>
template <class F>
void WindowRing<Stat>::forEachHeld(F&& f) const {
  // owner_[k] is the slot whose step stats_[k] holds; a slot whose
  // statistics were taken by another step holds nothing (Timestamp::min()).
  for (std::size_t k = 0; k < owner_.size(); ++k) {
    const Timestamp s = starts_[owner_[k]];
    if (s != Timestamp::min()) f(s, std::as_const(stats_[k]));
  }
}

template <class Stat>
template <class F>
void WindowRing<Stat>::forEachInWindow(Timestamp window_end, F&& f) const {
  // The first step start at or after window_end - window; for a window that is not a multiple
  // of the step, the step straddling the lower edge is left out (its start is before it).
  const Timestamp lower = window_end - window_;
  Timestamp s = alignDown(lower, step_);
  if (s < lower) s += step_;
  for (; s < window_end; s += step_) {
    const std::size_t i = indexOf(s);
    if (starts_[i] == s) f(s, std::as_const(stats_[pooled_[i]]));
  }
}

}  // namespace vigil::detectors
