#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "detectors/time.h"
#include "stream/detect_spec.h"

namespace vigil::stream {

// Produces messages to one topic (and, with produceTo, to others: dead letters)
// with librdkafka's idempotent producer and tracks their acknowledgement, so
// offsets are committed only behind what has been delivered. Each message gets
// a sequence number; ackedBefore() is the lowest sequence not yet acknowledged.
//
// What the producer reports, and what the sink does with it:
// - an error librdkafka retries by itself (NOT_LEADER_FOR_PARTITION,
//   REQUEST_TIMED_OUT, a lost connection) is not seen here;
// - a failed delivery (a permanent broker error such as MSG_SIZE_TOO_LARGE or
//   INVALID_RECORD, or message.timeout.ms expiring) is produced again, same
//   topic, key, value and headers, so it is never dropped: at-least-once, and
//   the payload's deterministic id lets consumers recognise a repeat. The
//   first retry is immediate, further ones of the same message back off
//   (100 ms doubling to 5 s);
// - a fatal error (rd_kafka_fatal_error: the idempotent producer lost its
//   sequence with the broker) leaves the producer unusable: the sink drops it,
//   creates a new one and produces every unacknowledged message again through
//   it, in sequence order. A producer that fails fatally again is recreated
//   after a backoff (1 s doubling to 30 s) until one delivers.
// Not thread-safe: one thread owns it.
class EventSink {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // The producer under the sink: librdkafka's in the process, a fake in unit
  // tests. Delivery reports go to the Report given to the factory, from
  // inside poll(), flush(), abandon() or a produce() that had to wait.
  class Producer {
   public:
    enum class Queued { kOk, kFull, kFatal, kFailed };
    virtual ~Producer() = default;
    // Queues one message whose delivery report names `seq`; `why` is set unless kOk.
    virtual Queued produce(const std::string& topic, const std::string& key,
                           const std::string& value, const Headers& headers, std::uint64_t seq,
                           std::string& why) = 0;
    // Serves delivery reports, waiting up to `timeout_ms` for one.
    virtual void poll(int timeout_ms) = 0;
    // Waits up to `timeout_ms` for everything queued to be reported.
    virtual void flush(int timeout_ms) = 0;
    // Why the producer is unusable for good; empty while it is not.
    virtual std::string fatalError() = 0;
    // Fails what is queued or in flight at once and serves those reports; the
    // producer is destroyed right after.
    virtual void abandon() = 0;
  };
  // A delivery report: the sequence given to produce(), whether the broker
  // acknowledged it, and why not.
  using Report = std::function<void(std::uint64_t seq, bool ok, const std::string& why)>;
  using ProducerFactory =
      std::function<std::unique_ptr<Producer>(Report report, std::string& error)>;
  using SteadyNow = std::function<std::chrono::steady_clock::time_point()>;

  static constexpr std::chrono::milliseconds kResendBackoff{100};
  static constexpr std::chrono::milliseconds kResendBackoffMax{5000};
  static constexpr std::chrono::milliseconds kRecreateBackoff{1000};
  static constexpr std::chrono::milliseconds kRecreateBackoffMax{30000};

  // An idempotent librdkafka producer (enable.idempotence, acks=all) to `topic`.
  static std::unique_ptr<EventSink> create(const KafkaProperties& properties, std::string topic,
                                           std::string& error);
  // The same over producers made by `factory`, with `now` timing the backoffs.
  static std::unique_ptr<EventSink> create(ProducerFactory factory, std::string topic,
                                           SteadyNow now, std::string& error);
  ~EventSink();

  // Queues one message to the sink's topic; returns its sequence number.
  std::uint64_t produce(std::string key, std::string value);
  // The same to another topic, with headers; one sequence for all topics.
  std::uint64_t produceTo(std::string topic, std::string key, std::string value, Headers headers);

  // Serves delivery reports, produces again what failed and is due, and
  // replaces a producer that failed fatally. Non-blocking.
  void poll();

  // Every sequence below this has been acknowledged by the broker.
  std::uint64_t ackedBefore() const {
    return in_flight_.empty() ? next_seq_ : in_flight_.begin()->first;
  }
  std::uint64_t nextSequence() const { return next_seq_; }
  std::size_t inFlight() const { return in_flight_.size(); }
  // Delivery reports with an error (each message produced again).
  std::uint64_t failedDeliveries() const { return failed_deliveries_; }
  // Producers created to replace one that failed fatally.
  std::uint64_t producerRecreations() const { return recreations_; }

  // Waits until everything is acknowledged or `timeout` passes; true when all were.
  bool flush(detectors::Duration timeout);

 private:
  struct Pending {
    std::string key;
    std::string value;
    std::string topic;  // empty: the sink's topic
    Headers headers;
    unsigned failures = 0;  // failed deliveries of this message
  };
  EventSink(ProducerFactory factory, std::string topic, SteadyNow now);
  std::unique_ptr<Producer> makeProducer(std::string& error);
  const std::string& topicOf(const Pending& p) const { return p.topic.empty() ? topic_ : p.topic; }
  void send(std::uint64_t seq);
  void scheduleResend(std::uint64_t seq, Pending& p);
  void resendDue();
  void onDelivered(std::uint64_t generation, std::uint64_t seq, bool ok, const std::string& why);
  // Replaces the producer once the backoff allows; false while it cannot.
  bool recreate();

  ProducerFactory factory_;
  std::string topic_;
  SteadyNow now_;
  std::unique_ptr<Producer> producer_;  // null only while a recreation keeps failing
  std::uint64_t generation_ = 0;        // of producer_; reports of older ones are stale
  std::map<std::uint64_t, Pending> in_flight_;
  std::map<std::uint64_t, std::chrono::steady_clock::time_point> resend_;  // seq -> when
  std::uint64_t next_seq_ = 0;
  std::uint64_t failed_deliveries_ = 0;
  std::uint64_t recreations_ = 0;
  // A fatal error seen and the producer not yet replaced, and why.
  bool fatal_ = false;
  std::string fatal_reason_;
  unsigned fatal_streak_ = 0;  // fatal errors since a producer last delivered something
  std::chrono::steady_clock::time_point recreate_at_{};
};

}  // namespace vigil::stream
