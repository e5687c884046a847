#include "app/unsupported.h"

#include "common/log.h"

namespace vigil::app {

void warnAboutUnevaluatedChecks(const std::vector<detectors::DatasetSpec>& datasets) {
  for (const auto& d : datasets) {
    std::string missing;
    auto note = [&missing](bool configured, const char* what) {
      if (configured) missing += (missing.empty() ? "" : ", ") + std::string(what);
    };
    note(d.latency && d.latency->adaptive, "latency.adaptive");
    note(d.volume && d.volume->adaptive, "volume.adaptive");
    note(d.nulls && d.nulls->adaptive, "nulls.adaptive");
    if (!missing.empty()) {
      VIGIL_LOG(kWarn, "detect") << "dataset " << d.name << ": " << missing
                                 << " configured but not evaluated by this build";
    }
  }
}

}  // namespace vigil::app
