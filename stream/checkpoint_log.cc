#include "stream/checkpoint_log.h"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <map>
#include <unistd.h>

#include "common/log.h"
#include "stream/kafka_conf.h"

namespace vigil::stream {
namespace {

int millis(detectors::Duration d) { return static_cast<int>(std::max<std::int64_t>(0, d.count())); }

}  // namespace

std::string CheckpointLog::key(std::string_view dataset, std::string_view series) {
  std::string k = std::to_string(dataset.size());
  k += ':';
  k += dataset;
  k += '/';
  k += series;
  return k;
}

bool CheckpointLog::parseKey(std::string_view key, std::string_view& dataset,
                             std::string_view& series) {
  const std::size_t colon = key.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(key.data(), key.data() + colon, n);
  if (ec != std::errc() || end != key.data() + colon) return false;
  const std::string_view rest = key.substr(colon + 1);
  if (n >= rest.size() || rest[n] != '/') return false;
  dataset = rest.substr(0, n);
  series = rest.substr(n + 1);
  return true;
}

std::unique_ptr<CheckpointLog> CheckpointLog::create(const KafkaProperties& properties,
                                                     std::string topic, std::string& error) {
  std::unique_ptr<CheckpointLog> log(new CheckpointLog());
  log->topic_ = std::move(topic);
  log->producer_ = RecordProducer::create(properties, error);
  if (!log->producer_) return nullptr;

  static std::atomic<int> counter{0};
  KafkaProperties all = properties;
  // A group id the consumer needs but never joins: partitions are assigned, never subscribed.
  all["group.id"] = "vigil-state-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  all["enable.auto.commit"] = "false";
  all["enable.auto.offset.store"] = "false";
  std::unique_ptr<RdKafka::Conf> conf = makeKafkaConf(all, error);
  if (!conf) return nullptr;
  std::string why;
  log->consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), why));
  if (!log->consumer_) {
    error = "cannot create the state consumer: " + why;
    return nullptr;
  }
  return log;
}

CheckpointLog::~CheckpointLog() {
  if (consumer_) consumer_->close();
}

bool CheckpointLog::assignNewPartitions(detectors::Duration timeout) {
  // All topics: asking for one by name could create it on a broker that auto-creates.
  RdKafka::Metadata* raw = nullptr;
  const auto err = consumer_->metadata(true, nullptr, &raw, millis(timeout));
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  if (err != RdKafka::ERR_NO_ERROR || metadata == nullptr) {
    VIGIL_LOG(kWarn, "state") << "cannot list the partitions of " << topic_ << ": "
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
    added.push_back(RdKafka::TopicPartition::create(topic_, p->id(), RdKafka::Topic::OFFSET_BEGINNING));
  }
  if (!added.empty()) {
    if (RdKafka::Error* e = consumer_->incremental_assign(added)) {
      VIGIL_LOG(kWarn, "state") << "cannot read " << topic_ << ": " << e->str();
      delete e;
      for (const auto* tp : added) std::erase(assigned_, tp->partition());
    }
  }
  RdKafka::TopicPartition::destroy(added);
  return true;
}

std::size_t CheckpointLog::catchUp(const Visitor& visit, std::size_t& foreign,
                                   detectors::Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto left = [&] {
    return std::chrono::duration_cast<detectors::Duration>(deadline - std::chrono::steady_clock::now());
  };
  if (!assignNewPartitions(timeout)) return 0;
  // Where each partition ends now: reading stops there.
  std::map<std::int32_t, std::int64_t> end;
  for (const std::int32_t p : assigned_) {
    std::int64_t low = 0, high = 0;
    if (consumer_->query_watermark_offsets(topic_, p, &low, &high, millis(left())) ==
            RdKafka::ERR_NO_ERROR) {
      end[p] = high;
    } else {
      VIGIL_LOG(kWarn, "state") << "cannot find the end of " << topic_ << " [" << p
                                   << "]: checkpoints written there are not restored";
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
      // A partition never read has no position yet; an empty one is done.
      if (end[tp->partition()] > 0 && (at < 0 || at < end[tp->partition()])) return false;
    }
    return true;
  };
  while (!done()) {
    if (left().count() <= 0) {
      VIGIL_LOG(kWarn, "state") << "reading " << topic_
                                   << " timed out: some checkpoints are not restored";
      break;
    }
    std::unique_ptr<RdKafka::Message> m(consumer_->consume(std::min(100, millis(left()))));
    if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) continue;
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      VIGIL_LOG(kWarn, "state") << "reading " << topic_ << ": " << m->errstr();
      continue;
    }
    ++read;
    std::string_view dataset, series;
    if (m->key() == nullptr || !parseKey(*m->key(), dataset, series)) {
      ++foreign;
      continue;
    }
    visit(dataset, series, std::string(static_cast<const char*>(m->payload()), m->len()));
  }
  RdKafka::TopicPartition::destroy(positions);
  return read;
}

bool CheckpointLog::write(std::string_view dataset, std::string_view series, std::string_view bytes,
                          detectors::Timestamp now) {
  return producer_->produce(topic_, key(dataset, series), bytes, now);
}

}  // namespace vigil::stream
