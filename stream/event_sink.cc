#include "stream/event_sink.h"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <exception>
#include <thread>

#include "common/log.h"
#include "stream/kafka_conf.h"

namespace vigil::stream {
namespace {

constexpr std::string_view kLog = "stream";

// `base` doubled per step after the first, at most `max`.
std::chrono::milliseconds backoff(unsigned step, std::chrono::milliseconds base,
                                  std::chrono::milliseconds max) {
  auto d = base;
  for (unsigned i = 1; i < step && d < max; ++i) d *= 2;
  return std::min(d, max);
}

// Runs inside the producer's poll, flush or purge on the owning thread.
class DeliveryReporter : public RdKafka::DeliveryReportCb {
 public:
  explicit DeliveryReporter(EventSink::Report report) : report_(std::move(report)) {}
  void dr_cb(RdKafka::Message& message) override {
    try {
      const auto seq = reinterpret_cast<std::uintptr_t>(message.msg_opaque());
      report_(seq, message.err() == RdKafka::ERR_NO_ERROR, message.errstr());
    } catch (const std::exception& e) {
      VIGIL_LOG(kError, kLog) << "delivery report handling failed: " << e.what();
    }
  }

 private:
  EventSink::Report report_;
};

// librdkafka's idempotent producer.
class KafkaProducer final : public EventSink::Producer {
 public:
  static std::unique_ptr<KafkaProducer> create(const KafkaProperties& properties,
                                               EventSink::Report report, std::string& error) {
    std::unique_ptr<KafkaProducer> p(new KafkaProducer(std::move(report)));
    p->producer_ = makeProducer(properties, p->reporter_, error);
    return p->producer_ ? std::move(p) : nullptr;
  }

  Queued produce(const std::string& topic, const std::string& key, const std::string& value,
                 const EventSink::Headers& headers, std::uint64_t seq, std::string& why) override {
    // librdkafka owns the headers once a produce succeeds.
    RdKafka::Headers* h = nullptr;
    if (!headers.empty()) {
      h = RdKafka::Headers::create();
      for (const auto& [name, v] : headers) h->add(name, v);
    }
    const RdKafka::ErrorCode err =
        producer_->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                           const_cast<char*>(value.data()), value.size(), key.data(), key.size(), 0,
                           h, reinterpret_cast<void*>(static_cast<std::uintptr_t>(seq)));
    if (err == RdKafka::ERR_NO_ERROR) return Queued::kOk;
    delete h;
    why = RdKafka::err2str(err);
    if (err == RdKafka::ERR__QUEUE_FULL) return Queued::kFull;
    if (err == RdKafka::ERR__FATAL) return Queued::kFatal;
    return Queued::kFailed;
  }

  void poll(int timeout_ms) override { producer_->poll(timeout_ms); }
  void flush(int timeout_ms) override { producer_->flush(timeout_ms); }

  std::string fatalError() override {
    std::string why;
    const RdKafka::ErrorCode err = producer_->fatal_error(why);
    if (err == RdKafka::ERR_NO_ERROR) return {};
    return RdKafka::err2str(err) + (why.empty() ? "" : ": " + why);
  }

  void abandon() override {
    producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
    producer_->poll(0);
  }

 private:
  explicit KafkaProducer(EventSink::Report report) : reporter_(std::move(report)) {}

  DeliveryReporter reporter_;  // outlives producer_, which calls it
  std::unique_ptr<RdKafka::Producer> producer_;
};

}  // namespace

std::unique_ptr<EventSink> EventSink::create(const KafkaProperties& properties, std::string topic,
                                             std::string& error) {
  // Idempotence gives in-order, duplicate-free retries within the producer;
  // linger batches events that are decided together.
  KafkaProperties all = properties;
  all["enable.idempotence"] = "true";
  all["acks"] = "all";
  all.emplace("linger.ms", "5");
  return create(
      [all](Report report, std::string& e) -> std::unique_ptr<Producer> {
        return KafkaProducer::create(all, std::move(report), e);
      },
      std::move(topic), [] { return std::chrono::steady_clock::now(); }, error);
}

std::unique_ptr<EventSink> EventSink::create(ProducerFactory factory, std::string topic,
                                             SteadyNow now, std::string& error) {
  std::unique_ptr<EventSink> sink(
      new EventSink(std::move(factory), std::move(topic), std::move(now)));
  sink->producer_ = sink->makeProducer(error);
  if (!sink->producer_) return nullptr;
  return sink;
}

EventSink::EventSink(ProducerFactory factory, std::string topic, SteadyNow now)
    : factory_(std::move(factory)), topic_(std::move(topic)), now_(std::move(now)) {}

EventSink::~EventSink() {
  if (!in_flight_.empty()) {
    VIGIL_LOG(kWarn, kLog) << in_flight_.size() << " message(s) to " << topic_
                           << " not acknowledged at shutdown";
  }
}

std::unique_ptr<EventSink::Producer> EventSink::makeProducer(std::string& error) {
  const std::uint64_t generation = generation_;
  return factory_(
      [this, generation](std::uint64_t seq, bool ok, const std::string& why) {
        onDelivered(generation, seq, ok, why);
      },
      error);
}

std::uint64_t EventSink::produce(std::string key, std::string value) {
  return produceTo({}, std::move(key), std::move(value), {});
}

