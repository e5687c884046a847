// vigil under a real Prometheus: `promtool check metrics` on live scrapes of
// `vigil detect` and `vigil remediate`, and a `prometheus` on loopback that
// scrapes both through the relabelling of deploy/prometheus/
// prometheus-kubernetes.yml, evaluates deploy/prometheus/rules/ and answers
// queries with the values the processes report.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "app/stubs.h"
#include "stream/record_producer.h"
#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kDeploy = std::string(VIGIL_SOURCE_DIR) + "/deploy";
constexpr const char* kRoutingKey = "R0UT1NGKEY0123456789abcdefABCDEF";

std::string configText(const std::string& bootstrap, const TempDir& dir, int stub_port) {
  return "kafka:\n"
         "  bootstrap.servers: " + bootstrap + "\n"
         "detect:\n"
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
         "  listen: 127.0.0.1:0\n"
         "  api_token_file: " + dir.file("token") + "\n"
         "  actions:\n"
         "    page: { type: pagerduty, routing_key_file: " + dir.file("pd") +
         ", url: \"http://127.0.0.1:" + std::to_string(stub_port) + "/v2/enqueue\" }\n"
         "  default_escalation: page\n";
}

// Polls `url` on `port` until its body holds every sample of `expected`
// (exposition lines) or 60 s pass; returns the last body.
std::string metricsWhen(int port, const std::vector<std::string>& expected) {
  std::string body;
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    body = httpGet(port, "/metrics").body;
    bool all = true;
    for (const std::string& sample : expected) all &= body.find(sample + "\n") != std::string::npos;
    if (all) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  return body;
}

// Broker, generated input with one latency spike, `vigil detect` and `vigil
// remediate` with a PagerDuty stub, shared by the tests of this suite and
// settled: every record consumed, the spike fired and resolved, the worker
// saw it all.
class PrometheusEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    broker_ = new Broker({"orders.events:2", "vigil.failures:1", "vigil.outcomes:1"});
    ASSERT_FALSE(broker_->bootstrap().empty());
    std::string error;
    stubs_ = app::ServiceStubs::start(kRoutingKey, {}, error).release();
    ASSERT_TRUE(stubs_) << error;
    dir_->write("token", "prometheus-test-token\n");
    dir_->write("pd", std::string(kRoutingKey) + "\n");
    dir_->write("vigil.yaml", configText(broker_->bootstrap(), *dir_, stubs_->port()));

    const RunResult gen = run({vigilBinary(), "gen", "--config", dir_->file("vigil.yaml"), "--start",
                               "2025-01-15T14:00:00Z", "--rate", "100", "--duration", "4m", "--seed",
                               "11", "--fault", "latency_spike@90s+40s"});
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(gen.err, m, std::regex("delivered (\\d+) record"))) << gen.err;
    produced_ = std::stoull(m[1]);

    // One message on the failures topic that is not a failure event.
    auto producer =
        stream::RecordProducer::create({{"bootstrap.servers", broker_->bootstrap()}}, error);
    ASSERT_TRUE(producer) << error;
    ASSERT_TRUE(producer->produce("vigil.failures", "k", "not a failure event",
                                  detectors::timestampFromMillis(1'736'949'600'000)));
    ASSERT_TRUE(producer->flush(seconds(10)));

    detect_ = new Process({vigilBinary(), "detect", "--config", dir_->file("vigil.yaml")});
    detect_port_ = listeningPort(*detect_);
    remediate_ = new Process({vigilBinary(), "remediate", "--config", dir_->file("vigil.yaml")});
    remediate_port_ = listeningPort(*remediate_);
    ASSERT_GT(detect_port_, 0);
    ASSERT_GT(remediate_port_, 0);

    const std::string latency = "vigil_failure_events_total{dataset=\"orders\",failure_type=\"latency_spike\",";
    detect_metrics_ = metricsWhen(
        detect_port_,
        {"vigil_records_consumed_total{dataset=\"orders\"} " + std::to_string(produced_),
         latency + "status=\"firing\"} 1", latency + "status=\"resolved\"} 1"});
    remediate_metrics_ = metricsWhen(
        remediate_port_, {"vigil_remediation_invalid_failure_events_total 1",
                          "vigil_remediation_incidents_open 0",
                          "vigil_remediation_incidents_closed_total{how=\"escalated\"} 1"});
  }

  static void TearDownTestSuite() {
    delete remediate_;
    delete detect_;
    delete stubs_;
    delete broker_;
    delete dir_;
  }

  static int listeningPort(Process& p) {
    const auto line = p.waitForErr("listening on", seconds(20));
    return line ? std::stoi(line->substr(line->rfind(':') + 1)) : 0;
  }

  static inline TempDir* dir_ = nullptr;
  static inline Broker* broker_ = nullptr;
  static inline app::ServiceStubs* stubs_ = nullptr;
  static inline Process* detect_ = nullptr;
  static inline Process* remediate_ = nullptr;
  static inline int detect_port_ = 0;
  static inline int remediate_port_ = 0;
  static inline std::uint64_t produced_ = 0;
  static inline std::string detect_metrics_;
  static inline std::string remediate_metrics_;
};

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every query of the Grafana dashboard, with Grafana's variables replaced as
// Grafana would for "all datasets" at a one-minute resolution.
std::vector<std::string> dashboardQueries() {
  std::vector<std::string> queries;
  const json dashboard = json::parse(readFile(kDeploy + "/grafana/vigil.json"));
  for (const json& panel : dashboard["panels"]) {
    for (const json& target : panel.value("targets", json::array())) {
      std::string expr = target["expr"];
      expr = std::regex_replace(expr, std::regex(R"(\$dataset)"), ".*");
      expr = std::regex_replace(expr, std::regex(R"(\$__rate_interval)"), "1m");
      queries.push_back(expr);
    }
  }
  for (const json& variable : dashboard["templating"]["list"]) {
    if (variable.contains("definition")) queries.push_back(variable["definition"]);
  }
  return queries;
}

