#pragma once

#include <atomic>

namespace vigil::app {

// Set by SIGINT and SIGTERM once installStopSignals() ran; commands poll it.
std::atomic<bool>& stopRequested();
void installStopSignals();

}  // namespace vigil::app
