#include "detectors/window.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include "detectors/time.h"

namespace vigil::detectors {
namespace {

using std::chrono::seconds;

struct Count {
  int n = 0;
  void clear() { n = 0; }
};

using Ring = WindowRing<Count>;
// (step start in ms, count) for each sub-window visited, in visiting order.
using Visits = std::vector<std::pair<std::int64_t, int>>;

Timestamp at(std::int64_t ms) { return timestampFromMillis(ms); }

void addAt(Ring& ring, std::int64_t ms, int n = 1) {
  Count* slot = ring.slotFor(at(ms));
  ASSERT_NE(slot, nullptr) << ms;
  slot->n += n;
}

Visits visit(const Ring& ring, std::int64_t window_end_ms) {
  Visits out;
  ring.forEachInWindow(at(window_end_ms), [&](Timestamp start, const Count& c) {
    out.emplace_back(toMillis(start), c.n);
  });
  return out;
}

// Proves the ring holds ceil(window / step) sub-windows plus the lookahead.
TEST(WindowRingTest, CapacityIsStepsPerWindowPlusLookahead) {
  EXPECT_EQ(Ring(seconds(60), seconds(10)).capacity(), 8u);
  EXPECT_EQ(Ring(seconds(60), seconds(10), 0).capacity(), 6u);
  EXPECT_EQ(Ring(seconds(25), seconds(10)).capacity(), 5u);
}

// Proves a new ring is empty and visits nothing.
TEST(WindowRingTest, NewRingIsEmpty) {
  const Ring ring(seconds(30), seconds(10));
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.newestStep(), Timestamp::min());
  EXPECT_TRUE(visit(ring, 30'000).empty());
}

// Proves sub-windows are aligned to epoch multiples of the step, not to the first record.
TEST(WindowRingTest, AlignsSubWindowsToEpochSteps) {
  Ring ring(seconds(60), seconds(10));
  addAt(ring, 1'700'000'003'456);
  addAt(ring, 1'700'000'007'000);
  EXPECT_EQ(ring.newestStep(), at(1'700'000'000'000));
  EXPECT_EQ(visit(ring, 1'700'000'010'000), (Visits{{1'700'000'000'000, 2}}));
}

// Proves a timestamp exactly on a step boundary belongs to the step it starts.
TEST(WindowRingTest, BoundaryTimestampStartsItsStep) {
  Ring ring(seconds(60), seconds(10));
  addAt(ring, 20'000);
  EXPECT_EQ(ring.newestStep(), at(20'000));
  EXPECT_EQ(visit(ring, 30'000), (Visits{{20'000, 1}}));
}

// Proves one millisecond before a boundary still belongs to the previous step.
TEST(WindowRingTest, OneMillisecondBeforeBoundaryBelongsToPreviousStep) {
  Ring ring(seconds(60), seconds(10));
  addAt(ring, 19'999);
  addAt(ring, 20'000);
  EXPECT_EQ(visit(ring, 30'000), (Visits{{10'000, 1}, {20'000, 1}}));
}

// Proves sub-windows are visited oldest first and drop out as the window end moves on.
TEST(WindowRingTest, OldSubWindowsExpireAsWindowEndMoves) {
  Ring ring(seconds(30), seconds(10));
  addAt(ring, 0, 1);
  addAt(ring, 10'000, 2);
  addAt(ring, 20'000, 3);
  EXPECT_EQ(visit(ring, 30'000), (Visits{{0, 1}, {10'000, 2}, {20'000, 3}}));
  EXPECT_EQ(visit(ring, 40'000), (Visits{{10'000, 2}, {20'000, 3}}));
  EXPECT_EQ(visit(ring, 50'000), (Visits{{20'000, 3}}));
  EXPECT_TRUE(visit(ring, 60'000).empty());
}

// Proves a slot taken over by a newer step starts from a cleared Stat.
TEST(WindowRingTest, RecycledSlotIsCleared) {
  Ring ring(seconds(30), seconds(10));  // 5 slots: step 0 and step 50 s share one
  addAt(ring, 0, 7);
  Count* recycled = ring.slotFor(at(50'000));
  ASSERT_NE(recycled, nullptr);
  EXPECT_EQ(recycled->n, 0);
  EXPECT_TRUE(visit(ring, 30'000).empty());  // step 0 is gone, not shown with stale data
  EXPECT_EQ(visit(ring, 60'000), (Visits{{50'000, 0}}));
}

// Proves a record for a step whose slot a newer step has taken is refused, not mixed in.
TEST(WindowRingTest, TooLateTimestampReturnsNullptr) {
  Ring ring(seconds(30), seconds(10));
  addAt(ring, 50'000, 4);
  EXPECT_EQ(ring.slotFor(at(9'999)), nullptr);  // step 0, same slot as step 50 s
  EXPECT_EQ(ring.slotFor(at(0)), nullptr);
  EXPECT_EQ(visit(ring, 60'000), (Visits{{50'000, 4}}));
  EXPECT_EQ(ring.newestStep(), at(50'000));
}

// Proves a step a whole ring behind the newest is late even when its slot is empty.
TEST(WindowRingTest, StepAWholeRingBehindIsLateEvenIntoAnEmptySlot) {
  Ring ring(seconds(30), seconds(10), 2);  // 5 slots
  addAt(ring, 100'000);                     // slot 0 (step 10 of 5)
  EXPECT_EQ(ring.slotFor(at(50'000)), nullptr);   // step 5: exactly a ring behind
  EXPECT_EQ(ring.slotFor(at(10'000)), nullptr);   // step 1: slot 1 is empty, still late
  EXPECT_NE(ring.slotFor(at(60'000)), nullptr);   // step 6: inside the ring
}

// Proves a late record whose step still has its slot is accepted and counted in place.
TEST(WindowRingTest, LateRecordWithinRingIsAccepted) {
  Ring ring(seconds(30), seconds(10));
  addAt(ring, 40'000);
  addAt(ring, 15'000);
  EXPECT_EQ(ring.newestStep(), at(40'000));
  EXPECT_EQ(visit(ring, 30'000), (Visits{{10'000, 1}}));
}

// Proves records up to `lookahead` steps past the evaluated window keep that window intact.
TEST(WindowRingTest, LookaheadKeepsEvaluatedWindowIntact) {
  Ring ring(seconds(30), seconds(10), 2);
  addAt(ring, 0, 1);
  addAt(ring, 10'000, 2);
  addAt(ring, 20'000, 3);
  // The window [0, 30 s) is not evaluated yet, but records for the next two steps arrive.
  addAt(ring, 30'000, 10);
  addAt(ring, 45'000, 20);
  EXPECT_EQ(visit(ring, 30'000), (Visits{{0, 1}, {10'000, 2}, {20'000, 3}}));
  EXPECT_EQ(visit(ring, 50'000), (Visits{{20'000, 3}, {30'000, 10}, {40'000, 20}}));
}

// Proves the lookahead is the limit: one step further recycles the oldest sub-window.
TEST(WindowRingTest, RecordBeyondLookaheadEvictsOldestSubWindow) {
  Ring ring(seconds(30), seconds(10), 2);
  addAt(ring, 0, 1);
  addAt(ring, 10'000, 2);
  addAt(ring, 20'000, 3);
  addAt(ring, 50'000, 5);
  EXPECT_EQ(visit(ring, 30'000), (Visits{{10'000, 2}, {20'000, 3}}));
}

// Proves a window of exactly one step visits only that step.
TEST(WindowRingTest, WindowEqualToStep) {
  Ring ring(seconds(10), seconds(10));
  EXPECT_EQ(ring.capacity(), 3u);
  addAt(ring, 5'000, 1);
  addAt(ring, 15'000, 2);
  EXPECT_EQ(visit(ring, 10'000), (Visits{{0, 1}}));
  EXPECT_EQ(visit(ring, 20'000), (Visits{{10'000, 2}}));
}

// Proves with window 25 s and step 10 s only steps starting inside [E - 25 s, E) are visited.
TEST(WindowRingTest, WindowNotMultipleOfStep) {
  Ring ring(seconds(25), seconds(10));
  addAt(ring, 70'000, 1);
  addAt(ring, 80'000, 2);
  addAt(ring, 90'000, 3);
  EXPECT_EQ(visit(ring, 100'000), (Visits{{80'000, 2}, {90'000, 3}}));
  EXPECT_EQ(visit(ring, 95'000), (Visits{{70'000, 1}, {80'000, 2}, {90'000, 3}}));
}

// Proves timestamps before 1970 floor to their step and windows cross the epoch in order.
TEST(WindowRingTest, NegativeTimestampsAlignAndCrossEpoch) {
  Ring ring(seconds(30), seconds(10));
  addAt(ring, -10'001, 1);  // step -20 s
  addAt(ring, -10'000, 2);  // step -10 s (on the boundary)
  addAt(ring, -1, 3);       // step -10 s
  addAt(ring, 0, 4);        // step 0
  EXPECT_EQ(ring.newestStep(), at(0));
  EXPECT_EQ(visit(ring, 10'000), (Visits{{-20'000, 1}, {-10'000, 5}, {0, 4}}));
  EXPECT_EQ(visit(ring, 0), (Visits{{-20'000, 1}, {-10'000, 5}}));
}

// Proves the ring refuses a zero step or window instead of dividing by zero.
TEST(WindowRingTest, RejectsNonPositiveDurations) {
  EXPECT_THROW(Ring(seconds(30), seconds(0)), std::invalid_argument);
  EXPECT_THROW(Ring(seconds(0), seconds(10)), std::invalid_argument);
}

}  // namespace
}  // namespace vigil::detectors
