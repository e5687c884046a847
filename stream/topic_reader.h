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

// Reads every partition of a topic from its beginning, by assignment (no
// consumer group is joined, nothing is committed): how the demo and the tests
// look at what vigil produced. A topic that does not exist yet is looked for
// again at each poll. Not thread-safe.
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
  // Assigns every partition from the beginning once the topic exists.
  bool assign(detectors::Duration timeout);

  std::string topic_;
  bool assigned_ = false;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
};

}  // namespace vigil::stream
