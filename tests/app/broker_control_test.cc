#include "app/broker_control.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vigil::app {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Records every call; fails createTopic for names in `existing` as the mock
// does for a topic a client named first.
class FakeFaults : public stream::BrokerFaults {
 public:
  struct Push {
    int broker;  // 0: cluster-wide
    int api;
    std::vector<int> errors;
    int rtt_ms;
    bool operator==(const Push&) const = default;
  };

  int brokers() const override { return 3; }
  bool setBrokerUp(int broker, bool up, std::string&) override {
    calls.push_back("up " + std::to_string(broker) + " " + (up ? "true" : "false"));
    return true;
  }
  bool setBrokerRtt(int broker, int rtt_ms, std::string&) override {
    calls.push_back("rtt " + std::to_string(broker) + " " + std::to_string(rtt_ms));
    return true;
  }
  bool pushRequestErrors(int api, const std::vector<int>& errors, std::string&) override {
    pushes.push_back({0, api, errors, 0});
    return true;
  }
  bool pushBrokerRequestErrors(int broker, int api, const std::vector<int>& errors, int rtt_ms,
                               std::string&) override {
    pushes.push_back({broker, api, errors, rtt_ms});
    return true;
  }
  void clearRequestErrors(int api) override { calls.push_back("clear " + std::to_string(api)); }
  bool setCoordinator(const std::string& type, const std::string& key, int broker,
                      std::string&) override {
    calls.push_back("coordinator " + type + " " + key + " " + std::to_string(broker));
    return true;
  }
  bool setPartitionLeader(const std::string& topic, int partition, int broker,
                          std::string&) override {
    calls.push_back("leader " + topic + " " + std::to_string(partition) + " " +
                    std::to_string(broker));
    return true;
  }
  bool setTopicError(const std::string& topic, int code, std::string&) override {
    calls.push_back("topic-error " + topic + " " + std::to_string(code));
    return true;
  }
  bool createTopic(const std::string& name, int partitions, std::string& error) override {
    if (name == existing) {
      error = "Broker: Topic already exists";
      return false;
    }
    calls.push_back("create " + name + " " + std::to_string(partitions));
    return true;
  }

  std::vector<std::string> calls;
  std::vector<Push> pushes;
  std::string existing = "named.by.a.client";
};

class BrokerControlTest : public ::testing::Test {
 protected:
  http::Response call(const std::string& method, const std::string& target,
                      const std::string& body = "") {
    http::Request r;
    r.method = method;
    const auto q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos) r.query = target.substr(q + 1);
    r.body = body;
    return control.handle(r);
  }
  // The error message of a failed request.
  static std::string message(const http::Response& r) {
    const json j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"].get<std::string>() : "";
  }
  json stateNow() { return json::parse(call("GET", "/state").body); }

  FakeFaults faults;
  BrokerControl control{faults, "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3", {{"orders", 3}}};
};

TEST_F(BrokerControlTest, StateShowsBrokersTopicsAndBootstrap) {
  const auto r = call("GET", "/state");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  const json s = json::parse(r.body);
  EXPECT_EQ(s["bootstrap.servers"], "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3");
  ASSERT_EQ(s["brokers"].size(), 3u);
  EXPECT_EQ(s["brokers"][2], (json{{"id", 3}, {"up", true}, {"rtt_ms", 0}}));
  EXPECT_EQ(s["topics"][0]["name"], "orders");
  EXPECT_EQ(s["topics"][0]["partitions"], 3);
  EXPECT_EQ(s["topics"][0]["error"], "NO_ERROR");
  EXPECT_EQ(call("GET", "/").body, r.body);
  EXPECT_THAT(faults.calls, IsEmpty());
}

TEST_F(BrokerControlTest, BrokersGoDownAndUpOneOrAll) {
  ASSERT_EQ(call("POST", "/brokers/2/down").status, 200);
  json s = stateNow();
  EXPECT_EQ(s["brokers"][0]["up"], true);
  EXPECT_EQ(s["brokers"][1]["up"], false);
  ASSERT_EQ(call("POST", "/brokers/all/down").status, 200);
  ASSERT_EQ(call("POST", "/brokers/1/up").status, 200);
  s = stateNow();
  EXPECT_EQ(s["brokers"][0]["up"], true);
  EXPECT_EQ(s["brokers"][2]["up"], false);
  ASSERT_EQ(call("POST", "/brokers/all/up").status, 200);
  EXPECT_THAT(faults.calls, ElementsAre("up 2 false", "up -1 false", "up 1 true", "up -1 true"));
  EXPECT_EQ(stateNow()["brokers"][2]["up"], true);
}

