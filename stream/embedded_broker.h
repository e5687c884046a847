#pragma once

#include <memory>
#include <string>

namespace vigil::stream {

// librdkafka's mock cluster: the real Kafka protocol on loopback, in memory,
// for development, demos and tests. It is not durable, cannot do transactions
// or offset look-ups by time, and keeps only about the newest 5 MiB per
// partition. Topics must be created here (the mock has no CreateTopics);
// a topic first named by a client is created with the mock's default of 4
// partitions. Owned by `vigil broker`; thread-safe (the mock runs its own thread).
class EmbeddedBroker {
 public:
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // nullptr and `error` set when the cluster cannot start.
  static std::unique_ptr<EmbeddedBroker> start(int brokers, std::string& error);

  // "127.0.0.1:PORT,..." for bootstrap.servers.
  const std::string& bootstrapServers() const { return bootstrap_; }

  bool createTopic(const std::string& name, int partitions, std::string& error);

 private:
  struct Handles;
  explicit EmbeddedBroker(std::unique_ptr<Handles> handles);

  std::unique_ptr<Handles> handles_;
  std::string bootstrap_;
};

}  // namespace vigil::stream