// The metric names a text uses: `vigil_*` names and recording rule names
// (`level:vigil_*:operations`).
std::set<std::string> namesUsed(const std::string& text, std::set<std::string>& recorded) {
  std::set<std::string> used;
  const std::regex rule_name(R"(\b[a-z_]+:vigil_[a-z_]+:[a-z0-9_]+)");
  for (std::sregex_iterator it(text.begin(), text.end(), rule_name), end; it != end; ++it) {
    recorded.insert(it->str());
  }
  const std::string rest = std::regex_replace(text, rule_name, "");
  const std::regex metric(R"(\bvigil_[a-z_]+)");
  for (std::sregex_iterator it(rest.begin(), rest.end(), metric), end; it != end; ++it) {
    used.insert(it->str());
  }
  return used;
}

// A `prometheus` on loopback with the scrape job of
// deploy/prometheus/prometheus-kubernetes.yml and the rules of
// deploy/prometheus/rules/: pod discovery is replaced by a file that lists
// the two processes as annotated pods (and one pod without the annotation),
// so the job, namespace and pod labels come from the shipped relabelling.
class PrometheusServer {
 public:
  PrometheusServer(const TempDir& dir, int detect_port, int remediate_port) {
    const auto pod = [](const std::string& app, int port) {
      return json{{"targets", {"127.0.0.1:9"}},
                  {"labels",
                   {{"__meta_kubernetes_pod_annotation_prometheus_io_scrape", "true"},
                    {"__meta_kubernetes_pod_annotation_prometheus_io_port", std::to_string(port)},
                    {"__meta_kubernetes_pod_annotation_prometheus_io_path", "/metrics"},
                    {"__meta_kubernetes_pod_label_app_kubernetes_io_name", app},
                    {"__meta_kubernetes_namespace", "data"},
                    {"__meta_kubernetes_pod_name", app + "-0"}}}};
    };
    const json unannotated = {
        {"targets", {"127.0.0.1:9"}},
        {"labels", {{"__meta_kubernetes_pod_label_app_kubernetes_io_name", "orders-etl"}}}};
    dir.write("pods.json",
              json::array({pod("vigil-detect", detect_port), pod("vigil-remediate", remediate_port),
                           unannotated})
                  .dump());

    YAML::Node config = YAML::LoadFile(kDeploy + "/prometheus/prometheus-kubernetes.yml");
    config["global"]["scrape_interval"] = "1s";
    config["global"]["evaluation_interval"] = "1s";
    config.remove("alerting");
    config["rule_files"] = std::vector<std::string>{kDeploy + "/prometheus/rules/*.yml"};
    YAML::Node job = config["scrape_configs"][0];
    job.remove("kubernetes_sd_configs");
    YAML::Node file_sd;
    file_sd["files"] = std::vector<std::string>{dir.file("pods.json")};
    job["file_sd_configs"].push_back(file_sd);
    YAML::Emitter out;
    out << config;
    dir.write("prometheus.yml", out.c_str());

    const std::string prometheus = findProgram("prometheus");
    EXPECT_FALSE(prometheus.empty()) << "prometheus not found: run scripts/deps.sh";
    if (prometheus.empty()) return;
    Server server = startServer(
        [&](int port) {
          return std::vector<std::string>{
              prometheus, "--config.file=" + dir.file("prometheus.yml"),
              "--storage.tsdb.path=" + dir.file("tsdb"),
              "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"};
        },
        "/-/ready");
    process_ = std::move(server.process);
    port_ = server.port;
  }

