#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "detectors/failure_event.h"
#include "stream/decoder.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
}  // namespace prometheus

namespace vigil::stream {

// Every metric of `vigil detect`, declared in one place; the only file of
// stream/ that includes prometheus-cpp. Label values come from bounded sets
// (configured dataset names, failure types, reasons). Counter updates are
// thread-safe; the record path counts locally and adds here once per batch.
class StreamProbe {
 public:
  explicit StreamProbe(const std::vector<std::string>& datasets);
  ~StreamProbe();

  void addConsumed(std::size_t dataset, std::uint64_t n);
  void addReplayed(std::size_t dataset, std::uint64_t n);
  void addInvalid(std::size_t dataset, InvalidReason reason, std::uint64_t n);
  void addDeadLettered(std::size_t dataset, std::uint64_t n);
  // State rebuild: records a rebuild needed that were gone, events judged
  // again while rebuilding and not emitted a second time.
  void addMissing(std::size_t dataset, std::uint64_t n);
  void addSilenced(std::size_t dataset, std::uint64_t n);
  void addEvent(std::size_t dataset, detectors::FailureType type, detectors::EventStatus status);
  void setSeriesTracked(std::size_t dataset, std::size_t n);
  void setWatermarkLag(std::size_t dataset, double seconds);
  void setPartitionsAssigned(std::size_t n);
  void setEventsInFlight(std::size_t n);
  void addDeliveryFailures(std::uint64_t n);
  void addProducerRecreations(std::uint64_t n);
  void addCommits(std::uint64_t n);
  // Series checkpoints on state_topic.
  void addCheckpoints(std::uint64_t written, std::uint64_t failed);
  void addCheckpointsRestored(std::uint64_t n);
  void addCheckpointsRejected(std::uint64_t n);

  // The Prometheus text exposition of every metric.
  std::string scrape() const;

 private:
  struct PerDataset {
    prometheus::Counter* consumed;
    prometheus::Counter* replayed;
    prometheus::Counter* dead_lettered;
    prometheus::Counter* missing;
    prometheus::Counter* silenced;
    std::array<prometheus::Counter*, kInvalidReasonCount> invalid;
    std::map<std::pair<detectors::FailureType, detectors::EventStatus>, prometheus::Counter*> events;
    prometheus::Gauge* series;
    prometheus::Gauge* watermark_lag;
  };

  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<PerDataset> datasets_;
  prometheus::Gauge* partitions_assigned_;
  prometheus::Gauge* events_in_flight_;
  prometheus::Counter* delivery_failures_;
  prometheus::Counter* producer_recreations_;
  prometheus::Counter* commits_;
  prometheus::Counter* checkpoints_written_;
  prometheus::Counter* checkpoints_failed_;
  prometheus::Counter* checkpoints_restored_;
  prometheus::Counter* checkpoints_rejected_;
};

}  // namespace vigil::stream