TEST_F(BrokerControlTest, RoundTripTimeNeedsMillisecondsInRange) {
  ASSERT_EQ(call("POST", "/brokers/3/rtt?ms=1500").status, 200);
  EXPECT_EQ(stateNow()["brokers"][2]["rtt_ms"], 1500);
  ASSERT_EQ(call("POST", "/brokers/all/rtt?ms=0").status, 200);
  for (const std::string bad :
       {"", "?ms=", "?ms=abc", "?ms=-5", "?ms=600001", "?ms=1.5", "?ms=10&x=1", "?millis=10"}) {
    const auto r = call("POST", "/brokers/1/rtt" + bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_FALSE(message(r).empty()) << bad;
  }
  EXPECT_THAT(faults.calls, ElementsAre("rtt 3 1500", "rtt -1 0"));
}

TEST_F(BrokerControlTest, UnknownBrokerIsNotFound) {
  for (const std::string id : {"0", "4", "-1", "one", "", "01x"}) {
    const auto r = call("POST", "/brokers/" + id + "/down");
    EXPECT_EQ(r.status, 404) << id;
    EXPECT_THAT(message(r), HasSubstr("brokers are 1..3")) << id;
  }
  EXPECT_THAT(faults.calls, IsEmpty());
}

TEST_F(BrokerControlTest, ErrorsAreQueuedInOrderCountTimes) {
  const auto r = call("POST", "/errors",
                      R"({"api":"Produce","errors":["NOT_LEADER_FOR_PARTITION",21],"count":2})");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(faults.pushes.size(), 1u);
  EXPECT_EQ(faults.pushes[0], (FakeFaults::Push{0, 0, {6, 21, 6, 21}, 0}));
  const json j = json::parse(r.body);
  EXPECT_EQ(j["api"], "Produce");
  EXPECT_EQ(j["errors"], (json{"NOT_LEADER_FOR_PARTITION", "INVALID_REQUIRED_ACKS"}));
  EXPECT_EQ(j["queued"], 4);
  EXPECT_TRUE(j["broker"].is_null());
}

TEST_F(BrokerControlTest, ErrorsForOneBrokerMayCarryARoundTripTime) {
  // Names are matched ignoring case; _TRANSPORT (disconnect) and NO_ERROR are allowed.
  const auto r =
      call("POST", "/errors",
           R"({"api":"offsetcommit","errors":["group_authorization_failed",0,"_TRANSPORT"],)"
           R"("broker":2,"rtt_ms":250})");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(faults.pushes.size(), 1u);
  EXPECT_EQ(faults.pushes[0], (FakeFaults::Push{2, 8, {30, 0, -195}, 250}));
  EXPECT_EQ(json::parse(r.body)["api"], "OffsetCommit");
}

TEST_F(BrokerControlTest, UnknownRequestTypeIsRefusedWithTheServedOnes) {
  for (const std::string api : {"DescribeGroups", "Produc", "", "0"}) {
    const auto r = call("POST", "/errors", R"({"api":")" + api + R"(","errors":["NO_ERROR"]})");
    EXPECT_EQ(r.status, 400) << api;
    if (!api.empty()) {
      EXPECT_THAT(message(r), HasSubstr("unknown request type \"" + api + "\"")) << api;
      EXPECT_THAT(message(r), HasSubstr("Produce, Fetch")) << api;
    }
  }
  EXPECT_EQ(call("POST", "/errors", R"({"api":0,"errors":["NO_ERROR"]})").status, 400);
  EXPECT_THAT(faults.pushes, IsEmpty());
}

TEST_F(BrokerControlTest, UnknownErrorIsRefused) {
  for (const std::string e : {R"("NOT_AN_ERROR")", "9999", "-2", "-191", "1.5", "true", "null",
                              R"("")", R"("_BAD_MSG")"}) {
    const auto r = call("POST", "/errors", R"({"api":"Produce","errors":[6,)" + e + "]}");
    EXPECT_EQ(r.status, 400) << e;
    EXPECT_THAT(message(r), HasSubstr("unknown error")) << e;
  }
  EXPECT_THAT(message(call("POST", "/errors", R"({"api":"Produce","errors":["NOPE"]})")),
              HasSubstr("\"NOPE\""));
  EXPECT_THAT(faults.pushes, IsEmpty());
}

TEST_F(BrokerControlTest, MalformedErrorBodiesAreRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "JSON object"},
      {"not json", "JSON object"},
      {"[1]", "JSON object"},
      {R"({"api":"Produce","errors":[6],"cuont":2})", "unknown key \"cuont\""},
      {R"({"errors":[6]})", "\"api\" is required"},
      {R"({"api":"Produce"})", "\"errors\" is required"},
      {R"({"api":"Produce","errors":[]})", "\"errors\" is required"},
      {R"({"api":"Produce","errors":"NOT_LEADER_FOR_PARTITION"})", "\"errors\" is required"},
      {R"({"api":"Produce","errors":[6],"count":0})", "\"count\" must be an integer"},
      {R"({"api":"Produce","errors":[6],"count":"2"})", "\"count\" must be an integer"},
      {R"({"api":"Produce","errors":[6],"broker":4})", "\"broker\" must be an integer in 1..3"},
      {R"({"api":"Produce","errors":[6],"rtt_ms":10})", "\"rtt_ms\" needs \"broker\""},
      {R"({"api":"Produce","errors":[6],"broker":1,"rtt_ms":-1})", "\"rtt_ms\" must be"},
      {R"({"api":"Produce","errors":[6,6],"count":5001})", "at most 10000"},
  };
  for (const auto& [body, expected] : cases) {
    const auto r = call("POST", "/errors", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_THAT(message(r), HasSubstr(expected)) << body;
  }
  EXPECT_THAT(faults.pushes, IsEmpty());
}