  // The samples of an instant query: the API's `data.result`.
  json query(const std::string& promql) const {
    const HttpResult r = httpGet(port_, "/api/v1/query?query=" + urlEncode(promql));
    const json body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (r.status != 200 || body.is_discarded() || body.value("status", "") != "success") {
      return json::array();
    }
    return body["data"]["result"];
  }

  // The value of a query that yields one sample, polling until it equals
  // `expected` or 60 s pass (a scrape or a rule evaluation may be due);
  // nullopt while the query yields no sample or several.
  std::optional<double> valueWhen(const std::string& promql, double expected) const {
    std::optional<double> value;
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      const json result = query(promql);
      value.reset();
      if (result.size() == 1) value = std::stod(result[0]["value"][1].get<std::string>());
      if (value == expected) break;
      std::this_thread::sleep_for(milliseconds(250));
    }
    return value;
  }

  HttpResult raw(const std::string& path) const { return httpGet(port_, path); }
  std::string logs() { return process_ ? process_->drainErr() : ""; }

 private:
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

// `promtool check metrics` over `exposition`: (exit code, what it printed).
std::pair<int, std::string> promtoolCheckMetrics(const TempDir& dir, const std::string& exposition) {
  const std::string promtool = findProgram("promtool");
  if (promtool.empty()) return {-1, "promtool not found: run scripts/deps.sh"};
  dir.write("scrape.prom", exposition);
  const RunResult r = run({"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", promtool,
                           dir.file("scrape.prom")});
  return {r.exit_code, r.out + r.err};
}

// The check below can fail: promtool reports a counter without `_total` and
// a metric with a non-base unit.
TEST(PromtoolCheckMetrics, ReportsBadNames) {
  TempDir dir;
  const auto [code, output] = promtoolCheckMetrics(
      dir,
      "# HELP vigil_records_consumed Records.\n# TYPE vigil_records_consumed counter\n"
      "vigil_records_consumed 1\n"
      "# HELP vigil_lag_milliseconds Lag.\n# TYPE vigil_lag_milliseconds gauge\n"
      "vigil_lag_milliseconds 1\n");
  EXPECT_NE(code, 0);
  EXPECT_NE(output.find("counter metrics should have \"_total\" suffix"), std::string::npos)
      << output;
  EXPECT_NE(output.find("use base unit \"seconds\""), std::string::npos) << output;
}

// Every metric both processes expose passes promtool's naming lint, with
// every family populated by real traffic.
TEST_F(PrometheusEndToEnd, PromtoolFindsNothingInLiveScrapes) {
  ASSERT_NE(detect_metrics_.find("vigil_watermark_lag_seconds{dataset=\"orders\"}"),
            std::string::npos);
  for (const std::string* scrape : {&detect_metrics_, &remediate_metrics_}) {
    const auto [code, output] = promtoolCheckMetrics(*dir_, *scrape);
    EXPECT_EQ(code, 0) << output;
    EXPECT_EQ(output, "") << *scrape;
  }
}

