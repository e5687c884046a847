#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "detectors/dataset_detector.h"
#include "detectors/dataset_spec.h"
#include "detectors/series_store.h"
#include "stream/decoder.h"
#include "stream/field_interner.h"
#include "stream/kafka_source.h"
#include "stream/window_offsets.h"

namespace vigil::stream {

// Counts a lane accumulates between two flushes into the probe: the record
// path never touches a shared counter.
struct LaneCounters {
  std::uint64_t consumed = 0;
  std::uint64_t replayed = 0;  // placed again while rebuilding (before the committed offset)
  std::array<std::uint64_t, kInvalidReasonCount> invalid{};
};

// The bounds a dataset's evaluation imposes on its lanes for one round.
struct LaneLimits {
  // Records at or after this wait (the window ring would otherwise recycle a
  // sub-window the next evaluation needs); nullopt before the first evaluation.
  std::optional<detectors::Timestamp> accept_before;
  detectors::Timestamp watermark = detectors::Timestamp::min();
  // Records with a later event time are invalid (`future`): held back, one
  // would stall its partition until the clock caught up with it.
  detectors::Timestamp future_limit = detectors::Timestamp::max();
};

// Everything about one assigned input partition: its queued messages and, per
// dataset reading its topic, a lane with its own decoder, window store and
// read position. Lanes advance independently; a message leaves the queue once
// every lane has passed it, and the partition's committable offset is the
// lowest lane position. Touched by one TBB task at a time (no locks on the
// record path); the service reads it between rounds.
class PartitionWorker {
 public:
  // What a lane needs of its dataset: the spec, and the field dictionary
  // shared by all partitions (with its mutex) for the schema check.
  struct DatasetBinding {
    const detectors::DatasetSpec* spec;
    detectors::FieldDictionary* fields;
    std::mutex* fields_mutex;
    detectors::SeriesBudget* series_budget;  // max_series across the dataset's partitions
  };

  // A record the lane did not use, copied for the dataset's dead_letter_topic.
  struct DeadLetter {
    std::string key;
    std::string value;
    InvalidReason reason;
    Offset offset;
  };

  struct Lane {
    std::size_t dataset;
    Decoder decoder;
    detectors::SeriesStore store;
    FieldInterner interner;
    std::uint64_t position = 0;  // absolute index of the next message to process
    detectors::Timestamp newest = detectors::Timestamp::min();  // newest event time placed
    // Event time of the record the lane is holding back, if any: everything
    // before it is placed, so the lane's event time has reached it.
    std::optional<detectors::Timestamp> held;
    bool placed_since_check = false;  // a record was placed or held since the service looked
    detectors::Timestamp active_at{};  // clock time the service last saw it place or hold one
    LaneCounters counters;
    DecodeNotes notes;  // reused record to record
    WindowOffsets offsets;  // where a rebuild of this lane's windows would start
    // Set when a rebuild found records gone: the first record read then
    // silences the windows that would miss them.
    bool incomplete = false;
    // Assigned while its dataset was already evaluating: the lane's own
    // detector judges it until it has caught up (DatasetDetector::catchUp),
    // and the bounds that detector imposes replace the dataset's.
    std::unique_ptr<detectors::DatasetDetector> catch_up;
    std::optional<LaneLimits> own_limits;
    bool keeps_dead_letters = false;  // the dataset has a dead_letter_topic
    std::vector<DeadLetter> dead_letters;  // taken by the service after each processing

    // How far this lane's event time has got: the newest placed or held record.
    detectors::Timestamp progress() const { return held ? std::max(newest, *held) : newest; }
  };

  PartitionWorker(TopicPartition tp, const std::vector<std::size_t>& datasets,
                  const std::vector<DatasetBinding>& bindings);

  const TopicPartition& topicPartition() const { return tp_; }

  // The partition is read again from `start`, before `committed` (a restart
  // or a rebalance): records before `committed` are placed in the windows
  // again but count as replayed, not consumed, and are not counted invalid or
  // copied to the dead-letter topic a second time.
  void rebuildFrom(Offset start, Offset committed);
  // True while some lane has not yet passed the committed offset of a rebuild.
  bool rebuilding() const;
  // Records a rebuild needed that the partition no longer holds (retention),
  // counted once when the first record arrives; 0 when none.
  std::uint64_t takeMissing() { return std::exchange(missing_, 0); }

  void enqueue(Message&& message) {
    if (expect_first_) [[unlikely]] noteFirst(message.record().offset);
    queued_bytes_ += queuedSize(message);
    queue_.push_back(std::move(message));
  }
  // Memory the queued messages hold (payloads, keys and per-message overhead).
  std::size_t queuedBytes() const { return queued_bytes_; }
  bool hasWork() const;

  // Processes queued messages on every lane, stopping a lane at a record it
  // must hold. `limits` is indexed by dataset. Never throws.
  void process(const std::vector<LaneLimits>& limits);

  std::vector<Lane>& lanes() { return lanes_; }
  const std::vector<Lane>& lanes() const { return lanes_; }

  // The offset up to which every lane has processed (Kafka's "next offset").
  std::optional<Offset> processedThrough() const { return processed_through_; }

  // Where a rebuild would start: the lowest offset placed in a step the
  // lanes still remember, or the processed offset if lower.
  std::optional<Offset> rereadOffset() const;

  // Commit bookkeeping: offsets processed at the time events up to `seq` were
  // produced, with the commit metadata that goes with them.
  struct Commit {
    Offset offset;
    std::string metadata;
  };
  // True when something was processed since the last tag.
  bool tagDue() const { return processed_through_ && processed_through_ != last_tagged_; }
  void tag(std::uint64_t seq, std::string metadata);
  // The newest tagged offset whose events are all acknowledged; nullopt if none new.
  std::optional<Commit> committable(std::uint64_t acked_before);
  std::optional<Offset> lastCommitted() const { return last_committed_; }
  void markCommitted(Offset offset) { last_committed_ = offset; }

 private:
  void processLane(Lane& lane, const LaneLimits& limits);
  // Counts a record the lane does not use and keeps a copy for the dead-letter topic.
  void reject(Lane& lane, const Record& record, InvalidReason reason) const;
  void trimQueue();
  void noteFirst(Offset first);
  static std::size_t queuedSize(const Message& m) {
    return m.record().value.size() + m.record().key.size() + kMessageOverhead;
  }
  static constexpr std::size_t kMessageOverhead = 256;  // librdkafka's message and ours

  TopicPartition tp_;
  std::vector<Lane> lanes_;
  std::deque<Message> queue_;
  std::uint64_t base_ = 0;  // absolute index of queue_.front()
  std::size_t queued_bytes_ = 0;
  std::optional<Offset> processed_through_;
  struct Tag {
    Offset offset;
    std::uint64_t seq;
    std::string metadata;
  };
  std::deque<Tag> tags_;
  std::optional<Offset> replay_until_;  // records before it are replayed
  std::optional<Offset> expect_first_;  // the offset a rebuild starts reading at
  std::uint64_t missing_ = 0;
  std::optional<Offset> last_tagged_;
  std::optional<Offset> last_committed_;
};

}  // namespace vigil::stream
