#include "stream/kafka_conf.h"

#include <librdkafka/rdkafkacpp.h>

#include "common/log.h"

namespace vigil::stream {
namespace {

// librdkafka logs from its own threads; the logger is thread-safe.
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

}  // namespace

std::unique_ptr<RdKafka::Conf> makeKafkaConf(const KafkaProperties& properties, std::string& error) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string why;
  for (const auto& [name, value] : properties) {
    if (conf->set(name, value, why) != RdKafka::Conf::CONF_OK) {
      error = "kafka." + name + ": " + why;
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

}  // namespace vigil::stream
