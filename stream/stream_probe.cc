#include "stream/stream_probe.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace vigil::stream {
namespace {

using detectors::EventStatus;
using detectors::FailureType;

constexpr std::array kFailureTypes = {FailureType::kLatencySpike, FailureType::kStaleData,
                                      FailureType::kVolumeDrop,   FailureType::kVolumeSpike,
                                      FailureType::kNullSpike,    FailureType::kSchemaDrift};

}  // namespace

StreamProbe::StreamProbe(const std::vector<std::string>& datasets)
    : registry_(std::make_shared<prometheus::Registry>()) {
  auto& consumed = prometheus::BuildCounter()
                       .Name("vigil_records_consumed_total")
                       .Help("Records read for detection.")
                       .Register(*registry_);
  auto& replayed = prometheus::BuildCounter()
                       .Name("vigil_records_replayed_total")
                       .Help("Records re-read to rebuild window state after a restart or rebalance.")
                       .Register(*registry_);
  auto& missing = prometheus::BuildCounter()
                      .Name("vigil_records_missing_total")
                      .Help("Records a state rebuild needed that the partition no longer held "
                            "(retention); windows reaching back to them emit nothing.")
                      .Register(*registry_);
  auto& silenced = prometheus::BuildCounter()
                       .Name("vigil_failure_events_silenced_total")
                       .Help("Events judged again while rebuilding state and not emitted twice.")
                       .Register(*registry_);
  auto& invalid = prometheus::BuildCounter()
                      .Name("vigil_records_invalid_total")
                      .Help("Records not used, or not used by one check, by reason.")
                      .Register(*registry_);
  auto& dead_lettered = prometheus::BuildCounter()
                            .Name("vigil_records_dead_lettered_total")
                            .Help("Unused records copied to the dataset's dead_letter_topic.")
                            .Register(*registry_);
  auto& events = prometheus::BuildCounter()
                     .Name("vigil_failure_events_total")
                     .Help("Failure events emitted.")
                     .Register(*registry_);
  auto& series = prometheus::BuildGauge()
                     .Name("vigil_series_tracked")
                     .Help("Series with alert state in this process.")
                     .Register(*registry_);
  auto& lag = prometheus::BuildGauge()
                  .Name("vigil_watermark_lag_seconds")
                  .Help("Wall clock minus the dataset's event-time watermark.")
                  .Register(*registry_);

  for (const std::string& name : datasets) {
    PerDataset d{};
    d.consumed = &consumed.Add({{"dataset", name}});
    d.replayed = &replayed.Add({{"dataset", name}});
    d.missing = &missing.Add({{"dataset", name}});
    d.silenced = &silenced.Add({{"dataset", name}});
    d.dead_lettered = &dead_lettered.Add({{"dataset", name}});
    for (int r = 0; r < kInvalidReasonCount; ++r) {
      d.invalid[static_cast<std::size_t>(r)] = &invalid.Add(
          {{"dataset", name}, {"reason", std::string(reasonName(static_cast<InvalidReason>(r)))}});
    }
    for (const FailureType type : kFailureTypes) {
      for (const EventStatus status : {EventStatus::kFiring, EventStatus::kResolved}) {
        d.events[{type, status}] =
            &events.Add({{"dataset", name},
                         {"failure_type", std::string(detectors::failureTypeName(type))},
                         {"status", std::string(detectors::statusName(status))}});
      }
    }
    d.series = &series.Add({{"dataset", name}});
    d.watermark_lag = &lag.Add({{"dataset", name}});
    datasets_.push_back(d);
  }

  partitions_assigned_ = &prometheus::BuildGauge()
                              .Name("vigil_partitions_assigned")
                              .Help("Input partitions assigned to this process.")
                              .Register(*registry_)
                              .Add({});
  events_in_flight_ = &prometheus::BuildGauge()
                           .Name("vigil_failure_events_in_flight")
                           .Help("Failure events produced but not yet acknowledged by the broker.")
                           .Register(*registry_)
                           .Add({});
  delivery_failures_ = &prometheus::BuildCounter()
                            .Name("vigil_failure_event_delivery_failures_total")
                            .Help("Failure event deliveries that failed and were produced again.")
                            .Register(*registry_)
                            .Add({});
  producer_recreations_ =
      &prometheus::BuildCounter()
           .Name("vigil_failure_event_producer_recreations_total")
           .Help("Failure-event producers replaced after a fatal error; their unacknowledged "
                 "events were produced again through the new one.")
           .Register(*registry_)
           .Add({});
  commits_ = &prometheus::BuildCounter()
                  .Name("vigil_offset_commits_total")
                  .Help("Offset commits issued for input partitions.")
                  .Register(*registry_)
                  .Add({});
  auto& checkpoints = prometheus::BuildCounter()
                          .Name("vigil_state_checkpoints_total")
                          .Help("Series checkpoints on state_topic, by outcome: written (acknowledged), "
                                "failed (not delivered), restored (applied to a series), rejected "
                                "(unreadable, skipped).")
                          .Register(*registry_);
  checkpoints_written_ = &checkpoints.Add({{"outcome", "written"}});
  checkpoints_failed_ = &checkpoints.Add({{"outcome", "failed"}});
  checkpoints_restored_ = &checkpoints.Add({{"outcome", "restored"}});
  checkpoints_rejected_ = &checkpoints.Add({{"outcome", "rejected"}});
  prometheus::BuildGauge()
      .Name("vigil_build_info")
      .Help("Always 1; the labels name the build.")
      .Register(*registry_)
      .Add({{"version", "0.1.0"}, {"component", "detect"}})
      .Set(1);
}

