#pragma once

#include <optional>

#include "detectors/time.h"

namespace vigil::detectors {

// What a check concluded about one series at one step end.
enum class Condition {
  kClear,     // within bounds
  kBreached,  // out of bounds
  kUnknown,   // nothing to judge (empty or not yet full window): the state holds
};

// The alert lifecycle shared by every check, with Prometheus semantics:
//
//   inactive --breached--> pending --held for `for`--> firing
//   firing --clear--> clearing --clear for keep_firing_for--> resolved (inactive)
//
// Both durations are compared with >=, so `for: 0s` fires at the first
// breached step and `keep_firing_for: 0s` resolves at the first clear step.
// A pending condition that clears before `for` elapses goes back to inactive
// without an event; a breach while clearing returns to firing without an event.
// kUnknown changes nothing. One instance per (series, failure type); plain data,
// not thread-safe.
class AlertLifecycle {
 public:
  enum class Transition { kNone, kFired, kResolved };

  AlertLifecycle() = default;
  AlertLifecycle(Duration for_duration, Duration keep_firing_for)
      : for_(for_duration), keep_firing_for_(keep_firing_for) {}

  Transition update(Condition condition, Timestamp at);

  bool firing() const { return state_ == State::kFiring || state_ == State::kClearing; }
  bool pending() const { return state_ == State::kPending; }
  // True when the next update can change the state only if the condition
  // changes: inactive, or firing without clearing. Pending and clearing move
  // with time alone.
  bool settled() const { return state_ == State::kInactive || state_ == State::kFiring; }
  // When the condition that is pending or firing was first breached, at the
  // latest: a rebuild that judges again from before this (with a full window)
  // comes to the same state. nullopt while inactive.
  std::optional<Timestamp> breachedSince() const {
    if (state_ == State::kPending) return since_;
    if (firing()) return fired_at_ - for_;
    return std::nullopt;
  }
  // When the current firing began (the timestamp of its firing event).
  std::optional<Timestamp> firingSince() const {
    return firing() ? std::optional<Timestamp>(fired_at_) : std::nullopt;
  }

 private:
  enum class State { kInactive, kPending, kFiring, kClearing };

  Duration for_{0};
  Duration keep_firing_for_{0};
  State state_ = State::kInactive;
  Timestamp since_{};     // pending since / clearing since
  Timestamp fired_at_{};
};

}  // namespace vigil::detectors