// Prometheus scrapes both processes under the job names the rules expect and
// holds the values they report; the recording rules evaluate over them.
TEST_F(PrometheusEndToEnd, PrometheusScrapesBothProcesses) {
  PrometheusServer prometheus(*dir_, detect_port_, remediate_port_);
  EXPECT_EQ(prometheus.valueWhen(R"(up{job="vigil-detect",namespace="data",pod="vigil-detect-0"})", 1), 1.0)
      << prometheus.logs();
  EXPECT_EQ(prometheus.valueWhen(R"(up{job="vigil-remediate",pod="vigil-remediate-0"})", 1), 1.0);
  EXPECT_EQ(prometheus.valueWhen("count(up)", 2), 2.0) << "a pod without the annotation is not scraped";
  EXPECT_EQ(prometheus.valueWhen(R"(vigil_records_consumed_total{job="vigil-detect",dataset="orders"})",
                                 static_cast<double>(produced_)),
            static_cast<double>(produced_));
  EXPECT_EQ(prometheus.valueWhen(R"(vigil_failure_events_total{job="vigil-detect",dataset="orders",)"
                                 R"(failure_type="latency_spike",status="firing"})", 1),
            1.0);
  EXPECT_EQ(prometheus.valueWhen(R"(vigil_build_info{job="vigil-remediate",component="remediate"})", 1),
            1.0);
  EXPECT_EQ(prometheus.valueWhen(R"(vigil_remediation_invalid_failure_events_total{job="vigil-remediate"})", 1),
            1.0);
  EXPECT_EQ(prometheus.valueWhen(R"(vigil_remediation_incidents_closed_total{how="escalated"})", 1), 1.0);
  // Fired and resolved: the recording rule counts nothing firing.
  EXPECT_EQ(prometheus.valueWhen(R"(dataset_failure_type:vigil_failures_firing:sum{dataset="orders",)"
                                 R"(failure_type="latency_spike"})", 0),
            0.0);
}

// The rules and the dashboard name only metrics the processes expose (or
// the rules record), so a renamed metric cannot leave them silently empty.
TEST_F(PrometheusEndToEnd, RulesAndDashboardNameOnlyExposedMetrics) {
  std::set<std::string> exposed;
  const std::regex type_line(R"(# TYPE (\S+) (\S+))");
  for (const std::string* scrape : {&detect_metrics_, &remediate_metrics_}) {
    for (std::sregex_iterator it(scrape->begin(), scrape->end(), type_line), end; it != end; ++it) {
      const std::string name = (*it)[1];
      exposed.insert(name);
      if ((*it)[2] == "histogram") {
        for (const char* suffix : {"_bucket", "_sum", "_count"}) exposed.insert(name + suffix);
      }
    }
  }
  // The rules without their comments (which name files, not metrics).
  const std::string rules = std::regex_replace(readFile(kDeploy + "/prometheus/rules/vigil.yml"),
                                               std::regex(R"((^|\n)\s*#[^\n]*)"), "$1");
  std::set<std::string> defined;
  const std::regex record_line(R"(record: (\S+))");
  for (std::sregex_iterator it(rules.begin(), rules.end(), record_line), end; it != end; ++it) {
    defined.insert((*it)[1]);
  }
  std::string queries;
  for (const std::string& q : dashboardQueries()) queries += q + "\n";
  const std::string& dashboard = queries;
  for (const std::string* text : {&rules, &dashboard}) {
    std::set<std::string> recorded;
    for (const std::string& name : namesUsed(*text, recorded)) {
      EXPECT_TRUE(exposed.contains(name)) << name << " is not exposed";
    }
    for (const std::string& name : recorded) {
      EXPECT_TRUE(defined.contains(name)) << name << " is not recorded by a rule";
    }
  }
  EXPECT_GE(defined.size(), 4u);
}

// Every query of the Grafana dashboard is valid PromQL that Prometheus
// evaluates over the real series.
TEST_F(PrometheusEndToEnd, DashboardQueriesEvaluate) {
  PrometheusServer prometheus(*dir_, detect_port_, remediate_port_);
  ASSERT_EQ(prometheus.valueWhen(R"(up{job="vigil-detect"})", 1), 1.0) << prometheus.logs();
  const std::vector<std::string> queries = dashboardQueries();
  EXPECT_GE(queries.size(), 20u);
  for (const std::string& q : queries) {
    // label_values() is Grafana's, not PromQL: ask for the series instead.
    std::smatch m;
    const std::string promql = std::regex_match(q, m, std::regex(R"(label_values\((\w+), \w+\))"))
                                   ? m[1].str()
                                   : q;
    const HttpResult r = prometheus.raw("/api/v1/query?query=" + urlEncode(promql));
    EXPECT_EQ(r.status, 200) << q << "\n" << r.body;
  }
  EXPECT_EQ(prometheus.valueWhen(R"(sum(dataset_failure_type:vigil_failures_firing:sum{dataset=~".*"}))", 0),
            0.0);
}

}  // namespace
}  // namespace vigil::testing
