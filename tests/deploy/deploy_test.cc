// The files of deploy/ checked statically, as far as this machine can without
// a container engine or a cluster: they parse, every configuration they mount
// passes the checker of the program that reads it, the secrets they mount
// are the files those configurations name, and the ports agree.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

namespace fs = std::filesystem;

const fs::path kRepo = VIGIL_SOURCE_DIR;
const fs::path kDeploy = kRepo / "deploy";

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs a checker (`vigil check-config`, promtool, amtool) on `file`.
RunResult check(const std::string& program, std::vector<std::string> args) {
  const std::string path = program == "vigil" ? vigilBinary() : findProgram(program);
  if (path.empty()) return {-1, "", program + " not found: run scripts/deps.sh"};
  args.insert(args.begin(), path);
  return run(args);
}

// Every `*_file` value of a vigil configuration (secrets read from files).
void secretFiles(const YAML::Node& node, std::set<std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      if (kv.second.IsScalar() && key.size() > 5 && key.ends_with("_file")) {
        out.insert(kv.second.as<std::string>());
      } else {
        secretFiles(kv.second, out);
      }
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) secretFiles(item, out);
  }
}

// The port of a `listen: HOST:PORT` value.
int listenPort(const YAML::Node& section) {
  const std::string listen = section["listen"].as<std::string>("");
  return listen.empty() ? 0 : std::stoi(listen.substr(listen.rfind(':') + 1));
}

// A service's bind mounts, container path -> host path (relative to deploy/).
std::map<std::string, fs::path> bindMounts(const YAML::Node& service) {
  std::map<std::string, fs::path> mounts;
  for (const auto& v : service["volumes"]) {
    const std::string spec = v.as<std::string>();
    if (spec.rfind("./", 0) != 0) continue;  // a named volume
    const auto colon = spec.find(':');
    const auto second = spec.find(':', colon + 1);
    mounts[spec.substr(colon + 1, second - colon - 1)] = kDeploy / spec.substr(0, colon);
  }
  return mounts;
}

// The host file behind `container_path` in a service's bind mounts.
fs::path hostPath(const YAML::Node& service, const std::string& container_path) {
  for (const auto& [inside, outside] : bindMounts(service)) {
    if (container_path == inside) return outside;
    if (container_path.rfind(inside + "/", 0) == 0) {
      return outside / container_path.substr(inside.size() + 1);
    }
  }
  return {};
}

// The value of `--flag=value` or `--flag value` in a command.
std::string flagValue(const YAML::Node& command, const std::string& flag) {
  for (std::size_t i = 0; i < command.size(); ++i) {
    const std::string arg = command[i].as<std::string>();
    if (arg == flag && i + 1 < command.size()) return command[i + 1].as<std::string>();
    if (arg.rfind(flag + "=", 0) == 0) return arg.substr(flag.size() + 1);
  }
  return "";
}

std::set<std::string> names(const YAML::Node& list) {
  std::set<std::string> out;
  for (const auto& item : list) out.insert(item.as<std::string>());
  return out;
}

// A compose service with its YAML merge key (`<<: *anchor`) applied, which
// yaml-cpp leaves as an ordinary key.
YAML::Node merged(const YAML::Node& service) {
  YAML::Node out(YAML::NodeType::Map);
  for (const auto& kv : service) {
    if (kv.first.as<std::string>() != "<<") out[kv.first.as<std::string>()] = kv.second;
  }
  for (const auto& kv : service["<<"]) {
    if (!out[kv.first.as<std::string>()].IsDefined()) out[kv.first.as<std::string>()] = kv.second;
  }
  return out;
}

