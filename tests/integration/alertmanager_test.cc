// deploy/alertmanager/alertmanager.yml in a real Alertmanager whose PagerDuty
// receivers point at local Events API v2 stubs (app/stubs.h), which accept
// only well-formed events with their routing key. Only the timings (group
// waits of a second), the receivers' urls and the key files differ from the
// shipped file.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "app/stubs.h"
#include "detectors/time.h"
#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kDeploy = std::string(VIGIL_SOURCE_DIR) + "/deploy";
constexpr const char* kDataKey = "DATAKEY0123456789abcdefABCDEF012";
constexpr const char* kPaymentsKey = "PAYMENTSKEY0123456789abcdefABCDE";

// Sets every group_wait and group_interval of the routing tree under `route`
// to a second (the root's always, so the children inherit it).
void shortenTimings(YAML::Node route, bool root = true) {
  for (const char* key : {"group_wait", "group_interval"}) {
    if (root || route[key].IsDefined()) route[key] = "1s";
  }
  if (route["routes"].IsDefined()) {
    for (YAML::Node child : route["routes"]) shortenTimings(child, false);
  }
}

std::string nowRfc3339() {
  return detectors::formatRfc3339(detectors::timestampFromMillis(
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count()));
}

// An alert as Prometheus sends it to Alertmanager's API.
json alert(const std::string& name, const std::string& dataset, const std::string& severity,
           bool resolved = false) {
  json a = {{"labels",
             {{"alertname", name}, {"dataset", dataset}, {"severity", severity}, {"scope", "dataset"}}},
            {"annotations", {{"summary", dataset + ": " + name}}},
            {"startsAt", nowRfc3339()}};
  if (resolved) a["endsAt"] = nowRfc3339();
  return a;
}

class AlertmanagerToPagerDuty : public ::testing::Test {
 protected:
  AlertmanagerToPagerDuty() {
    std::string error;
    data_ = app::ServiceStubs::start(kDataKey, {}, error);
    payments_ = app::ServiceStubs::start(kPaymentsKey, {}, error);
    EXPECT_TRUE(data_ && payments_) << error;
    if (!data_ || !payments_) return;

    YAML::Node config = YAML::LoadFile(kDeploy + "/alertmanager/alertmanager.yml");
    shortenTimings(config["route"]);
    for (YAML::Node receiver : config["receivers"]) {
      const std::string name = receiver["name"].as<std::string>();
      const bool payments = name == "pagerduty-payments";
      dir_.write(name, std::string(payments ? kPaymentsKey : kDataKey) + "\n");
      if (!receiver["pagerduty_configs"].IsDefined()) continue;
      for (YAML::Node pd : receiver["pagerduty_configs"]) {
        pd["routing_key_file"] = dir_.file(name);
        pd["url"] = (payments ? payments_ : data_)->url("/v2/enqueue");
      }
    }
    for (YAML::Node t : config["templates"]) t = kDeploy + "/alertmanager/" + t.as<std::string>();
    YAML::Emitter out;
    out << config;
    dir_.write("alertmanager.yml", out.c_str());

    const std::string alertmanager = findProgram("prometheus-alertmanager");
    EXPECT_FALSE(alertmanager.empty()) << "prometheus-alertmanager not found: run scripts/deps.sh";
    if (alertmanager.empty()) return;
    Server server = startServer(
        [&](int port) {
          return std::vector<std::string>{
              alertmanager, "--config.file=" + dir_.file("alertmanager.yml"),
              "--storage.path=" + dir_.file("data"),
              "--web.listen-address=127.0.0.1:" + std::to_string(port), "--cluster.listen-address=",
              "--log.level=warn"};
        },
        "/-/ready");
    process_ = std::move(server.process);
    port_ = server.port;
  }

  int push(const json& alerts) {
    return httpRequest(port_, "POST", "/api/v2/alerts", {"Content-Type: application/json"},
                       alerts.dump())
        .status;
  }

