#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vigil::detectors {

// JSON value types as bits, so a field's types over many records are one mask.
enum JsonType : std::uint8_t {
  kJsonNull = 1 << 0,
  kJsonBool = 1 << 1,
  kJsonNumber = 1 << 2,
  kJsonString = 1 << 3,
  kJsonArray = 1 << 4,
  kJsonObject = 1 << 5,
};
std::string jsonTypeNames(std::uint8_t mask);  // "number|string"

using FieldId = std::uint16_t;

// One top-level field of a record: its interned name and its JSON type.
struct FieldSeen {
  FieldId id;
  std::uint8_t types;
};

// Interns top-level field names of one dataset to small ids, so per-step
// schema state is a few bytes per field. Capped at kMaxFields names; beyond
// that intern() returns nullopt and the field is not tracked. Not
// thread-safe: stream/ guards it for parallel partitions.
class FieldDictionary {
 public:
  static constexpr std::size_t kMaxFields = 1024;

  std::optional<FieldId> intern(std::string_view name);
  std::optional<FieldId> find(std::string_view name) const;
  std::string_view name(FieldId id) const { return names_[id]; }
  std::size_t size() const { return names_.size(); }

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, FieldId> ids_;
};

// The fields seen in one step (or a merged window), with the union of their
// types: a small vector sorted by id. Plain data.
class FieldSet {
 public:
  void add(FieldSeen f);
  void merge(const FieldSet& other);
  void clear() { fields_.clear(); }
  bool empty() const { return fields_.empty(); }
  // The types seen for `id`; 0 when never seen.
  std::uint8_t types(FieldId id) const;
  std::span<const FieldSeen> fields() const { return fields_; }
  bool operator==(const FieldSet& other) const;

 private:
  std::vector<FieldSeen> fields_;
};

// Interns the field lists of records ("shapes") to small ids. The records of
// one series nearly always have one shape, so a step keeps the id of its
// records' shape and merges field sets only when the shape changes, and a
// window whose steps share one shape has that shape's fields without a merge.
// Ids are local to one table (one partition's store). Capped at kMaxShapes;
// past the cap intern() answers kUnshaped and callers merge fields directly.
// Not thread-safe.
class FieldShapes {
 public:
  static constexpr std::size_t kMaxShapes = 4096;
  static constexpr std::uint32_t kUnshaped = 0xffffffff;

  // `token`: Observation::fields_token of `fields` (0: none). Inline: the common case, the
  // token of the record before, costs a comparison.
  std::uint32_t intern(std::span<const FieldSeen> fields, std::uint64_t token = 0) {
    if (token != 0 && token == last_token_ && last_id_ != kUnshaped) return last_id_;
    return internSlow(fields, token);
  }
  const FieldSet& fields(std::uint32_t id) const { return sets_[id]; }
  std::size_t size() const { return sets_.size(); }

 private:
  std::uint32_t internSlow(std::span<const FieldSeen> fields, std::uint64_t token);

  std::vector<FieldSet> sets_;
  std::unordered_map<std::string, std::uint32_t> ids_;  // key: (id, types) bytes in record order
  std::string key_;                                      // scratch
  std::vector<FieldSeen> last_;                          // the list last_id_ answers
  std::uint32_t last_id_ = kUnshaped;
  std::uint64_t last_token_ = 0;  // the token of last_, if it came with one
};

}  // namespace vigil::detectors
