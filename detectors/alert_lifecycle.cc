#include "detectors/alert_lifecycle.h"

namespace vigil::detectors {

AlertLifecycle::Transition AlertLifecycle::update(Condition condition, Timestamp at) {
  if (condition == Condition::kUnknown) return Transition::kNone;
  const bool breached = condition == Condition::kBreached;
  switch (state_) {
    case State::kInactive:
      if (!breached) return Transition::kNone;
      state_ = State::kPending;
      since_ = at;
      [[fallthrough]];
    case State::kPending:
      if (!breached) {
        state_ = State::kInactive;
        return Transition::kNone;
      }
      if (at - since_ >= for_) {
        state_ = State::kFiring;
        fired_at_ = at;
        return Transition::kFired;
      }
      return Transition::kNone;
    case State::kFiring:
      if (breached) return Transition::kNone;
      state_ = State::kClearing;
      since_ = at;
      [[fallthrough]];
    case State::kClearing:
      if (breached) {
        state_ = State::kFiring;
        return Transition::kNone;
      }
      if (at - since_ >= keep_firing_for_) {
        state_ = State::kInactive;
        return Transition::kResolved;
      }
      return Transition::kNone;
  }
  return Transition::kNone;
}

}  // namespace vigil::detectors
