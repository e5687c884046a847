// The fault-injection channel of `vigil broker --control`, driven from this
// process as the reliability tests will drive it, each fault observed by a
// plain librdkafka client: a delivery report, a commit result, metadata.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

rd_kafka_conf_t* clientConf(const std::string& bootstrap,
                            const std::map<std::string, std::string>& extra) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::map<std::string, std::string> all = {{"bootstrap.servers", bootstrap},
                                            {"log_level", "0"},
                                            // Reconnect soon after a broker comes back up.
                                            {"reconnect.backoff.max.ms", "500"}};
  for (const auto& [k, v] : extra) all[k] = v;
  char errstr[512];
  for (const auto& [k, v] : all) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      ADD_FAILURE() << k << ": " << errstr;
    }
  }
  return conf;
}

// A librdkafka producer (not idempotent, no batching) that sends one message
// at a time and returns its delivery report's error: what an application sees.
class Producer {
 public:
  explicit Producer(const std::string& bootstrap, std::map<std::string, std::string> extra = {}) {
    extra.emplace("linger.ms", "0");
    extra.emplace("message.timeout.ms", "4000");
    rd_kafka_conf_t* conf = clientConf(bootstrap, extra);
    rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
      static_cast<Producer*>(opaque)->report_ = m->err;
    });
    rd_kafka_conf_set_opaque(conf, this);
    char errstr[512];
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk_ == nullptr) ADD_FAILURE() << errstr;
  }
  ~Producer() {
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }
  rd_kafka_t* handle() const { return rk_; }

  // The delivery report's error, or nullopt when none came within a minute.
  std::optional<rd_kafka_resp_err_t> send(const std::string& topic, int partition) {
    report_.reset();
    const rd_kafka_resp_err_t err =
        rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                          RD_KAFKA_V_VALUE(const_cast<char*>("x"), 1), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return err;
    const auto deadline = Clock::now() + seconds(60);
    while (!report_ && Clock::now() < deadline) rd_kafka_poll(rk_, 100);
    return report_;
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  std::optional<rd_kafka_resp_err_t> report_;
};

// A consumer that commits offsets of its group without joining it.
class Committer {
 public:
  Committer(const std::string& bootstrap, const std::string& group,
            std::map<std::string, std::string> extra = {}) {
    extra["group.id"] = group;
    extra["enable.auto.commit"] = "false";
    char errstr[512];
    rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, clientConf(bootstrap, extra), errstr, sizeof errstr);
    if (rk_ == nullptr) ADD_FAILURE() << errstr;
  }
  ~Committer() {
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }
  // A synchronous commit of `offset` for topic[0]; its error.
  rd_kafka_resp_err_t commit(const std::string& topic, int64_t offset) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic.c_str(), 0)->offset = offset;
    rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list, /*async=*/0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
    rd_kafka_topic_partition_list_destroy(list);
    return err;
  }

 private:
  rd_kafka_t* rk_ = nullptr;
};

struct TopicView {
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::vector<int> leaders;  // by partition
};

