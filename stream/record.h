#pragma once

#include <cstdint>
#include <string_view>

#include "detectors/time.h"

namespace vigil::stream {

using PartitionId = std::int32_t;
using Offset = std::int64_t;

// One Kafka message as the rest of vigil sees it: librdkafka types stop in
// stream/. Views are valid while the message that backs them is alive.
struct Record {
  std::string_view topic;
  PartitionId partition = 0;
  Offset offset = 0;
  detectors::Timestamp timestamp;  // the Kafka timestamp
  std::string_view key;
  std::string_view value;
};

}  // namespace vigil::stream