std::uint64_t EventSink::produceTo(std::string topic, std::string key, std::string value,
                                   Headers headers) {
  const std::uint64_t seq = next_seq_++;
  in_flight_.emplace(
      seq, Pending{std::move(key), std::move(value), std::move(topic), std::move(headers)});
  send(seq);
  return seq;
}

void EventSink::send(std::uint64_t seq) {
  for (;;) {
    // A dead producer takes nothing: its replacement sends what is in flight.
    if (fatal_ || !producer_) return;
    const auto it = in_flight_.find(seq);
    if (it == in_flight_.end()) return;
    Pending& p = it->second;
    std::string why;
    switch (producer_->produce(topicOf(p), p.key, p.value, p.headers, seq, why)) {
      case Producer::Queued::kOk:
        return;
      case Producer::Queued::kFull:
        // Backpressure: let the producer drain its queue before queueing more.
        producer_->poll(100);
        break;
      case Producer::Queued::kFatal:
        fatal_ = true;
        fatal_reason_ = why;
        return;
      case Producer::Queued::kFailed:
        VIGIL_LOG(kError, kLog) << "produce to " << topicOf(p) << " failed: " << why
                                << "; will retry";
        scheduleResend(seq, p);
        return;
    }
  }
}

void EventSink::scheduleResend(std::uint64_t seq, Pending& p) {
  ++p.failures;
  const auto delay = p.failures <= 1 ? std::chrono::milliseconds(0)
                                     : backoff(p.failures - 1, kResendBackoff, kResendBackoffMax);
  resend_[seq] = now_() + delay;
}

void EventSink::onDelivered(std::uint64_t generation, std::uint64_t seq, bool ok,
                            const std::string& why) {
  const auto it = in_flight_.find(seq);
  if (it == in_flight_.end()) return;  // a copy through an abandoned producer got there first
  if (ok) {
    in_flight_.erase(it);
    resend_.erase(seq);
    if (generation == generation_) fatal_streak_ = 0;
    return;
  }
  // A failure of an abandoned producer: its replacement produced the message again.
  if (generation != generation_) return;
  ++failed_deliveries_;
  VIGIL_LOG(kWarn, kLog) << "delivery to " << topicOf(it->second) << " failed (" << why
                         << "); producing again";
  scheduleResend(seq, it->second);
}

void EventSink::resendDue() {
  if (resend_.empty()) return;
  const auto now = now_();
  std::vector<std::uint64_t> due;  // in sequence order
  for (const auto& [seq, at] : resend_) {
    if (at <= now) due.push_back(seq);
  }
  for (const std::uint64_t seq : due) {
    resend_.erase(seq);
    send(seq);
  }
}

bool EventSink::recreate() {
  if (now_() < recreate_at_) return false;
  std::string error;
  producer_ = makeProducer(error);
  if (!producer_) {
    const auto wait = backoff(fatal_streak_, kRecreateBackoff, kRecreateBackoffMax);
    ++fatal_streak_;
    recreate_at_ = now_() + wait;
    VIGIL_LOG(kError, kLog) << "cannot recreate the producer to " << topic_ << ": " << error
                            << "; trying again in " << wait.count() << " ms";
    return false;
  }
  ++recreations_;
  fatal_ = false;
  fatal_reason_.clear();
  resend_.clear();
  VIGIL_LOG(kWarn, kLog) << "recreated the producer to " << topic_ << "; producing "
                         << in_flight_.size() << " unacknowledged message(s) again";
  std::vector<std::uint64_t> pending;  // in sequence order
  pending.reserve(in_flight_.size());
  for (const auto& [seq, p] : in_flight_) pending.push_back(seq);
  for (const std::uint64_t seq : pending) send(seq);
  return true;
}

void EventSink::poll() {
  if (producer_) {
    producer_->poll(0);
    // Also when a refused produce() said so: this says why.
    std::string why = producer_->fatalError();
    if (!why.empty()) {
      fatal_ = true;
      fatal_reason_ = std::move(why);
    }
  }
  if (fatal_ && producer_) {
    // First time for this producer: decide when its replacement may come.
    const auto wait = fatal_streak_ == 0
                          ? std::chrono::milliseconds(0)
                          : backoff(fatal_streak_, kRecreateBackoff, kRecreateBackoffMax);
    ++fatal_streak_;
    recreate_at_ = now_() + wait;
    VIGIL_LOG(kError, kLog) << "the producer to " << topic_ << " failed fatally (" << fatal_reason_
                            << "); replacing it"
                            << (wait.count() > 0 ? " in " + std::to_string(wait.count()) + " ms"
                                                 : std::string())
                            << ", " << in_flight_.size() << " message(s) unacknowledged";
    // Its reports from here on are stale: acknowledgements still count,
    // failures do not (the replacement produces everything unacknowledged).
    ++generation_;
    producer_->abandon();
    producer_.reset();
  }
  if (!producer_ && !recreate()) return;
  resendDue();
}

bool EventSink::flush(detectors::Duration timeout) {
  const auto deadline = now_() + timeout;
  while (!in_flight_.empty() && now_() < deadline) {
    poll();
    if (producer_) {
      producer_->flush(100);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // waiting to recreate it
    }
  }
  poll();
  return in_flight_.empty();
}

}  // namespace vigil::stream
