#include "detectors/schema.h"

namespace vigil::detectors {

std::string jsonTypeNames(std::uint8_t mask) {
  static constexpr std::pair<std::uint8_t, const char*> kNames[] = {
      {kJsonNull, "null"},     {kJsonBool, "bool"},   {kJsonNumber, "number"},
      {kJsonString, "string"}, {kJsonArray, "array"}, {kJsonObject, "object"}};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (mask & bit) out += (out.empty() ? "" : "|") + std::string(name);
  }
  return out;
}

std::optional<FieldId> FieldDictionary::find(std::string_view name) const {
  const auto it = ids_.find(std::string(name));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<FieldId> FieldDictionary::intern(std::string_view name) {
  if (auto id = find(name)) return id;
  if (names_.size() >= kMaxFields) return std::nullopt;
  const auto id = static_cast<FieldId>(names_.size());
  names_.emplace_back(name);
  ids_.emplace(names_.back(), id);
  return id;
}

void FieldSet::add(FieldSeen f) {
  const auto it = std::lower_bound(fields_.begin(), fields_.end(), f.id,
                                   [](const FieldSeen& a, FieldId id) { return a.id < id; });
  if (it != fields_.end() && it->id == f.id) {
    it->types |= f.types;
  } else {
    fields_.insert(it, f);
  }
}

void FieldSet::merge(const FieldSet& other) {
  // Both are sorted by id. Windows merge the same few fields step after step,
  // so first look for anything new in one linear pass.
  auto mine = fields_.begin();
  bool adds = false;
  for (const FieldSeen& f : other.fields_) {
    while (mine != fields_.end() && mine->id < f.id) ++mine;
    if (mine == fields_.end() || mine->id != f.id) {
      adds = true;
      break;
    }
    mine->types |= f.types;
  }
  if (!adds) return;
  std::vector<FieldSeen> merged;
  merged.reserve(fields_.size() + other.fields_.size());
  auto a = fields_.begin();
  auto b = other.fields_.begin();
  while (a != fields_.end() || b != other.fields_.end()) {
    if (b == other.fields_.end() || (a != fields_.end() && a->id < b->id)) {
      merged.push_back(*a++);
    } else if (a == fields_.end() || b->id < a->id) {
      merged.push_back(*b++);
    } else {
      merged.push_back(FieldSeen{a->id, static_cast<std::uint8_t>(a->types | b->types)});
      ++a;
      ++b;
    }
  }
  fields_ = std::move(merged);
}

bool FieldSet::operator==(const FieldSet& other) const {
  return std::equal(fields_.begin(), fields_.end(), other.fields_.begin(), other.fields_.end(),
                    [](const FieldSeen& a, const FieldSeen& b) {
                      return a.id == b.id && a.types == b.types;
                    });
}

std::uint32_t FieldShapes::internSlow(std::span<const FieldSeen> fields, std::uint64_t token) {
  const auto same = [](const FieldSeen& a, const FieldSeen& b) {
    return a.id == b.id && a.types == b.types;
  };
  // Still the common case: the same shape as the record before.
  if (last_id_ != kUnshaped &&
      std::equal(fields.begin(), fields.end(), last_.begin(), last_.end(), same)) {
    last_token_ = token;
    return last_id_;
  }
  key_.clear();
  for (const FieldSeen& f : fields) {
    key_.push_back(static_cast<char>(f.id & 0xff));
    key_.push_back(static_cast<char>(f.id >> 8));
    key_.push_back(static_cast<char>(f.types));
  }
  std::uint32_t id;
  if (const auto it = ids_.find(key_); it != ids_.end()) {
    id = it->second;
  } else {
    if (sets_.size() >= kMaxShapes) return kUnshaped;
    id = static_cast<std::uint32_t>(sets_.size());
    FieldSet set;
    for (const FieldSeen& f : fields) set.add(f);
    sets_.push_back(std::move(set));
    ids_.emplace(key_, id);
  }
  last_.assign(fields.begin(), fields.end());
  last_id_ = id;
  last_token_ = token;
  return id;
}

std::uint8_t FieldSet::types(FieldId id) const {
  const auto it = std::lower_bound(fields_.begin(), fields_.end(), id,
                                   [](const FieldSeen& a, FieldId i) { return a.id < i; });
  return it != fields_.end() && it->id == id ? it->types : 0;
}

}  // namespace vigil::detectors
