#include "detectors/dataset_spec.h"

namespace vigil::detectors {

std::string_view severityName(Severity s) {
  switch (s) {
    case Severity::kCritical: return "critical";
    case Severity::kError: return "error";
    case Severity::kWarning: return "warning";
    case Severity::kInfo: return "info";
  }
  return "error";
}

std::optional<Severity> parseSeverity(std::string_view s) {
  if (s == "critical") return Severity::kCritical;
  if (s == "error") return Severity::kError;
  if (s == "warning") return Severity::kWarning;
  if (s == "info") return Severity::kInfo;
  return std::nullopt;
}

double secondsPer(LatencyUnit unit) {
  switch (unit) {
    case LatencyUnit::kMicroseconds: return 1e-6;
    case LatencyUnit::kMilliseconds: return 1e-3;
    case LatencyUnit::kSeconds: return 1.0;
  }
  return 1.0;
}

}  // namespace vigil::detectors
