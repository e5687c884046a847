#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "remediation/executor.h"
#include "stream/detect_spec.h"

namespace vigil::stream {
class RecordProducer;
}  // namespace vigil::stream

namespace vigil::remediation {

// The `kafka` action: produces a command message to the action's topic —
// the failure event and the action, `vigil.command.v1`, keyed
// dataset/pipeline_id — and waits for the broker's acknowledgement (within
// the action's timeout). A receiver drops repeats by `idempotency_key`.
class KafkaExecutor final : public Executor {
 public:
  static std::unique_ptr<KafkaExecutor> create(const stream::KafkaProperties& properties,
                                               std::string& error);
  ~KafkaExecutor() override;
  ActionResult run(const ActionCall& call) override;

  // The message value: {"schema":"vigil.command.v1","action","attempt",
  // "idempotency_key","event":<the failure event>}.
  static std::string commandMessage(const ActionCall& call);

 private:
  KafkaExecutor() = default;
  std::mutex mutex_;  // the producer is driven by one call at a time
  std::unique_ptr<stream::RecordProducer> producer_;
};

}  // namespace vigil::remediation
