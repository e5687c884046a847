#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "app/cli.h"
#include "app/commands.h"
#include "common/log.h"

namespace {

constexpr const char* kUsage = R"(usage: vigil <command> [options]

  broker        [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file F]
                [--control HOST:PORT] [--control-file F]
  detect        --config F
  remediate     --config F
  replay        --config F --input FILE [--topic T]
  gen           --config F [--rate N] [--duration D] [--fault KIND[:PIPELINE]@START+LEN]...
                [--pipelines N] [--seed N] [--start TIME] [--output FILE]
  check-config  --config F
  demo

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
)";

void configureLogLevel() {
  const char* level = std::getenv("VIGIL_LOG_LEVEL");
  if (level == nullptr) return;
  const std::string_view l = level;
  if (l == "debug") vigil::log::setLevel(vigil::log::Level::kDebug);
  if (l == "info") vigil::log::setLevel(vigil::log::Level::kInfo);
  if (l == "warn") vigil::log::setLevel(vigil::log::Level::kWarn);
  if (l == "error") vigil::log::setLevel(vigil::log::Level::kError);
}

}  // namespace

int main(int argc, char** argv) {
  configureLogLevel();
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? vigil::app::kExitUsage : vigil::app::kExitOk;
  }
  const std::string_view command = argv[1];
  using namespace vigil::app;
  if (command == "broker") return runBroker(argc, argv);
  if (command == "detect") return runDetect(argc, argv);
  if (command == "remediate") return runRemediate(argc, argv);
  if (command == "replay") return runReplay(argc, argv);
  if (command == "gen") return runGen(argc, argv);
  if (command == "check-config") return runCheckConfig(argc, argv);
  if (command == "demo") return runDemo(argc, argv);
  std::fprintf(stderr, "vigil: unknown command \"%s\"\n%s", argv[1], kUsage);
  return kExitUsage;
}
