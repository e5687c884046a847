#include "stream/log_reader.h"

#include <librdkafka/rdkafkacpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>

#include "common/log.h"
#include "stream/kafka_conf.h"

namespace vigil::stream {
namespace {

int millis(detectors::Duration d) { return static_cast<int>(std::max<std::int64_t>(0, d.count())); }

}  // namespace

std::unique_ptr<LogReader> LogReader::create(const KafkaProperties& properties, std::string topic,
                                             std::string& error) {
  std::unique_ptr<LogReader> reader(new LogReader());
  reader->topic_ = std::move(topic);
  static std::atomic<int> counter{0};
  KafkaProperties all = properties;
  // A group id the consumer needs but never joins: partitions are assigned, never subscribed.
  all["group.id"] = "vigil-log-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  all["enable.auto.commit"] = "false";
  all["enable.auto.offset.store"] = "false";
  std::unique_ptr<RdKafka::Conf> conf = makeKafkaConf(all, error);
  if (!conf) return nullptr;
  std::string why;
  reader->consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), why));
  if (!reader->consumer_) {
    error = "cannot create a consumer for " + reader->topic_ + ": " + why;
    return nullptr;
  }
  return reader;
}

LogReader::~LogReader() {
  if (consumer_) consumer_->close();
}

bool LogReader::assignNewPartitions(detectors::Duration timeout) {
  // All topics: asking for one by name could create it on a broker that auto-creates.
  RdKafka::Metadata* raw = nullptr;
  const auto err = consumer_->metadata(true, nullptr, &raw, millis(timeout));
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  if (err != RdKafka::ERR_NO_ERROR || metadata == nullptr) {
    VIGIL_LOG(kWarn, "stream") << "cannot list the partitions of " << topic_ << ": "
                               << RdKafka::err2str(err);
    return false;
  }
  const RdKafka::TopicMetadata* t = nullptr;
  for (const RdKafka::TopicMetadata* candidate : *metadata->topics()) {
    if (candidate->topic() == topic_ && candidate->err() == RdKafka::ERR_NO_ERROR) t = candidate;
  }
  if (t == nullptr) return false;  // not created yet: nothing to read
  std::vector<RdKafka::TopicPartition*> added;
  for (const RdKafka::PartitionMetadata* p : *t->partitions()) {
    if (std::find(assigned_.begin(), assigned_.end(), p->id()) != assigned_.end()) continue;
    assigned_.push_back(p->id());
    added.push_back(
        RdKafka::TopicPartition::create(topic_, p->id(), RdKafka::Topic::OFFSET_BEGINNING));
  }
  if (!added.empty()) {
    if (RdKafka::Error* e = consumer_->incremental_assign(added)) {
      VIGIL_LOG(kWarn, "stream") << "cannot read " << topic_ << ": " << e->str();
      delete e;
      for (const auto* tp : added) std::erase(assigned_, tp->partition());
    }
  }
  RdKafka::TopicPartition::destroy(added);
  return true;
}

std::size_t LogReader::catchUp(const Visitor& visit, detectors::Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto left = [&] {
    return std::chrono::duration_cast<detectors::Duration>(deadline -
                                                           std::chrono::steady_clock::now());
  };
  if (!assignNewPartitions(timeout)) return 0;
  // Where each partition ends now: reading stops there.
  std::map<std::int32_t, std::int64_t> end;
  for (const std::int32_t p : assigned_) {
    std::int64_t low = 0, high = 0;
    if (consumer_->query_watermark_offsets(topic_, p, &low, &high, millis(left())) ==
        RdKafka::ERR_NO_ERROR) {
      if (high > low) end[p] = high;  // empty (or emptied by retention): nothing to wait for
    } else {
      VIGIL_LOG(kWarn, "stream") << "cannot find the end of " << topic_ << " [" << p
                                 << "]: what it holds is not read";
    }
  }
  std::vector<RdKafka::TopicPartition*> positions;
  for (const auto& [p, high] : end) {
    positions.push_back(RdKafka::TopicPartition::create(topic_, p));
  }
  std::size_t read = 0;
  const auto done = [&] {
    consumer_->position(positions);
    for (const RdKafka::TopicPartition* tp : positions) {
      const std::int64_t at = tp->offset();
      // A partition not read from yet has no position (a negative offset).
      if (at < 0 || at < end[tp->partition()]) return false;
    }
    return true;
  };
  while (!done()) {
    if (left().count() <= 0) {
      VIGIL_LOG(kWarn, "stream") << "reading " << topic_ << " timed out before its end";
      break;
    }
    std::unique_ptr<RdKafka::Message> m(consumer_->consume(std::min(100, millis(left()))));
    if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) continue;
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      VIGIL_LOG(kWarn, "stream") << "reading " << topic_ << ": " << m->errstr();
      continue;
    }
    ++read;
    const std::string_view key =
        m->key() != nullptr ? std::string_view(*m->key()) : std::string_view();
    visit(key, std::string_view(static_cast<const char*>(m->payload()), m->len()));
  }
  RdKafka::TopicPartition::destroy(positions);
  return read;
}

}  // namespace vigil::stream
