#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "http/http_server.h"
#include "stream/embedded_broker.h"

namespace vigil::app {

// The fault-injection API of `vigil broker --control` (README, "Fault
// injection"): brokers down and up, round-trip times, request errors,
// coordinators, partition leaders, topic errors, topic creation, and the
// state set so far. Every request is validated before anything changes;
// a bad one gets 400 (404 for an unknown broker, topic or path, 405 for a
// wrong method, 409 for a topic that exists) with {"error": "..."}.
// Thread-safe: requests are applied one at a time.
class BrokerControl {
 public:
  // Caps that keep a request from queueing unbounded work in the mock.
  static constexpr int kMaxRttMs = 600000;
  static constexpr int kMaxQueuedErrors = 10000;

  // `topics` are the ones the broker was started with (name, partitions).
  BrokerControl(stream::BrokerFaults& faults, std::string bootstrap,
                const std::vector<std::pair<std::string, int>>& topics);

  http::Response handle(const http::Request& request);

 private:
  struct BrokerState {
    bool up = true;
    int rtt_ms = 0;
  };
  struct TopicState {
    int partitions = 0;
    int error = 0;
    std::map<int, int> leaders;  // set through this API; BrokerFaults::kNoLeader for none
  };

  http::Response route(const http::Request& request);
  http::Response brokers(const http::Request& request, const std::string& id,
                         const std::string& verb);
  http::Response pushErrors(const http::Request& request);
  http::Response clearErrors(const http::Request& request);
  http::Response coordinator(const http::Request& request);
  http::Response leader(const http::Request& request);
  http::Response createTopic(const http::Request& request);
  http::Response topicError(const http::Request& request, const std::string& topic);
  http::Response state() const;
  http::Response names() const;

  std::mutex mutex_;
  stream::BrokerFaults& faults_;
  std::string bootstrap_;
  std::vector<BrokerState> brokers_;  // index: id - 1
  std::map<std::string, TopicState> topics_;
  std::map<std::pair<std::string, std::string>, int> coordinators_;  // (type, key) -> broker
};

// True when `host` (as in HOST:PORT) is a loopback address: 127.0.0.0/8 or [::1].
bool isLoopbackHost(const std::string& host);

// A Kafka topic name: 1 to 249 of [a-zA-Z0-9._-], not "." or "..".
bool validTopicName(const std::string& name);

}  // namespace vigil::app
