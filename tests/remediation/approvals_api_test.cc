// The approvals API's contract (SPEC §5) against an engine behind a desk, no
// network: authentication, status codes, and exactly one winner among many
// concurrent approvals.

#include "remediation/approvals_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

namespace vigil::remediation {
namespace {

using ::testing::Contains;
using std::chrono::minutes;

const detectors::Timestamp kT0 = detectors::timestampFromMillis(1'736'950'000'000);
constexpr const char* kToken = "s3cret-token";

// An engine with one medium step waiting for approval, serialised by a mutex
// the way the service serialises it through its loop.
class EngineDesk : public ApprovalDesk {
 public:
  EngineDesk() {
    ActionSpec rollback;
    rollback.name = "rollback";
    rollback.risk = Risk::kMedium;
    spec_.actions = {rollback};
    Playbook p;
    p.steps = {{"rollback", 0, std::chrono::seconds(30), minutes(5)}};
    spec_.playbooks = {p};
    engine_ = std::make_unique<Engine>(spec_);
    ReceivedFailure f;
    f.event_id = "f1";
    f.event.dataset = "orders";
    f.event.pipeline_id = "etl_1";
    f.event.timestamp = kT0;
    engine_->onFailure(f, kT0, fx_);
  }
  std::vector<Approval> pending() const override {
    std::lock_guard lock(mutex_);
    return engine_->pendingApprovals();
  }
  Result decide(const std::string& id, bool approve, const std::string& by,
                const std::string& comment) override {
    std::lock_guard lock(mutex_);
    Approval a;
    const auto d = engine_->decide(id, approve, by, comment, kT0 + minutes(1), fx_, &a);
    return {d, d == Engine::Decision::kDecided ? std::optional<Approval>(a) : std::nullopt};
  }
  std::size_t executions() const {
    std::lock_guard lock(mutex_);
    return fx_.executions.size();
  }
  std::vector<OutcomeEvent> outcomes() const {
    std::lock_guard lock(mutex_);
    return fx_.outcomes;
  }

 private:
  RemediateSpec spec_;
  std::unique_ptr<Engine> engine_;
  Effects fx_;
  mutable std::mutex mutex_;
};

http::Request request(const std::string& method, const std::string& path,
                      const std::string& auth = std::string("Bearer ") + kToken,
                      const std::string& body = "") {
  http::Request r;
  r.method = method;
  r.path = path;
  if (!auth.empty()) r.headers["authorization"] = auth;
  r.body = body;
  return r;
}

TEST(ApprovalsApiTest, ListsPendingApprovals) {
  EngineDesk desk;
  const auto r = handleApprovals(request("GET", "/v1/approvals"), kToken, desk);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const auto j = nlohmann::json::parse(r->body);
  ASSERT_EQ(j["approvals"].size(), 1u);
  const auto& a = j["approvals"][0];
  for (const char* key : {"id", "event_id", "pipeline_id", "dataset", "failure_type", "action",
                          "risk", "requested_at", "expires_at"}) {
    EXPECT_TRUE(a.contains(key)) << key;
  }
  EXPECT_EQ(a["action"], "rollback");
  EXPECT_EQ(a["risk"], "medium");
}

TEST(ApprovalsApiTest, RefusesWithoutTheRightToken) {
  EngineDesk desk;
  const std::string id = desk.pending().at(0).id;
  for (const std::string auth :
       {"", "Bearer", "Bearer ", "Bearer wrong", "Basic s3cret-token", "Bearer s3cret-token2",
        "Bearer s3cret-toke", "bearer s3cret-token"}) {
    for (const auto& [method, path] : {std::pair{"GET", std::string("/v1/approvals")},
                                       std::pair{"POST", "/v1/approvals/" + id + "/approve"}}) {
      const auto r = handleApprovals(request(method, path, auth), kToken, desk);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 401) << auth << " " << path;
    }
  }
  // With no token configured, nobody gets in.
  EXPECT_EQ(handleApprovals(request("GET", "/v1/approvals", "Bearer "), "", desk)->status, 401);
  EXPECT_EQ(desk.executions(), 0u);
  EXPECT_FALSE(handleApprovals(request("GET", "/metrics"), kToken, desk));
  EXPECT_FALSE(handleApprovals(request("GET", "/v1/approvalsX"), kToken, desk));
}

TEST(ApprovalsApiTest, StatusCodes) {
  EngineDesk desk;
  const std::string id = desk.pending().at(0).id;
  EXPECT_EQ(handleApprovals(request("POST", "/v1/approvals/nope/approve"), kToken, desk)->status,
            404);
  EXPECT_EQ(
      handleApprovals(request("POST", "/v1/approvals/" + id + "/maybe"), kToken, desk)->status,
      404);
  // A wrong method gets 405 and the Allow header naming the right one.
  const auto get_decision = handleApprovals(request("GET", "/v1/approvals/" + id + "/approve"), kToken, desk);
  EXPECT_EQ(get_decision->status, 405);
  EXPECT_THAT(get_decision->headers, Contains(std::pair<std::string, std::string>("Allow", "POST")));
  const auto post_list = handleApprovals(request("POST", "/v1/approvals"), kToken, desk);
  EXPECT_EQ(post_list->status, 405);
  EXPECT_THAT(post_list->headers, Contains(std::pair<std::string, std::string>("Allow", "GET")));
  EXPECT_EQ(handleApprovals(request("POST", "/v1/approvals/" + id + "/deny",
                                    std::string("Bearer ") + kToken, "[1]"),
                            kToken, desk)
                ->status,
            400);
  const auto denied = handleApprovals(
      request("POST", "/v1/approvals/" + id + "/deny", std::string("Bearer ") + kToken,
              R"({"by":"ana","comment":"not now"})"),
      kToken, desk);
  ASSERT_EQ(denied->status, 200) << denied->body;
  const auto j = nlohmann::json::parse(denied->body);
  EXPECT_EQ(j["status"], "denied");
  EXPECT_EQ(j["id"], id);
  EXPECT_EQ(
      handleApprovals(request("POST", "/v1/approvals/" + id + "/approve"), kToken, desk)->status,
      409);
  // The decision is in the audit log, with who and why.
  const auto outcomes = desk.outcomes();
  const auto it = std::find_if(outcomes.begin(), outcomes.end(), [](const OutcomeEvent& o) {
    return o.status == OutcomeStatus::kDenied;
  });
  ASSERT_NE(it, outcomes.end());
  EXPECT_EQ(it->detail["by"], "ana");
  EXPECT_EQ(it->detail["comment"], "not now");
}

TEST(ApprovalsApiTest, FiftyConcurrentApprovalsOneWinner) {
  EngineDesk desk;
  const std::string id = desk.pending().at(0).id;
  std::vector<int> statuses(50);
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&, i] {
      statuses[i] =
          handleApprovals(request("POST", "/v1/approvals/" + id + "/approve"), kToken, desk)
              ->status;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200), 1);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 409), 49);
  EXPECT_EQ(desk.executions(), 1u) << "the action runs once";
}

TEST(ApprovalsApiTest, ConstantTimeEquals) {
  EXPECT_TRUE(constantTimeEquals("abc", "abc"));
  EXPECT_TRUE(constantTimeEquals("", ""));
  EXPECT_FALSE(constantTimeEquals("abc", "abd"));
  EXPECT_FALSE(constantTimeEquals("abc", "ab"));
  EXPECT_FALSE(constantTimeEquals("ab", "abc"));
  EXPECT_FALSE(constantTimeEquals(std::string("a\0b", 3), "a"));
}

}  // namespace
}  // namespace vigil::remediation
