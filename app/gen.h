#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "app/telemetry.h"
#include "stream/detect_spec.h"

namespace vigil::app {

// Produces generated telemetry to the datasets' topics. Paced runs produce in
// real time (a record with event time t is sent at t); unpaced runs as fast as
// possible. `on_fault(fault, started)` is called as each fault begins and ends
// (in event time). Returns the number of records delivered, or -1 on an error
// (logged). Stops early when `stop` is set.
std::int64_t produceTelemetry(const stream::KafkaProperties& kafka,
                              const std::vector<detectors::DatasetSpec>& datasets,
                              const TelemetryGenerator::Options& options, bool paced,
                              const std::atomic<bool>& stop,
                              const std::function<void(const FaultSpec&, bool)>& on_fault = {});

}  // namespace vigil::app
