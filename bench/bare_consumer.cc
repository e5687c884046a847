// The floor for `make bench`: a bare librdkafka KafkaConsumer that reads a
// topic from the beginning in a fresh consumer group and touches every
// payload byte (a sum, so the read cannot be optimised away), nothing
// more. Consumer settings are vigil detect's defaults (earliest, no auto
// commit, fetch.wait.max.ms=100), and messages are taken the way vigil takes
// them: consume() in a loop. Prints one line of key=value pairs.
//
//   bare_consumer --bootstrap HOST:PORT --topic T --records N [--group G] [--timeout S]
//                 [--set KEY=VALUE]... [--batch]
//   bare_consumer --bootstrap HOST:PORT --topic T --watermarks
//
// --set adds a librdkafka property (applied last). --batch takes messages with
// librdkafka's C rd_kafka_consume_batch_queue instead (measured: no faster
// here). --watermarks prints each partition's low and high offsets instead
// ("partition=P low=L high=H" per line), so the caller can tell whether the
// broker kept every record.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double secondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Reads every byte of a payload, 8 at a time: cheap, and not optimised away
// because the sum is printed.
std::uint64_t touch(const unsigned char* p, std::size_t n) {
  std::uint64_t sum = 0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, p + i, 8);
    sum += word;
  }
  for (; i < n; ++i) sum += p[i];
  return sum;
}

int usage() {
  std::fprintf(stderr,
               "usage: bare_consumer --bootstrap HOST:PORT --topic T --records N [--group G] "
               "[--timeout SECONDS] [--set KEY=VALUE]... [--batch]\n"
               "       bare_consumer --bootstrap HOST:PORT --topic T --watermarks\n");
  return 2;
}

bool set(RdKafka::Conf& conf, const std::string& key, const std::string& value) {
  std::string error;
  if (conf.set(key, value, error) != RdKafka::Conf::CONF_OK) {
    std::fprintf(stderr, "bare_consumer: %s=%s: %s\n", key.c_str(), value.c_str(), error.c_str());
    return false;
  }
  return true;
}

