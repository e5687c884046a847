#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "detectors/dataset_spec.h"
#include "detectors/time.h"

namespace vigil::remediation {

// The `remediate:` section of the configuration, validated. The worker that acts
// on it is built in a later stage; the section is parsed and checked now so a
// configuration is judged whole.

enum class Risk { kLow, kMedium, kHigh };
enum class Mode { kEnforce, kShadow };
enum class ActionType { kHttp, kCommand, kKafka, kPagerDuty };

struct ActionSpec {
  std::string name;
  ActionType type = ActionType::kHttp;
  Risk risk = Risk::kLow;
  detectors::Duration timeout{std::chrono::seconds(10)};
  // http
  std::string method = "POST";
  std::string url;
  std::map<std::string, std::string> headers;
  // Read from header_files: sent as read (no placeholders), never logged nor recorded.
  std::map<std::string, std::string> secret_headers;
  std::optional<std::string> body;
  // command
  std::vector<std::string> argv;
  // kafka
  std::string topic;
  // pagerduty
  std::string routing_key;  // read from routing_key_file; never logged
  std::optional<detectors::Severity> severity;
};

struct PlaybookStep {
  std::string action;
  unsigned retries = 0;
  detectors::Duration backoff{std::chrono::seconds(30)};
  detectors::Duration verify_within{std::chrono::minutes(5)};
};

struct Playbook {
  std::vector<std::string> failure_types;   // empty: any
  std::optional<std::string> dataset_glob;  // absent: any
  std::vector<PlaybookStep> steps;
  std::optional<std::string> escalate;
};

struct Budget {
  unsigned per_pipeline_per_hour = 3;
  unsigned global_per_hour = 30;
};

struct RemediateSpec {
  std::string group_id = "vigil-remediate";
  std::string failures_topic = "vigil.failures";
  std::string outcomes_topic = "vigil.outcomes";
  Mode mode = Mode::kEnforce;
  std::string listen = "127.0.0.1:8088";
  std::string api_token;  // read from api_token_file; never logged
  Budget budget;
  detectors::Duration approval_ttl{std::chrono::minutes(30)};
  std::vector<ActionSpec> actions;
  std::vector<Playbook> playbooks;
  std::optional<std::string> default_escalation;
};

}  // namespace vigil::remediation