// What a Metadata request says of `topic` (listing all topics, which creates none).
std::optional<TopicView> describe(rd_kafka_t* rk, const std::string& topic) {
  const struct rd_kafka_metadata* md = nullptr;
  if (rd_kafka_metadata(rk, 1, nullptr, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return std::nullopt;
  std::optional<TopicView> view;
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (topic != md->topics[i].topic) continue;
    view.emplace();
    view->error = md->topics[i].err;
    for (int p = 0; p < md->topics[i].partition_cnt; ++p) {
      view->leaders.push_back(md->topics[i].partitions[p].leader);
    }
  }
  rd_kafka_metadata_destroy(md);
  return view;
}

void expectOk(const HttpResult& r) { EXPECT_EQ(r.status, 200) << r.body; }

std::string errorOf(const HttpResult& r) {
  const json j = json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"].get<std::string>() : "";
}

// --control prints the address on stdout after bootstrap.servers and writes
// it to --control-file; the API answers there and refuses bad requests.
TEST(BrokerFaultInjection, AnnouncesItsAddressAndAnswersThere) {
  TempDir dir;
  const std::string file = dir.file("control");
  Process broker({vigilBinary(), "broker", "--brokers", "2", "--topic", "t:1", "--control",
                  "127.0.0.1:0", "--control-file", file});
  const auto first = broker.readLine(seconds(20));
  ASSERT_TRUE(first && first->rfind("bootstrap.servers=127.0.0.1:", 0) == 0) << first.value_or("");
  const auto second = broker.readLine(seconds(20));
  ASSERT_TRUE(second && second->rfind("control=127.0.0.1:", 0) == 0) << second.value_or("");
  const std::string address = second->substr(8);
  const int port = std::atoi(address.c_str() + 10);
  ASSERT_GT(port, 0);

  std::string written;
  const auto deadline = Clock::now() + seconds(20);
  while (written.empty() && Clock::now() < deadline) {
    std::ifstream in(file);
    std::getline(in, written);
    if (written.empty()) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(written, address);

  const auto state = httpGet(port, "/state");
  ASSERT_EQ(state.status, 200) << state.body;
  const json s = json::parse(state.body);
  EXPECT_EQ("bootstrap.servers=" + s["bootstrap.servers"].get<std::string>(), *first);
  EXPECT_EQ(s["brokers"].size(), 2u);
  EXPECT_EQ(s["topics"][0]["name"], "t");

  const auto bad = httpRequest(port, "POST", "/errors", {}, R"({"api":"Nope","errors":[6]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(errorOf(bad).find("unknown request type \"Nope\""), std::string::npos) << bad.body;
  const auto unknown_error =
      httpRequest(port, "POST", "/errors", {}, R"({"api":"Produce","errors":["NOT_A_THING"]})");
  EXPECT_EQ(unknown_error.status, 400);
  EXPECT_EQ(httpRequest(port, "POST", "/brokers/3/down").status, 404);
  EXPECT_EQ(broker.terminate(), 0);
}

TEST(BrokerFaultInjection, RefusesAddressesOffLoopback) {
  const auto open = run({vigilBinary(), "broker", "--control", "0.0.0.0:0"}, seconds(30));
  EXPECT_EQ(open.exit_code, 2);
  EXPECT_NE(open.err.find("not a loopback address"), std::string::npos) << open.err;
  const auto malformed = run({vigilBinary(), "broker", "--control", "nowhere"}, seconds(30));
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_NE(malformed.err.find("expected HOST:PORT"), std::string::npos) << malformed.err;
  const auto lonely = run({vigilBinary(), "broker", "--control-file", "/tmp/x"}, seconds(30));
  EXPECT_EQ(lonely.exit_code, 2);
  EXPECT_NE(lonely.err.find("--control-file needs --control"), std::string::npos) << lonely.err;
}

// Leaders placed through the channel are what clients see; with its leader's
// broker down a partition takes no writes while another broker's partition
// does, and it takes them again once the broker is up.
TEST(BrokerFaultInjection, PartitionOfADownBrokerTakesNoWritesUntilItIsUp) {
  Broker broker(BrokerOptions{{"t:2"}, 3, true});
  ASSERT_GT(broker.controlPort(), 0);
  expectOk(broker.control("POST", "/leader", R"({"topic":"t","partition":0,"broker":2})"));
  expectOk(broker.control("POST", "/leader", R"({"topic":"t","partition":1,"broker":3})"));

  Producer producer(broker.bootstrap());
  const auto view = describe(producer.handle(), "t");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->leaders, (std::vector<int>{2, 3}));
  EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(producer.send("t", 1), RD_KAFKA_RESP_ERR_NO_ERROR);

  expectOk(broker.control("POST", "/brokers/2/down"));
  EXPECT_EQ(json::parse(broker.control("GET", "/state").body)["brokers"][1]["up"], false);
  EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
  EXPECT_EQ(producer.send("t", 1), RD_KAFKA_RESP_ERR_NO_ERROR);

  expectOk(broker.control("POST", "/brokers/2/up"));
  EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_NO_ERROR);

  // Every broker at once.
  expectOk(broker.control("POST", "/brokers/all/down"));
  EXPECT_EQ(producer.send("t", 1), RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
  expectOk(broker.control("POST", "/brokers/all/up"));
  EXPECT_EQ(producer.send("t", 1), RD_KAFKA_RESP_ERR_NO_ERROR);
}