TEST_F(BrokerControlTest, ClearingErrorsTakesOneRequestTypeOrAll) {
  ASSERT_EQ(call("DELETE", "/errors?api=Produce").status, 200);
  EXPECT_THAT(faults.calls, ElementsAre("clear 0"));
  faults.calls.clear();
  const auto all = call("DELETE", "/errors");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(faults.calls.size(), 17u);
  EXPECT_EQ(json::parse(all.body)["cleared"].size(), 17u);
  faults.calls.clear();
  EXPECT_EQ(call("DELETE", "/errors?api=Nope").status, 400);
  EXPECT_EQ(call("DELETE", "/errors?topic=x").status, 400);
  EXPECT_THAT(faults.calls, IsEmpty());
}

TEST_F(BrokerControlTest, CoordinatorIsValidatedAndShown) {
  ASSERT_EQ(call("POST", "/coordinator", R"({"key":"vigil-detect","broker":2})").status, 200);
  ASSERT_EQ(call("POST", "/coordinator", R"({"type":"transaction","key":"tx","broker":3})").status,
            200);
  EXPECT_THAT(faults.calls,
              ElementsAre("coordinator group vigil-detect 2", "coordinator transaction tx 3"));
  EXPECT_EQ(stateNow()["coordinators"][0],
            (json{{"type", "group"}, {"key", "vigil-detect"}, {"broker", 2}}));
  EXPECT_EQ(call("POST", "/coordinator", R"({"type":"grp","key":"g","broker":1})").status, 400);
  EXPECT_EQ(call("POST", "/coordinator", R"({"key":"g","broker":4})").status, 400);
  EXPECT_EQ(call("POST", "/coordinator", R"({"key":"g"})").status, 400);
  EXPECT_EQ(call("POST", "/coordinator", R"({"key":"","broker":1})").status, 400);
  EXPECT_EQ(faults.calls.size(), 2u);
}

