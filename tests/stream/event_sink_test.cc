// EventSink's bookkeeping over a scripted producer: acknowledgements,
// failed deliveries produced again, and a producer replaced after a fatal
// error. No broker, no clock but the test's.

#include "stream/event_sink.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace vigil::stream {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Queued = EventSink::Producer::Queued;

struct Sent {
  std::uint64_t seq;
  std::string topic;
  std::string key;
  std::string value;
  EventSink::Headers headers;
};

// What one producer was given and what it will answer; shared with the test,
// since the sink owns (and destroys) the producer itself.
struct ProducerState {
  std::vector<Sent> sent;
  std::deque<std::tuple<std::uint64_t, bool, std::string>> reports;  // served by the next poll
  std::string fatal;       // non-empty: fatalError() and produce() say so
  int full_answers = 0;    // produce() answers kFull this many times first
  int failed_answers = 0;  // then kFailed this many times
  int produce_calls = 0;
  int polls = 0;
  bool abandoned = false;
  bool destroyed = false;
  std::vector<std::tuple<std::uint64_t, bool, std::string>> on_abandon;  // reports then
  EventSink::Report report;

  void ack(std::uint64_t seq) { reports.emplace_back(seq, true, ""); }
  void fail(std::uint64_t seq, std::string why) {
    reports.emplace_back(seq, false, std::move(why));
  }
  std::vector<std::uint64_t> sentSeqs() const {
    std::vector<std::uint64_t> out;
    for (const Sent& s : sent) out.push_back(s.seq);
    return out;
  }
};

class FakeProducer final : public EventSink::Producer {
 public:
  FakeProducer(std::shared_ptr<ProducerState> state, Clock::time_point* now)
      : state_(std::move(state)), now_(now) {}
  ~FakeProducer() override { state_->destroyed = true; }

  Queued produce(const std::string& topic, const std::string& key, const std::string& value,
                 const EventSink::Headers& headers, std::uint64_t seq, std::string& why) override {
    ++state_->produce_calls;
    if (!state_->fatal.empty()) {
      why = "fatal";
      return Queued::kFatal;
    }
    if (state_->full_answers > 0) {
      --state_->full_answers;
      why = "queue full";
      return Queued::kFull;
    }
    if (state_->failed_answers > 0) {
      --state_->failed_answers;
      why = "unknown topic";
      return Queued::kFailed;
    }
    state_->sent.push_back({seq, topic, key, value, headers});
    return Queued::kOk;
  }

  void poll(int) override {
    ++state_->polls;
    while (!state_->reports.empty()) {
      auto [seq, ok, why] = state_->reports.front();
      state_->reports.pop_front();
      state_->report(seq, ok, why);
    }
  }

  // Everything sent so far is acknowledged; time passes.
  void flush(int timeout_ms) override {
    poll(0);
    *now_ += milliseconds(timeout_ms);
  }

  std::string fatalError() override { return state_->fatal; }

  void abandon() override {
    state_->abandoned = true;
    for (auto& [seq, ok, why] : state_->on_abandon) state_->report(seq, ok, why);
  }

 private:
  std::shared_ptr<ProducerState> state_;
  Clock::time_point* now_;
};

class EventSinkTest : public ::testing::Test {
 protected:
  void SetUp() override { sink_ = make(); }

  std::unique_ptr<EventSink> make() {
    std::string error;
    auto sink = EventSink::create(
        [this](EventSink::Report report, std::string& e) -> std::unique_ptr<EventSink::Producer> {
          if (refuse_creation_ > 0) {
            --refuse_creation_;
            e = "no memory";
            return nullptr;
          }
          auto state = std::make_shared<ProducerState>();
          state->report = std::move(report);
          producers_.push_back(state);
          return std::make_unique<FakeProducer>(state, &now_);
        },
        "vigil.failures", [this] { return now_; }, error);
    EXPECT_TRUE(sink) << error;
    return sink;
  }

