#pragma once

#include <memory>
#include <string>

#include "stream/detect_spec.h"

namespace RdKafka {
class Conf;
}  // namespace RdKafka

namespace vigil::stream {

// A librdkafka configuration holding `properties` verbatim, with librdkafka's
// own log lines routed through vigil's logger (component "kafka"). On a bad
// property returns nullptr and names the property in `error` — never its
// value, which may be a secret.
std::unique_ptr<RdKafka::Conf> makeKafkaConf(const KafkaProperties& properties, std::string& error);

}  // namespace vigil::stream
