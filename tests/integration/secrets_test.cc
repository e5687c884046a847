// Secrets given through `*_file` settings never come out again. Every secret
// file of the configuration holds a canary — a unique marker — and the whole
// pipeline runs on it: `check-config`, `gen`, `detect` and `remediate` (at
// debug level, with librdkafka's configuration dump on) against the embedded
// broker and the local scheduler and PagerDuty stubs, with approvals through
// the API and a page PagerDuty refuses. Then the canary is looked for in
// everything the processes wrote (stdout, stderr), served (/metrics,
// /healthz, /readyz, the approvals API, error answers) and produced (the
// failures and outcomes topics), and in what they print when a secret is
// invalid or a Kafka client cannot be created with one, and when they crash.
// The stubs, which are where the secrets belong, must have received them.

#include <gtest/gtest.h>

#include <csignal>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/stubs.h"
#include "detectors/failure_event.h"
#include "stream/record_producer.h"
#include "stream/topic_reader.h"
#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// In every secret; found nowhere else.
constexpr const char* kCanary = "Zq8canary1f3e";

std::string secret(const std::string& what) { return std::string(kCanary) + "-" + what; }

const std::string kClientId = secret("client-id");  // librdkafka names its clients after it
const std::string kKafkaUser = secret("kafka-user");
const std::string kKafkaPassword = secret("kafka-password");
const std::string kSslKeyPassword = secret("ssl-key-password");
const std::string kApiToken = secret("api-token");
const std::string kRoutingKey = secret("pd-routing-key");
const std::string kOtherRoutingKey = secret("pd-other-routing-key");  // the stub refuses it
const std::string kSchedulerAuth = "Bearer " + secret("scheduler");

constexpr const char* kStart = "2025-01-15T14:00:00Z";

void writeSecrets(const TempDir& dir) {
  dir.write("client-id", kClientId + "\n");
  dir.write("kafka-user", kKafkaUser + "\n");
  dir.write("kafka-password", kKafkaPassword + "\n");
  dir.write("ssl-key-password", kSslKeyPassword + "\n");
  dir.write("api-token", kApiToken + "\n");
  dir.write("pd", kRoutingKey + "\n");
  dir.write("pd-other", kOtherRoutingKey + "\n");
  dir.write("scheduler-auth", kSchedulerAuth + "\n");
}

// One configuration for every command, with a secret in every `*_file` setting there is:
// kafka properties (PLAINTEXT, so the SASL and SSL ones are set but unused), the API token,
// PagerDuty routing keys and an http action's header.
std::string configText(const std::string& bootstrap, const std::string& stub) {
  return "kafka:\n"
         "  bootstrap.servers: " + bootstrap + "\n"
         "  client.id_file: client-id\n"
         "  sasl.username_file: kafka-user\n"
         "  sasl.password_file: kafka-password\n"
         "  ssl.key.password_file: ssl-key-password\n"
         "  debug: conf,security\n"
         "detect:\n"
         "  group_id: canary-detect\n"
         "  listen: 127.0.0.1:0\n"
         "datasets:\n"
         "  - name: orders\n"
         "    topic: orders.events\n"
         "    series_key: pipeline_id\n"
         "    event_time: ts\n"
         "    window: 30s\n"
         "    step: 5s\n"
         "    checks:\n"
         "      latency: { field: latency_ms, unit: ms, p99_max: 1s }\n"
         "remediate:\n"
         "  group_id: canary-remediate\n"
         "  listen: 127.0.0.1:0\n"
         "  api_token_file: api-token\n"
         "  actions:\n"
         "    rerun:      { type: http, risk: low, url: \"" + stub + "/rerun/{pipeline_id}\",\n"
         "                  timeout: 5s, header_files: { Authorization: scheduler-auth } }\n"
         "    rollback:   { type: http, risk: medium, url: \"" + stub + "/rollback/{pipeline_id}\",\n"
         "                  header_files: { Authorization: scheduler-auth } }\n"
         "    page:       { type: pagerduty, routing_key_file: pd, url: \"" + stub + "/v2/enqueue\" }\n"
         "    page_other: { type: pagerduty, routing_key_file: pd-other,\n"
         "                  url: \"" + stub + "/v2/enqueue\", timeout: 2s }\n"
         "  playbooks:\n"
         "    - match: { failure_type: [latency_spike] }\n"
         "      steps: [{ action: rerun, verify_within: 5m }]\n"
         "      escalate: page\n"
         "    - match: { failure_type: [volume_drop] }\n"
         "      steps: [{ action: rollback, verify_within: 5m }]\n"
         "      escalate: page\n"
         "    - match: { failure_type: [null_spike] }\n"
         "      escalate: page_other\n"
         "  default_escalation: page\n";
}