  ProducerState& producer(std::size_t i) { return *producers_.at(i); }
  ProducerState& current() { return *producers_.back(); }

  Clock::time_point now_{};
  int refuse_creation_ = 0;
  std::vector<std::shared_ptr<ProducerState>> producers_;
  std::unique_ptr<EventSink> sink_;
};

TEST_F(EventSinkTest, AcknowledgementsAdvanceOnlyPastTheLowestPending) {
  EXPECT_EQ(sink_->produce("k0", "v0"), 0u);
  EXPECT_EQ(sink_->produce("k1", "v1"), 1u);
  EXPECT_EQ(sink_->produce("k2", "v2"), 2u);
  EXPECT_EQ(sink_->ackedBefore(), 0u);
  current().ack(1);
  sink_->poll();
  EXPECT_EQ(sink_->ackedBefore(), 0u) << "0 is not acknowledged yet";
  current().ack(0);
  sink_->poll();
  EXPECT_EQ(sink_->ackedBefore(), 2u);
  current().ack(2);
  sink_->poll();
  EXPECT_EQ(sink_->ackedBefore(), 3u);
  EXPECT_EQ(sink_->inFlight(), 0u);
  EXPECT_EQ(sink_->failedDeliveries(), 0u);
}

TEST_F(EventSinkTest, FailedDeliveryIsProducedAgainUnchangedAndHoldsTheAcknowledgement) {
  sink_->produceTo("orders.dead", "key", "value", {{"vigil.reason", "late"}});
  sink_->produce("k1", "v1");
  current().fail(0, "Broker: Message size too large");
  current().ack(1);
  sink_->poll();
  EXPECT_EQ(sink_->failedDeliveries(), 1u);
  EXPECT_EQ(sink_->ackedBefore(), 0u) << "1 is acknowledged, 0 is not";
  ASSERT_EQ(current().sentSeqs(), (std::vector<std::uint64_t>{0, 1, 0}));
  const Sent& again = current().sent.back();
  EXPECT_EQ(again.topic, "orders.dead");
  EXPECT_EQ(again.key, "key");
  EXPECT_EQ(again.value, "value");
  EXPECT_EQ(again.headers, (EventSink::Headers{{"vigil.reason", "late"}}));
  current().ack(0);
  sink_->poll();
  EXPECT_EQ(sink_->ackedBefore(), 2u);
  EXPECT_EQ(sink_->producerRecreations(), 0u);
}

TEST_F(EventSinkTest, RepeatedFailuresOfOneMessageBackOff) {
  sink_->produce("k", "v");
  current().fail(0, "timed out");
  sink_->poll();
  EXPECT_EQ(current().sent.size(), 2u) << "the first retry is immediate";
  current().fail(0, "timed out");
  sink_->poll();
  EXPECT_EQ(current().sent.size(), 2u) << "the second waits";
  now_ += milliseconds(99);
  sink_->poll();
  EXPECT_EQ(current().sent.size(), 2u);
  now_ += milliseconds(1);
  sink_->poll();
  EXPECT_EQ(current().sent.size(), 3u) << "after 100 ms";
  current().fail(0, "timed out");
  sink_->poll();
  now_ += milliseconds(199);
  sink_->poll();
  EXPECT_EQ(current().sent.size(), 3u);
  now_ += milliseconds(1);
  sink_->poll();
  EXPECT_EQ(current().sent.size(), 4u) << "then 200 ms";
  // Capped at 5 s however often it fails.
  for (int i = 0; i < 10; ++i) {
    current().fail(0, "timed out");
    sink_->poll();
    now_ += EventSink::kResendBackoffMax;
    sink_->poll();
  }
  EXPECT_EQ(current().sent.size(), 14u);
  EXPECT_EQ(sink_->failedDeliveries(), 13u);
  EXPECT_EQ(sink_->ackedBefore(), 0u);
}