StreamProbe::~StreamProbe() = default;

void StreamProbe::addConsumed(std::size_t dataset, std::uint64_t n) {
  if (n) datasets_.at(dataset).consumed->Increment(static_cast<double>(n));
}

void StreamProbe::addReplayed(std::size_t dataset, std::uint64_t n) {
  if (n) datasets_.at(dataset).replayed->Increment(static_cast<double>(n));
}

void StreamProbe::addMissing(std::size_t dataset, std::uint64_t n) {
  if (n) datasets_.at(dataset).missing->Increment(static_cast<double>(n));
}

void StreamProbe::addSilenced(std::size_t dataset, std::uint64_t n) {
  if (n) datasets_.at(dataset).silenced->Increment(static_cast<double>(n));
}

void StreamProbe::addDeadLettered(std::size_t dataset, std::uint64_t n) {
  if (n) datasets_.at(dataset).dead_lettered->Increment(static_cast<double>(n));
}

void StreamProbe::addInvalid(std::size_t dataset, InvalidReason reason, std::uint64_t n) {
  if (n) datasets_.at(dataset).invalid.at(static_cast<std::size_t>(reason))->Increment(static_cast<double>(n));
}

void StreamProbe::addEvent(std::size_t dataset, FailureType type, EventStatus status) {
  datasets_.at(dataset).events.at({type, status})->Increment();
}

void StreamProbe::setSeriesTracked(std::size_t dataset, std::size_t n) {
  datasets_.at(dataset).series->Set(static_cast<double>(n));
}

void StreamProbe::setWatermarkLag(std::size_t dataset, double seconds) {
  datasets_.at(dataset).watermark_lag->Set(seconds);
}

void StreamProbe::setPartitionsAssigned(std::size_t n) {
  partitions_assigned_->Set(static_cast<double>(n));
}

void StreamProbe::setEventsInFlight(std::size_t n) { events_in_flight_->Set(static_cast<double>(n)); }

void StreamProbe::addDeliveryFailures(std::uint64_t n) {
  if (n) delivery_failures_->Increment(static_cast<double>(n));
}

void StreamProbe::addProducerRecreations(std::uint64_t n) {
  if (n) producer_recreations_->Increment(static_cast<double>(n));
}

void StreamProbe::addCommits(std::uint64_t n) {
  if (n) commits_->Increment(static_cast<double>(n));
}

void StreamProbe::addCheckpoints(std::uint64_t written, std::uint64_t failed) {
  if (written) checkpoints_written_->Increment(static_cast<double>(written));
  if (failed) checkpoints_failed_->Increment(static_cast<double>(failed));
}

void StreamProbe::addCheckpointsRestored(std::uint64_t n) {
  if (n) checkpoints_restored_->Increment(static_cast<double>(n));
}

void StreamProbe::addCheckpointsRejected(std::uint64_t n) {
  if (n) checkpoints_rejected_->Increment(static_cast<double>(n));
}

std::string StreamProbe::scrape() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace vigil::stream
