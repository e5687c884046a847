#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "app/broker_control.h"
#include "app/cli.h"
#include "app/commands.h"
#include "app/signals.h"
#include "common/log.h"
#include "http/http_server.h"
#include "stream/embedded_broker.h"

namespace vigil::app {
namespace {

constexpr std::string_view kLog = "broker";

bool parseTopic(const std::string& text, std::string& name, int& partitions) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  name = text.substr(0, colon);
  try {
    std::size_t used = 0;
    partitions = std::stoi(text.substr(colon + 1), &used);
    return used == text.size() - colon - 1 && partitions > 0 && partitions <= 10000;
  } catch (const std::exception&) {
    return false;
  }
}

// Written to a temporary name and renamed, so a reader never sees half a line.
bool writeAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!(out << content)) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int runBroker(int argc, char** argv) {
  std::string error;
  const auto args = Args::parse(
      argc, argv, 2, {"brokers", "topic", "bootstrap-file", "control", "control-file"}, error);
  if (!args) {
    std::fprintf(stderr, "vigil broker: %s\n", error.c_str());
    return kExitUsage;
  }
  int brokers = 1;
  if (const auto b = args->get("brokers")) {
    try {
      brokers = std::stoi(*b);
    } catch (const std::exception&) {
      brokers = 0;
    }
    if (brokers < 1 || brokers > 16) {
      std::fprintf(stderr, "vigil broker: --brokers: expected 1..16, got \"%s\"\n", b->c_str());
      return kExitUsage;
    }
  }
  std::vector<std::pair<std::string, int>> topics;
  for (const std::string& t : args->all("topic")) {
    std::string name;
    int partitions = 0;
    if (!parseTopic(t, name, partitions)) {
      std::fprintf(stderr, "vigil broker: --topic: expected NAME:PARTITIONS, got \"%s\"\n", t.c_str());
      return kExitUsage;
    }
    topics.emplace_back(name, partitions);
  }
  const auto control = args->get("control");
  if (control) {
    std::string host;
    int port = 0;
    if (!http::splitHostPort(*control, host, port)) {
      std::fprintf(stderr, "vigil broker: --control: expected HOST:PORT, got \"%s\"\n",
                   control->c_str());
      return kExitUsage;
    }
    // The channel can take the whole cluster down and asks nobody: loopback only.
    if (!isLoopbackHost(host)) {
      std::fprintf(stderr,
                   "vigil broker: --control: %s is not a loopback address (127.0.0.0/8 or "
                   "[::1]); the control channel has no authentication\n",
                   host.c_str());
      return kExitUsage;
    }
  } else if (args->has("control-file")) {
    std::fprintf(stderr, "vigil broker: --control-file needs --control\n");
    return kExitUsage;
  }

  installStopSignals();
  auto broker = stream::EmbeddedBroker::start(brokers, error);
  if (!broker) {
    VIGIL_LOG(kError, kLog) << "cannot start: " << error;
    return kExitRuntime;
  }
  for (const auto& [name, partitions] : topics) {
    if (!broker->createTopic(name, partitions, error)) {
      VIGIL_LOG(kError, kLog) << "cannot create topic " << name << ": " << error;
      return kExitRuntime;
    }
    VIGIL_LOG(kInfo, kLog) << "topic " << name << " with " << partitions << " partition(s)";
  }
  // Declared after the broker, so it stops before the broker goes.
  std::unique_ptr<BrokerControl> controller;
  std::unique_ptr<http::HttpServer> server;
  std::string control_address;
  if (control) {
    controller = std::make_unique<BrokerControl>(*broker, broker->bootstrapServers(), topics);
    server = http::HttpServer::start(
        "broker-control", *control,
        [c = controller.get()](const http::Request& request) { return c->handle(request); }, error);
    if (!server) {
      VIGIL_LOG(kError, kLog) << "--control: " << error;
      return kExitRuntime;
    }
    control_address = server->host() + ":" + std::to_string(server->port());
  }
  std::printf("bootstrap.servers=%s\n", broker->bootstrapServers().c_str());
  if (control) std::printf("control=%s\n", control_address.c_str());
  std::fflush(stdout);
  if (const auto file = args->get("bootstrap-file")) {
    if (!writeAtomically(*file, broker->bootstrapServers() + "\n")) {
      VIGIL_LOG(kError, kLog) << "cannot write " << *file;
      return kExitRuntime;
    }
  }
  if (const auto file = args->get("control-file")) {
    if (!writeAtomically(*file, control_address + "\n")) {
      VIGIL_LOG(kError, kLog) << "cannot write " << *file;
      return kExitRuntime;
    }
  }
  VIGIL_LOG(kInfo, kLog) << brokers << " broker(s) at " << broker->bootstrapServers()
                         << "; stop with SIGINT or SIGTERM";
  while (!stopRequested().load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  VIGIL_LOG(kInfo, kLog) << "stopping";
  return kExitOk;
}

}  // namespace vigil::app
