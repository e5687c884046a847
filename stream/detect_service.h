#pragma once

#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "detectors/clock.h"
#include "detectors/dataset_detector.h"
#include "detectors/dataset_spec.h"
#include "stream/commit_metadata.h"
#include "stream/detect_spec.h"
#include "stream/kafka_source.h"
#include "stream/partition_worker.h"
#include "stream/series_budget.h"

namespace vigil::stream {

class CheckpointLog;
class EventSink;
class StreamProbe;

// `vigil detect`: consumes the datasets' topics in a consumer group, places
// records in per-partition windows in parallel (TBB, one task per partition,
// no locks on the record path), advances each dataset's event-time watermark
// (the minimum over its partitions, ignoring partitions silent for
// idle_timeout, following the clock when all are silent), evaluates every step
// end it passes and produces the failure events. An input offset is committed
// only after every event produced up to the round that processed it is
// acknowledged. run() owns the polling thread; ready() may be read from any.
class DetectService final : private KafkaSource::Listener {
 public:
  struct Options {
    KafkaProperties kafka;
    DetectSpec detect;
    std::vector<detectors::DatasetSpec> datasets;
  };

  DetectService(Options options, const detectors::Clock& clock, StreamProbe& probe);
  ~DetectService() override;

  // Runs until `stop` is set, then delivers in-flight events, commits and
  // leaves the group. Returns 0, or 1 on a runtime failure (logged).
  int run(const std::atomic<bool>& stop);

  bool ready() const { return ready_.load(std::memory_order_acquire); }

 private:
  struct DatasetState {
    detectors::DatasetDetector detector;
    detectors::Timestamp watermark = detectors::Timestamp::min();
    detectors::Duration idle_timeout;
    std::unique_ptr<std::mutex> fields_mutex;  // guards detector.fields() while partitions run
    std::unique_ptr<AtomicSeriesBudget> series_budget;
    std::uint64_t reported_silenced = 0;
  };
  // A partition assigned with a committed offset: read again from `start`
  // when its commit metadata (stream/commit_metadata.h) says so, its windows
  // rebuilt up to `committed`.
  struct Rebuild {
    Offset start;
    Offset committed;
    CommitMetadata metadata;
  };

  void onAssigning(std::vector<Assignment>& partitions) override;
  void onAssigned(const std::vector<TopicPartition>& partitions) override;
  void onRevoked(const std::vector<TopicPartition>& partitions, bool lost) override;

  // Evaluates, emits, commits what it can, then queues the batch. True when
  // it moved anything (a new message, a step end evaluated).
  bool round(std::vector<Message>& batch);
  void enqueue(std::vector<Message>& batch);
  std::vector<LaneLimits> laneLimits() const;
  std::vector<PartitionWorker*> busyWorkers();  // those with queued records to process
  void processQueued();
  // Processing of queued records overlaps the next poll: started at the end of
  // a round, finished before anything else touches the partition workers
  // (the next round, a rebalance, shutdown).
  void startProcessing();
  void finishProcessing();
  std::vector<const detectors::SeriesStore*> storesOf(std::size_t dataset) const;
  bool advanceDatasets(std::vector<detectors::FailureEvent>& events);
  // Partitions assigned while their dataset was evaluating catch up on their
  // own detectors, then join the dataset's.
  bool advanceCatchUps(std::size_t dataset, std::vector<detectors::FailureEvent>& events);
  void setCatchUpLimits();
  void emit(std::vector<detectors::FailureEvent>& events);
  // Produces the copies of unused records to their datasets' dead_letter_topic.
  void produceDeadLetters();
  void commitAcknowledged(bool sync);
  // Tags each partition's processed offset with the events produced so far
  // and the metadata a rebuild needs.
  void tagProcessed();
  std::string commitMetadata(PartitionWorker& worker);
  // True while some partition of the dataset rebuilds its windows.
  bool rebuilding(std::size_t dataset) const;
  void flushCounters();
  void updateResumePause();
  // Series checkpoints (SPEC §2a): read back what state_topic holds, and write
  // what the detectors learned since their last checkpoint.
  void restoreCheckpoints(detectors::Duration timeout);
  void writeCheckpoints(detectors::Duration flush_timeout);

  Options options_;
  const detectors::Clock& clock_;
  StreamProbe& probe_;
  std::vector<DatasetState> datasets_;
  std::vector<PartitionWorker::DatasetBinding> bindings_;
  detectors::Timestamp last_freshness_{};  // clock time of the last freshness pass
  std::map<std::string, std::vector<std::size_t>> datasets_by_topic_;
  std::map<std::string, std::size_t> dataset_index_;
  std::map<TopicPartition, std::unique_ptr<PartitionWorker>> workers_;
  std::map<TopicPartition, Rebuild> rebuilds_;  // from onAssigning to onAssigned
  std::vector<TopicPartition> paused_;
  // The sink outlives the source: closing the source revokes partitions, and
  // revocation delivers and commits through the sink.
  std::unique_ptr<EventSink> sink_;
  std::unique_ptr<KafkaSource> source_;
  std::unique_ptr<CheckpointLog> checkpoints_;  // null when no dataset learns anything
  detectors::Timestamp last_checkpoint_{};
  std::uint64_t reported_checkpoints_ = 0;
  std::uint64_t reported_checkpoint_failures_ = 0;
  std::uint64_t reported_restored_ = 0;
  std::uint64_t reported_delivery_failures_ = 0;
  std::uint64_t reported_recreations_ = 0;
  std::atomic<bool> ready_{false};
  std::unique_ptr<tbb::task_arena> arena_;
  std::unique_ptr<tbb::task_group> processing_group_ = std::make_unique<tbb::task_group>();
  std::vector<LaneLimits> processing_limits_;  // the bounds the running processing uses
  bool processing_ = false;
};

}  // namespace vigil::stream
