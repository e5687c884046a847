#include "remediation/remediation_probe.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace vigil::remediation {
namespace {

constexpr OutcomeStatus kStatuses[] = {
    OutcomeStatus::kExecuted,      OutcomeStatus::kFailed,        OutcomeStatus::kPendingApproval,
    OutcomeStatus::kApproved,      OutcomeStatus::kDenied,        OutcomeStatus::kExpired,
    OutcomeStatus::kSkippedBudget, OutcomeStatus::kSkippedShadow, OutcomeStatus::kVerified,
    OutcomeStatus::kUnverified,    OutcomeStatus::kEscalated,     OutcomeStatus::kResolved};

}  // namespace

RemediationProbe::RemediationProbe(const std::vector<std::string>& actions)
    : registry_(std::make_shared<prometheus::Registry>()) {
  auto& outcomes = prometheus::BuildCounter()
                       .Name("vigil_remediation_outcomes_total")
                       .Help(
                           "Outcome events recorded, by action (\"none\" for an incident "
                           "closed with no action) and status.")
                       .Register(*registry_);
  std::vector<std::string> names = actions;
  names.emplace_back("none");
  for (const std::string& action : names) {
    for (const OutcomeStatus status : kStatuses) {
      outcomes_[{action, status}] =
          &outcomes.Add({{"action", action}, {"status", std::string(outcomeStatusName(status))}});
    }
  }
  auto& closed = prometheus::BuildCounter()
                     .Name("vigil_remediation_incidents_closed_total")
                     .Help(
                         "Incidents closed by their resolved event, by how: verified (an "
                         "automated step fixed it), escalated (a human had it), other.")
                     .Register(*registry_);
  for (const char* how : {"verified", "escalated", "other"})
    closed_[how] = &closed.Add({{"how", how}});
  time_to_verified_ = &prometheus::BuildHistogram()
                           .Name("vigil_remediation_time_to_verified_seconds")
                           .Help("From the failure's firing to its verified resolution.")
                           .Register(*registry_)
                           .Add({}, prometheus::Histogram::BucketBoundaries{
                                        30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400});
  invalid_ = &prometheus::BuildCounter()
                  .Name("vigil_remediation_invalid_failure_events_total")
                  .Help("Messages on the failures topic that are not vigil.failure.v1 events.")
                  .Register(*registry_)
                  .Add({});
  incidents_open_ = &prometheus::BuildGauge()
                         .Name("vigil_remediation_incidents_open")
                         .Help("Incidents opened by a firing event and not yet resolved.")
                         .Register(*registry_)
                         .Add({});
  approvals_pending_ = &prometheus::BuildGauge()
                            .Name("vigil_remediation_approvals_pending")
                            .Help("Medium-risk steps waiting for a human decision.")
                            .Register(*registry_)
                            .Add({});
  oldest_approval_requested_ =
      &prometheus::BuildGauge()
           .Name("vigil_remediation_approval_oldest_requested_timestamp_seconds")
           .Help("Unix time at which the oldest pending approval was requested; 0 when none is.")
           .Register(*registry_)
           .Add({});
  delivery_failures_ = &prometheus::BuildCounter()
                            .Name("vigil_outcome_event_delivery_failures_total")
                            .Help("Outcome event deliveries that failed and were produced again.")
                            .Register(*registry_)
                            .Add({});
  prometheus::BuildGauge()
      .Name("vigil_build_info")
      .Help("Always 1; the labels name the build.")
      .Register(*registry_)
      .Add({{"version", "0.1.0"}, {"component", "remediate"}})
      .Set(1);
}

RemediationProbe::~RemediationProbe() = default;

void RemediationProbe::addOutcome(const OutcomeEvent& o, double seconds_since_firing) {
  const auto it = outcomes_.find({o.action.empty() ? "none" : o.action, o.status});
  if (it != outcomes_.end()) it->second->Increment();
  if (o.status == OutcomeStatus::kVerified) {
    time_to_verified_->Observe(seconds_since_firing);
    closed_.at("verified")->Increment();
  }
  if (o.status == OutcomeStatus::kResolved) {
    const std::string how = o.detail.value("closed_how", "other");
    if (how == "escalated") closed_.at("escalated")->Increment();
    if (how == "other") closed_.at("other")->Increment();
  }
}

void RemediationProbe::addInvalidFailureEvent() { invalid_->Increment(); }
void RemediationProbe::setIncidentsOpen(std::size_t n) {
  incidents_open_->Set(static_cast<double>(n));
}
void RemediationProbe::setApprovalsPending(std::size_t n) {
  approvals_pending_->Set(static_cast<double>(n));
}
void RemediationProbe::setOldestApprovalRequested(double unix_seconds) {
  oldest_approval_requested_->Set(unix_seconds);
}
void RemediationProbe::addDeliveryFailures(std::uint64_t n) {
  if (n) delivery_failures_->Increment(static_cast<double>(n));
}

std::string RemediationProbe::scrape() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace vigil::remediation