// Each service's mounted configuration passes its checker: vigil's, the
// Prometheus configuration (with its rules) and the Alertmanager one.
TEST(Compose, MountedConfigsPassTheirCheckers) {
  const YAML::Node compose = YAML::LoadFile(kDeploy / "compose.yaml");
  const YAML::Node services = compose["services"];
  for (const char* name :
       {"kafka", "kafka-init", "vigil-detect", "vigil-remediate", "prometheus", "alertmanager"}) {
    EXPECT_TRUE(services[name].IsDefined()) << name;
  }
  for (const auto& kv : services) {
    const std::string name = kv.first.as<std::string>();
    const YAML::Node service = merged(kv.second);
    for (const auto& [inside, outside] : bindMounts(service)) {
      EXPECT_TRUE(fs::exists(outside)) << name << " mounts " << outside;
    }
    const YAML::Node command = service["command"];
    RunResult result{0, "", ""};
    if (name.rfind("vigil-", 0) == 0) {
      const fs::path config = hostPath(service, flagValue(command, "--config"));
      result = check("vigil", {"check-config", "--config", config});
    } else if (name == "prometheus") {
      const fs::path config = hostPath(service, flagValue(command, "--config.file"));
      result = check("promtool", {"check", "config", config});
    } else if (name == "alertmanager") {
      const fs::path config = hostPath(service, flagValue(command, "--config.file"));
      result = check("amtool", {"check-config", config});
    }
    EXPECT_EQ(result.exit_code, 0) << name << ": " << result.out << result.err;
  }
  for (const auto& kv : compose["secrets"]) {
    EXPECT_TRUE(fs::exists(kDeploy / kv.second["file"].as<std::string>())) << kv.first;
  }
}

// The secret files vigil and Alertmanager read are the secrets compose gives
// them, and Prometheus scrapes the ports vigil listens on.
TEST(Compose, SecretsAndPortsAgree) {
  const YAML::Node services = YAML::LoadFile(kDeploy / "compose.yaml")["services"];
  const YAML::Node vigil = YAML::LoadFile(kDeploy / "compose/vigil.yaml");
  std::set<std::string> remediate_files;
  secretFiles(vigil["remediate"], remediate_files);
  std::set<std::string> remediate_secrets;
  for (const std::string& s : names(services["vigil-remediate"]["secrets"])) {
    remediate_secrets.insert("/run/secrets/" + s);
  }
  EXPECT_EQ(remediate_files, remediate_secrets);

  std::set<std::string> alertmanager_files;
  secretFiles(YAML::LoadFile(kDeploy / "alertmanager/alertmanager.yml")["receivers"],
              alertmanager_files);
  std::set<std::string> alertmanager_secrets;
  for (const std::string& s : names(services["alertmanager"]["secrets"])) {
    alertmanager_secrets.insert("/run/secrets/" + s);
  }
  EXPECT_EQ(alertmanager_files, alertmanager_secrets);

  std::set<std::string> targets;
  for (const auto& job : YAML::LoadFile(kDeploy / "prometheus/prometheus.yml")["scrape_configs"]) {
    for (const auto& sc : job["static_configs"]) {
      for (const std::string& t : names(sc["targets"])) targets.insert(t);
    }
  }
  EXPECT_TRUE(targets.contains("vigil-detect:" + std::to_string(listenPort(vigil["detect"]))));
  EXPECT_TRUE(targets.contains("vigil-remediate:" + std::to_string(listenPort(vigil["remediate"]))));
}

// Every Kubernetes document, by kind and name, from deploy/k8s/*.yaml.
std::vector<YAML::Node> kubernetesDocuments() {
  std::vector<YAML::Node> docs;
  for (const auto& entry : fs::directory_iterator(kDeploy / "k8s")) {
    if (entry.path().extension() != ".yaml") continue;
    for (const YAML::Node& doc : YAML::LoadAllFromFile(entry.path())) {
      EXPECT_TRUE(doc["apiVersion"].IsDefined() && doc["kind"].IsDefined() &&
                  doc["metadata"]["name"].IsDefined())
          << entry.path();
      docs.push_back(doc);
    }
  }
  return docs;
}

