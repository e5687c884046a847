#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "detectors/time.h"
#include "stream/detect_spec.h"

namespace RdKafka {
class Producer;
}  // namespace RdKafka

namespace vigil::stream {

// A plain producer for input traffic (`vigil gen`, tests, benchmarks): keyed
// messages with explicit timestamps, default partitioning by key, blocking
// briefly when librdkafka's queue is full. Counts deliveries; flush() waits
// for all. Not thread-safe.
class RecordProducer {
 public:
  static std::unique_ptr<RecordProducer> create(const KafkaProperties& properties,
                                                std::string& error);
  ~RecordProducer();

  // False when the message could not be queued (logged).
  bool produce(const std::string& topic, std::string_view key, std::string_view value,
               detectors::Timestamp timestamp);
  void poll();
  bool flush(detectors::Duration timeout);

  std::uint64_t delivered() const { return delivered_; }
  std::uint64_t failed() const { return failed_; }

 private:
  class Reporter;
  RecordProducer() = default;
  std::unique_ptr<Reporter> reporter_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::uint64_t delivered_ = 0;
  std::uint64_t failed_ = 0;
};

}  // namespace vigil::stream