TEST_F(BrokerControlTest, LeaderMovesOnlyOnKnownPartitions) {
  ASSERT_EQ(call("POST", "/leader", R"({"topic":"orders","partition":2,"broker":3})").status, 200);
  ASSERT_EQ(call("POST", "/leader", R"({"topic":"orders","partition":0,"broker":null})").status,
            200);
  EXPECT_THAT(faults.calls, ElementsAre("leader orders 2 3", "leader orders 0 -1"));
  EXPECT_EQ(stateNow()["topics"][0]["leaders"],
            (json{{{"partition", 0}, {"broker", nullptr}}, {{"partition", 2}, {"broker", 3}}}));

  const auto unknown = call("POST", "/leader", R"({"topic":"other","partition":0,"broker":1})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(message(unknown), HasSubstr("--topic or POST /topics"));
  EXPECT_EQ(call("POST", "/leader", R"({"topic":"orders","partition":3,"broker":1})").status, 400);
  EXPECT_EQ(call("POST", "/leader", R"({"topic":"orders","partition":0,"broker":0})").status, 400);
  EXPECT_EQ(call("POST", "/leader", R"({"topic":"orders","partition":0})").status, 400);
  EXPECT_EQ(faults.calls.size(), 2u);
}

TEST_F(BrokerControlTest, TopicsCanBeCreatedOnce) {
  const auto r = call("POST", "/topics", R"({"name":"late.topic","partitions":2})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["topics"][0]["name"], "late.topic");
  EXPECT_EQ(call("POST", "/topics", R"({"name":"late.topic","partitions":2})").status, 409);
  EXPECT_EQ(call("POST", "/topics", R"({"name":"named.by.a.client","partitions":2})").status, 409);
  EXPECT_EQ(call("POST", "/topics", R"({"name":"bad/name","partitions":2})").status, 400);
  EXPECT_EQ(call("POST", "/topics", R"({"name":"x","partitions":0})").status, 400);
  EXPECT_EQ(call("POST", "/topics", R"({"name":"x"})").status, 400);
  EXPECT_THAT(faults.calls, ElementsAre("create late.topic 2"));
  EXPECT_EQ(call("POST", "/leader", R"({"topic":"late.topic","partition":1,"broker":2})").status,
            200);
}

TEST_F(BrokerControlTest, TopicErrorIsSetAndCleared) {
  ASSERT_EQ(
      call("POST", "/topics/orders/error", R"({"error":"TOPIC_AUTHORIZATION_FAILED"})").status,
      200);
  EXPECT_EQ(stateNow()["topics"][0]["error"], "TOPIC_AUTHORIZATION_FAILED");
  ASSERT_EQ(call("POST", "/topics/orders/error", R"({"error":"NO_ERROR"})").status, 200);
  EXPECT_EQ(stateNow()["topics"][0]["error"], "NO_ERROR");
  EXPECT_EQ(call("POST", "/topics/other/error", R"({"error":"NO_ERROR"})").status, 404);
  EXPECT_EQ(call("POST", "/topics/orders/error", R"({"error":"_TRANSPORT"})").status, 400);
  EXPECT_EQ(call("POST", "/topics/orders/error", R"({})").status, 400);
  EXPECT_THAT(faults.calls, ElementsAre("topic-error orders 29", "topic-error orders 0"));
}

TEST_F(BrokerControlTest, WrongMethodOrPathIsRefused) {
  const auto get = call("GET", "/brokers/1/down");
  EXPECT_EQ(get.status, 405);
  ASSERT_EQ(get.headers.size(), 1u);
  EXPECT_EQ(get.headers[0], (std::pair<std::string, std::string>{"Allow", "POST"}));
  EXPECT_EQ(call("POST", "/state").status, 405);
  EXPECT_EQ(call("GET", "/errors").status, 405);
  EXPECT_EQ(call("PUT", "/leader", "{}").status, 405);
  for (const std::string path : {"/nope", "/brokers", "/brokers/1", "/brokers/1/sideways",
                                 "/state/", "/topics/orders", "//"}) {
    EXPECT_EQ(call("POST", path).status, 404) << path;
  }
  EXPECT_THAT(faults.calls, IsEmpty());
}

TEST_F(BrokerControlTest, NamesListServedRequestTypesAndErrors) {
  const json j = json::parse(call("GET", "/names").body);
  EXPECT_EQ(j["apis"].size(), 17u);
  EXPECT_EQ(j["apis"][0], (json{{"name", "Produce"}, {"key", 0}}));
  EXPECT_NE(std::find(j["errors"].begin(), j["errors"].end(),
                      json{{"name", "NOT_LEADER_FOR_PARTITION"}, {"code", 6}}),
            j["errors"].end());
  EXPECT_EQ(j["errors"][0], (json{{"name", "_TRANSPORT"}, {"code", -195}}));
}

TEST(BrokerControlAddress, OnlyLoopbackHostsAreAccepted) {
  for (const std::string ok : {"127.0.0.1", "127.1.2.3", "[::1]"})
    EXPECT_TRUE(isLoopbackHost(ok)) << ok;
  for (const std::string bad : {"0.0.0.0", "10.0.0.1", "128.0.0.1", "::1", "[::]", "localhost", "",
                                "[127.0.0.1]", "127.0.0.1.5"}) {
    EXPECT_FALSE(isLoopbackHost(bad)) << bad;
  }
}

TEST(BrokerControlAddress, TopicNamesFollowKafka) {
  EXPECT_TRUE(validTopicName("orders.events_v2-x"));
  EXPECT_TRUE(validTopicName(std::string(249, 'a')));
  EXPECT_FALSE(validTopicName(std::string(250, 'a')));
  for (const std::string bad : {"", ".", "..", "a/b", "a b", "ä", "a%2F"}) {
    EXPECT_FALSE(validTopicName(bad)) << bad;
  }
}

}  // namespace
}  // namespace vigil::app
