#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "detectors/time.h"
#include "stream/detect_spec.h"

namespace RdKafka {
class KafkaConsumer;
}  // namespace RdKafka

namespace vigil::stream {

// Reads a topic that holds state (checkpoints, the worker's outcomes) up to
// its end as of each call: every partition assigned outside any consumer
// group, from the beginning on the first call and from where the last one
// stopped after that. A topic that does not exist yet has nothing to read.
// Not thread-safe.
class LogReader {
 public:
  using Visitor = std::function<void(std::string_view key, std::string_view value)>;

  static std::unique_ptr<LogReader> create(const KafkaProperties& properties, std::string topic,
                                           std::string& error);
  ~LogReader();

  // Calls `visit` for every message up to the end as of now, in offset order
  // per partition (a missing key reads as empty). Returns the messages read.
  // Gives up at `timeout` (logged).
  std::size_t catchUp(const Visitor& visit, detectors::Duration timeout);

  const std::string& topic() const { return topic_; }

 private:
  LogReader() = default;
  bool assignNewPartitions(detectors::Duration timeout);

  std::string topic_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::vector<std::int32_t> assigned_;
};

}  // namespace vigil::stream
