#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "detectors/time.h"
#include "stream/detect_spec.h"
#include "stream/record.h"

namespace RdKafka {
class KafkaConsumer;
}  // namespace RdKafka

namespace vigil::stream {

// Reads a topic from its beginning in a throw-away consumer group, without
// committing: how the demo and the tests look at what vigil produced.
// Not thread-safe.
class TopicReader {
 public:
  struct Item {
    std::string key;
    std::string value;
    PartitionId partition = 0;
    Offset offset = 0;
    std::vector<std::pair<std::string, std::string>> headers;
  };

  static std::unique_ptr<TopicReader> create(const KafkaProperties& properties,
                                             const std::string& topic, std::string& error);
  ~TopicReader();

  // Appends what arrives within `timeout` (returns early once something came
  // and the queue is momentarily empty).
  void poll(std::vector<Item>& out, detectors::Duration timeout);

 private:
  TopicReader() = default;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
};

}  // namespace vigil::stream
