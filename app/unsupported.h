#pragma once

#include <vector>

#include "detectors/dataset_spec.h"

namespace vigil::app {

// Logs one warning per configured check this build validates but does not yet
// evaluate, so a configuration never silently watches less than it says.
void warnAboutUnevaluatedChecks(const std::vector<detectors::DatasetSpec>& datasets);

}  // namespace vigil::app