int printWatermarks(RdKafka::KafkaConsumer& consumer, const std::string& topic) {
  RdKafka::Metadata* raw = nullptr;
  std::unique_ptr<RdKafka::Topic> handle;
  {
    std::string error;
    handle.reset(RdKafka::Topic::create(&consumer, topic, nullptr, error));
    if (!handle) {
      std::fprintf(stderr, "bare_consumer: topic %s: %s\n", topic.c_str(), error.c_str());
      return 1;
    }
  }
  const RdKafka::ErrorCode err = consumer.metadata(false, handle.get(), &raw, 10000);
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  if (err != RdKafka::ERR_NO_ERROR || metadata->topics()->empty()) {
    std::fprintf(stderr, "bare_consumer: metadata: %s\n", RdKafka::err2str(err).c_str());
    return 1;
  }
  for (const RdKafka::PartitionMetadata* p : *metadata->topics()->front()->partitions()) {
    std::int64_t low = 0, high = 0;
    const RdKafka::ErrorCode e =
        consumer.query_watermark_offsets(topic, p->id(), &low, &high, 10000);
    if (e != RdKafka::ERR_NO_ERROR) {
      std::fprintf(stderr, "bare_consumer: watermarks of %s[%d]: %s\n", topic.c_str(), p->id(),
                   RdKafka::err2str(e).c_str());
      return 1;
    }
    std::printf("partition=%d low=%lld high=%lld\n", p->id(), static_cast<long long>(low),
                static_cast<long long>(high));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Clock::time_point start = Clock::now();
  std::string bootstrap, topic, group;
  long long wanted = -1;
  double timeout_s = 120;
  bool watermarks = false;
  bool batch = false;
  std::vector<std::string> extra;  // --set KEY=VALUE, applied last
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--watermarks") {
      watermarks = true;
      continue;
    }
    if (a == "--batch") {
      batch = true;
      continue;
    }
    if ((v = value()) == nullptr) return usage();
    if (a == "--bootstrap")
      bootstrap = v;
    else if (a == "--topic")
      topic = v;
    else if (a == "--group")
      group = v;
    else if (a == "--records")
      wanted = std::atoll(v);
    else if (a == "--timeout")
      timeout_s = std::atof(v);
    else if (a == "--set")
      extra.emplace_back(v);
    else
      return usage();
  }
  if (bootstrap.empty() || topic.empty() || (!watermarks && wanted <= 0)) return usage();
  if (group.empty()) {
    group = "bare-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  }

  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  if (!set(*conf, "bootstrap.servers", bootstrap) || !set(*conf, "group.id", group) ||
      !set(*conf, "auto.offset.reset", "earliest") || !set(*conf, "enable.auto.commit", "false") ||
      !set(*conf, "enable.auto.offset.store", "false") || !set(*conf, "fetch.wait.max.ms", "100") ||
      !set(*conf, "partition.assignment.strategy", "cooperative-sticky")) {
    return 2;
  }
  for (const std::string& kv : extra) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || !set(*conf, kv.substr(0, eq), kv.substr(eq + 1))) return 2;
  }
  std::string error;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!consumer) {
    std::fprintf(stderr, "bare_consumer: cannot create consumer: %s\n", error.c_str());
    return 1;
  }
  if (watermarks) {
    const int rc = printWatermarks(*consumer, topic);
    consumer->close();
    return rc;
  }
  if (const RdKafka::ErrorCode err = consumer->subscribe({topic}); err != RdKafka::ERR_NO_ERROR) {
    std::fprintf(stderr, "bare_consumer: subscribe: %s\n", RdKafka::err2str(err).c_str());
    return 1;
  }

  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  long long records = 0;
  std::uint64_t bytes = 0;
  std::uint64_t checksum = 0;
  Clock::time_point first{}, last{};
  if (batch) {
    // librdkafka's C batch call on the consumer queue, for comparison with consume().
    rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(consumer->c_ptr());
    std::vector<rd_kafka_message_t*> msgs(10000);
    while (records < wanted && Clock::now() <= deadline) {
      const ssize_t got = rd_kafka_consume_batch_queue(queue, 100, msgs.data(), msgs.size());
      for (ssize_t i = 0; i < got; ++i) {
        rd_kafka_message_t* m = msgs[static_cast<std::size_t>(i)];
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && records < wanted) {
          if (records == 0) first = Clock::now();
          checksum += touch(static_cast<const unsigned char*>(m->payload), m->len);
          bytes += m->len;
          if (++records == wanted) last = Clock::now();
        }
        rd_kafka_message_destroy(m);
      }
    }
    rd_kafka_queue_destroy(queue);
  }
  while (records < wanted) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(100));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      if (records == 0) first = Clock::now();
      const std::size_t n = m->len();
      checksum += touch(static_cast<const unsigned char*>(m->payload()), n);
      bytes += n;
      if (++records == wanted) last = Clock::now();
      continue;
    }
    if (m->err() != RdKafka::ERR__TIMED_OUT && m->err() != RdKafka::ERR__PARTITION_EOF) {
      std::fprintf(stderr, "bare_consumer: consume: %s\n", m->errstr().c_str());
    }
    if (Clock::now() > deadline) break;
  }
  const bool complete = records == wanted;
  if (!complete) last = Clock::now();
  std::printf(
      "records=%lld bytes=%llu sum=%016llx first_to_last_s=%.6f total_s=%.6f "
      "join_s=%.6f complete=%d\n",
      records, static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(checksum),
      records > 0 ? secondsBetween(first, last) : 0.0, secondsBetween(start, last),
      records > 0 ? secondsBetween(start, first) : 0.0, complete ? 1 : 0);
  std::fflush(stdout);
  consumer->close();
  return complete ? 0 : 1;
}
