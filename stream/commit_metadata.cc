#include "stream/commit_metadata.h"

#include <nlohmann/json.hpp>

namespace vigil::stream {
namespace {

constexpr int kVersion = 1;

}  // namespace

std::string CommitMetadata::encode() const {
  nlohmann::json through = nlohmann::json::object();
  for (const auto& [dataset, at] : evaluated_through) through[dataset] = detectors::toMillis(at);
  return nlohmann::json{{"vigil", kVersion}, {"reread", reread}, {"through", std::move(through)}}.dump();
}

std::optional<CommitMetadata> CommitMetadata::decode(std::string_view text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  const auto version = j.find("vigil");
  const auto reread = j.find("reread");
  const auto through = j.find("through");
  if (version == j.end() || !version->is_number_integer() || version->get<std::int64_t>() != kVersion ||
      reread == j.end() || !reread->is_number_integer() || reread->get<std::int64_t>() < 0 ||
      through == j.end() || !through->is_object()) {
    return std::nullopt;
  }
  CommitMetadata m;
  m.reread = reread->get<Offset>();
  for (const auto& [dataset, at] : through->items()) {
    if (!at.is_number_integer()) return std::nullopt;
    m.evaluated_through[dataset] = detectors::timestampFromMillis(at.get<std::int64_t>());
  }
  return m;
}

}  // namespace vigil::stream
