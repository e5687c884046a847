#include "remediation/kafka_executor.h"

#include <nlohmann/json.hpp>

#include "stream/record_producer.h"

namespace vigil::remediation {

std::unique_ptr<KafkaExecutor> KafkaExecutor::create(const stream::KafkaProperties& properties,
                                                     std::string& error) {
  std::unique_ptr<KafkaExecutor> executor(new KafkaExecutor());
  stream::KafkaProperties all = properties;
  all.emplace("enable.idempotence", "true");
  executor->producer_ = stream::RecordProducer::create(all, error);
  if (!executor->producer_) return nullptr;
  return executor;
}

KafkaExecutor::~KafkaExecutor() = default;

std::string KafkaExecutor::commandMessage(const ActionCall& call) {
  nlohmann::ordered_json j;
  j["schema"] = "vigil.command.v1";
  j["action"] = call.action->name;
  j["attempt"] = call.attempt;
  j["idempotency_key"] = call.idempotency_key;
  j["event"] = nlohmann::ordered_json::parse(call.event->toJson());
  return j.dump();
}

ActionResult KafkaExecutor::run(const ActionCall& call) {
  ActionResult result;
  result.tries = 1;
  try {
    std::lock_guard lock(mutex_);
    const std::uint64_t delivered = producer_->delivered();
    const std::uint64_t failed = producer_->failed();
    if (!producer_->produce(call.action->topic, call.event->key(), commandMessage(call),
                            call.event->timestamp)) {
      result.detail = "could not queue the message for " + call.action->topic;
      return result;
    }
    if (!producer_->flush(call.action->timeout)) {
      result.detail = "not acknowledged within the timeout";
      return result;
    }
    if (producer_->delivered() > delivered && producer_->failed() == failed) {
      result.status = ActionResult::Status::kDone;
      result.detail = "acknowledged by the broker";
    } else {
      result.detail = "delivery failed";
    }
  } catch (const std::exception& e) {
    result.detail = std::string("kafka action failed: ") + e.what();
  }
  return result;
}

}  // namespace vigil::remediation
