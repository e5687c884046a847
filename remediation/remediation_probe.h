#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "remediation/events.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace vigil::remediation {

// Every metric of `vigil remediate`, declared in one place; the only file of
// remediation/ that includes prometheus-cpp. Labels come from bounded sets:
// configured action names, outcome statuses, reasons. Thread-safe.
class RemediationProbe {
 public:
  explicit RemediationProbe(const std::vector<std::string>& actions);
  ~RemediationProbe();

  // Counts an outcome; a `verified` or an escalation also closes the books on
  // how the incident went (automated resolution or escalation ratios).
  void addOutcome(const OutcomeEvent& outcome, double seconds_since_firing);
  void addInvalidFailureEvent();
  void setIncidentsOpen(std::size_t n);
  void setApprovalsPending(std::size_t n);
  // Unix time (s) at which the oldest pending approval was requested; 0 when
  // none is pending. A timestamp, not an age, so it needs no updating.
  void setOldestApprovalRequested(double unix_seconds);
  void addDeliveryFailures(std::uint64_t n);

  std::string scrape() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::map<std::pair<std::string, OutcomeStatus>, prometheus::Counter*> outcomes_;
  std::map<std::string, prometheus::Counter*> closed_;  // by how
  prometheus::Histogram* time_to_verified_;
  prometheus::Counter* invalid_;
  prometheus::Gauge* incidents_open_;
  prometheus::Gauge* approvals_pending_;
  prometheus::Gauge* oldest_approval_requested_;
  prometheus::Counter* delivery_failures_;
};

}  // namespace vigil::remediation
