#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "detectors/time.h"
#include "stream/detect_spec.h"

namespace RdKafka {
class Producer;
}  // namespace RdKafka

namespace vigil::stream {

// Produces messages to one topic (and, with produceTo, to others: dead letters)
// with librdkafka's idempotent producer and
// tracks their acknowledgement, so offsets are committed only behind what has
// been delivered. Each message gets a sequence number; ackedBefore() is the
// lowest sequence not yet acknowledged. A message whose delivery fails for good
// (message.timeout.ms) is produced again, with the same key and value, so it is
// never dropped: at-least-once, and the payload's deterministic id lets
// consumers recognise a repeat. Not thread-safe: one thread owns it.
class EventSink {
 public:
  static std::unique_ptr<EventSink> create(const KafkaProperties& properties, std::string topic,
                                           std::string& error);
  ~EventSink();

  using Headers = std::vector<std::pair<std::string, std::string>>;

  // Queues one message to the sink's topic; returns its sequence number.
  std::uint64_t produce(std::string key, std::string value);
  // The same to another topic, with headers; one sequence for all topics.
  std::uint64_t produceTo(std::string topic, std::string key, std::string value, Headers headers);

  // Serves delivery reports and re-queues failed messages. Non-blocking.
  void poll();

  // Every sequence below this has been acknowledged by the broker.
  std::uint64_t ackedBefore() const {
    return in_flight_.empty() ? next_seq_ : in_flight_.begin()->first;
  }
  std::uint64_t nextSequence() const { return next_seq_; }
  std::size_t inFlight() const { return in_flight_.size(); }
  std::uint64_t failedDeliveries() const { return failed_deliveries_; }

  // Waits until everything is acknowledged or `timeout` passes; true when all were.
  bool flush(detectors::Duration timeout);

 private:
  class DeliveryReporter;
  struct Pending {
    std::string key;
    std::string value;
    std::string topic;  // empty: the sink's topic
    Headers headers;
  };
  EventSink() = default;
  void send(std::uint64_t seq);
  void onDelivered(std::uint64_t seq, bool ok, const std::string& why);

  std::string topic_;
  std::unique_ptr<DeliveryReporter> reporter_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::map<std::uint64_t, Pending> in_flight_;
  std::vector<std::uint64_t> to_resend_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t failed_deliveries_ = 0;
};

}  // namespace vigil::stream