// A round-trip time delays every response of the broker by at least that
// much (only a lower bound is checked).
TEST(BrokerFaultInjection, RoundTripTimeDelaysResponses) {
  Broker broker(BrokerOptions{{"t:1"}, 1, true});
  Producer producer(broker.bootstrap());
  ASSERT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_NO_ERROR);  // connected

  expectOk(broker.control("POST", "/brokers/1/rtt?ms=2000"));
  const auto start = Clock::now();
  EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_GE(Clock::now() - start, milliseconds(1500));

  expectOk(broker.control("POST", "/brokers/1/rtt?ms=0"));
  EXPECT_EQ(json::parse(broker.control("GET", "/state").body)["brokers"][0]["rtt_ms"], 0);
  EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_NO_ERROR);
}

// Injected Produce errors reach the delivery reports, count times, in order:
// cluster-wide ones, a retriable one once retries are exhausted, and one
// broker's own, delayed.
TEST(BrokerFaultInjection, InjectedProduceErrorsReachDeliveryReports) {
  Broker broker(BrokerOptions{{"t:1"}, 1, true});
  Producer producer(broker.bootstrap());
  ASSERT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_NO_ERROR);

  expectOk(broker.control("POST", "/errors",
                          R"({"api":"Produce","errors":["INVALID_REQUIRED_ACKS"],"count":2})"));
  EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS);
  EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS);
  EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_NO_ERROR);

  Producer no_retries(broker.bootstrap(), {{"retries", "0"}});
  ASSERT_EQ(no_retries.send("t", 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  expectOk(
      broker.control("POST", "/errors", R"({"api":"Produce","errors":["REQUEST_TIMED_OUT"]})"));
  EXPECT_EQ(no_retries.send("t", 0), RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);

  expectOk(broker.control(
      "POST", "/errors",
      R"({"api":"Produce","errors":[44],"broker":1,"rtt_ms":500})"));  // POLICY_VIOLATION
  const auto start = Clock::now();
  EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_POLICY_VIOLATION);
  EXPECT_GE(Clock::now() - start, milliseconds(400));

  // Queued errors can be dropped before any request takes them.
  expectOk(
      broker.control("POST", "/errors", R"({"api":"Produce","errors":["INVALID_REQUIRED_ACKS"]})"));
  expectOk(broker.control("DELETE", "/errors?api=Produce"));
  EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_NO_ERROR);
}

// What an idempotent producer (vigil's EventSink) makes of Produce errors:
// retriable ones are retried inside the producer, permanent ones fail the
// delivery and the producer carries on, and an out-of-order sequence number
// on its oldest request in flight is fatal: every later message is refused.
TEST(BrokerFaultInjection, IdempotentProducerRetriesFailsOrDiesOnProduceErrors) {
  Broker broker(BrokerOptions{{"t:1"}, 1, true});
  Producer producer(broker.bootstrap(), {{"enable.idempotence", "true"}});
  ASSERT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  const auto fatal = [&](rd_kafka_t* rk) {
    char errstr[512];
    return rd_kafka_fatal_error(rk, errstr, sizeof errstr);
  };

  expectOk(broker.control("POST", "/errors",
                          R"({"api":"Produce","errors":["NOT_LEADER_FOR_PARTITION",)"
                          R"("REQUEST_TIMED_OUT","NOT_ENOUGH_REPLICAS"]})"));
  EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_NO_ERROR);

  for (const auto& [name, code] : std::vector<std::pair<std::string, rd_kafka_resp_err_t>>{
           {"MSG_SIZE_TOO_LARGE", RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE},
           {"INVALID_MSG", RD_KAFKA_RESP_ERR_INVALID_MSG},
           {"INVALID_RECORD", RD_KAFKA_RESP_ERR_INVALID_RECORD}}) {
    expectOk(broker.control("POST", "/errors", R"({"api":"Produce","errors":[")" + name + "\"]}"));
    EXPECT_EQ(producer.send("t", 0), code) << name;
    EXPECT_EQ(fatal(producer.handle()), RD_KAFKA_RESP_ERR_NO_ERROR) << name;
    EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_NO_ERROR) << "carries on after " << name;
  }

  expectOk(broker.control("POST", "/errors",
                          R"({"api":"Produce","errors":["OUT_OF_ORDER_SEQUENCE_NUMBER"]})"));
  EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  EXPECT_EQ(fatal(producer.handle()), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  EXPECT_EQ(producer.send("t", 0), RD_KAFKA_RESP_ERR__FATAL) << "refused at once";
  // A new producer is all it takes.
  Producer replacement(broker.bootstrap(), {{"enable.idempotence", "true"}});
  EXPECT_EQ(replacement.send("t", 0), RD_KAFKA_RESP_ERR_NO_ERROR);
}