// Every vigil container of every Deployment: its configuration (from its
// ConfigMap) passes `vigil check-config`; it is probed on /healthz and
// /readyz and scraped through annotations on the port its configuration
// listens on; it requests resources, runs as non-root, and every secret file
// its configuration names is mounted from a Secret.
TEST(Kubernetes, VigilContainersAreProbedScrapedAndGetTheirSecrets) {
  const std::vector<YAML::Node> docs = kubernetesDocuments();
  std::map<std::string, YAML::Node> config_maps;
  for (const YAML::Node& d : docs) {
    if (d["kind"].as<std::string>() == "ConfigMap") {
      config_maps.emplace(d["metadata"]["name"].as<std::string>(), d);
    }
  }
  TempDir dir;
  int vigil_containers = 0;
  std::set<std::string> commands;
  for (const YAML::Node& d : docs) {
    if (d["kind"].as<std::string>() != "Deployment") continue;
    const std::string deployment = d["metadata"]["name"].as<std::string>();
    const YAML::Node pod = d["spec"]["template"];
    const YAML::Node annotations = pod["metadata"]["annotations"];
    std::map<std::string, YAML::Node> volumes;
    for (const auto& v : pod["spec"]["volumes"]) {
      volumes.emplace(v["name"].as<std::string>(), YAML::Node(v));
    }
    for (const auto& c : pod["spec"]["containers"]) {
      if (c["image"].as<std::string>().rfind("vigil:", 0) != 0) continue;
      ++vigil_containers;
      SCOPED_TRACE(deployment + "/" + c["name"].as<std::string>());
      const std::string command = c["args"][0].as<std::string>();
      commands.insert(command);
      const fs::path config_path = flagValue(c["args"], "--config");

      // Mounts: container directory -> volume.
      std::map<std::string, YAML::Node> mounts;
      for (const auto& m : c["volumeMounts"]) {
        mounts.emplace(m["mountPath"].as<std::string>(), volumes[m["name"].as<std::string>()]);
      }
      const YAML::Node config_volume = mounts[config_path.parent_path()];
      ASSERT_TRUE(config_volume && config_volume["configMap"]) << config_path;
      const YAML::Node config_map = config_maps[config_volume["configMap"]["name"].as<std::string>()];
      ASSERT_TRUE(config_map);
      const std::string text = config_map["data"][config_path.filename().string()].as<std::string>();
      dir.write("vigil.yaml", text);
      const RunResult checked = check("vigil", {"check-config", "--config", dir.file("vigil.yaml")});
      EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;

      const YAML::Node config = YAML::Load(text);
      const int port = listenPort(config[command]);
      std::map<std::string, int> ports;
      for (const auto& p : c["ports"]) {
        ports[p["name"].as<std::string>()] = p["containerPort"].as<int>();
      }
      const auto probe = [&](const char* kind, const char* path) {
        const YAML::Node get = c[kind]["httpGet"];
        EXPECT_EQ(get["path"].as<std::string>(""), path) << kind;
        EXPECT_EQ(ports[get["port"].as<std::string>("")], port) << kind;
      };
      probe("livenessProbe", "/healthz");
      probe("readinessProbe", "/readyz");
      EXPECT_EQ(annotations["prometheus.io/scrape"].as<std::string>(""), "true");
      EXPECT_EQ(annotations["prometheus.io/port"].as<std::string>(""), std::to_string(port));
      EXPECT_TRUE(c["resources"]["requests"]["cpu"] && c["resources"]["requests"]["memory"]);
      EXPECT_TRUE(c["securityContext"]["runAsNonRoot"].as<bool>(false) ||
                  pod["spec"]["securityContext"]["runAsNonRoot"].as<bool>(false));

      std::set<std::string> files;
      secretFiles(config["kafka"], files);
      secretFiles(config[command], files);
      for (const std::string& file : files) {
        const fs::path f = file;
        const YAML::Node volume = mounts[f.parent_path()];
        ASSERT_TRUE(volume && volume["secret"]) << file << " is not on a Secret volume";
        if (volume["secret"]["items"]) {
          std::set<std::string> paths;
          for (const auto& item : volume["secret"]["items"]) paths.insert(item["path"].as<std::string>());
          EXPECT_TRUE(paths.contains(f.filename())) << file;
        }
      }
    }
  }
  EXPECT_EQ(vigil_containers, 3) << "standalone detect, standalone remediate, sidecar";
  EXPECT_EQ(commands, (std::set<std::string>{"detect", "remediate"}));
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif

// The packages that provide the shared libraries build/vigil links directly.
std::set<std::string> runtimePackagesOfTheBinary() {
  std::set<std::string> packages;
  const RunResult needed = run({"/usr/bin/objdump", "-p", vigilBinary()});
  const RunResult resolved = run({"/usr/bin/ldd", vigilBinary()});
  const std::regex needed_line(R"(NEEDED\s+(\S+))");
  for (const std::string& line : lines(needed.out)) {
    std::smatch m;
    if (!std::regex_search(line, m, needed_line)) continue;
    const std::regex path_line("\\s" + std::regex_replace(m[1].str(), std::regex(R"([.+])"), R"(\$&)") +
                               R"( => (\S+))");
    std::smatch p;
    if (!std::regex_search(resolved.out, p, path_line)) {
      ADD_FAILURE() << "ldd does not resolve " << m[1];
      continue;
    }
    std::string path = fs::canonical(p[1].str()).string();
    RunResult owner = run({"/usr/bin/dpkg-query", "-S", path});
    if (owner.exit_code != 0 && path.rfind("/usr/lib/", 0) == 0) {
      owner = run({"/usr/bin/dpkg-query", "-S", path.substr(4)});
    }
    EXPECT_EQ(owner.exit_code, 0) << path;
    packages.insert(owner.out.substr(0, owner.out.find_first_of(":,")));
  }
  return packages;
}

// The final stage of deploy/Dockerfile installs exactly the packages of the
// libraries the binary links (those of debian:bookworm-slim itself aside) and
// CA certificates; it runs as a non-root user; the build stage copies every
// source folder the top-level CMakeLists.txt builds.
TEST(Dockerfile, FinalStageHasOnlyTheRuntimeLibrariesAndIsNotRoot) {
  const std::string dockerfile = readFile(kDeploy / "Dockerfile");
  const std::string final_stage = dockerfile.substr(dockerfile.rfind("\nFROM "));
  EXPECT_EQ(final_stage.rfind("\nFROM debian:bookworm-slim\n", 0), 0u);
  EXPECT_NE(dockerfile.find("FROM debian:bookworm-slim AS build\n"), std::string::npos);

  std::string install = final_stage.substr(final_stage.find("--no-install-recommends") + 23);
  install = install.substr(0, install.find("&&"));
  std::set<std::string> installed;
  std::istringstream words(install);
  for (std::string w; words >> w;) {
    if (w != "\\") installed.insert(w);
  }
  std::set<std::string> expected = {"ca-certificates"};
  for (const std::string& p : runtimePackagesOfTheBinary()) {
    if (p == "libc6" || p == "libstdc++6" || p == "libgcc-s1") continue;
    // The sanitizer runtimes of a sanitizer build under test (make test-sanitize, test-tsan):
    // the image builds the release preset, which links none.
    if (kSanitizerBuild && (p.rfind("libasan", 0) == 0 || p.rfind("libubsan", 0) == 0 ||
                            p.rfind("libtsan", 0) == 0)) {
      continue;
    }
    expected.insert(p);
  }
  // The release build links oneTBB's malloc proxy (VIGIL_TBBMALLOC); a sanitizer build keeps
  // the sanitizer's allocator, so its binary does not name the proxy's package.
  if (kSanitizerBuild) expected.insert("libtbbmalloc2");
  EXPECT_EQ(installed, expected);

  std::smatch user;
  ASSERT_TRUE(std::regex_search(final_stage, user, std::regex(R"(\nUSER (\S+))")));
  EXPECT_NE(user[1].str().substr(0, user[1].str().find(':')), "0");
  EXPECT_NE(user[1].str(), "root");

  std::set<std::string> copied;
  const std::regex copy_line(R"(\nCOPY (\w+) \1(?=\n))");
  for (std::sregex_iterator it(dockerfile.begin(), dockerfile.end(), copy_line), end; it != end; ++it) {
    copied.insert((*it)[1]);
  }
  std::set<std::string> built;
  const std::string cmake = readFile(kRepo / "CMakeLists.txt");
  const std::regex subdirectory(R"(add_subdirectory\((\w+)\))");
  for (std::sregex_iterator it(cmake.begin(), cmake.end(), subdirectory), end; it != end; ++it) {
    // Tests, benchmarks and fuzz harnesses are not part of the image's build.
    const std::string dir = (*it)[1];
    if (dir != "tests" && dir != "bench" && dir != "fuzz") built.insert(dir);
  }
  EXPECT_EQ(copied, built);
}

}  // namespace
}  // namespace vigil::testing
