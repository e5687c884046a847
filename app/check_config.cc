#include <cstdio>

#include "app/cli.h"
#include "app/commands.h"
#include "app/config_command.h"
#include "common/secrets.h"

namespace vigil::app {

std::optional<Config> loadForCommand(const char* command, const Args& args, unsigned sections) {
  const auto path = args.get("config");
  if (!path) {
    std::fprintf(stderr, "vigil %s: --config is required\n", command);
    return std::nullopt;
  }
  ConfigResult result = loadConfig(*path, sections);
  // From here on no log line shows them; problems are written without them, and redacted anyway.
  for (std::string& secret : result.secrets) secrets::add(std::move(secret));
  if (!result.problems.empty()) {
    for (const ConfigProblem& p : result.problems) {
      std::fprintf(stderr, "%s\n", secrets::redact(p.format()).c_str());
    }
    return std::nullopt;
  }
  return std::move(result.config);
}

int runCheckConfig(int argc, char** argv) {
  std::string error;
  const auto args = Args::parse(argc, argv, 2, {"config"}, error);
  if (!args) {
    std::fprintf(stderr, "vigil check-config: %s\n", error.c_str());
    return kExitUsage;
  }
  // Every section present is validated; none is required on its own.
  const auto config = loadForCommand("check-config", *args, 0);
  if (!config) return kExitUsage;
  std::printf("config ok: %zu dataset(s), %zu action(s), %zu playbook(s)\n",
              config->datasets.size(), config->remediate.actions.size(),
              config->remediate.playbooks.size());
  return kExitOk;
}

}  // namespace vigil::app
