#include <cstdio>
#include <thread>

#include "app/cli.h"
#include "app/commands.h"
#include "app/config_command.h"
#include "app/signals.h"
#include "common/log.h"
#include "http/http_server.h"
#include "http/ops_endpoints.h"
#include "stream/detect_service.h"
#include "stream/stream_probe.h"
#include "stream/system_clock.h"

namespace vigil::app {
namespace {

// /metrics, /healthz and /readyz of `vigil detect`; read-only.
std::unique_ptr<http::HttpServer> startDetectEndpoints(const std::string& listen,
                                                       const stream::StreamProbe& probe,
                                                       const stream::DetectService& service,
                                                       std::string& error) {
  http::OpsEndpoints ops{[&probe] { return probe.scrape(); }, [&service] { return service.ready(); },
                         "waiting for a partition assignment"};
  return http::HttpServer::start(
      "detect", listen,
      [ops](const http::Request& req) {
        if (auto r = http::serveOps(req, ops)) return *r;
        return http::Response::text(404, "not found\n");
      },
      error);
}

}  // namespace

int runDetect(int argc, char** argv) {
  std::string error;
  const auto args = Args::parse(argc, argv, 2, {"config"}, error);
  if (!args) {
    std::fprintf(stderr, "vigil detect: %s\n", error.c_str());
    return kExitUsage;
  }
  auto config = loadForCommand("detect", *args, kKafkaSection | kDetectSection | kDatasetsSection);
  if (!config) return kExitUsage;
  installStopSignals();

  std::vector<std::string> names;
  for (const auto& d : config->datasets) names.push_back(d.name);
  stream::StreamProbe probe(names);
  stream::SystemClock clock;
  stream::DetectService service({config->kafka, config->detect, config->datasets}, clock, probe);

  std::unique_ptr<http::HttpServer> server;
  if (!config->detect.listen.empty()) {
    server = startDetectEndpoints(config->detect.listen, probe, service, error);
    if (!server) {
      VIGIL_LOG(kError, "detect") << error;
      return kExitRuntime;
    }
  }
  return service.run(stopRequested());
}

}  // namespace vigil::app
