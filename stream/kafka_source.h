#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "detectors/time.h"
#include "stream/detect_spec.h"
#include "stream/record.h"

namespace RdKafka {
class KafkaConsumer;
}  // namespace RdKafka
struct rd_kafka_message_s;

namespace vigil::stream {

struct TopicPartition {
  std::string topic;
  PartitionId partition = 0;
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

struct CommitPosition {
  TopicPartition tp;
  Offset next_offset = 0;  // the offset of the next record to read, as Kafka commits it
  std::string metadata;    // kept by the group with the offset
};

// A partition about to be assigned: what the group committed for it, and
// where to start reading it (nullopt: at the committed offset, or as
// auto.offset.reset says when there is none).
struct Assignment {
  TopicPartition tp;
  std::optional<Offset> committed;
  std::string metadata;
  std::optional<Offset> start;
};

// One consumed message, owned until destroyed; record() views into it. Holds
// librdkafka's C message itself: no wrapper is allocated per message.
class Message {
 public:
  Message(Message&&) noexcept;
  Message& operator=(Message&&) noexcept;
  ~Message();
  const Record& record() const { return record_; }

 private:
  friend class KafkaSource;
  explicit Message(rd_kafka_message_s* message);
  rd_kafka_message_s* message_;
  Record record_;
};

// A consumer group member over a set of topics (librdkafka's KafkaConsumer with
// cooperative-sticky assignment, manual offset commits, earliest reset unless
// the configuration says otherwise). Rebalance callbacks reach the Listener on
// the thread that calls poll(). Not thread-safe: one polling thread owns it.
class KafkaSource {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // With Options::read_committed, called before the partitions are
    // assigned, with what the group committed for each; may set `start`.
    virtual void onAssigning(std::vector<Assignment>& /*partitions*/) {}
    virtual void onAssigned(const std::vector<TopicPartition>& partitions) = 0;
    // Called before the partitions are given up; `lost` when the group already
    // gave them to someone else and committing them would be wrong.
    virtual void onRevoked(const std::vector<TopicPartition>& partitions, bool lost) = 0;
  };

  struct Options {
    KafkaProperties properties;
    std::string group_id;
    std::vector<std::string> topics;
    // Fetch the committed offsets and metadata of assigned partitions for
    // the Listener (one request to the coordinator per assignment).
    bool read_committed = false;
  };

  static std::unique_ptr<KafkaSource> create(const Options& options, Listener& listener,
                                             std::string& error);
  ~KafkaSource();

  // Appends up to `max` messages, waiting at most `timeout` for the first.
  void poll(std::vector<Message>& out, std::size_t max, detectors::Duration timeout);

  void pause(const std::vector<TopicPartition>& partitions);
  void resume(const std::vector<TopicPartition>& partitions);

  // Commits carry each position's metadata.
  // Asynchronous commit; failures are logged and retried by the next commit.
  void commit(const std::vector<CommitPosition>& positions);
  // Synchronous commit, for shutdown and revocation.
  bool commitSync(const std::vector<CommitPosition>& positions);

  // Leaves the group (revoking what is assigned through the Listener).
  void close();

 private:
  class Rebalancer;
  KafkaSource() = default;

  bool commitList(const std::vector<CommitPosition>& positions, bool async);

  std::unique_ptr<Rebalancer> rebalancer_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  bool closed_ = false;
};

// The properties every vigil client starts from: the configuration's, verbatim,
// plus vigil's defaults where the configuration does not set the property.
KafkaProperties withDefaults(const KafkaProperties& configured, const KafkaProperties& defaults);

}  // namespace vigil::stream
