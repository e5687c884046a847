#include "stream/embedded_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace vigil::stream {

struct EmbeddedBroker::Handles {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* cluster = nullptr;

  ~Handles() {
    if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);
    if (rk != nullptr) rd_kafka_destroy(rk);
  }
};

namespace {

bool succeeded(rd_kafka_resp_err_t err, std::string& error) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return true;
  error = rd_kafka_err2str(err);
  return false;
}

// The mock asserts on some ids it does not know (an explicit coordinator
// that is no broker), so every id is checked here first.
bool knownBroker(int broker, int brokers, std::string& error) {
  if (broker >= 1 && broker <= brokers) return true;
  error =
      "no broker " + std::to_string(broker) + " (brokers are 1.." + std::to_string(brokers) + ")";
  return false;
}

}  // namespace

EmbeddedBroker::EmbeddedBroker(std::unique_ptr<Handles> handles, int brokers)
    : handles_(std::move(handles)), brokers_(brokers) {
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(handles_->cluster);
}

EmbeddedBroker::~EmbeddedBroker() = default;

std::unique_ptr<EmbeddedBroker> EmbeddedBroker::start(int brokers, std::string& error) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle only anchors the cluster; keep it quiet.
  if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    error = errstr;
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  auto handles = std::make_unique<Handles>();
  handles->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (handles->rk == nullptr) {
    error = errstr;
    return nullptr;
  }
  handles->cluster = rd_kafka_mock_cluster_new(handles->rk, brokers);
  if (handles->cluster == nullptr) {
    error = "rd_kafka_mock_cluster_new failed";
    return nullptr;
  }
  return std::unique_ptr<EmbeddedBroker>(new EmbeddedBroker(std::move(handles), brokers));
}

bool EmbeddedBroker::createTopic(const std::string& name, int partitions, std::string& error) {
  return succeeded(rd_kafka_mock_topic_create(handles_->cluster, name.c_str(), partitions, 1),
                   error);
}

bool EmbeddedBroker::setBrokerUp(int broker, bool up, std::string& error) {
  if (broker != kAllBrokers && !knownBroker(broker, brokers_, error)) return false;
  return succeeded(up ? rd_kafka_mock_broker_set_up(handles_->cluster, broker)
                      : rd_kafka_mock_broker_set_down(handles_->cluster, broker),
                   error);
}

bool EmbeddedBroker::setBrokerRtt(int broker, int rtt_ms, std::string& error) {
  if (broker != kAllBrokers && !knownBroker(broker, brokers_, error)) return false;
  if (rtt_ms < 0) {
    error = "a round-trip time cannot be negative";
    return false;
  }
  return succeeded(rd_kafka_mock_broker_set_rtt(handles_->cluster, broker, rtt_ms), error);
}

bool EmbeddedBroker::pushRequestErrors(int api_key, const std::vector<int>& errors,
                                       std::string& error) {
  if (kafka_names::apiName(api_key).empty()) {
    error = "the broker does not serve ApiKey " + std::to_string(api_key);
    return false;
  }
  std::vector<rd_kafka_resp_err_t> codes;
  for (const int e : errors) codes.push_back(static_cast<rd_kafka_resp_err_t>(e));
  rd_kafka_mock_push_request_errors_array(handles_->cluster, static_cast<int16_t>(api_key),
                                          codes.size(), codes.data());
  return true;
}

bool EmbeddedBroker::pushBrokerRequestErrors(int broker, int api_key,
                                             const std::vector<int>& errors, int rtt_ms,
                                             std::string& error) {
  if (!knownBroker(broker, brokers_, error)) return false;
  if (kafka_names::apiName(api_key).empty()) {
    error = "the broker does not serve ApiKey " + std::to_string(api_key);
    return false;
  }
  // The call takes (error, rtt) pairs as variadic arguments; one pair per
  // call keeps the order, since each call appends to the broker's queue.
  for (const int e : errors) {
    if (!succeeded(rd_kafka_mock_broker_push_request_error_rtts(
                       handles_->cluster, broker, static_cast<int16_t>(api_key), 1,
                       static_cast<rd_kafka_resp_err_t>(e), rtt_ms),
                   error)) {
      return false;
    }
  }
  return true;
}

