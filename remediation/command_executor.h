#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "detectors/time.h"
#include "remediation/executor.h"

namespace vigil::remediation {

// The only PATH a command action sees, and the only one searched for a program named without a
// slash: the worker's own PATH is not trusted.
inline constexpr char kCommandPath[] = "/usr/local/bin:/usr/bin:/bin";

// A command action: runs argv (argv[0] as configured, the rest with placeholders expanded, one
// value per argument) directly with posix_spawn, never through a shell, in its own process group,
// with stdin /dev/null, a scrubbed environment (see commandEnvironment) and every other
// descriptor closed. stdout and stderr share one pipe, kept up to Executor::kMaxOutputBytes and
// drained past it so the child never blocks on a full pipe. At the timeout the group gets SIGTERM,
// then SIGKILL after `kill_grace`. Exit 0 is done; anything else is failed. Thread-safe.
class CommandExecutor final : public Executor {
 public:
  explicit CommandExecutor(detectors::Duration kill_grace = std::chrono::seconds(2))
      : kill_grace_(kill_grace) {}
  ActionResult run(const ActionCall& call) override;

 private:
  detectors::Duration kill_grace_;
};

// The program to execute for argv[0]: itself when it holds a slash, else the first executable
// regular file of that name in kCommandPath; nullopt when there is none.
std::optional<std::string> resolveProgram(const std::string& program);

// The whole environment of a command, "NAME=value" each: PATH=kCommandPath, LANG=C.UTF-8,
// VIGIL_EVENT_ID, VIGIL_PIPELINE_ID, VIGIL_DATASET, VIGIL_FAILURE_TYPE, VIGIL_ATTEMPT.
std::vector<std::string> commandEnvironment(const ActionCall& call);

}  // namespace vigil::remediation
