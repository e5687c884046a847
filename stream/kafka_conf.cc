#include "stream/kafka_conf.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <regex>

#include "common/log.h"

namespace vigil::stream {
namespace {

// librdkafka logs from its own threads; the logger is thread-safe (and
// redacts registered secrets from every line).
class LogRouter : public RdKafka::EventCb {
 public:
  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_LOG:
        VIGIL_LOG_AT(levelOf(event.severity()), "kafka") << event.fac() << ": " << event.str();
        break;
      case RdKafka::Event::EVENT_ERROR:
        // Transport errors repeat while a broker is down; librdkafka recovers by itself.
        VIGIL_LOG(kWarn, "kafka") << RdKafka::err2str(event.err()) << ": " << event.str();
        break;
      default:
        break;
    }
  }

 private:
  static log::Level levelOf(RdKafka::Event::Severity s) {
    if (s <= RdKafka::Event::EVENT_SEVERITY_ERROR) return log::Level::kError;
    if (s == RdKafka::Event::EVENT_SEVERITY_WARNING) return log::Level::kWarn;
    if (s <= RdKafka::Event::EVENT_SEVERITY_INFO) return log::Level::kInfo;
    return log::Level::kDebug;
  }
};

LogRouter g_log_router;

constexpr std::string_view kWithheld =
    "invalid value (librdkafka's message is not shown: it quotes the value, which may be a secret)";

// librdkafka's message on one line: trailing newlines dropped, control characters blanked.
std::string oneLine(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r' ||
                              message.back() == ' ')) {
    message.pop_back();
  }
  for (char& c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return message;
}

// True when `message` shows `value`, or a part of it librdkafka may quote on its own (one item
// of a comma list, one path of a `;` list).
bool shows(std::string_view message, std::string_view value) {
  if (value.empty()) return false;
  if (message.find(value) != std::string_view::npos) return true;
  constexpr std::string_view kSeparators = ",; \t\r\n";
  constexpr std::size_t kMinPart = 3;
  std::size_t start = 0;
  while (start < value.size()) {
    std::size_t end = value.find_first_of(kSeparators, start);
    if (end == std::string_view::npos) end = value.size();
    const std::string_view part = value.substr(start, end - start);
    if (part.size() >= kMinPart && message.find(part) != std::string_view::npos) return true;
    start = end + 1;
  }
  return false;
}

// librdkafka's message with what it says about the value cut out: the quoted value of
// `Invalid value "x" for configuration property "p"` (also `Unsupported value`), and the number
// it read in `... value 7 is outside allowed range 10..300000`. When the value would still show,
// the whole message is withheld.
std::string withoutValue(std::string message, std::string_view value) {
  static const std::regex kOutside(R"(value \S+ is outside allowed range)");
  message = std::regex_replace(message, kOutside, "value is outside allowed range");
  constexpr std::string_view kPropertyTail = "\" for configuration property";
  for (const std::string_view opening : {"Invalid value \"", "Unsupported value \""}) {
    const std::size_t at = message.find(opening);
    if (at == std::string::npos) continue;
    const std::size_t quote = at + opening.size() - 1;
    // The value may hold the tail text itself: the last occurrence closes it.
    const std::size_t close = message.rfind(kPropertyTail);
    if (close == std::string::npos || close < quote) continue;
    message.erase(quote - 1, close + 1 - (quote - 1));  // ` "value"` goes, the space before too
  }
  if (shows(message, value)) return std::string(kWithheld);
  return message;
}

KafkaPropertyProblem describe(rd_kafka_conf_res_t result, const std::string& value,
                              const std::string& librdkafka_message, bool secret) {
  if (result == RD_KAFKA_CONF_UNKNOWN) {
    return {KafkaPropertyProblem::Kind::kUnknown, "unknown librdkafka property"};
  }
  std::string message = oneLine(librdkafka_message);
  if (secret) message = withoutValue(std::move(message), value);
  if (message.empty()) message = "invalid value";
  return {KafkaPropertyProblem::Kind::kInvalid, std::move(message)};
}

// rd_kafka_conf_set on a throwaway configuration.
rd_kafka_conf_res_t trySet(const std::string& name, const std::string& value,
                           std::string& message) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512] = {0};
  const rd_kafka_conf_res_t result =
      rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr);
  rd_kafka_conf_destroy(conf);
  message = errstr;
  return result;
}

std::vector<std::string> readPropertyNames() {
  // librdkafka prints its documentation tables (CONFIGURATION.md); the first column is the name.
  char* text = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  if (out == nullptr) return {};
  rd_kafka_conf_properties_show(out);
  std::fclose(out);
  std::vector<std::string> names;
  const std::string_view all(text, size);
  std::size_t start = 0;
  while (start < all.size()) {
    std::size_t end = all.find('\n', start);
    if (end == std::string_view::npos) end = all.size();
    const std::string_view line = all.substr(start, end - start);
    start = end + 1;
    const std::size_t bar = line.find('|');
    if (bar == std::string_view::npos) continue;
    std::string_view name = line.substr(0, bar);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    const bool word = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_';
    });
    if (word) names.emplace_back(name);
  }
  std::free(text);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace

bool sensitiveKafkaProperty(std::string_view name) {
  if (name.find("password") != std::string_view::npos) return true;
  if (name.find("secret") != std::string_view::npos) return true;
  for (const std::string_view s : {"ssl.key.pem", "ssl_key", "sasl.username",
                                   "sasl.oauthbearer.config", "sasl.oauthbearer.extensions"}) {
    if (name == s) return true;
  }
  return false;
}

std::optional<KafkaPropertyProblem> checkKafkaProperty(const std::string& name,
                                                       const std::string& value, bool secret) {
  std::string message;
  const rd_kafka_conf_res_t result = trySet(name, value, message);
  if (result == RD_KAFKA_CONF_OK) return std::nullopt;
  return describe(result, value, message, secret || sensitiveKafkaProperty(name));
}

bool knownKafkaProperty(const std::string& name) {
  std::string ignored;
  return trySet(name, "", ignored) != RD_KAFKA_CONF_UNKNOWN;
}

const std::vector<std::string>& kafkaPropertyNames() {
  static const std::vector<std::string> names = readPropertyNames();
  return names;
}

std::unique_ptr<RdKafka::Conf> makeKafkaConf(const KafkaProperties& properties, std::string& error) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string why;
  for (const auto& [name, value] : properties) {
    const RdKafka::Conf::ConfResult result = conf->set(name, value, why);
    if (result != RdKafka::Conf::CONF_OK) {
      // Configurations are checked when loaded; here any value may be a secret.
      error = "kafka." + name + ": " +
              describe(static_cast<rd_kafka_conf_res_t>(result), value, why, true).message;
      return nullptr;
    }
  }
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&g_log_router), why) !=
      RdKafka::Conf::CONF_OK) {
    error = why;
    return nullptr;
  }
  return conf;
}

std::unique_ptr<RdKafka::Producer> makeProducer(const KafkaProperties& properties,
                                                RdKafka::DeliveryReportCb& reports,
                                                std::string& error) {
  std::unique_ptr<RdKafka::Conf> conf = makeKafkaConf(properties, error);
  if (!conf) return nullptr;
  std::string why;
  if (conf->set("dr_cb", &reports, why) != RdKafka::Conf::CONF_OK) {
    error = why;
    return nullptr;
  }
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), why));
  if (!producer) error = "cannot create producer: " + why;
  return producer;
}

}  // namespace vigil::stream