// An error injected on OffsetCommit fails the consumer's commit; the next
// commit goes through.
TEST(BrokerFaultInjection, InjectedCommitErrorFailsTheCommit) {
  Broker broker(BrokerOptions{{"t:1"}, 1, true});
  Committer consumer(broker.bootstrap(), "g");
  ASSERT_EQ(consumer.commit("t", 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  expectOk(broker.control("POST", "/errors",
                          R"({"api":"OffsetCommit","errors":["GROUP_AUTHORIZATION_FAILED"]})"));
  EXPECT_EQ(consumer.commit("t", 2), RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
  EXPECT_EQ(consumer.commit("t", 3), RD_KAFKA_RESP_ERR_NO_ERROR);
}

// A group whose coordinator is placed on a down broker cannot commit; it can
// once the broker is up, and a group coordinated elsewhere never notices.
TEST(BrokerFaultInjection, GroupCoordinatedByADownBrokerCannotCommit) {
  Broker broker(BrokerOptions{{"t:1"}, 2, true});
  expectOk(broker.control("POST", "/leader", R"({"topic":"t","partition":0,"broker":1})"));
  expectOk(
      broker.control("POST", "/coordinator", R"({"type":"group","key":"cut-off","broker":2})"));
  expectOk(broker.control("POST", "/coordinator", R"({"type":"group","key":"fine","broker":1})"));
  expectOk(broker.control("POST", "/brokers/2/down"));

  // A commit waits for the coordinator up to session.timeout.ms.
  Committer cut_off(broker.bootstrap(), "cut-off", {{"session.timeout.ms", "6000"}});
  Committer fine(broker.bootstrap(), "fine", {{"session.timeout.ms", "6000"}});
  EXPECT_NE(cut_off.commit("t", 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(fine.commit("t", 1), RD_KAFKA_RESP_ERR_NO_ERROR);

  expectOk(broker.control("POST", "/brokers/2/up"));
  EXPECT_EQ(cut_off.commit("t", 2), RD_KAFKA_RESP_ERR_NO_ERROR);
}

// A topic error is what Metadata says of the topic until cleared; topics
// created through the channel show up with their partitions.
TEST(BrokerFaultInjection, TopicErrorsAndNewTopicsShowInMetadata) {
  Broker broker(BrokerOptions{{"t:1"}, 1, true});
  Producer client(broker.bootstrap());
  expectOk(broker.control("POST", "/topics/t/error", R"({"error":"TOPIC_AUTHORIZATION_FAILED"})"));
  auto view = describe(client.handle(), "t");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->error, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  expectOk(broker.control("POST", "/topics/t/error", R"({"error":"NO_ERROR"})"));
  view = describe(client.handle(), "t");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->error, RD_KAFKA_RESP_ERR_NO_ERROR);

  const auto created = broker.control("POST", "/topics", R"({"name":"later","partitions":3})");
  EXPECT_EQ(created.status, 201) << created.body;
  view = describe(client.handle(), "later");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->leaders.size(), 3u);
  EXPECT_EQ(broker.control("POST", "/topics", R"({"name":"later","partitions":3})").status, 409);
}

}  // namespace
}  // namespace vigil::testing
