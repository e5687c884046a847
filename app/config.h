#pragma once

#include <optional>
#include <string>
#include <vector>

#include "detectors/dataset_spec.h"
#include "remediation/remediation_spec.h"
#include "stream/detect_spec.h"

namespace vigil::app {

// The sections a command needs; each command validates exactly these.
enum Section : unsigned {
  kKafkaSection = 1u << 0,
  kDetectSection = 1u << 1,
  kDatasetsSection = 1u << 2,
  kRemediateSection = 1u << 3,
};

// A whole configuration file, validated. Every section present is validated
// and returned; a section absent from the file keeps its defaults. Secrets
// (`*_file` settings) are read only for the sections the command requires, so
// `detect` does not need the worker's token file mounted.
struct Config {
  stream::KafkaProperties kafka;
  stream::DetectSpec detect;
  std::vector<detectors::DatasetSpec> datasets;
  remediation::RemediateSpec remediate;
};

// One problem, named by its key path: `datasets[1].checks.latency.p99_max`.
struct ConfigProblem {
  std::string path;
  std::string message;
  std::string format() const { return path + ": " + message; }
};

struct ConfigResult {
  std::optional<Config> config;           // set when `problems` is empty
  std::vector<ConfigProblem> problems;    // never hold a secret
  // Values never to be shown, whether or not there were problems: every value
  // read from a `*_file` setting, and sensitive kafka properties written
  // inline (`sasl.password`). Commands register them with secrets::add.
  std::vector<std::string> secrets;
};

// Parses and validates YAML text. Every `kafka:` property is checked by
// librdkafka itself (unknown name, invalid value); a `*_file` one only by name
// unless its section is required and the file is read. `required` names the sections the command
// needs: a missing required section is a problem; present sections that are
// not required are still validated, so a typo is never silently ignored.
// `base_dir` resolves relative `*_file` paths.
ConfigResult parseConfig(const std::string& yaml_text, unsigned required,
                         const std::string& base_dir = ".");

// Reads the file, then parseConfig. A missing or unreadable file is one problem
// with the path "config".
ConfigResult loadConfig(const std::string& path, unsigned required);

// Parses "250ms", "10s", "5m", "2h", "7d". nullopt for anything else.
std::optional<detectors::Duration> parseDuration(std::string_view text);

}  // namespace vigil::app