TEST_F(EventSinkTest, FatalErrorReplacesTheProducerAndProducesTheUnacknowledgedInOrder) {
  for (int i = 0; i < 5; ++i) sink_->produce("k" + std::to_string(i), "v" + std::to_string(i));
  ProducerState& first = current();
  first.ack(1);
  first.fail(0, "Broker: Out of order sequence number");
  first.fatal = "Broker: Out of order sequence number: sequence desynchronization";
  sink_->poll();
  ASSERT_EQ(producers_.size(), 2u);
  EXPECT_TRUE(first.abandoned);
  EXPECT_TRUE(first.destroyed);
  EXPECT_EQ(sink_->producerRecreations(), 1u);
  // Each unacknowledged message once, in order, the failed one included.
  ASSERT_EQ(current().sentSeqs(), (std::vector<std::uint64_t>{0, 2, 3, 4}));
  EXPECT_EQ(current().sent[2].key, "k3");
  EXPECT_EQ(current().sent[2].value, "v3");
  EXPECT_EQ(sink_->ackedBefore(), 0u);
  for (const std::uint64_t seq : {0, 2, 3, 4}) current().ack(seq);
  sink_->poll();
  EXPECT_EQ(sink_->ackedBefore(), 5u);
  EXPECT_EQ(sink_->producerRecreations(), 1u);
}

TEST_F(EventSinkTest, ReportsOfTheAbandonedProducer) {
  for (int i = 0; i < 3; ++i) sink_->produce("k", "v" + std::to_string(i));
  ProducerState& first = current();
  first.fatal = "fatal";
  // Purged: 1 had been acknowledged before, the others fail.
  first.on_abandon = {{0, false, "purged"}, {1, true, ""}, {2, false, "purged"}};
  sink_->poll();
  ASSERT_EQ(producers_.size(), 2u);
  EXPECT_EQ(current().sentSeqs(), (std::vector<std::uint64_t>{0, 2}))
      << "what it acknowledged is not produced again";
  EXPECT_EQ(sink_->failedDeliveries(), 0u) << "its purge reports are not failures to retry";
  // A late report of the dead producer changes nothing for a message in flight again.
  first.report(0, false, "late");
  EXPECT_EQ(current().sent.size(), 2u);
  EXPECT_EQ(sink_->ackedBefore(), 0u);
  // An acknowledgement is one, whichever producer it comes from.
  first.report(0, true, "");
  EXPECT_EQ(sink_->ackedBefore(), 2u);
  current().ack(0);  // its own copy: already counted
  current().ack(2);
  sink_->poll();
  EXPECT_EQ(sink_->ackedBefore(), 3u);
  EXPECT_EQ(sink_->inFlight(), 0u);
}

TEST_F(EventSinkTest, ADeadProducerIsNotRetriedButReplaced) {
  current().fatal = "fatal";
  sink_->produce("k0", "v0");
  sink_->produce("k1", "v1");
  // produce() answered kFatal for the first; the second was not even offered.
  EXPECT_EQ(current().produce_calls, 1);
  EXPECT_TRUE(current().sent.empty());
  EXPECT_EQ(sink_->inFlight(), 2u);
  sink_->poll();
  ASSERT_EQ(producers_.size(), 2u);
  EXPECT_EQ(producer(0).produce_calls, 1) << "nothing more went to the dead producer";
  EXPECT_EQ(current().sentSeqs(), (std::vector<std::uint64_t>{0, 1}));
}

