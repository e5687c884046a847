#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "detectors/dataset_detector.h"
#include "detectors/series_store.h"
#include "stream/decoder.h"
#include "stream/field_interner.h"

namespace vigil::stream {

// `vigil replay` without the file handling: runs the datasets of one topic
// over record values in input order, in event time, with the same decoder and
// detectors as `detect`. The watermark is the newest event time seen; each
// record first advances it (evaluating every step end it passes, before the
// record joins its window), then joins its sub-window. Events are handed to
// the sink in the documented order once every dataset has passed their
// timestamp. Not thread-safe.
class ReplayEngine {
 public:
  using Sink = std::function<void(const detectors::FailureEvent&)>;
  // Called for each record not used, with its 1-based index in the input.
  using RejectSink = std::function<void(std::uint64_t index, InvalidReason reason)>;

  ReplayEngine(const std::vector<detectors::DatasetSpec>& datasets, Sink sink, RejectSink rejects);

  void feed(std::string_view value);
  // Evaluates the last (partial) step of every dataset and delivers the rest.
  void finish();

  std::uint64_t records() const { return records_; }
  std::uint64_t invalid(InvalidReason reason) const {
    return invalid_[static_cast<std::size_t>(reason)];
  }

 private:
  struct Lane {
    std::unique_ptr<detectors::DatasetDetector> detector;  // stable address for the interner
    Decoder decoder;
    detectors::SeriesStore store;
    FieldInterner interner;
    detectors::Timestamp watermark = detectors::Timestamp::min();
  };

  void reject(InvalidReason reason);
  void deliver(detectors::Timestamp through);

  std::vector<Lane> lanes_;
  Sink sink_;
  RejectSink rejects_;
  std::vector<detectors::FailureEvent> pending_;
  DecodeNotes notes_;  // reused record to record
  std::uint64_t records_ = 0;
  std::array<std::uint64_t, kInvalidReasonCount> invalid_{};
};

}  // namespace vigil::stream
