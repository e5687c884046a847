#include "stream/kafka_source.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <cstdlib>
#include <cstring>
#include <exception>

#include "common/log.h"
#include "stream/kafka_conf.h"

namespace vigil::stream {
namespace {

constexpr std::string_view kLog = "stream";

std::vector<TopicPartition> toTopicPartitions(const std::vector<RdKafka::TopicPartition*>& in) {
  std::vector<TopicPartition> out;
  out.reserve(in.size());
  for (const auto* tp : in) out.push_back({tp->topic(), tp->partition()});
  return out;
}

// Owns the raw RdKafka::TopicPartition pointers the C++ API insists on.
class TopicPartitionList {
 public:
  TopicPartitionList() = default;
  explicit TopicPartitionList(const std::vector<TopicPartition>& in) {
    for (const auto& tp : in) list_.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition));
  }
  ~TopicPartitionList() { RdKafka::TopicPartition::destroy(list_); }
  TopicPartitionList(const TopicPartitionList&) = delete;
  TopicPartitionList& operator=(const TopicPartitionList&) = delete;
  std::vector<RdKafka::TopicPartition*>& get() { return list_; }

 private:
  std::vector<RdKafka::TopicPartition*> list_;
};

}  // namespace

Message::Message(rd_kafka_message_t* message) : message_(message) {
  record_.topic = message_->rkt != nullptr ? rd_kafka_topic_name(message_->rkt) : "";
  record_.partition = message_->partition;
  record_.offset = message_->offset;
  rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const std::int64_t ms = rd_kafka_message_timestamp(message_, &type);
  record_.timestamp =
      detectors::timestampFromMillis(type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? 0 : ms);
  record_.key = std::string_view(static_cast<const char*>(message_->key), message_->key_len);
  record_.value = std::string_view(static_cast<const char*>(message_->payload), message_->len);
}

Message::Message(Message&& other) noexcept : message_(other.message_), record_(other.record_) {
  other.message_ = nullptr;
}

Message& Message::operator=(Message&& other) noexcept {
  if (this != &other) {
    if (message_ != nullptr) rd_kafka_message_destroy(message_);
    message_ = other.message_;
    record_ = other.record_;
    other.message_ = nullptr;
  }
  return *this;
}

Message::~Message() {
  if (message_ != nullptr) rd_kafka_message_destroy(message_);
}

// Applies cooperative (incremental) or eager assignments as librdkafka asks,
// telling the Listener first on revocation so it can commit while it still owns
// the partitions. No exception may escape into librdkafka.
class KafkaSource::Rebalancer : public RdKafka::RebalanceCb {
 public:
  Rebalancer(Listener& listener, bool read_committed)
      : listener_(listener), read_committed_(read_committed) {}

  // True once the group gave this member an assignment (an empty one counts).
  bool assignedOnce() const { return assigned_once_; }

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    try {
      const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
      if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
        assigned_once_ = true;
        assign(consumer->c_ptr(), cooperative, partitions);
        listener_.onAssigned(toTopicPartitions(partitions));
      } else {
        const bool lost = consumer->assignment_lost();
        listener_.onRevoked(toTopicPartitions(partitions), lost);
        if (cooperative) {
          if (RdKafka::Error* e = consumer->incremental_unassign(partitions)) {
            VIGIL_LOG(kError, kLog) << "incremental unassign failed: " << e->str();
            delete e;
          }
        } else {
          consumer->unassign();
        }
      }
    } catch (const std::exception& e) {
      VIGIL_LOG(kError, kLog) << "rebalance handling failed: " << e.what();
    }
  }

 private:
  // The C API: the C++ TopicPartition of librdkafka 2.0 carries no commit metadata.
  void assign(rd_kafka_t* rk, bool cooperative,
              const std::vector<RdKafka::TopicPartition*>& partitions) {
    std::unique_ptr<rd_kafka_topic_partition_list_t, decltype(&rd_kafka_topic_partition_list_destroy)>
        list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())),
             &rd_kafka_topic_partition_list_destroy);
    for (const auto* tp : partitions) {
      rd_kafka_topic_partition_list_add(list.get(), tp->topic().c_str(), tp->partition());
    }
    if (read_committed_) startOffsets(rk, *list);
    rd_kafka_error_t* error = cooperative ? rd_kafka_incremental_assign(rk, list.get()) : nullptr;
    if (!cooperative) {
      if (const rd_kafka_resp_err_t e = rd_kafka_assign(rk, list.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        VIGIL_LOG(kError, kLog) << "assign failed: " << rd_kafka_err2str(e);
      }
    }
    if (error != nullptr) {
      VIGIL_LOG(kError, kLog) << "incremental assign failed: " << rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
    }
  }

  // Asks the group what it committed, lets the Listener choose where to
  // start, and writes that into the list to assign.
  void startOffsets(rd_kafka_t* rk, rd_kafka_topic_partition_list_t& list) {
    const rd_kafka_resp_err_t err = rd_kafka_committed(rk, &list, kCommittedTimeoutMs);
    std::vector<Assignment> assignments;
    assignments.reserve(static_cast<std::size_t>(list.cnt));
    for (int i = 0; i < list.cnt; ++i) {
      const rd_kafka_topic_partition_t& p = list.elems[i];
      Assignment a{{p.topic, p.partition}, std::nullopt, {}, std::nullopt};
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR && p.err == RD_KAFKA_RESP_ERR_NO_ERROR && p.offset >= 0) {
        a.committed = p.offset;
        if (p.metadata != nullptr) a.metadata.assign(static_cast<const char*>(p.metadata), p.metadata_size);
      }
      assignments.push_back(std::move(a));
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      VIGIL_LOG(kWarn, kLog) << "cannot read committed offsets: " << rd_kafka_err2str(err)
                             << "; reading from the committed offsets without rebuilding state";
    }
    listener_.onAssigning(assignments);
    for (int i = 0; i < list.cnt; ++i) {
      const auto& start = assignments[static_cast<std::size_t>(i)].start;
      list.elems[i].offset = start ? *start : RD_KAFKA_OFFSET_INVALID;  // invalid: the committed one
    }
  }

  static constexpr int kCommittedTimeoutMs = 10000;
  Listener& listener_;
  bool read_committed_;
  bool assigned_once_ = false;
};

