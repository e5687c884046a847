#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "detectors/time.h"

namespace vigil::detectors {

// A sliding window as a ring of sub-windows, one per `step`, aligned to the
// Unix epoch. The window ending at step end E covers [E - window, E): the
// sub-windows whose start s satisfies E - window <= s < E.
//
// The ring keeps `ceil(window / step) + lookahead` slots so that records up to
// `lookahead` steps ahead of the oldest window still being evaluated can be
// placed without evicting a sub-window that window still needs. A slot is
// reused by a newer step in O(1): the older step it held has expired.
//
// A slot's statistics live in a pool that grows only as steps with records
// need them: a sparse series (a record every few steps) holds a few `Stat`s,
// not one per slot. A slot taking a step when the pool has none free takes
// the statistics of a step that can never be asked for again (see slotFor);
// only then does the pool grow.
//
// `Stat` is any default-constructible type with `clear()`. Not thread-safe;
// owned by one series of one partition.
template <class Stat>
class WindowRing {
 public:
  WindowRing(Duration window, Duration step, std::size_t lookahead = 2);

  // The sub-window that holds time `t`, recycling an expired slot if needed.
  // nullptr when `t` is too late for this ring: its step is a whole ring
  // (capacity steps) or more behind the newest step, or older than the step
  // its slot now holds.
  //
  // `read_from`: the caller will never again read a step starting before it
  // (slotAt, holds, forEachInWindow). A step both before it and a whole ring
  // behind the newest (so slotFor refuses it too) may give its statistics to
  // the step placed now; its slot then holds nothing. Timestamp::min(): every
  // step may be read again, and the pool grows to one Stat per slot.
  Stat* slotFor(Timestamp t, Timestamp read_from = Timestamp::min());

  // Calls f(step_start, const Stat&) for every live sub-window inside the window
  // that ends at `window_end` (a step boundary), oldest first.
  template <class F>
  void forEachInWindow(Timestamp window_end, F&& f) const;

  // Calls f(step_start, const Stat&) for every step the ring holds, in no
  // particular order. Costs O(pooled()), not O(steps): a sparse series
  // visits its few steps instead of every step of a range.
  template <class F>
  void forEachHeld(F&& f) const;
  // At most this many Stats: walking the held steps costs less than walking
  // a range of steps (each an index computation) longer than a few steps.
  static constexpr std::size_t kFewHeld = 8;
  bool fewHeld() const { return stats_.size() <= kFewHeld; }

  // The sub-window of the step starting at `step_start`, if the ring holds it.
  const Stat* slotAt(Timestamp step_start) const {
    const std::size_t i = indexOf(step_start);
    return starts_[i] == step_start ? &stats_[pooled_[i]] : nullptr;
  }
  // True when the ring holds the step starting at `step_start`. Reads only
  // the compact array of slot starts, not the sub-windows themselves.
  bool holds(Timestamp step_start) const { return starts_[indexOf(step_start)] == step_start; }

  // The start of the newest step placed so far; Timestamp::min() when empty.
  Timestamp newestStep() const { return newest_; }
  bool empty() const { return newest_ == Timestamp::min(); }

  Duration window() const { return window_; }
  Duration step() const { return step_; }
  std::size_t capacity() const { return starts_.size(); }
  // Stats allocated so far: at most capacity().
  std::size_t pooled() const { return stats_.size(); }

 private:
  std::size_t indexOf(Timestamp step_start) const;

  Duration window_;
  Duration step_;
  static constexpr std::uint32_t kNone = 0xffffffff;
  // The pool index for slot i's step, taking one from an expired step or
  // growing the pool.
  std::uint32_t takeStat(std::size_t i, Timestamp newest, Timestamp read_from);

  // Slot i holds the step starting at starts_[i] (Timestamp::min(): none)
  // and its statistics stats_[pooled_[i]] (kNone: no statistics yet); apart,
  // so looking up which steps are held touches a few cache lines, not every
  // sub-window. owner_[k] is the slot whose statistics stats_[k] are.
  std::vector<Timestamp> starts_;
  std::vector<std::uint32_t> pooled_;
  std::vector<Stat> stats_;
  std::vector<std::uint32_t> owner_;
  Timestamp newest_ = Timestamp::min();
};

}  // namespace vigil::detectors

#include "detectors/window_inl.h"
