#include <cstdio>
#include <fstream>
#include <iostream>

#include "app/cli.h"
#include "app/commands.h"
#include "app/config_command.h"
#include "stream/replay_engine.h"

namespace vigil::app {
namespace {

constexpr std::uint64_t kRejectLinesShown = 10;

}  // namespace

int runReplay(int argc, char** argv) {
  std::string error;
  const auto args = Args::parse(argc, argv, 2, {"config", "input", "topic"}, error);
  if (!args) {
    std::fprintf(stderr, "vigil replay: %s\n", error.c_str());
    return kExitUsage;
  }
  const auto config = loadForCommand("replay", *args, kDatasetsSection);
  if (!config) return kExitUsage;
  const auto input = args->get("input");
  if (!input) {
    std::fprintf(stderr, "vigil replay: --input is required\n");
    return kExitUsage;
  }

  std::vector<detectors::DatasetSpec> datasets;
  if (const auto topic = args->get("topic")) {
    for (const auto& d : config->datasets) {
      if (d.topic == *topic) datasets.push_back(d);
    }
    if (datasets.empty()) {
      std::fprintf(stderr, "vigil replay: no dataset reads topic \"%s\"\n", topic->c_str());
      return kExitUsage;
    }
  } else if (config->datasets.size() == 1) {
    datasets = config->datasets;
  } else {
    std::fprintf(stderr, "vigil replay: --topic is required when several datasets are configured\n");
    return kExitUsage;
  }
  for (const auto& d : datasets) {
    if (!d.event_time) {
      std::fprintf(stderr,
                   "vigil replay: dataset \"%s\" has no event_time field; a replayed line has no "
                   "Kafka timestamp, so replay needs one\n",
                   d.name.c_str());
      return kExitUsage;
    }
  }

  std::ifstream in(*input, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "vigil replay: cannot read %s\n", input->c_str());
    return kExitRuntime;
  }

  std::uint64_t events = 0;
  std::uint64_t rejected = 0;
  stream::ReplayEngine engine(
      datasets,
      [&events](const detectors::FailureEvent& e) {
        const std::string line = e.toJson() + "\n";
        std::fwrite(line.data(), 1, line.size(), stdout);
        ++events;
      },
      [&rejected, &input](std::uint64_t line, stream::InvalidReason reason) {
        if (++rejected <= kRejectLinesShown) {
          std::fprintf(stderr, "replay: %s:%llu: invalid record (%.*s)\n", input->c_str(),
                       static_cast<unsigned long long>(line),
                       static_cast<int>(stream::reasonName(reason).size()),
                       stream::reasonName(reason).data());
        }
      });

  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    engine.feed(line);
  }
  engine.finish();
  std::fflush(stdout);

  std::string summary;
  for (int r = 0; r < stream::kInvalidReasonCount; ++r) {
    const auto reason = static_cast<stream::InvalidReason>(r);
    if (const auto n = engine.invalid(reason)) {
      summary += " " + std::string(stream::reasonName(reason)) + "=" + std::to_string(n);
    }
  }
  std::fprintf(stderr, "replay: %llu record(s), %llu event(s)%s%s\n",
               static_cast<unsigned long long>(engine.records()),
               static_cast<unsigned long long>(events), summary.empty() ? "" : ", invalid:",
               summary.c_str());
  return kExitOk;
}

}  // namespace vigil::app
