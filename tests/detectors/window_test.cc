#include "detectors/window.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
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

// Proves a sparse series' ring holds statistics only for the steps it can
// still be asked for, and that handing them on changes nothing a reader at or
// after `read_from` sees: a pooled ring (reading from the window's lower edge
// each time it moves) and one that may read anything (read_from min) place,
// refuse and visit the same records, for random sparse and bursty inputs.
TEST(WindowRingTest, PooledStatisticsChangeNothingReadable) {
  std::mt19937 rng(5);
  for (int round = 0; round < 20; ++round) {
    Ring pooled(seconds(60), seconds(10));  // 8 slots
    Ring full(seconds(60), seconds(10));
    const int gap = 1 + static_cast<int>(rng() % 40);  // seconds between records, on average
    std::int64_t now = 1'000'000;
    std::int64_t read_from_ms = std::numeric_limits<std::int64_t>::min();
    for (int r = 0; r < 400; ++r) {
      now += static_cast<std::int64_t>(rng() % (2 * gap * 1000));
      // Mostly in order; a few late by up to a ring.
      const std::int64_t t = rng() % 8 == 0 ? now - static_cast<std::int64_t>(rng() % 90'000) : now;
      const Timestamp read_from = read_from_ms == std::numeric_limits<std::int64_t>::min()
                                      ? Timestamp::min()
                                      : at(read_from_ms);
      Count* a = pooled.slotFor(at(t), read_from);
      Count* b = full.slotFor(at(t));
      ASSERT_EQ(a == nullptr, b == nullptr) << "round " << round << " t " << t;
      if (a != nullptr) {
        ++a->n;
        ++b->n;
      }
      // The reader judges the window ending at the step end after `now`
      // minus up to two steps, never going back.
      const std::int64_t end = std::max<std::int64_t>(
          read_from_ms == std::numeric_limits<std::int64_t>::min() ? 0 : read_from_ms + 60'000,
          (now / 10'000 + 1 - static_cast<std::int64_t>(rng() % 3)) * 10'000);
      ASSERT_EQ(visit(pooled, end), visit(full, end)) << "round " << round << " end " << end;
      for (std::int64_t s = end - 70'000; s < end + 30'000; s += 10'000) {
        ASSERT_EQ(pooled.holds(at(s)), full.holds(at(s))) << s;
        const Count* x = pooled.slotAt(at(s));
        const Count* y = full.slotAt(at(s));
        ASSERT_EQ(x == nullptr, y == nullptr) << s;
        if (x != nullptr) {
          EXPECT_EQ(x->n, y->n) << s;
        }
      }
      read_from_ms = end - 60'000;
    }
    EXPECT_LE(pooled.pooled(), pooled.capacity());
    EXPECT_EQ(full.pooled(), full.capacity()) << "without read_from every slot keeps its own";
    if (gap >= 30) {
      EXPECT_LT(pooled.pooled(), pooled.capacity()) << "a record every " << gap << " s";
    }
  }
}

// Proves the pool grows one Stat at a time, up to one per slot, when every
// step has records.
TEST(WindowRingTest, PoolGrowsToCapacityWhenDense) {
  Ring ring(seconds(60), seconds(10));
  EXPECT_EQ(ring.pooled(), 0u);
  for (int step = 0; step < 20; ++step) {
    Count* slot = ring.slotFor(at(step * 10'000), at(step * 10'000 - 60'000));
    ASSERT_NE(slot, nullptr);
    EXPECT_EQ(slot->n, 0) << "a recycled slot starts empty";
    slot->n = step;
    EXPECT_EQ(ring.pooled(), std::min<std::size_t>(step + 1, ring.capacity()));
  }
  EXPECT_EQ(visit(ring, 200'000), (Visits{{140'000, 14}, {150'000, 15}, {160'000, 16},
                                          {170'000, 17}, {180'000, 18}, {190'000, 19}}));
  // A record every 100 s, read from the window's lower edge: one Stat, handed
  // from step to step.
  Ring sparse(seconds(60), seconds(10));
  for (int r = 0; r < 10; ++r) {
    const std::int64_t t = r * 100'000 + 3'000;
    Count* slot = sparse.slotFor(at(t), at(t - 63'000));
    ASSERT_NE(slot, nullptr);
    EXPECT_EQ(slot->n, 0);
    slot->n = r + 1;
    EXPECT_EQ(sparse.pooled(), 1u);
    EXPECT_EQ(visit(sparse, t - 3'000 + 10'000), (Visits{{t - 3'000, r + 1}}));
  }
}

}  // namespace
}  // namespace vigil::detectors
