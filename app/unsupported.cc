#include "app/unsupported.h"

#include "common/log.h"

namespace vigil::app {

void warnAboutUnevaluatedChecks(const std::vector<detectors::DatasetSpec>& datasets) {
  for (const auto& d : datasets) {
    std::string missing;
    auto note = [&missing](bool configured, const char* what) {
      if (configured) missing += (missing.empty() ? "" : ", ") + std::string(what);
    };
    note(d.freshness.has_value(), "freshness");
    note(d.volume.has_value(), "volume");
    note(d.nulls.has_value(), "nulls");
    note(d.schema.has_value(), "schema");
    note(d.latency && d.latency->adaptive, "latency.adaptive");
    note(d.latency && !d.latency->field, "latency without field (derived lag)");
    if (!missing.empty()) {
      VIGIL_LOG(kWarn, "detect") << "dataset " << d.name << ": " << missing
                                 << " configured but not evaluated by this build";
    }
  }
}

}  // namespace vigil::app
