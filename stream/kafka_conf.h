#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stream/detect_spec.h"

namespace RdKafka {
class Conf;
class DeliveryReportCb;
class Producer;
}  // namespace RdKafka

namespace vigil::stream {

// A librdkafka configuration holding `properties` verbatim, with librdkafka's
// own log lines routed through vigil's logger (component "kafka"). On a bad
// property returns nullptr and names the property in `error` — never its
// value, which may be a secret.
std::unique_ptr<RdKafka::Conf> makeKafkaConf(const KafkaProperties& properties, std::string& error);
// A producer on makeKafkaConf(properties) whose delivery reports go to
// `reports`; null with `error` set when it cannot be made.
std::unique_ptr<RdKafka::Producer> makeProducer(const KafkaProperties& properties,
                                                RdKafka::DeliveryReportCb& reports,
                                                std::string& error);

// Why librdkafka refuses a property, as librdkafka says it.
struct KafkaPropertyProblem {
  enum class Kind { kUnknown, kInvalid };
  Kind kind;
  std::string message;  // for kUnknown: "unknown librdkafka property"
};

// Asks librdkafka whether it accepts `name` = `value` (rd_kafka_conf_set on a
// throwaway configuration): nullopt when it does. With `secret`, or when
// `name` is a sensitive property, the message never holds the value nor any
// part of it that librdkafka quotes: what librdkafka writes about the value is
// cut out, and a message that would still show it is replaced as a whole.
// Note that librdkafka loads `plugin.library.paths` when it is set.
std::optional<KafkaPropertyProblem> checkKafkaProperty(const std::string& name,
                                                       const std::string& value, bool secret);

// Whether librdkafka has a property of this name (its value is not judged).
bool knownKafkaProperty(const std::string& name);

// Every property name librdkafka documents, global and topic (aliases
// included), for did-you-mean suggestions. Sorted, without duplicates.
const std::vector<std::string>& kafkaPropertyNames();

// Properties whose value is a secret wherever it is written (librdkafka's
// sensitive ones, and anything named like a password or secret).
bool sensitiveKafkaProperty(std::string_view name);

}  // namespace vigil::stream