void EmbeddedBroker::clearRequestErrors(int api_key) {
  rd_kafka_mock_clear_request_errors(handles_->cluster, static_cast<int16_t>(api_key));
}

bool EmbeddedBroker::setCoordinator(const std::string& type, const std::string& key, int broker,
                                    std::string& error) {
  if (type != "group" && type != "transaction") {
    error = "coordinator type must be \"group\" or \"transaction\"";
    return false;
  }
  if (!knownBroker(broker, brokers_, error)) return false;
  return succeeded(
      rd_kafka_mock_coordinator_set(handles_->cluster, type.c_str(), key.c_str(), broker), error);
}

bool EmbeddedBroker::setPartitionLeader(const std::string& topic, int partition, int broker,
                                        std::string& error) {
  if (broker != kNoLeader && !knownBroker(broker, brokers_, error)) return false;
  return succeeded(
      rd_kafka_mock_partition_set_leader(handles_->cluster, topic.c_str(), partition, broker),
      error);
}

bool EmbeddedBroker::setTopicError(const std::string& topic, int error_code, std::string&) {
  rd_kafka_mock_topic_set_error(handles_->cluster, topic.c_str(),
                                static_cast<rd_kafka_resp_err_t>(error_code));
  return true;
}

namespace kafka_names {
namespace {

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

const std::map<std::string, int>& errorsByName() {
  static const std::map<std::string, int> table = [] {
    std::map<std::string, int> t;
    const rd_kafka_err_desc* descs = nullptr;
    size_t count = 0;
    rd_kafka_get_err_descs(&descs, &count);
    for (size_t i = 0; i < count; ++i) {
      // Codes below -1 (UNKNOWN_SERVER_ERROR) are librdkafka's own, never on the wire.
      if (descs[i].name != nullptr && descs[i].code >= -1) t.emplace(descs[i].name, descs[i].code);
    }
    t.emplace(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(kErrTransport)), kErrTransport);
    return t;
  }();
  return table;
}

}  // namespace

const std::vector<std::pair<std::string, int>>& servedApis() {
  // What the mock of librdkafka 2.0.2 answers ApiVersions with; a request
  // type it does not serve would never take an injected error.
  static const std::vector<std::pair<std::string, int>> apis = {
      {"Produce", 0},          {"Fetch", 1},
      {"ListOffsets", 2},      {"Metadata", 3},
      {"OffsetCommit", 8},     {"OffsetFetch", 9},
      {"FindCoordinator", 10}, {"JoinGroup", 11},
      {"Heartbeat", 12},       {"LeaveGroup", 13},
      {"SyncGroup", 14},       {"ApiVersions", 18},
      {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
      {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
      {"TxnOffsetCommit", 28},
  };
  return apis;
}

std::optional<int> apiKey(std::string_view name) {
  const std::string wanted = upper(name);
  for (const auto& [n, key] : servedApis()) {
    if (upper(n) == wanted) return key;
  }
  return std::nullopt;
}

std::string apiName(int api_key) {
  for (const auto& [n, key] : servedApis()) {
    if (key == api_key) return n;
  }
  return "";
}

std::optional<int> errorCode(std::string_view name) {
  const auto& table = errorsByName();
  const auto it = table.find(upper(name));
  if (it == table.end()) return std::nullopt;
  return it->second;
}

bool injectableError(int code) {
  for (const auto& [name, c] : errorsByName()) {
    if (c == code) return true;
  }
  return false;
}

std::string errorName(int code) {
  return rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code));
}

std::vector<std::pair<std::string, int>> injectableErrors() {
  std::vector<std::pair<std::string, int>> out(errorsByName().begin(), errorsByName().end());
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  return out;
}

}  // namespace kafka_names
}  // namespace vigil::stream
