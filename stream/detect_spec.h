#pragma once

#include <map>
#include <optional>
#include <string>

#include "detectors/time.h"

namespace vigil::stream {

// librdkafka properties, passed verbatim to every client. `*_file` entries have
// already been replaced by the file's contents when the config was loaded.
using KafkaProperties = std::map<std::string, std::string>;

// The `detect:` section of the configuration, validated.
struct DetectSpec {
  std::string group_id = "vigil-detect";
  std::string failures_topic = "vigil.failures";
  unsigned threads = 0;                     // 0: one per core
  std::string listen = "127.0.0.1:9464";    // empty: no HTTP endpoint
  std::string state_topic = "vigil.state";
  std::optional<detectors::Duration> idle_timeout;  // absent: two steps of the dataset
};

}  // namespace vigil::stream