  // The events a stub accepted, polling until `n` arrived or 30 s passed.
  static std::vector<json> eventsAt(const app::ServiceStubs& stub, std::size_t n) {
    std::vector<json> events;
    const auto deadline = std::chrono::steady_clock::now() + seconds(30);
    for (;;) {
      events.clear();
      for (const auto& call : stub.calls("/v2/enqueue")) {
        if (call.status == 202) events.push_back(json::parse(call.body));
      }
      if (events.size() >= n || std::chrono::steady_clock::now() >= deadline) return events;
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  // Every request a stub refused (the stub says why in its answer).
  static std::size_t refused(const app::ServiceStubs& stub) {
    std::size_t n = 0;
    for (const auto& call : stub.calls("/v2/enqueue")) n += call.status != 202;
    return n;
  }

  // The state of the alert named `name` for `dataset` in Alertmanager's API,
  // polling until it is `state` or 30 s passed.
  std::string stateWhen(const std::string& name, const std::string& dataset,
                        const std::string& state) {
    std::string last;
    const auto deadline = std::chrono::steady_clock::now() + seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      const json alerts = json::parse(httpGet(port_, "/api/v2/alerts").body, nullptr, false);
      if (alerts.is_array()) {
        for (const json& a : alerts) {
          if (a["labels"].value("alertname", "") == name &&
              a["labels"].value("dataset", "") == dataset) {
            last = a["status"].value("state", "");
          }
        }
      }
      if (last == state) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return last;
  }

  TempDir dir_;
  std::unique_ptr<app::ServiceStubs> data_;
  std::unique_ptr<app::ServiceStubs> payments_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

// An alert pushed to Alertmanager reaches PagerDuty as a valid trigger; its
// resolution as a resolve with the same dedup_key.
TEST_F(AlertmanagerToPagerDuty, TriggerThenResolveWithTheSameDedupKey) {
  ASSERT_TRUE(process_);
  ASSERT_EQ(push(json::array({alert("VigilDatasetStale", "orders", "critical")})), 200);
  const auto triggered = eventsAt(*data_, 1);
  ASSERT_EQ(triggered.size(), 1u) << process_->drainErr();
  const json& trigger = triggered[0];
  EXPECT_EQ(trigger["event_action"], "trigger");
  EXPECT_EQ(trigger["routing_key"], kDataKey);
  EXPECT_FALSE(trigger.value("dedup_key", "").empty());
  EXPECT_EQ(trigger["payload"]["summary"], "orders: VigilDatasetStale");
  EXPECT_EQ(trigger["payload"]["severity"], "critical");
  EXPECT_EQ(trigger["payload"]["class"], "VigilDatasetStale");
  EXPECT_EQ(trigger["payload"]["component"], "orders");

  ASSERT_EQ(push(json::array({alert("VigilDatasetStale", "orders", "critical", true)})), 200);
  const auto both = eventsAt(*data_, 2);
  ASSERT_EQ(both.size(), 2u) << process_->drainErr();
  EXPECT_EQ(both[1]["event_action"], "resolve");
  EXPECT_EQ(both[1]["dedup_key"], trigger["dedup_key"]);
  EXPECT_EQ(refused(*data_), 0u);
  EXPECT_TRUE(payments_->calls("/").empty());
}

// Alerts of payments* datasets page the payments team's service; a stale
// dataset silences its own volume alert, not another dataset's.
TEST_F(AlertmanagerToPagerDuty, RoutesByDatasetAndStaleInhibitsVolume) {
  ASSERT_TRUE(process_);
  ASSERT_EQ(push(json::array({alert("VigilDatasetStale", "payments", "critical"),
                              alert("VigilDatasetVolumeLow", "payments", "warning"),
                              alert("VigilDatasetVolumeLow", "orders", "warning")})),
            200);
  EXPECT_EQ(stateWhen("VigilDatasetVolumeLow", "payments", "suppressed"), "suppressed");
  EXPECT_EQ(stateWhen("VigilDatasetVolumeLow", "orders", "active"), "active");
  const auto orders = eventsAt(*data_, 1);
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_EQ(orders[0]["payload"]["class"], "VigilDatasetVolumeLow");
  EXPECT_EQ(orders[0]["payload"]["severity"], "warning");

  ASSERT_EQ(eventsAt(*payments_, 1).size(), 1u);
  // A later alert of payments arriving proves that the groups pushed with the
  // first were flushed: the suppressed one would have come before it.
  ASSERT_EQ(push(json::array({alert("VigilDatasetSchemaDrift", "payments", "warning")})), 200);
  const auto payments = eventsAt(*payments_, 2);
  ASSERT_EQ(payments.size(), 2u);
  EXPECT_EQ(payments[0]["payload"]["class"], "VigilDatasetStale");
  EXPECT_EQ(payments[1]["payload"]["class"], "VigilDatasetSchemaDrift");
  EXPECT_EQ(payments[0]["routing_key"], kPaymentsKey);
  EXPECT_EQ(refused(*data_) + refused(*payments_), 0u);
}

}  // namespace
}  // namespace vigil::testing
