#include "stream/event_sink.h"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <exception>

#include "common/log.h"
#include "stream/kafka_conf.h"

namespace vigil::stream {
namespace {
constexpr std::string_view kLog = "stream";
}  // namespace

// Runs inside poll() on the owning thread; records the outcome by sequence.
class EventSink::DeliveryReporter : public RdKafka::DeliveryReportCb {
 public:
  explicit DeliveryReporter(EventSink& sink) : sink_(sink) {}
  void dr_cb(RdKafka::Message& message) override {
    try {
      const auto seq = reinterpret_cast<std::uintptr_t>(message.msg_opaque());
      sink_.onDelivered(seq, message.err() == RdKafka::ERR_NO_ERROR, message.errstr());
    } catch (const std::exception& e) {
      VIGIL_LOG(kError, kLog) << "delivery report handling failed: " << e.what();
    }
  }

 private:
  EventSink& sink_;
};

std::unique_ptr<EventSink> EventSink::create(const KafkaProperties& properties, std::string topic,
                                             std::string& error) {
  std::unique_ptr<EventSink> sink(new EventSink());
  sink->topic_ = std::move(topic);
  sink->reporter_ = std::make_unique<DeliveryReporter>(*sink);

  // Idempotence gives in-order, duplicate-free retries within the producer;
  // linger batches events that are decided together.
  KafkaProperties all = properties;
  all["enable.idempotence"] = "true";
  all["acks"] = "all";
  all.emplace("linger.ms", "5");
  std::unique_ptr<RdKafka::Conf> conf = makeKafkaConf(all, error);
  if (!conf) return nullptr;
  std::string why;
  if (conf->set("dr_cb", sink->reporter_.get(), why) != RdKafka::Conf::CONF_OK) {
    error = why;
    return nullptr;
  }
  sink->producer_.reset(RdKafka::Producer::create(conf.get(), why));
  if (!sink->producer_) {
    error = "cannot create producer: " + why;
    return nullptr;
  }
  return sink;
}

EventSink::~EventSink() {
  if (producer_ && !in_flight_.empty()) {
    VIGIL_LOG(kWarn, kLog) << in_flight_.size() << " events not acknowledged at shutdown";
  }
}

std::uint64_t EventSink::produce(std::string key, std::string value) {
  return produceTo({}, std::move(key), std::move(value), {});
}

std::uint64_t EventSink::produceTo(std::string topic, std::string key, std::string value,
                                   Headers headers) {
  const std::uint64_t seq = next_seq_++;
  in_flight_.emplace(seq, Pending{std::move(key), std::move(value), std::move(topic),
                                  std::move(headers)});
  send(seq);
  return seq;
}

void EventSink::send(std::uint64_t seq) {
  Pending& p = in_flight_.at(seq);
  const std::string& topic = p.topic.empty() ? topic_ : p.topic;
  for (;;) {
    // librdkafka owns the headers once a produce succeeds.
    RdKafka::Headers* headers = nullptr;
    if (!p.headers.empty()) {
      headers = RdKafka::Headers::create();
      for (const auto& [name, value] : p.headers) headers->add(name, value);
    }
    const RdKafka::ErrorCode err = producer_->produce(
        topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
        const_cast<char*>(p.value.data()), p.value.size(), p.key.data(), p.key.size(), 0, headers,
        reinterpret_cast<void*>(static_cast<std::uintptr_t>(seq)));
    if (err == RdKafka::ERR_NO_ERROR) return;
    delete headers;
    if (err != RdKafka::ERR__QUEUE_FULL) {
      VIGIL_LOG(kError, kLog) << "produce to " << topic << " failed: " << RdKafka::err2str(err)
                              << "; will retry";
      to_resend_.push_back(seq);
      return;
    }
    // Backpressure: let librdkafka drain its queue before queueing more.
    producer_->poll(100);
  }
}

void EventSink::onDelivered(std::uint64_t seq, bool ok, const std::string& why) {
  if (ok) {
    in_flight_.erase(seq);
    return;
  }
  ++failed_deliveries_;
  const auto it = in_flight_.find(seq);
  const std::string& topic = it == in_flight_.end() || it->second.topic.empty() ? topic_ : it->second.topic;
  VIGIL_LOG(kWarn, kLog) << "delivery to " << topic << " failed (" << why << "); producing again";
  to_resend_.push_back(seq);
}

void EventSink::poll() {
  producer_->poll(0);
  if (to_resend_.empty()) return;
  std::vector<std::uint64_t> again;
  again.swap(to_resend_);
  for (const std::uint64_t seq : again) send(seq);
}

bool EventSink::flush(detectors::Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!in_flight_.empty() && std::chrono::steady_clock::now() < deadline) {
    poll();
    producer_->flush(100);
  }
  poll();
  return in_flight_.empty();
}

}  // namespace vigil::stream
