#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "detectors/time.h"
#include "stream/detect_spec.h"
#include "stream/log_reader.h"
#include "stream/record_producer.h"

namespace vigil::stream {

// The series checkpoints of `vigil detect` on `state_topic` (SPEC §2a): one
// message per (dataset, series), keyed "<length of dataset>:<dataset>/<series>"
// (unambiguous whatever the names hold, readable in kcat), the value the
// detector's versioned checkpoint bytes. Meant for a compacted topic: the
// newest message of a key is the series' state.
//
// Reading (a LogReader) goes up to the end as of the call, so a restart or a
// newly assigned partition sees what the previous owner wrote before it let
// go. Not thread-safe.
class CheckpointLog {
 public:
  using Visitor =
      std::function<void(std::string_view dataset, std::string_view series, std::string bytes)>;

  static std::unique_ptr<CheckpointLog> create(const KafkaProperties& properties, std::string topic,
                                               std::string& error);
  ~CheckpointLog();

  static std::string key(std::string_view dataset, std::string_view series);
  // Splits a key; false when it is not one of ours.
  static bool parseKey(std::string_view key, std::string_view& dataset, std::string_view& series);

  // Reads what was written since the last call (the first call: since the
  // beginning) up to the topic's end as of now, in offset order per
  // partition. A topic that does not exist yet has nothing to read. Returns
  // the messages read; a message with a foreign key is counted in `foreign`.
  std::size_t catchUp(const Visitor& visit, std::size_t& foreign, detectors::Duration timeout);

  // Queues one checkpoint; false when it could not be queued (logged).
  bool write(std::string_view dataset, std::string_view series, std::string_view bytes,
             detectors::Timestamp now);
  // Serves delivery reports; waits for all queued checkpoints.
  void poll() { producer_->poll(); }
  bool flush(detectors::Duration timeout) { return producer_->flush(timeout); }
  std::uint64_t written() const { return producer_->delivered(); }
  std::uint64_t failed() const { return producer_->failed(); }

 private:
  CheckpointLog() = default;

  std::string topic_;
  std::unique_ptr<RecordProducer> producer_;
  std::unique_ptr<LogReader> reader_;
};

}  // namespace vigil::stream
