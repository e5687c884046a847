#include "stream/checkpoint_log.h"

#include <charconv>

namespace vigil::stream {

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
  log->topic_ = topic;
  log->producer_ = RecordProducer::create(properties, error);
  if (!log->producer_) return nullptr;
  log->reader_ = LogReader::create(properties, std::move(topic), error);
  if (!log->reader_) return nullptr;
  return log;
}

CheckpointLog::~CheckpointLog() = default;

std::size_t CheckpointLog::catchUp(const Visitor& visit, std::size_t& foreign,
                                   detectors::Duration timeout) {
  return reader_->catchUp(
      [&](std::string_view key, std::string_view value) {
        std::string_view dataset, series;
        if (!parseKey(key, dataset, series)) {
          ++foreign;
          return;
        }
        visit(dataset, series, std::string(value));
      },
      timeout);
}

bool CheckpointLog::write(std::string_view dataset, std::string_view series, std::string_view bytes,
                          detectors::Timestamp now) {
  return producer_->produce(topic_, key(dataset, series), bytes, now);
}

}  // namespace vigil::stream
