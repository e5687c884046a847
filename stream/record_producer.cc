#include "stream/record_producer.h"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>

#include "common/log.h"
#include "stream/kafka_conf.h"

namespace vigil::stream {

class RecordProducer::Reporter : public RdKafka::DeliveryReportCb {
 public:
  explicit Reporter(RecordProducer& owner) : owner_(owner) {}
  void dr_cb(RdKafka::Message& message) override {
    if (message.err() == RdKafka::ERR_NO_ERROR) {
      ++owner_.delivered_;
    } else {
      if (owner_.failed_++ == 0) {
        VIGIL_LOG(kWarn, "stream") << "delivery failed: " << message.errstr();
      }
    }
  }

 private:
  RecordProducer& owner_;
};

std::unique_ptr<RecordProducer> RecordProducer::create(const KafkaProperties& properties,
                                                       std::string& error) {
  std::unique_ptr<RecordProducer> p(new RecordProducer());
  p->reporter_ = std::make_unique<Reporter>(*p);
  KafkaProperties all = properties;
  all.emplace("linger.ms", "20");
  all.emplace("enable.idempotence", "true");
  p->producer_ = makeProducer(all, *p->reporter_, error);
  return p->producer_ ? std::move(p) : nullptr;
}

RecordProducer::~RecordProducer() = default;

bool RecordProducer::produce(const std::string& topic, std::string_view key,
                             std::string_view value, detectors::Timestamp timestamp) {
  for (;;) {
    const RdKafka::ErrorCode err = producer_->produce(
        topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
        const_cast<char*>(value.data()), value.size(), key.data(), key.size(),
        detectors::toMillis(timestamp), nullptr);
    if (err == RdKafka::ERR_NO_ERROR) return true;
    if (err != RdKafka::ERR__QUEUE_FULL) {
      VIGIL_LOG(kError, "stream") << "produce to " << topic << " failed: " << RdKafka::err2str(err);
      ++failed_;
      return false;
    }
    producer_->poll(50);
  }
}

void RecordProducer::poll() { producer_->poll(0); }

bool RecordProducer::flush(detectors::Duration timeout) {
  return producer_->flush(static_cast<int>(timeout.count())) == RdKafka::ERR_NO_ERROR;
}

}  // namespace vigil::stream
