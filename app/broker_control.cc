#include "app/broker_control.h"

#include <arpa/inet.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/log.h"

namespace vigil::app {
namespace {

using nlohmann::json;
namespace kn = stream::kafka_names;

constexpr std::string_view kLog = "broker-control";
constexpr int kMaxErrorList = 1000;

http::Response error(int status, const std::string& message) {
  // A message may quote a path segment that is not UTF-8.
  return http::Response::json(
      status, json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace));
}

http::Response methodNotAllowed(const std::string& allowed) {
  http::Response r = error(405, "use " + allowed);
  r.headers.emplace_back("Allow", allowed);
  return r;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = text.find(separator, start);
    parts.push_back(text.substr(start, at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

// `a=1&b=2` into a map; false (and `message`) on a malformed or unknown parameter.
bool parseQuery(const std::string& query, const std::vector<std::string>& known,
                std::map<std::string, std::string>& out, std::string& message) {
  if (query.empty()) return true;
  for (const std::string& item : split(query, '&')) {
    const std::size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      message = "unknown query parameter \"" + name + "\"";
      return false;
    }
    if (eq == std::string::npos) {
      message = "query parameter \"" + name + "\" needs a value";
      return false;
    }
    out[name] = item.substr(eq + 1);
  }
  return true;
}

// A decimal integer in [min, max], nothing else.
bool parseInt(const std::string& text, long long min, long long max, long long& out) {
  if (text.empty() || text.size() > 12) return false;
  long long v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v < min || v > max) return false;
  out = v;
  return true;
}

std::string joinKeys(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}

// The request body as a JSON object whose keys are all in `allowed`.
bool parseBody(const http::Request& request, const std::vector<std::string>& allowed, json& out,
               std::string& message) {
  out = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded() || !out.is_object()) {
    message = "the body must be a JSON object with keys among: " + joinKeys(allowed);
    return false;
  }
  for (const auto& item : out.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
      message = "unknown key \"" + item.key() + "\" (expected: " + joinKeys(allowed) + ")";
      return false;
    }
  }
  return true;
}

// out = j[key], an integer in [min, max]; absent gives `fallback` unless required.
bool intField(const json& j, const std::string& key, long long min, long long max, bool required,
              long long fallback, long long& out, std::string& message) {
  if (!j.contains(key)) {
    if (required) {
      message = "\"" + key + "\" is required";
      return false;
    }
    out = fallback;
    return true;
  }
  const json& v = j[key];
  if (!v.is_number_integer() || v.get<long long>() < min || v.get<long long>() > max) {
    message =
        "\"" + key + "\" must be an integer in " + std::to_string(min) + ".." + std::to_string(max);
    return false;
  }
  out = v.get<long long>();
  return true;
}

bool stringField(const json& j, const std::string& key, std::string& out, std::string& message) {
  if (!j.contains(key) || !j[key].is_string() || j[key].get<std::string>().empty()) {
    message = "\"" + key + "\" is required: a non-empty string";
    return false;
  }
  out = j[key].get<std::string>();
  return true;
}

