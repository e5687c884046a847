#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::stream {

// The faults the embedded broker can inject, as `vigil broker --control`
// drives them. Broker ids are 1..brokers(). A call either takes effect
// before it returns or returns false with `error` set. Implementations are
// thread-safe.
class BrokerFaults {
 public:
  static constexpr int kAllBrokers = -1;  // for setBrokerUp and setBrokerRtt
  static constexpr int kNoLeader = -1;    // for setPartitionLeader

  virtual ~BrokerFaults() = default;
  virtual int brokers() const = 0;

  // Down: every connection to the broker is closed and new ones refused.
  // Partition leadership does not move.
  virtual bool setBrokerUp(int broker, bool up, std::string& error) = 0;
  // Every response of the broker is delayed by `rtt_ms` (0: none).
  virtual bool setBrokerRtt(int broker, int rtt_ms, std::string& error) = 0;
  // The next errors.size() requests of type `api_key` to any broker are
  // answered with these errors, in order (0 lets one through;
  // kErrTransport closes the connection instead).
  virtual bool pushRequestErrors(int api_key, const std::vector<int>& errors,
                                 std::string& error) = 0;
  // The same for one broker's requests only, each response also delayed by
  // `rtt_ms`. Taken before the cluster-wide ones.
  virtual bool pushBrokerRequestErrors(int broker, int api_key, const std::vector<int>& errors,
                                       int rtt_ms, std::string& error) = 0;
  // Drops the cluster-wide errors still queued for `api_key` (not the
  // per-broker ones: the mock cannot).
  virtual void clearRequestErrors(int api_key) = 0;
  // `type` is "group" or "transaction"; `key` the group or transactional id.
  virtual bool setCoordinator(const std::string& type, const std::string& key, int broker,
                              std::string& error) = 0;
  virtual bool setPartitionLeader(const std::string& topic, int partition, int broker,
                                  std::string& error) = 0;
  // The error Metadata responses give for the topic (0 clears it).
  virtual bool setTopicError(const std::string& topic, int error_code, std::string& error) = 0;
  virtual bool createTopic(const std::string& name, int partitions, std::string& error) = 0;
};

// librdkafka's mock cluster: the real Kafka protocol on loopback, in memory,
// for development, demos and tests. It is not durable, cannot do transactions
// or offset look-ups by time, and keeps only about the newest 5 MiB per
// partition. Topics must be created here (the mock has no CreateTopics);
// a topic first named by a client is created with the mock's default of 4
// partitions. Owned by `vigil broker`; thread-safe (the mock runs its own
// thread and every call below waits for it).
class EmbeddedBroker final : public BrokerFaults {
 public:
  ~EmbeddedBroker() override;
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // nullptr and `error` set when the cluster cannot start.
  static std::unique_ptr<EmbeddedBroker> start(int brokers, std::string& error);

  // "127.0.0.1:PORT,..." for bootstrap.servers.
  const std::string& bootstrapServers() const { return bootstrap_; }

  int brokers() const override { return brokers_; }
  bool setBrokerUp(int broker, bool up, std::string& error) override;
  bool setBrokerRtt(int broker, int rtt_ms, std::string& error) override;
  bool pushRequestErrors(int api_key, const std::vector<int>& errors, std::string& error) override;
  bool pushBrokerRequestErrors(int broker, int api_key, const std::vector<int>& errors, int rtt_ms,
                               std::string& error) override;
  void clearRequestErrors(int api_key) override;
  bool setCoordinator(const std::string& type, const std::string& key, int broker,
                      std::string& error) override;
  bool setPartitionLeader(const std::string& topic, int partition, int broker,
                          std::string& error) override;
  bool setTopicError(const std::string& topic, int error_code, std::string& error) override;
  bool createTopic(const std::string& name, int partitions, std::string& error) override;

 private:
  struct Handles;
  EmbeddedBroker(std::unique_ptr<Handles> handles, int brokers);

  std::unique_ptr<Handles> handles_;
  std::string bootstrap_;
  int brokers_ = 0;
};

// Kafka protocol names, for injecting faults by name.
namespace kafka_names {

// librdkafka's code for "close the connection instead of answering".
inline constexpr int kErrTransport = -195;

// The request types the embedded broker serves (librdkafka 2.0.2's mock), by
// their Kafka protocol names ("Produce", "OffsetCommit", ...), in ApiKey order.
const std::vector<std::pair<std::string, int>>& servedApis();
// The ApiKey of a served request type; the name is matched ignoring case.
std::optional<int> apiKey(std::string_view name);
std::string apiName(int api_key);

// Errors a broker can answer with, named as librdkafka spells them in the
// error reports clients see ("NOT_LEADER_FOR_PARTITION", "MSG_SIZE_TOO_LARGE";
// rd_kafka_err2name), plus "_TRANSPORT" (kErrTransport). Matched ignoring case.
std::optional<int> errorCode(std::string_view name);
// True for a code errorCode() can return.
bool injectableError(int code);
std::string errorName(int code);
// Every injectable error, by code.
std::vector<std::pair<std::string, int>> injectableErrors();

}  // namespace kafka_names

}  // namespace vigil::stream