KafkaProperties withDefaults(const KafkaProperties& configured, const KafkaProperties& defaults) {
  KafkaProperties out = defaults;
  for (const auto& [k, v] : configured) out[k] = v;
  return out;
}

std::unique_ptr<KafkaSource> KafkaSource::create(const Options& options, Listener& listener,
                                                 std::string& error) {
  std::unique_ptr<KafkaSource> source(new KafkaSource());
  source->rebalancer_ = std::make_unique<Rebalancer>(listener, options.read_committed);

  KafkaProperties properties = withDefaults(options.properties,
                                            {{"auto.offset.reset", "earliest"},
                                             {"partition.assignment.strategy", "cooperative-sticky"},
                                             {"fetch.wait.max.ms", "100"}});
  // Offsets are vigil's to commit, only once what they caused is delivered.
  properties["enable.auto.commit"] = "false";
  properties["enable.auto.offset.store"] = "false";
  properties["group.id"] = options.group_id;

  std::unique_ptr<RdKafka::Conf> conf = makeKafkaConf(properties, error);
  if (!conf) return nullptr;
  std::string why;
  if (conf->set("rebalance_cb", source->rebalancer_.get(), why) != RdKafka::Conf::CONF_OK) {
    error = why;
    return nullptr;
  }
  source->consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), why));
  if (!source->consumer_) {
    error = "cannot create consumer: " + why;
    return nullptr;
  }
  const RdKafka::ErrorCode err = source->consumer_->subscribe(options.topics);
  if (err != RdKafka::ERR_NO_ERROR) {
    error = "cannot subscribe: " + RdKafka::err2str(err);
    return nullptr;
  }
  return source;
}

KafkaSource::~KafkaSource() { close(); }

void KafkaSource::poll(std::vector<Message>& out, std::size_t max, detectors::Duration timeout) {
  // The C call: the C++ one wraps every message in an allocated object.
  // Rebalance callbacks are served here all the same.
  rd_kafka_t* rk = consumer_->c_ptr();
  int wait_ms = static_cast<int>(timeout.count());
  for (std::size_t n = 0; n < max; ++n) {
    rd_kafka_message_t* raw = rd_kafka_consumer_poll(rk, wait_ms);
    wait_ms = 0;
    if (raw == nullptr) return;  // timed out
    switch (raw->err) {
      case RD_KAFKA_RESP_ERR_NO_ERROR:
        out.push_back(Message(raw));
        continue;
      case RD_KAFKA_RESP_ERR__PARTITION_EOF:
        rd_kafka_message_destroy(raw);
        return;
      default: {
        static log::RateLimiter limiter(std::chrono::seconds(5));
        std::uint64_t suppressed = 0;
        if (limiter.allow(suppressed)) {
          VIGIL_LOG(kWarn, kLog) << "consume error: " << rd_kafka_message_errstr(raw)
                                 << (suppressed ? " (and " + std::to_string(suppressed) + " more)" : "");
        }
        rd_kafka_message_destroy(raw);
        return;
      }
    }
  }
}

void KafkaSource::pause(const std::vector<TopicPartition>& partitions) {
  TopicPartitionList list(partitions);
  consumer_->pause(list.get());
}

void KafkaSource::resume(const std::vector<TopicPartition>& partitions) {
  TopicPartitionList list(partitions);
  consumer_->resume(list.get());
}

void KafkaSource::commit(const std::vector<CommitPosition>& positions) {
  commitList(positions, true);
}

bool KafkaSource::commitSync(const std::vector<CommitPosition>& positions) {
  return commitList(positions, false);
}

bool KafkaSource::commitList(const std::vector<CommitPosition>& positions, bool async) {
  if (positions.empty()) return true;
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(positions.size()));
  for (const CommitPosition& p : positions) {
    rd_kafka_topic_partition_t* tp =
        rd_kafka_topic_partition_list_add(list, p.tp.topic.c_str(), p.tp.partition);
    tp->offset = p.next_offset;
    if (!p.metadata.empty()) {
      // The list owns it: rd_kafka_topic_partition_list_destroy() frees it.
      tp->metadata = std::malloc(p.metadata.size());
      if (tp->metadata != nullptr) {
        std::memcpy(tp->metadata, p.metadata.data(), p.metadata.size());
        tp->metadata_size = p.metadata.size();
      }
    }
  }
  const rd_kafka_resp_err_t err = rd_kafka_commit(consumer_->c_ptr(), list, async ? 1 : 0);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    VIGIL_LOG(kWarn, kLog) << "commit failed: " << rd_kafka_err2str(err);
    return false;
  }
  return true;
}

void KafkaSource::close() {
  if (closed_ || !consumer_) return;
  closed_ = true;
  consumer_->close();
  if (!rebalancer_->assignedOnce()) {
    // librdkafka before 2.3.0 asserts (aborts) when a cooperative-sticky
    // consumer is destroyed before its first assignment (its assignor state
    // is still null: confluentinc/librdkafka#4312). The consumer has left the
    // group; the handle is let go instead, as the process is ending.
    static_cast<void>(consumer_.release());
  }
}

}  // namespace vigil::stream
