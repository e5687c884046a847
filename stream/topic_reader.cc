#include "stream/topic_reader.h"

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <unistd.h>

#include "stream/kafka_conf.h"

namespace vigil::stream {

std::unique_ptr<TopicReader> TopicReader::create(const KafkaProperties& properties,
                                                 const std::string& topic, std::string& error) {
  static std::atomic<int> counter{0};
  std::unique_ptr<TopicReader> reader(new TopicReader());
  KafkaProperties all = properties;
  // Required by the consumer; never joined.
  all["group.id"] = "vigil-reader-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  all["auto.offset.reset"] = "earliest";
  all["enable.auto.commit"] = "false";
  all.emplace("topic.metadata.refresh.interval.ms", "1000");
  std::unique_ptr<RdKafka::Conf> conf = makeKafkaConf(all, error);
  if (!conf) return nullptr;
  std::string why;
  reader->consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), why));
  if (!reader->consumer_) {
    error = "cannot create consumer: " + why;
    return nullptr;
  }
  reader->topic_ = topic;
  return reader;
}

bool TopicReader::assign(detectors::Duration timeout) {
  RdKafka::Metadata* raw = nullptr;
  if (consumer_->metadata(true, nullptr, &raw, static_cast<int>(timeout.count())) !=
      RdKafka::ERR_NO_ERROR) {
    return false;
  }
  const std::unique_ptr<RdKafka::Metadata> metadata(raw);
  std::vector<RdKafka::TopicPartition*> partitions;
  for (const RdKafka::TopicMetadata* t : *metadata->topics()) {
    if (t->topic() != topic_ || t->err() != RdKafka::ERR_NO_ERROR) continue;
    for (const RdKafka::PartitionMetadata* p : *t->partitions()) {
      partitions.push_back(
          RdKafka::TopicPartition::create(topic_, p->id(), RdKafka::Topic::OFFSET_BEGINNING));
    }
  }
  const bool ok = !partitions.empty() && consumer_->assign(partitions) == RdKafka::ERR_NO_ERROR;
  RdKafka::TopicPartition::destroy(partitions);
  return ok;
}

TopicReader::~TopicReader() {
  if (consumer_) consumer_->close();
}

void TopicReader::poll(std::vector<Item>& out, detectors::Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!assigned_ && !(assigned_ = assign(timeout))) {
    // Not there yet: wait out the rest of the timeout, as a poll would.
    std::this_thread::sleep_until(deadline);
    return;
  }
  bool got = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    std::unique_ptr<RdKafka::Message> m(consumer_->consume(got ? 0 : static_cast<int>(left.count())));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      Item item;
      if (m->key()) item.key = *m->key();
      item.value.assign(static_cast<const char*>(m->payload()), m->len());
      item.partition = m->partition();
      item.offset = m->offset();
      if (RdKafka::Headers* headers = m->headers()) {
        for (const RdKafka::Headers::Header& h : headers->get_all()) {
          item.headers.emplace_back(h.key(), std::string(static_cast<const char*>(h.value()),
                                                         h.value_size()));
        }
      }
      out.push_back(std::move(item));
      got = true;
    } else if (m->err() == RdKafka::ERR__TIMED_OUT) {
      if (got) return;
    }
  }
}

}  // namespace vigil::stream