TEST_F(EventSinkTest, ProducersThatKeepFailingFatallyAreReplacedWithBackoff) {
  sink_->produce("k", "v");
  current().fatal = "fatal";
  sink_->poll();
  ASSERT_EQ(producers_.size(), 2u) << "the first replacement is immediate";
  current().fatal = "fatal again";
  sink_->poll();
  EXPECT_EQ(producers_.size(), 2u) << "one that failed before delivering anything waits";
  now_ += EventSink::kRecreateBackoff - milliseconds(1);
  sink_->poll();
  EXPECT_EQ(producers_.size(), 2u);
  now_ += milliseconds(1);
  sink_->poll();
  ASSERT_EQ(producers_.size(), 3u);
  current().fatal = "and again";
  sink_->poll();
  now_ += 2 * EventSink::kRecreateBackoff - milliseconds(1);
  sink_->poll();
  EXPECT_EQ(producers_.size(), 3u) << "the wait doubles";
  now_ += milliseconds(1);
  sink_->poll();
  ASSERT_EQ(producers_.size(), 4u);
  EXPECT_EQ(sink_->producerRecreations(), 3u);
  // One that delivers resets the backoff.
  current().ack(0);
  sink_->poll();
  sink_->produce("k", "v");
  current().fatal = "once more";
  sink_->poll();
  EXPECT_EQ(producers_.size(), 5u);
  EXPECT_EQ(current().sentSeqs(), (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(sink_->ackedBefore(), 1u);
}

TEST_F(EventSinkTest, AReplacementThatCannotBeCreatedIsTriedAgainWithNothingLost) {
  sink_->produce("k0", "v0");
  current().fatal = "fatal";
  refuse_creation_ = 1;
  sink_->poll();
  EXPECT_EQ(producers_.size(), 1u);
  EXPECT_EQ(sink_->producerRecreations(), 0u);
  // Meanwhile events are still accepted and held.
  EXPECT_EQ(sink_->produce("k1", "v1"), 1u);
  EXPECT_EQ(sink_->inFlight(), 2u);
  EXPECT_EQ(sink_->ackedBefore(), 0u);
  now_ += EventSink::kRecreateBackoff - milliseconds(1);
  sink_->poll();
  EXPECT_EQ(producers_.size(), 1u);
  now_ += milliseconds(1);
  sink_->poll();
  ASSERT_EQ(producers_.size(), 2u);
  EXPECT_EQ(sink_->producerRecreations(), 1u);
  EXPECT_EQ(current().sentSeqs(), (std::vector<std::uint64_t>{0, 1}));
}

TEST_F(EventSinkTest, AFullQueueIsDrainedBeforeQueueingMore) {
  current().full_answers = 2;
  sink_->produce("k", "v");
  EXPECT_EQ(current().polls, 2);
  EXPECT_EQ(current().sentSeqs(), (std::vector<std::uint64_t>{0}));
}

TEST_F(EventSinkTest, AMessageTheProducerRefusesIsOfferedAgainOnTheNextPoll) {
  current().failed_answers = 1;
  sink_->produce("k", "v");
  EXPECT_TRUE(current().sent.empty());
  EXPECT_EQ(sink_->inFlight(), 1u);
  sink_->poll();
  EXPECT_EQ(current().sentSeqs(), (std::vector<std::uint64_t>{0}));
  EXPECT_EQ(sink_->ackedBefore(), 0u);
}

TEST_F(EventSinkTest, ReportsForUnknownSequencesAreIgnored) {
  sink_->produce("k", "v");
  current().ack(7);
  current().fail(9, "x");
  current().ack(0);
  current().ack(0);
  sink_->poll();
  EXPECT_EQ(sink_->ackedBefore(), 1u);
  EXPECT_EQ(sink_->failedDeliveries(), 0u);
  EXPECT_EQ(current().sent.size(), 1u);
}

TEST_F(EventSinkTest, FlushWaitsForAcknowledgementsUpToItsTimeout) {
  sink_->produce("k0", "v0");
  sink_->produce("k1", "v1");
  current().ack(0);
  EXPECT_FALSE(sink_->flush(std::chrono::seconds(1))) << "1 is never acknowledged";
  EXPECT_EQ(sink_->ackedBefore(), 1u);
  current().ack(1);
  EXPECT_TRUE(sink_->flush(std::chrono::seconds(1)));
  EXPECT_EQ(sink_->ackedBefore(), 2u);
}

}  // namespace
}  // namespace vigil::stream