// A running vigil whose stdout and stderr are kept whole (Process::waitForErr would drop lines).
class Captured {
 public:
  explicit Captured(std::vector<std::string> args, const ProcessOptions& options = {})
      : process_(std::move(args), options) {}
  void pump() {
    out_ += process_.drainOut();
    err_ += process_.drainErr();
  }
  // The port of "listening on HOST:PORT", once logged.
  int port(milliseconds timeout = seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      pump();
      const auto at = err_.find("listening on ");
      const auto end = at == std::string::npos ? at : err_.find('\n', at);
      if (end != std::string::npos) {
        const std::string line = err_.substr(at, end - at);
        return std::stoi(line.substr(line.rfind(':') + 1));
      }
      if (std::chrono::steady_clock::now() >= deadline) return 0;
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
  int terminate() {
    const int code = process_.terminate();
    pump();
    return code;
  }
  // Sends a crashing signal; returns what the process ended with (-signal).
  int crash(int signal_number) {
    const int code = process_.signal(signal_number);
    pump();
    return code;
  }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  Process process_;
  std::string out_;
  std::string err_;
};

// `vigil` with VIGIL_LOG_LEVEL=debug: every log line there is, librdkafka's included.
std::vector<std::string> atDebug(std::vector<std::string> args) {
  args.insert(args.begin(), {"/usr/bin/env", "VIGIL_LOG_LEVEL=debug", vigilBinary()});
  return args;
}

// Everything written, served and produced, each under a name for the failure message.
class Evidence {
 public:
  void add(const std::string& where, const std::string& text) { items_.emplace_back(where, text); }
  void add(const std::string& where, const HttpResult& r) {
    std::string text = std::to_string(r.status) + "\n";
    for (const auto& [name, value] : r.headers) text += name + ": " + value + "\n";
    add(where, text + r.body);
  }
  // Where the canary shows, with the line around it.
  std::vector<std::string> leaks() const {
    std::vector<std::string> out;
    for (const auto& [where, text] : items_) {
      for (std::size_t at = text.find(kCanary); at != std::string::npos;
           at = text.find(kCanary, at + 1)) {
        const std::size_t from = text.rfind('\n', at);
        const std::size_t to = text.find('\n', at);
        out.push_back(where + ": " +
                      text.substr(from == std::string::npos ? 0 : from + 1,
                                  (to == std::string::npos ? text.size() : to) -
                                      (from == std::string::npos ? 0 : from + 1)));
      }
    }
    return out;
  }
  std::size_t bytes() const {
    std::size_t n = 0;
    for (const auto& item : items_) n += item.second.size();
    return n;
  }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

// Polls until GET `path` answers 200 or 30 s pass; returns the last answer.
HttpResult waitFor200(int port, const std::string& path) {
  HttpResult r;
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while ((r = httpGet(port, path)).status != 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  return r;
}

// Every message of a topic, key and value, reading from the beginning until `done` holds (or
// 60 s pass), while `pump` keeps the processes' pipes from filling.
class TopicLog {
 public:
  TopicLog(const std::string& bootstrap, const std::string& topic) {
    std::string error;
    reader_ = stream::TopicReader::create({{"bootstrap.servers", bootstrap}}, topic, error);
    EXPECT_TRUE(reader_) << error;
  }
  const std::vector<json>& readUntil(const std::function<bool(const std::vector<json>&)>& done,
                                     const std::function<void()>& pump) {
    std::vector<stream::TopicReader::Item> items;
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (reader_ && !done(values_) && std::chrono::steady_clock::now() < deadline) {
      items.clear();
      reader_->poll(items, milliseconds(200));
      for (const auto& item : items) {
        text_ += item.key + "\t" + item.value + "\n";
        values_.push_back(json::parse(item.value, nullptr, false));
      }
      pump();
    }
    return values_;
  }
  const std::string& text() const { return text_; }

 private:
  std::unique_ptr<stream::TopicReader> reader_;
  std::vector<json> values_;
  std::string text_;
};

std::size_t countOf(const std::vector<json>& outcomes, const std::string& pipeline,
                    const std::string& status) {
  std::size_t n = 0;
  for (const json& o : outcomes) {
    n += o.is_object() && o.value("pipeline_id", "") == pipeline && o.value("status", "") == status;
  }
  return n;
}

detectors::FailureEvent failure(const std::string& pipeline, detectors::FailureType type) {
  detectors::FailureEvent e;
  e.status = detectors::EventStatus::kFiring;
  e.dataset = "orders";
  e.pipeline_id = pipeline;
  e.failure_type = type;
  e.metric = "row_count";
  e.actual_value = 12;
  e.threshold = 100;
  e.timestamp = detectors::timestampFromMillis(1'736'950'000'000);
  e.window_start = e.timestamp - std::chrono::minutes(5);
  e.window_end = e.timestamp;
  e.topic = "orders.events";
  return e;
}

TEST(SecretsEndToEnd, CanaryAppearsNowhere) {
  Broker broker({"orders.events:2", "vigil.failures:1", "vigil.outcomes:1"});
  ASSERT_FALSE(broker.bootstrap().empty());
  std::string error;
  auto stubs = app::ServiceStubs::start(kRoutingKey, {}, error);
  ASSERT_TRUE(stubs) << error;
  TempDir dir;
  writeSecrets(dir);
  const std::string config = dir.file("vigil.yaml");
  dir.write("vigil.yaml", configText(broker.bootstrap(), stubs->url("")));
  Evidence evidence;

  const RunResult checked = run({vigilBinary(), "check-config", "--config", config});
  ASSERT_EQ(checked.exit_code, 0) << checked.err;
  evidence.add("check-config stdout", checked.out);
  evidence.add("check-config stderr", checked.err);

  const RunResult generated =
      run(atDebug({"gen", "--config", config, "--start", kStart, "--rate", "100", "--duration",
                   "4m", "--seed", "11", "--fault", "latency_spike@90s+40s"}));
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  evidence.add("gen stdout", generated.out);
  evidence.add("gen stderr", generated.err);

  // detect finds the spike: one firing and one resolved event.
  Captured detect(atDebug({"detect", "--config", config}));
  const int detect_port = detect.port();
  ASSERT_GT(detect_port, 0) << detect.err();
  TopicLog failures(broker.bootstrap(), "vigil.failures");
  const auto detected =
      failures.readUntil([](const auto& v) { return v.size() >= 2; }, [&] { detect.pump(); });
  ASSERT_EQ(detected.size(), 2u) << detect.err();

  // remediate acts on them, and on three events sent to it directly.
  Captured remediate(atDebug({"remediate", "--config", config}));
  const int remediate_port = remediate.port();
  ASSERT_GT(remediate_port, 0) << remediate.err();
  evidence.add("remediate /readyz", waitFor200(remediate_port, "/readyz"));
  {
    auto producer =
        stream::RecordProducer::create({{"bootstrap.servers", broker.bootstrap()}}, error);
    ASSERT_TRUE(producer) << error;
    for (const auto& e : {failure("etl_vol", detectors::FailureType::kVolumeDrop),
                          failure("etl_nul", detectors::FailureType::kNullSpike),
                          failure("etl_old", detectors::FailureType::kStaleData)}) {
      ASSERT_TRUE(producer->produce("vigil.failures", e.key(), e.toJson(), e.timestamp));
    }
    ASSERT_TRUE(producer->flush(seconds(10)));
  }
  const auto pump = [&] {
    detect.pump();
    remediate.pump();
  };
  TopicLog outcomes(broker.bootstrap(), "vigil.outcomes");
  outcomes.readUntil(
      [](const auto& o) {
        return countOf(o, "etl_orders_01", "executed") >= 1 &&
               countOf(o, "etl_orders_01", "resolved") >= 1 &&
               countOf(o, "etl_vol", "pending_approval") >= 1 &&
               countOf(o, "etl_nul", "failed") >= 1 && countOf(o, "etl_old", "escalated") >= 1;
      },
      pump);

  // The approvals API: refused without the token, listed and approved with it.
  const std::vector<std::string> auth = {"Authorization: Bearer " + kApiToken};
  const HttpResult refused = httpRequest(remediate_port, "GET", "/v1/approvals",
                                         {"Authorization: Bearer " + secret("wrong")});
  EXPECT_EQ(refused.status, 401);
  evidence.add("approvals, wrong token", refused);
  const HttpResult listed = httpRequest(remediate_port, "GET", "/v1/approvals", auth);
  ASSERT_EQ(listed.status, 200) << listed.body;
  evidence.add("approvals listing", listed);
  const json pending = json::parse(listed.body)["approvals"];
  ASSERT_EQ(pending.size(), 1u) << listed.body;
  const HttpResult approved =
      httpRequest(remediate_port, "POST",
                  "/v1/approvals/" + pending[0]["id"].get<std::string>() + "/approve", auth,
                  R"({"by":"tester","comment":"go"})");
  EXPECT_EQ(approved.status, 200) << approved.body;
  evidence.add("approval", approved);
  evidence.add("approvals, wrong method",
               httpRequest(remediate_port, "DELETE", "/v1/approvals", auth));
  const auto& all_outcomes = outcomes.readUntil(
      [](const auto& o) { return countOf(o, "etl_vol", "executed") >= 1; }, pump);
  EXPECT_EQ(countOf(all_outcomes, "etl_orders_01", "executed"), 1u);
  EXPECT_EQ(countOf(all_outcomes, "etl_nul", "failed"), 1u) << "the refused page";
  EXPECT_EQ(countOf(all_outcomes, "etl_vol", "executed"), 1u);

  // Both processes' endpoints, including what they answer to a request they refuse.
  for (const auto& [name, port] : {std::pair{"detect", detect_port},
                                   std::pair{"remediate", remediate_port}}) {
    for (const char* path : {"/metrics", "/healthz", "/readyz", "/nope"}) {
      evidence.add(std::string(name) + " GET " + path, httpGet(port, path));
    }
    const HttpResult post = httpRequest(port, "POST", "/metrics", {}, "x");
    EXPECT_EQ(post.status, 405);
    EXPECT_EQ(post.headers.count("allow") ? post.headers.at("allow") : "", "GET, HEAD");
    evidence.add(std::string(name) + " POST /metrics", post);
  }

  EXPECT_EQ(detect.terminate(), 0);
  EXPECT_EQ(remediate.terminate(), 0);
  evidence.add("detect stdout", detect.out());
  evidence.add("detect stderr", detect.err());
  evidence.add("remediate stdout", remediate.out());
  evidence.add("remediate stderr", remediate.err());
  evidence.add("failures topic", failures.text());
  evidence.add("outcomes topic", outcomes.text());

  // The secrets were in use: the stubs got them, and librdkafka was told the client id.
  const auto reruns = stubs->calls("/rerun/etl_orders_01");
  ASSERT_EQ(reruns.size(), 1u);
  EXPECT_EQ(reruns[0].headers.at("authorization"), kSchedulerAuth);
  const auto rollbacks = stubs->calls("/rollback/etl_vol");
  ASSERT_EQ(rollbacks.size(), 1u);
  EXPECT_EQ(rollbacks[0].headers.at("authorization"), kSchedulerAuth);
  std::size_t paged = 0, refused_pages = 0;
  for (const auto& call : stubs->calls("/v2/enqueue")) {
    const std::string key = json::parse(call.body).value("routing_key", "");
    paged += key == kRoutingKey && call.status == 202;
    refused_pages += key == kOtherRoutingKey && call.status == 400;
  }
  EXPECT_GE(paged, 1u) << "the stale pipeline is paged with the routing key";
  EXPECT_GE(refused_pages, 1u) << "the other routing key was sent, and refused";
  EXPECT_NE(detect.err().find("client.id = [redacted]"), std::string::npos)
      << "librdkafka's configuration dump shows the client id, redacted:\n"
      << detect.err();
  EXPECT_NE(outcomes.text().find("PagerDuty 400"), std::string::npos)
      << "the refused page is recorded with PagerDuty's message";

  EXPECT_GT(evidence.bytes(), 10000u);
  const auto leaks = evidence.leaks();
  EXPECT_TRUE(leaks.empty()) << leaks.size() << " leak(s):\n" << joined(leaks);
}

// A secret that librdkafka refuses, at load time or when a client is created, is named by its
// key and never quoted; a crash prints no secret either.
TEST(SecretsEndToEnd, ErrorsAndCrashesDoNotQuoteTheCanary) {
  TempDir dir;
  writeSecrets(dir);
  dir.write("protocol", secret("protocol") + "\n");
  dir.write("mechanism", secret("mechanism") + "\n");
  Evidence evidence;

  // An invalid value from a file: exit 2 before anything starts, naming the key.
  {
    std::string text = configText("127.0.0.1:1", "http://127.0.0.1:1");
    text.replace(text.find("  debug: conf,security\n"), 0, "  security.protocol_file: protocol\n");
    dir.write("bad-value.yaml", text);
  }
  for (const char* command : {"detect", "remediate", "gen"}) {
    const RunResult r = run({vigilBinary(), command, "--config", dir.file("bad-value.yaml")});
    EXPECT_EQ(r.exit_code, 2) << command << ": " << r.err;
    EXPECT_NE(r.err.find("kafka.security.protocol_file: Invalid value for configuration property "
                         "\"security.protocol\""),
              std::string::npos)
        << command << ": " << r.err;
    evidence.add(std::string(command) + " with an invalid secret", r.out + r.err);
  }

  // A value librdkafka takes but cannot use: the client is not created, and its error, which
  // quotes the value, is logged redacted.
  {
    std::string text = configText("127.0.0.1:1", "http://127.0.0.1:1");
    text.replace(text.find("  debug: conf,security\n"), 0,
                 "  security.protocol: sasl_plaintext\n  sasl.mechanisms_file: mechanism\n");
    dir.write("bad-client.yaml", text);
  }
  const RunResult client = run(atDebug({"detect", "--config", dir.file("bad-client.yaml")}));
  EXPECT_EQ(client.exit_code, 1) << client.err;
  EXPECT_NE(client.err.find("Unsupported SASL mechanism: [redacted]"), std::string::npos)
      << client.err;
  evidence.add("detect whose client cannot be created", client.out + client.err);

  // A typo in a `_file` property is caught by check-config, with librdkafka's name suggested.
  {
    std::string text = configText("127.0.0.1:1", "http://127.0.0.1:1");
    text.replace(text.find("sasl.password_file"), std::string("sasl.password_file").size(),
                 "sasl.passwrd_file");
    dir.write("typo.yaml", text);
  }
  const RunResult typo = run({vigilBinary(), "check-config", "--config", dir.file("typo.yaml")});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("kafka.sasl.passwrd_file: unknown librdkafka property (did you mean "
                          "\"sasl.password_file\"?)"),
            std::string::npos)
      << typo.err;
  evidence.add("check-config with a typo", typo.out + typo.err);

  // Crashes: vigil prints nothing of its own on SIGSEGV or SIGABRT.
  dir.write("vigil.yaml", configText("127.0.0.1:1", "http://127.0.0.1:1"));
  for (const int signal_number : {SIGSEGV, SIGABRT}) {
    Captured remediate(atDebug({"remediate", "--config", dir.file("vigil.yaml")}),
                       {.crashed_by_test = true});
    ASSERT_GT(remediate.port(), 0) << remediate.err();
    EXPECT_EQ(remediate.crash(signal_number), -signal_number);
    evidence.add("remediate crashed", remediate.out() + remediate.err());
  }

  const auto leaks = evidence.leaks();
  EXPECT_TRUE(leaks.empty()) << leaks.size() << " leak(s):\n" << joined(leaks);
}

}  // namespace
}  // namespace vigil::testing
