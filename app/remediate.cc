#include <algorithm>
#include <cstdio>

#include "app/cli.h"
#include "app/commands.h"
#include "app/config_command.h"
#include "app/signals.h"
#include "common/log.h"
#include "http/http_server.h"
#include "http/ops_endpoints.h"
#include "remediation/approvals_api.h"
#include "remediation/command_executor.h"
#include "remediation/http_executor.h"
#include "remediation/kafka_executor.h"
#include "remediation/pagerduty_executor.h"
#include "remediation/remediate_service.h"
#include "remediation/remediation_probe.h"
#include "stream/system_clock.h"

namespace vigil::app {
namespace {

// The approvals API, /metrics, /healthz and /readyz of `vigil remediate`.
std::unique_ptr<http::HttpServer> startRemediateEndpoints(
    const std::string& listen, const std::string& token, const remediation::RemediationProbe& probe,
    remediation::RemediateService& service, std::string& error) {
  http::OpsEndpoints ops{[&probe] { return probe.scrape(); }, [&service] { return service.ready(); },
                         "rebuilding state from the outcomes topic"};
  return http::HttpServer::start(
      "remediate", listen,
      [ops, &service, &token](const http::Request& req) {
        if (auto api = remediation::handleApprovals(req, token, service)) return *api;
        if (auto r = http::serveOps(req, ops)) return *r;
        return http::Response::text(404, "not found\n");
      },
      error);
}

}  // namespace

int runRemediate(int argc, char** argv) {
  std::string error;
  const auto args = Args::parse(argc, argv, 2, {"config"}, error);
  if (!args) {
    std::fprintf(stderr, "vigil remediate: %s\n", error.c_str());
    return kExitUsage;
  }
  auto config = loadForCommand("remediate", *args, kKafkaSection | kRemediateSection);
  if (!config) return kExitUsage;
  installStopSignals();

  std::vector<std::string> actions;
  for (const auto& a : config->remediate.actions) actions.push_back(a.name);
  remediation::RemediationProbe probe(actions);
  stream::SystemClock clock;

  remediation::HttpExecutor http_executor;
  remediation::CommandExecutor command_executor;
  remediation::PagerDutyExecutor pagerduty_executor;
  std::unique_ptr<remediation::KafkaExecutor> kafka_executor;
  const bool uses_kafka =
      std::any_of(config->remediate.actions.begin(), config->remediate.actions.end(),
                  [](const auto& a) { return a.type == remediation::ActionType::kKafka; });
  if (uses_kafka) {
    kafka_executor = remediation::KafkaExecutor::create(config->kafka, error);
    if (!kafka_executor) {
      VIGIL_LOG(kError, "remediate") << error;
      return kExitRuntime;
    }
  }
  remediation::RemediateService service({config->kafka, config->remediate}, clock, probe,
                                        {{remediation::ActionType::kHttp, &http_executor},
                                         {remediation::ActionType::kCommand, &command_executor},
                                         {remediation::ActionType::kPagerDuty, &pagerduty_executor},
                                         {remediation::ActionType::kKafka, kafka_executor.get()}});

  std::unique_ptr<http::HttpServer> server;
  if (!config->remediate.listen.empty()) {
    server = startRemediateEndpoints(config->remediate.listen, config->remediate.api_token, probe,
                                     service, error);
    if (!server) {
      VIGIL_LOG(kError, "remediate") << error;
      return kExitRuntime;
    }
  }
  return service.run(stopRequested());
}

}  // namespace vigil::app
