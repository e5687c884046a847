#pragma once

#include <optional>
#include <string>

#include "app/cli.h"
#include "app/config.h"

namespace vigil::app {

// Loads and validates the config named by --config for a command; on any
// problem prints one line per problem to stderr and returns nullopt (the
// caller exits 2) before anything else happens. Registers the config's
// secrets (secrets::add) first, so no log line of the process shows them.
std::optional<Config> loadForCommand(const char* command, const Args& args, unsigned sections);

}  // namespace vigil::app