std::string servedApiList() {
  std::string out;
  for (const auto& [name, key] : kn::servedApis()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

bool apiField(const std::string& text, int& key, std::string& message) {
  const auto k = kn::apiKey(text);
  if (!k) {
    message = "unknown request type \"" + text + "\"; the broker serves: " + servedApiList();
    return false;
  }
  key = *k;
  return true;
}

// A JSON error: a name as librdkafka spells it, or a code.
bool errorValue(const json& v, int& code, std::string& message) {
  if (v.is_string()) {
    if (const auto c = kn::errorCode(v.get<std::string>())) {
      code = *c;
      return true;
    }
    message = "unknown error \"" + v.get<std::string>() +
              "\"; use a name as librdkafka spells it (e.g. NOT_LEADER_FOR_PARTITION, "
              "_TRANSPORT) or a code; GET /names lists them";
    return false;
  }
  if (v.is_number_integer() && v.get<long long>() >= -1000 && v.get<long long>() <= 1000 &&
      kn::injectableError(static_cast<int>(v.get<long long>()))) {
    code = static_cast<int>(v.get<long long>());
    return true;
  }
  message = "unknown error " + v.dump() +
            "; use a broker error code (-1 and up), -195 "
            "(_TRANSPORT) or a name; GET /names lists them";
  return false;
}

}  // namespace

bool isLoopbackHost(const std::string& host) {
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    in6_addr v6{};
    const std::string inner = host.substr(1, host.size() - 2);
    return inet_pton(AF_INET6, inner.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

bool validTopicName(const std::string& name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

BrokerControl::BrokerControl(stream::BrokerFaults& faults, std::string bootstrap,
                             const std::vector<std::pair<std::string, int>>& topics)
    : faults_(faults),
      bootstrap_(std::move(bootstrap)),
      brokers_(static_cast<std::size_t>(faults.brokers())) {
  for (const auto& [name, partitions] : topics) topics_[name].partitions = partitions;
}

http::Response BrokerControl::handle(const http::Request& request) {
  std::lock_guard lock(mutex_);
  return route(request);
}

http::Response BrokerControl::route(const http::Request& request) {
  const std::vector<std::string> parts = split(request.path, '/');  // parts[0] is ""
  const std::string& m = request.method;
  const bool get = m == "GET" || m == "HEAD";
  if (parts.size() < 2 || !parts[0].empty()) return error(404, "not found");
  const std::string& what = parts[1];
  if (parts.size() == 2) {
    if (what.empty() || what == "state") return get ? state() : methodNotAllowed("GET");
    if (what == "names") return get ? names() : methodNotAllowed("GET");
    if (what == "errors") {
      if (m == "POST") return pushErrors(request);
      if (m == "DELETE") return clearErrors(request);
      return methodNotAllowed("POST, DELETE");
    }
    if (what == "coordinator") return m == "POST" ? coordinator(request) : methodNotAllowed("POST");
    if (what == "leader") return m == "POST" ? leader(request) : methodNotAllowed("POST");
    if (what == "topics") {
      if (m == "POST") return createTopic(request);
      return get ? state() : methodNotAllowed("GET, POST");
    }
  }
  if (parts.size() == 4 && what == "brokers" &&
      (parts[3] == "down" || parts[3] == "up" || parts[3] == "rtt")) {
    return m == "POST" ? brokers(request, parts[2], parts[3]) : methodNotAllowed("POST");
  }
  if (parts.size() == 4 && what == "topics" && parts[3] == "error") {
    return m == "POST" ? topicError(request, parts[2]) : methodNotAllowed("POST");
  }
  return error(404,
               "not found; see GET /state, POST /brokers/{id}/down|up|rtt, POST|DELETE "
               "/errors, POST /coordinator, POST /leader, POST /topics, POST "
               "/topics/{name}/error, GET /names");
}

http::Response BrokerControl::brokers(const http::Request& request, const std::string& id,
                                      const std::string& verb) {
  const int count = static_cast<int>(brokers_.size());
  int broker = stream::BrokerFaults::kAllBrokers;
  if (id != "all") {
    long long n = 0;
    if (!parseInt(id, 1, count, n)) {
      return error(
          404, "no broker \"" + id + "\" (brokers are 1.." + std::to_string(count) + ", or all)");
    }
    broker = static_cast<int>(n);
  }
  std::string message;
  std::map<std::string, std::string> query;
  if (!parseQuery(request.query,
                  verb == "rtt" ? std::vector<std::string>{"ms"} : std::vector<std::string>{},
                  query, message)) {
    return error(400, message);
  }
  const auto apply = [&](auto&& change) {
    for (int b = 1; b <= count; ++b) {
      if (broker == stream::BrokerFaults::kAllBrokers || broker == b) change(brokers_[b - 1]);
    }
  };
  if (verb == "rtt") {
    long long ms = 0;
    if (!query.count("ms") || !parseInt(query["ms"], 0, kMaxRttMs, ms)) {
      return error(400, "rtt needs ?ms=N with N in 0.." + std::to_string(kMaxRttMs));
    }
    if (!faults_.setBrokerRtt(broker, static_cast<int>(ms), message)) return error(500, message);
    apply([&](BrokerState& s) { s.rtt_ms = static_cast<int>(ms); });
    VIGIL_LOG(kInfo, kLog) << "broker " << id << " round-trip time " << ms << " ms";
  } else {
    const bool up = verb == "up";
    if (!faults_.setBrokerUp(broker, up, message)) return error(500, message);
    apply([&](BrokerState& s) { s.up = up; });
    VIGIL_LOG(kInfo, kLog) << "broker " << id << " " << verb;
  }
  return state();
}

http::Response BrokerControl::pushErrors(const http::Request& request) {
  json body;
  std::string message;
  if (!parseBody(request, {"api", "errors", "count", "broker", "rtt_ms"}, body, message)) {
    return error(400, message);
  }
  std::string api_name;
  int api = 0;
  if (!stringField(body, "api", api_name, message) || !apiField(api_name, api, message)) {
    return error(400, message);
  }
  if (!body.contains("errors") || !body["errors"].is_array() || body["errors"].empty() ||
      body["errors"].size() > static_cast<std::size_t>(kMaxErrorList)) {
    return error(400, "\"errors\" is required: a list of 1.." + std::to_string(kMaxErrorList) +
                          " error names or codes");
  }
  std::vector<int> sequence;
  for (const json& v : body["errors"]) {
    int code = 0;
    if (!errorValue(v, code, message)) return error(400, message);
    sequence.push_back(code);
  }
  long long count = 1, broker = 0, rtt = 0;
  const int brokers = static_cast<int>(brokers_.size());
  if (!intField(body, "count", 1, kMaxQueuedErrors, false, 1, count, message) ||
      !intField(body, "broker", 1, brokers, false, 0, broker, message) ||
      !intField(body, "rtt_ms", 0, kMaxRttMs, false, 0, rtt, message)) {
    return error(400, message);
  }
  if (body.contains("rtt_ms") && broker == 0) {
    return error(400, "\"rtt_ms\" needs \"broker\": only one broker's errors can be delayed");
  }
  if (static_cast<long long>(sequence.size()) * count > kMaxQueuedErrors) {
    return error(400, "at most " + std::to_string(kMaxQueuedErrors) +
                          " errors per request (errors times count)");
  }
  std::vector<int> queued;
  for (long long i = 0; i < count; ++i) {
    queued.insert(queued.end(), sequence.begin(), sequence.end());
  }
  const bool ok = broker == 0
                      ? faults_.pushRequestErrors(api, queued, message)
                      : faults_.pushBrokerRequestErrors(static_cast<int>(broker), api, queued,
                                                        static_cast<int>(rtt), message);
  if (!ok) return error(500, message);
  json listed = json::array();
  for (const int code : sequence) listed.push_back(kn::errorName(code));
  VIGIL_LOG(kInfo, kLog) << queued.size() << " " << kn::apiName(api) << " error(s) queued"
                         << (broker == 0 ? "" : " on broker " + std::to_string(broker));
  json out = {{"api", kn::apiName(api)},
              {"errors", listed},
              {"count", count},
              {"queued", queued.size()},
              {"broker", broker == 0 ? json(nullptr) : json(broker)},
              {"rtt_ms", rtt}};
  return http::Response::json(200, out.dump());
}

http::Response BrokerControl::clearErrors(const http::Request& request) {
  std::map<std::string, std::string> query;
  std::string message;
  if (!parseQuery(request.query, {"api"}, query, message)) return error(400, message);
  json cleared = json::array();
  if (query.count("api")) {
    int api = 0;
    if (!apiField(query["api"], api, message)) return error(400, message);
    faults_.clearRequestErrors(api);
    cleared.push_back(kn::apiName(api));
  } else {
    for (const auto& [name, key] : kn::servedApis()) {
      faults_.clearRequestErrors(key);
      cleared.push_back(name);
    }
  }
  VIGIL_LOG(kInfo, kLog) << "cluster-wide request errors cleared";
  return http::Response::json(200, json{{"cleared", cleared}}.dump());
}

http::Response BrokerControl::coordinator(const http::Request& request) {
  json body;
  std::string message;
  if (!parseBody(request, {"type", "key", "broker"}, body, message)) return error(400, message);
  std::string type = "group", key;
  if (body.contains("type") && !stringField(body, "type", type, message))
    return error(400, message);
  if (type != "group" && type != "transaction") {
    return error(400, "\"type\" must be \"group\" or \"transaction\"");
  }
  long long broker = 0;
  if (!stringField(body, "key", key, message) ||
      !intField(body, "broker", 1, static_cast<long long>(brokers_.size()), true, 0, broker,
                message)) {
    return error(400, message);
  }
  if (!faults_.setCoordinator(type, key, static_cast<int>(broker), message)) {
    return error(500, message);
  }
  coordinators_[{type, key}] = static_cast<int>(broker);
  VIGIL_LOG(kInfo, kLog) << type << " " << key << " coordinated by broker " << broker;
  return state();
}

http::Response BrokerControl::leader(const http::Request& request) {
  json body;
  std::string message;
  if (!parseBody(request, {"topic", "partition", "broker"}, body, message)) {
    return error(400, message);
  }
  std::string topic;
  if (!stringField(body, "topic", topic, message)) return error(400, message);
  const auto it = topics_.find(topic);
  if (it == topics_.end()) {
    return error(404, "unknown topic \"" + topic +
                          "\": only topics created with --topic or POST /topics can be changed");
  }
  long long partition = 0, broker = stream::BrokerFaults::kNoLeader;
  if (!intField(body, "partition", 0, it->second.partitions - 1, true, 0, partition, message)) {
    return error(400, message);
  }
  if (!body.contains("broker") || !body["broker"].is_null()) {
    if (!intField(body, "broker", 1, static_cast<long long>(brokers_.size()), true, 0, broker,
                  message)) {
      return error(400, message + " (or null for no leader)");
    }
  }
  if (!faults_.setPartitionLeader(topic, static_cast<int>(partition), static_cast<int>(broker),
                                  message)) {
    return error(500, message);
  }
  it->second.leaders[static_cast<int>(partition)] = static_cast<int>(broker);
  VIGIL_LOG(kInfo, kLog) << topic << "[" << partition << "] leader "
                         << (broker < 0 ? std::string("none") : std::to_string(broker));
  return state();
}

http::Response BrokerControl::createTopic(const http::Request& request) {
  json body;
  std::string message;
  if (!parseBody(request, {"name", "partitions"}, body, message)) return error(400, message);
  std::string name;
  long long partitions = 0;
  if (!stringField(body, "name", name, message) ||
      !intField(body, "partitions", 1, 10000, true, 0, partitions, message)) {
    return error(400, message);
  }
  if (!validTopicName(name)) {
    return error(400, "\"name\" must be 1 to 249 of a-z A-Z 0-9 . _ - (and not . or ..)");
  }
  if (topics_.count(name)) return error(409, "topic \"" + name + "\" exists");
  if (!faults_.createTopic(name, static_cast<int>(partitions), message)) {
    // The mock knows it: a client named it first.
    return error(409, "cannot create topic \"" + name + "\": " + message);
  }
  topics_[name].partitions = static_cast<int>(partitions);
  VIGIL_LOG(kInfo, kLog) << "topic " << name << " with " << partitions << " partition(s)";
  http::Response r = state();
  r.status = 201;
  return r;
}

http::Response BrokerControl::topicError(const http::Request& request, const std::string& topic) {
  const auto it = topics_.find(topic);
  if (it == topics_.end()) {
    return error(404, "unknown topic \"" + topic +
                          "\": only topics created with --topic or POST /topics can be changed");
  }
  json body;
  std::string message;
  if (!parseBody(request, {"error"}, body, message)) return error(400, message);
  int code = 0;
  if (!body.contains("error")) return error(400, "\"error\" is required (NO_ERROR clears)");
  if (!errorValue(body["error"], code, message)) return error(400, message);
  if (code == kn::kErrTransport) return error(400, "a topic error must be a broker error");
  if (!faults_.setTopicError(topic, code, message)) return error(500, message);
  it->second.error = code;
  VIGIL_LOG(kInfo, kLog) << "topic " << topic << " error " << kn::errorName(code);
  return state();
}

http::Response BrokerControl::state() const {
  json brokers = json::array();
  for (std::size_t i = 0; i < brokers_.size(); ++i) {
    brokers.push_back({{"id", i + 1}, {"up", brokers_[i].up}, {"rtt_ms", brokers_[i].rtt_ms}});
  }
  json topics = json::array();
  for (const auto& [name, t] : topics_) {
    json leaders = json::array();
    for (const auto& [partition, broker] : t.leaders) {
      leaders.push_back(
          {{"partition", partition}, {"broker", broker < 0 ? json(nullptr) : json(broker)}});
    }
    topics.push_back({{"name", name},
                      {"partitions", t.partitions},
                      {"error", kn::errorName(t.error)},
                      {"leaders", leaders}});
  }
  json coordinators = json::array();
  for (const auto& [k, broker] : coordinators_) {
    coordinators.push_back({{"type", k.first}, {"key", k.second}, {"broker", broker}});
  }
  const json out = {{"bootstrap.servers", bootstrap_},
                    {"brokers", brokers},
                    {"topics", topics},
                    {"coordinators", coordinators}};
  return http::Response::json(200, out.dump());
}

http::Response BrokerControl::names() const {
  json apis = json::array();
  for (const auto& [name, key] : kn::servedApis()) apis.push_back({{"name", name}, {"key", key}});
  json errors = json::array();
  for (const auto& [name, code] : kn::injectableErrors()) {
    errors.push_back({{"name", name}, {"code", code}});
  }
  return http::Response::json(200, json{{"apis", apis}, {"errors", errors}}.dump());
}

}  // namespace vigil::app
