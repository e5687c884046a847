#include "detectors/alert_lifecycle.h"

#include <gtest/gtest.h>

#include "detectors/clock.h"

namespace vigil::detectors {
namespace {

using std::chrono::seconds;
using Transition = AlertLifecycle::Transition;

constexpr Duration kStep = seconds(10);

// Drives a lifecycle one step at a time on a manual clock.
class LifecycleDriver {
 public:
  LifecycleDriver(Duration for_duration, Duration keep_firing_for)
      : lifecycle_(for_duration, keep_firing_for), clock_(timestampFromMillis(1'700'000'000'000)) {}
  Transition step(Condition c) {
    clock_.advance(kStep);
    return lifecycle_.update(c, clock_.now());
  }
  const AlertLifecycle& lifecycle() const { return lifecycle_; }
  Timestamp now() const { return clock_.now(); }

 private:
  AlertLifecycle lifecycle_;
  ManualClock clock_;
};

// With for: 0s the first breached step fires, and the first clear one resolves.
TEST(AlertLifecycleTest, ZeroDurationsFireAndResolveImmediately) {
  LifecycleDriver d(seconds(0), seconds(0));
  EXPECT_EQ(d.step(Condition::kClear), Transition::kNone);
  EXPECT_EQ(d.step(Condition::kBreached), Transition::kFired);
  EXPECT_TRUE(d.lifecycle().firing());
  EXPECT_EQ(d.step(Condition::kBreached), Transition::kNone);
  EXPECT_EQ(d.step(Condition::kClear), Transition::kResolved);
  EXPECT_FALSE(d.lifecycle().firing());
}

// `for` is compared with >=: a condition held exactly `for` fires.
TEST(AlertLifecycleTest, ForFiresWhenHeldExactlyThatLong) {
  LifecycleDriver d(seconds(20), seconds(0));
  EXPECT_EQ(d.step(Condition::kBreached), Transition::kNone);  // pending since t
  EXPECT_TRUE(d.lifecycle().pending());
  EXPECT_EQ(d.step(Condition::kBreached), Transition::kNone);  // t + 10s
  EXPECT_EQ(d.step(Condition::kBreached), Transition::kFired);  // t + 20s
}

// A pending condition that clears before `for` elapses never fires.
TEST(AlertLifecycleTest, PendingThatClearsDoesNotFire) {
  LifecycleDriver d(seconds(20), seconds(0));
  EXPECT_EQ(d.step(Condition::kBreached), Transition::kNone);
  EXPECT_EQ(d.step(Condition::kClear), Transition::kNone);
  EXPECT_FALSE(d.lifecycle().pending());
  EXPECT_EQ(d.step(Condition::kBreached), Transition::kNone);  // pending starts over
  EXPECT_EQ(d.step(Condition::kBreached), Transition::kNone);
  EXPECT_EQ(d.step(Condition::kBreached), Transition::kFired);
}

// keep_firing_for holds a firing alert through a short clear spell without events.
TEST(AlertLifecycleTest, KeepFiringForAbsorbsFlapping) {
  LifecycleDriver d(seconds(0), seconds(30));
  EXPECT_EQ(d.step(Condition::kBreached), Transition::kFired);
  EXPECT_EQ(d.step(Condition::kClear), Transition::kNone);     // clearing since t
  EXPECT_EQ(d.step(Condition::kClear), Transition::kNone);     // t + 10s
  EXPECT_EQ(d.step(Condition::kBreached), Transition::kNone);  // back to firing, no event
  EXPECT_TRUE(d.lifecycle().firing());
  EXPECT_EQ(d.step(Condition::kClear), Transition::kNone);  // clearing since t'
  EXPECT_EQ(d.step(Condition::kClear), Transition::kNone);
  EXPECT_EQ(d.step(Condition::kClear), Transition::kNone);
  EXPECT_EQ(d.step(Condition::kClear), Transition::kResolved);  // t' + 30s
}

// An unknown condition (empty window) neither advances nor resets any state.
TEST(AlertLifecycleTest, UnknownHoldsState) {
  LifecycleDriver d(seconds(0), seconds(0));
  EXPECT_EQ(d.step(Condition::kBreached), Transition::kFired);
  EXPECT_EQ(d.step(Condition::kUnknown), Transition::kNone);
  EXPECT_EQ(d.step(Condition::kUnknown), Transition::kNone);
  EXPECT_TRUE(d.lifecycle().firing());
  EXPECT_EQ(d.step(Condition::kClear), Transition::kResolved);
}

// firingSince() reports the timestamp of the firing event, and nothing when inactive.
TEST(AlertLifecycleTest, FiringSinceIsTheFiringTimestamp) {
  LifecycleDriver d(seconds(10), seconds(0));
  EXPECT_FALSE(d.lifecycle().firingSince().has_value());
  d.step(Condition::kBreached);
  d.step(Condition::kBreached);
  ASSERT_TRUE(d.lifecycle().firingSince().has_value());
  EXPECT_EQ(*d.lifecycle().firingSince(), d.now());
  d.step(Condition::kClear);
  EXPECT_FALSE(d.lifecycle().firingSince().has_value());
}

}  // namespace
}  // namespace vigil::detectors
