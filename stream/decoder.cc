#include "stream/decoder.h"

#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <new>
#include <tuple>
#include <utility>

namespace vigil::stream {
namespace {

namespace od = simdjson::ondemand;
using detectors::Timestamp;

// Containers nested deeper than this make the record invalid. On-demand skips values by counting
// brackets and enforces no depth itself, so the decoder walks skipped containers and counts.
constexpr std::size_t kMaxDepth = 64;
constexpr std::size_t kParserDepthHeadroom = 8;

// Event times outside [1970, 9999] are producer bugs (a zero, a unit mix-up), not data.
constexpr Timestamp kMinEventTime{};
constexpr Timestamp kEndEventTime{
    std::chrono::sys_days{std::chrono::year{10000} / std::chrono::January / 1}};

// Epoch numbers at or beyond this many milliseconds do not fit the int64 clock.
constexpr double kMaxEpochMillis = 9.0e18;

constexpr bool isJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// On-demand raw tokens run up to the next structural character, so they carry trailing spaces.
std::string_view trimTrailingSpace(std::string_view token) {
  while (!token.empty() && isJsonSpace(token.back())) token.remove_suffix(1);
  return token;
}

constexpr bool isDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 8259 number grammar. simdjson reports "1e400" and "12x" alike as NUMBER_ERROR; this tells a
// well-formed number that overflows a double from malformed JSON.
bool isJsonNumber(std::string_view s) {
  std::size_t i = 0;
  const auto digitsFrom = [&](std::size_t from) {
    while (i < s.size() && isDigit(s[i])) ++i;
    return i > from;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digitsFrom(i)) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digitsFrom(i)) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digitsFrom(i)) return false;
  }
  return i == s.size();
}

constexpr bool isHexDigit(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The escapes of a string, from just after its opening quote to its closing quote (which stage 1
// guarantees, so the scan stays inside the buffer): each backslash must start one of RFC 8259's
// escapes. A \u escape of a lone surrogate is well-formed JSON and passes: only a string that is
// read gets unescaped, and simdjson refuses those.
bool hasValidEscapes(const char* p) {
  for (;; ++p) {
    if (*p == '"') return true;
    if (*p != '\\') continue;
    switch (*++p) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        break;
      case 'u':
        // A closing quote is no hex digit, so this stops at it.
        if (!isHexDigit(p[1]) || !isHexDigit(p[2]) || !isHexDigit(p[3]) || !isHexDigit(p[4])) {
          return false;
        }
        p += 4;
        break;
      default:
        return false;
    }
  }
}

// Stage 1 has already checked that strings are closed, valid UTF-8 and free of control
// characters; the strings we do not read are not unescaped (that would copy every one of them),
// only their escapes are checked.
bool isValidScalarToken(od::json_type type, std::string_view token) {
  switch (type) {
    case od::json_type::string:
      // Most strings hold no backslash: a bounded search (memchr) settles those.
      return token.size() >= 2 && token.front() == '"' &&
             (token.find('\\', 1) == std::string_view::npos || hasValidEscapes(token.data() + 1));
    case od::json_type::number:
      return isJsonNumber(token);
    case od::json_type::boolean:
      return token == "true" || token == "false";
    case od::json_type::null:
      return token == "null";
    case od::json_type::object:
    case od::json_type::array:
      break;
  }
  return false;
}

bool skipValue(od::value& value, std::size_t depth) noexcept;

// Walks a container we do not need so that missing commas and colons, unbalanced brackets and
// excessive nesting are caught, which on-demand's bracket-counting skip would let through.
bool skipObject(od::value& value, std::size_t depth) noexcept {
  if (depth > kMaxDepth) return false;
  od::object object;
  if (value.get_object().get(object)) return false;
  for (auto field_result : object) {
    if (field_result.error()) return false;
    od::field&& field = std::move(field_result).value_unsafe();
    // Keys of skipped objects are not unescaped either; their escapes are checked the same way.
    if (!hasValidEscapes(field.key().raw()) || !skipValue(field.value(), depth + 1)) return false;
  }
  return true;
}

bool skipArray(od::value& value, std::size_t depth) noexcept {
  if (depth > kMaxDepth) return false;
  od::array array;
  if (value.get_array().get(array)) return false;
  for (auto element_result : array) {
    if (element_result.error()) return false;
    od::value element = element_result.value_unsafe();
    if (!skipValue(element, depth + 1)) return false;
  }
  return true;
}

// `depth` is the nesting level of `value`: 1 is the record itself; `type` is value.type().
bool skipTypedValue(od::value& value, od::json_type type, std::size_t depth) noexcept {
  switch (type) {
    case od::json_type::object:
      return skipObject(value, depth);
    case od::json_type::array:
      return skipArray(value, depth);
    case od::json_type::string: {
      if (!isValidScalarToken(type, trimTrailingSpace(value.raw_json_token()))) return false;
      // Consumed, not only looked at: simdjson skips an unconsumed string followed by a colon as
      // if it were a key, which would let `["a","b":1}]` through.
      od::raw_json_string consumed;
      return !value.get_raw_json_string().get(consumed);
    }
    default:
      return isValidScalarToken(type, trimTrailingSpace(value.raw_json_token()));
  }
}

bool skipValue(od::value& value, std::size_t depth) noexcept {
  od::json_type type;
  return !value.type().get(type) && skipTypedValue(value, type, depth);
}

std::uint8_t typeBit(od::json_type type) {
  switch (type) {
    case od::json_type::null: return detectors::kJsonNull;
    case od::json_type::boolean: return detectors::kJsonBool;
    case od::json_type::number: return detectors::kJsonNumber;
    case od::json_type::string: return detectors::kJsonString;
    case od::json_type::array: return detectors::kJsonArray;
    case od::json_type::object: return detectors::kJsonObject;
  }
  return 0;
}

// A wanted top-level field as read from the record, before the plan gives it a meaning.
struct FieldValue {
  enum class Kind { kAbsent, kNull, kString, kNumber, kOther };
  Kind kind = Kind::kAbsent;
  std::string_view text;  // unescaped string, or the number's JSON text
  double number = 0;      // +-infinity for well-formed numbers beyond double range
};

// Reads a value the plan names, of type `type` (value.type()). Returns false when it is malformed
// JSON.
bool readValue(od::value& value, od::json_type type, FieldValue& out) noexcept {
  switch (type) {
    case od::json_type::string:
      out.kind = FieldValue::Kind::kString;
      return !value.get_string().get(out.text);
    case od::json_type::number:
      out.kind = FieldValue::Kind::kNumber;
      // Take the text before get_double() consumes the value.
      out.text = trimTrailingSpace(value.raw_json_token());
      if (value.get_double().get(out.number)) {
        if (!isJsonNumber(out.text)) return false;
        out.number = out.text.front() == '-' ? -std::numeric_limits<double>::infinity()
                                             : std::numeric_limits<double>::infinity();
      }
      return true;
    case od::json_type::null:
      out.kind = FieldValue::Kind::kNull;
      return trimTrailingSpace(value.raw_json_token()) == "null";
    case od::json_type::boolean:
    case od::json_type::object:
    case od::json_type::array:
      out.kind = FieldValue::Kind::kOther;
      return skipTypedValue(value, type, 2);
  }
  return false;
}

// Keys are compared unescaped. Almost no key has an escape, so the raw bytes are used unless a
// backslash comes before the closing quote; only then is the key unescaped (into the parser's
// string buffer).
// `begin` is the field's raw key (field.key().raw(), read once: unescaping consumes the key).
bool readKey(od::field& field, const char* begin, std::string_view& key) noexcept {
  const char* end = begin;
  // Stage 1 guarantees the key's closing quote exists, so the scan stays inside the buffer.
  while (*end != '"' && *end != '\\') ++end;
  if (*end == '"') {
    key = std::string_view(begin, static_cast<std::size_t>(end - begin));
    return true;
  }
  return !field.unescaped_key().get(key);
}

// What the plan makes of a top-level key, as bits.
enum KeyRole : std::uint8_t {
  kRoleSeries = 1 << 0,
  kRoleEventTime = 1 << 1,
  kRoleLatency = 1 << 2,
  kRoleCount = 1 << 3,
};

template <class Word>
Word loadWord(const char* p) {
  Word w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// n bytes at a and b are equal. Keys are short: overlapping word loads cost less than a call to
// memcmp. Reads nothing outside [a, a + n) and [b, b + n).
bool sameBytes(const char* a, const char* b, std::size_t n) {
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8) {
      if (loadWord<std::uint64_t>(a + i) != loadWord<std::uint64_t>(b + i)) return false;
    }
    return loadWord<std::uint64_t>(a + n - 8) == loadWord<std::uint64_t>(b + n - 8);
  }
  if (n >= 4) {
    return loadWord<std::uint32_t>(a) == loadWord<std::uint32_t>(b) &&
           loadWord<std::uint32_t>(a + n - 4) == loadWord<std::uint32_t>(b + n - 4);
  }
  if (n >= 2) {
    return loadWord<std::uint16_t>(a) == loadWord<std::uint16_t>(b) &&
           loadWord<std::uint16_t>(a + n - 2) == loadWord<std::uint16_t>(b + n - 2);
  }
  return n == 0 || *a == *b;
}

// Ids of key sequences and shapes (DecodeNotes::keys_id, shape_id), unique in the process so
// that ids of different decoders never meet by chance.
std::uint64_t nextDecoderId() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

// A field name the plan may ask for, taken once per record so that testing a key is a length check
// and a memcmp.
class WantedKey {
 public:
  explicit WantedKey(const std::optional<std::string>& name)
      : name_(name.has_value() ? std::string_view(*name) : std::string_view()),
        wanted_(name.has_value()) {}
  bool matches(std::string_view key) const { return wanted_ && key == name_; }

 private:
  std::string_view name_;
  bool wanted_;
};

InvalidReason fromParseError(simdjson::error_code error) {
  switch (error) {
    case simdjson::UTF8_ERROR:
      return InvalidReason::kInvalidUtf8;
    case simdjson::CAPACITY:
    case simdjson::MEMALLOC:
      return InvalidReason::kTooLarge;
    default:
      return InvalidReason::kInvalidJson;  // includes EMPTY: a value of only whitespace
  }
}

// Reads `count` ASCII digits at `pos`.
bool readDigits(std::string_view s, std::size_t pos, std::size_t count, int& out) {
  if (pos + count > s.size()) return false;
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (!isDigit(s[i])) return false;
    value = value * 10 + (s[i] - '0');
  }
  out = value;
  return true;
}

}  // namespace

std::string_view reasonName(InvalidReason reason) {
  switch (reason) {
    case InvalidReason::kEmpty:
      return "empty";
    case InvalidReason::kTooLarge:
      return "too_large";
    case InvalidReason::kInvalidUtf8:
      return "invalid_utf8";
    case InvalidReason::kInvalidJson:
      return "invalid_json";
    case InvalidReason::kNotObject:
      return "not_object";
    case InvalidReason::kMissingSeriesKey:
      return "missing_series_key";
    case InvalidReason::kMissingEventTime:
      return "missing_event_time";
    case InvalidReason::kBadEventTime:
      return "bad_event_time";
    case InvalidReason::kWrongType:
      return "wrong_type";
    case InvalidReason::kLate:
      return "late";
    case InvalidReason::kSeriesCap:
      return "series_cap";
    case InvalidReason::kFuture:
      return "future";
  }
  return "unknown";
}

DecodePlan DecodePlan::fromSpec(const detectors::DatasetSpec& spec) {
  DecodePlan plan;
  plan.dataset = spec.name;
  plan.series_key = spec.series_key;
  plan.event_time = spec.event_time;
  if (spec.latency.has_value()) {
    plan.latency_field = spec.latency->field;
    plan.derived_latency = !spec.latency->field.has_value();
    plan.latency_scale = detectors::secondsPer(spec.latency->unit);
  }
  if (spec.volume.has_value()) plan.count_field = spec.volume->count_field;
  if (spec.nulls.has_value()) plan.null_fields = spec.nulls->fields;
  if (plan.null_fields.size() > DecodePlan::kMaxNullFields) {
    plan.null_fields.resize(DecodePlan::kMaxNullFields);
  }
  plan.track_fields = spec.schema.has_value();
  plan.max_record_bytes = spec.max_record_bytes;
  return plan;
}

// Owns the per-worker parsing state: a padded copy of the current record (simdjson reads up to
// SIMDJSON_PADDING bytes past the end, which a Kafka buffer does not allow) and the on-demand
// parser, whose string buffer holds unescaped strings. Both are sized once for max_record_bytes so
// the steady state allocates nothing; the views in an Observation point into them.
struct Decoder::Impl {
  explicit Impl(std::uint64_t max_record_bytes)
      : parser_(max_record_bytes) {
    // A failure here is retried by iterate(), which then reports CAPACITY or MEMALLOC.
    // simdjson tracks depth in an array of max_depth entries and only asserts
    // (in debug builds) when it would run past it: allocate beyond our own
    // limit so the walker always rejects first and simdjson never overruns. A limit beyond
    // what simdjson parses allocates nothing (reserve() refuses every record): its buffers would
    // be sized from a capacity no allocation can meet.
    if (max_record_bytes <= simdjson::SIMDJSON_MAXSIZE_BYTES) {
      std::ignore = parser_.allocate(max_record_bytes, kMaxDepth + kParserDepthHeadroom);
    }
  }

  std::optional<InvalidReason> decode(const DecodePlan& plan, std::string_view value,
                                      Timestamp kafka_timestamp, detectors::Observation& out,
                                      DecodeNotes& notes) noexcept;

 private:
  bool reserve(std::uint64_t max_record_bytes) noexcept;
  std::optional<InvalidReason> checkNotObject(od::document& doc, od::json_type type,
                                              std::size_t size) noexcept;

  // Remembers `key` at `position`; `raw` is false for a key that had escapes, which is never
  // matched by its bytes.
  void learnKey(std::size_t position, std::string_view key, bool raw, std::uint8_t roles,
                std::uint32_t nulls);

  std::unique_ptr<char[]> buffer_;  // NOLINT(modernize-avoid-c-arrays): raw, padded bytes
  std::size_t buffer_capacity_ = 0;
  std::size_t buffer_initialized_ = 0;  // bytes of buffer_ written or zeroed so far
  od::parser parser_;

  // The keys of the records before, by position, with what the plan makes of each. Records of a
  // dataset nearly always repeat their keys in the same order, so a key equal to the one known at
  // its position is settled by one comparison of its bytes: no scan for its end, no test against
  // every name the plan wants.
  struct KnownKey {
    std::string quoted;       // the key and its closing quote; empty: nothing to match
    std::uint8_t roles = 0;   // KeyRole bits
    std::uint32_t nulls = 0;  // bit i: the key is plan.null_fields[i]
    std::uint8_t type = 0;    // with plan.track_fields: the JSON type bit last seen here
  };
  std::vector<KnownKey> known_keys_;
  // The key sequence of the last record decoded whole: its id, its length, and whether
  // known_keys_ changed since (a record rejected half-way may have changed it).
  std::uint64_t keys_id_ = 0;
  std::size_t keys_count_ = 0;
  bool keys_changed_ = true;
  // The same for the shape (keys and their types) of the last record decoded whole.
  std::uint64_t shape_id_ = 0;
  bool types_changed_ = true;

  // The key at `position` of the record being decoded, matched against the one the records before
  // had there. False when it differs (or none is known): the caller reads it the long way. Defined
  // here, inline: it runs for every key.
  bool matchKnownKey(const char* raw, const char* end, std::size_t position, std::string_view& key,
                     std::uint8_t& roles, std::uint32_t& nulls) const noexcept {
    if (position >= known_keys_.size()) return false;
    const KnownKey& known = known_keys_[position];
    const std::size_t n = known.quoted.size();
    // Bytes equal up to a quote: the known key has no backslash, so that quote closes this key.
    if (n == 0 || n > static_cast<std::size_t>(end - raw) ||
        !sameBytes(raw, known.quoted.data(), n)) {
      return false;
    }
    key = std::string_view(raw, n - 1);
    roles = known.roles;
    nulls = known.nulls;
    return true;
  }
};

void Decoder::Impl::learnKey(std::size_t position, std::string_view key, bool raw,
                             std::uint8_t roles, std::uint32_t nulls) {
  if (position >= known_keys_.size()) known_keys_.resize(position + 1);
  KnownKey& known = known_keys_[position];
  known.quoted.clear();
  if (raw) {
    known.quoted.append(key);
    known.quoted.push_back('"');
  }
  known.roles = roles;
  known.nulls = nulls;
  keys_changed_ = true;
}

bool Decoder::Impl::reserve(std::uint64_t max_record_bytes) noexcept {
  // Beyond what simdjson parses (4 GiB), and so that adding the padding cannot wrap around.
  if (max_record_bytes > simdjson::SIMDJSON_MAXSIZE_BYTES) return false;
  const std::size_t wanted =
      static_cast<std::size_t>(max_record_bytes) + simdjson::SIMDJSON_PADDING;
  if (buffer_capacity_ >= wanted) return true;
  // Sized for the largest accepted record at once, so this happens at most once per plan. Not
  // zeroed here: a decoder per partition and dataset would touch every page of a buffer most of
  // which no record reaches. decode() zeroes the bytes up to a record's padding the first time a
  // record reaches them.
  buffer_.reset(new (std::nothrow) char[wanted]);
  buffer_capacity_ = buffer_ ? wanted : 0;
  buffer_initialized_ = 0;
  return buffer_ != nullptr;
}

// A document that is not an object is kNotObject only when it is valid JSON.
std::optional<InvalidReason> Decoder::Impl::checkNotObject(od::document& doc, od::json_type type,
                                                           std::size_t size) noexcept {
  if (type == od::json_type::array) {
    od::array array;
    if (doc.get_array().get(array)) return InvalidReason::kInvalidJson;
    for (auto element_result : array) {
      if (element_result.error()) return InvalidReason::kInvalidJson;
      od::value element = element_result.value_unsafe();
      if (!skipValue(element, 2)) return InvalidReason::kInvalidJson;
    }
    const char* trailing = nullptr;
    if (doc.current_location().get(trailing) != simdjson::OUT_OF_BOUNDS) {
      return InvalidReason::kInvalidJson;
    }
    return InvalidReason::kNotObject;
  }
  // A scalar document is one token that runs to the end of the input.
  std::string_view token;
  if (doc.raw_json_token().get(token)) return InvalidReason::kInvalidJson;
  if (token.data() + token.size() != buffer_.get() + size) return InvalidReason::kInvalidJson;
  if (!isValidScalarToken(type, trimTrailingSpace(token))) return InvalidReason::kInvalidJson;
  return InvalidReason::kNotObject;
}

std::optional<InvalidReason> Decoder::Impl::decode(const DecodePlan& plan, std::string_view value,
                                                   Timestamp kafka_timestamp,
                                                   detectors::Observation& out,
                                                   DecodeNotes& notes) noexcept {
  notes.latency_wrong_type = false;
  notes.count_wrong_type = false;
  notes.fields.clear();  // keeps its capacity: no allocation per record
  notes.keys_id = 0;
  notes.shape_id = 0;
  if (value.empty()) return InvalidReason::kEmpty;
  if (value.size() > plan.max_record_bytes) return InvalidReason::kTooLarge;
  // Stage 1 validates UTF-8 as it indexes: a record it accepts is valid UTF-8, and the input is
  // validated on its own only to tell why a record was refused (invalid UTF-8 comes first).
  const auto refused = [&](InvalidReason reason) {
    return simdjson::validate_utf8(value.data(), value.size()) ? reason
                                                               : InvalidReason::kInvalidUtf8;
  };
  if (!reserve(plan.max_record_bytes)) return refused(InvalidReason::kTooLarge);

  // The padding after the value may hold bytes of an earlier, longer record: simdjson reads but
  // never trusts padding, so it is not cleared per record; only bytes no record reached before
  // are zeroed, so that no read of the padding touches uninitialised memory.
  std::memcpy(buffer_.get(), value.data(), value.size());
  if (const std::size_t padded = value.size() + simdjson::SIMDJSON_PADDING;
      padded > buffer_initialized_) {
    const std::size_t from = std::max(buffer_initialized_, value.size());
    std::memset(buffer_.get() + from, 0, padded - from);
    buffer_initialized_ = padded;
  }

  od::document doc;
  if (auto error = parser_.iterate(buffer_.get(), value.size(), buffer_capacity_).get(doc)) {
    return refused(fromParseError(error));
  }
  od::json_type type;
  if (doc.type().get(type)) return InvalidReason::kInvalidJson;
  if (type != od::json_type::object) return checkNotObject(doc, type, value.size());

  od::object object;
  if (doc.get_object().get(object)) return InvalidReason::kInvalidJson;

  // One pass over the top-level fields; a repeated key overwrites, so the last one wins.
  const WantedKey series_key(plan.series_key);
  const WantedKey event_time_key(plan.event_time);
  const WantedKey latency_key(plan.latency_field);
  const WantedKey count_key(plan.count_field);
  FieldValue series;
  FieldValue event_time;
  FieldValue latency;
  FieldValue count;
  // Every nulls field counts as null until the record shows it with a value.
  std::uint32_t null_mask =
      plan.null_fields.empty() ? 0u : (~0u >> (32 - plan.null_fields.size()));
  const char* const end = buffer_.get() + value.size();
  const bool track_fields = plan.track_fields;  // a local: the loop's stores cannot change it
  std::size_t position = 0;
  for (auto field_result : object) {
    // Used in place: copying the field out of its result costs a store-forwarding stall per key.
    if (field_result.error()) return InvalidReason::kInvalidJson;
    od::field&& field = std::move(field_result).value_unsafe();
    std::string_view key;
    std::uint8_t roles = 0;
    std::uint32_t nulls = 0;
    const char* const raw_key = field.key().raw();
    if (!matchKnownKey(raw_key, end, position, key, roles, nulls)) {
      if (!readKey(field, raw_key, key)) return InvalidReason::kInvalidJson;
      roles = static_cast<std::uint8_t>((series_key.matches(key) ? kRoleSeries : 0) |
                                        (event_time_key.matches(key) ? kRoleEventTime : 0) |
                                        (latency_key.matches(key) ? kRoleLatency : 0) |
                                        (count_key.matches(key) ? kRoleCount : 0));
      for (std::size_t i = 0; i < plan.null_fields.size(); ++i) {
        if (key == plan.null_fields[i]) nulls |= 1u << i;
      }
      learnKey(position, key, key.data() == raw_key, roles, nulls);
    }
    KnownKey& known = known_keys_[position];  // matched or learned above
    ++position;

    od::value& field_value = field.value();
    od::json_type field_type;
    if (field_value.type().get(field_type)) return InvalidReason::kInvalidJson;
    if (track_fields) {
      const std::uint8_t bit = typeBit(field_type);
      notes.fields.push_back(RawField{key, bit});
      if (known.type != bit) [[unlikely]] {
        known.type = bit;
        types_changed_ = true;
      }
    }
    if (field_type != od::json_type::null) null_mask &= ~nulls;
    if (roles == 0) {
      if (!skipTypedValue(field_value, field_type, 2)) return InvalidReason::kInvalidJson;
      continue;
    }
    // A value is read once even if the plan names its key for several roles.
    FieldValue read;
    if (!readValue(field_value, field_type, read)) return InvalidReason::kInvalidJson;
    if ((roles & kRoleSeries) != 0) series = read;
    if ((roles & kRoleEventTime) != 0) event_time = read;
    if ((roles & kRoleLatency) != 0) latency = read;
    if ((roles & kRoleCount) != 0) count = read;
  }
  // The object closed; anything after it ("{...} x", "{...}{...}") is trailing content.
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) != simdjson::OUT_OF_BOUNDS) {
    return InvalidReason::kInvalidJson;
  }
  if (keys_changed_ || position != keys_count_) {
    keys_id_ = nextDecoderId();
    keys_count_ = position;
    keys_changed_ = false;
    types_changed_ = true;
  }
  notes.keys_id = keys_id_;
  if (track_fields) {
    if (types_changed_) {
      shape_id_ = nextDecoderId();
      types_changed_ = false;
    }
    notes.shape_id = shape_id_;
  }

  std::string_view series_name = plan.dataset;
  if (plan.series_key.has_value()) {
    // An empty string names no series: a failure event needs a pipeline_id.
    if ((series.kind != FieldValue::Kind::kString && series.kind != FieldValue::Kind::kNumber) ||
        series.text.empty()) {
      return InvalidReason::kMissingSeriesKey;
    }
    series_name = series.text;
  }

  Timestamp when = kafka_timestamp;
  if (!plan.event_time.has_value() &&
      (kafka_timestamp <= kMinEventTime || kafka_timestamp >= kEndEventTime)) {
    return InvalidReason::kBadEventTime;  // "not available" (0), or a unit mix-up
  }
  if (plan.event_time.has_value()) {
    std::optional<Timestamp> parsed;
    switch (event_time.kind) {
      case FieldValue::Kind::kAbsent:
      case FieldValue::Kind::kNull:
        return InvalidReason::kMissingEventTime;
      case FieldValue::Kind::kString:
        parsed = parseRfc3339(event_time.text);
        break;
      case FieldValue::Kind::kNumber:
        parsed = fromEpochNumber(event_time.number);
        break;
      case FieldValue::Kind::kOther:
        break;
    }
    if (!parsed.has_value() || *parsed < kMinEventTime || *parsed >= kEndEventTime) {
      return InvalidReason::kBadEventTime;
    }
    when = *parsed;
  }

  std::optional<double> latency_seconds;
  if (plan.latency_field.has_value()) {
    switch (latency.kind) {
      case FieldValue::Kind::kAbsent:
      case FieldValue::Kind::kNull:
        break;
      case FieldValue::Kind::kNumber:
        if (std::isfinite(latency.number) && latency.number >= 0) {
          latency_seconds = latency.number * plan.latency_scale;
        } else {
          notes.latency_wrong_type = true;
        }
        break;
      case FieldValue::Kind::kString:
      case FieldValue::Kind::kOther:
        notes.latency_wrong_type = true;
        break;
    }
  } else if (plan.derived_latency) {
    // Producer and broker clocks disagree a little; a negative latency means "no delay".
    latency_seconds = std::max(0.0, detectors::toSeconds(kafka_timestamp - when));
  }

  double volume = 1;
  if (plan.count_field.has_value()) {
    volume = 0;  // absent or null: no rows
    if (count.kind == FieldValue::Kind::kNumber && std::isfinite(count.number) &&
        count.number >= 0) {
      volume = count.number;
    } else if (count.kind == FieldValue::Kind::kNumber || count.kind == FieldValue::Kind::kString ||
               count.kind == FieldValue::Kind::kOther) {
      notes.count_wrong_type = true;
    }
  }

  out.series = series_name;
  out.event_time = when;
  out.latency_seconds = latency_seconds;
  out.volume = volume;
  out.null_mask = null_mask;
  out.fields = {};
  out.fields_token = 0;
  return std::nullopt;
}

Decoder::Decoder(DecodePlan plan)
    : plan_(std::move(plan)), impl_(std::make_unique<Impl>(plan_.max_record_bytes)) {}

Decoder::~Decoder() = default;
Decoder::Decoder(Decoder&&) noexcept = default;
Decoder& Decoder::operator=(Decoder&&) noexcept = default;

std::optional<InvalidReason> Decoder::decode(std::string_view value,
                                             detectors::Timestamp kafka_timestamp,
                                             detectors::Observation& out, DecodeNotes& notes) {
  // Impl::decode uses only error codes; this boundary keeps a surprise from unwinding into the
  // consumer loop. A moved-from Decoder has no Impl.
  try {
    if (!impl_) return InvalidReason::kInvalidJson;
    return impl_->decode(plan_, value, kafka_timestamp, out, notes);
  } catch (...) {
    return InvalidReason::kInvalidJson;
  }
}

std::optional<detectors::Timestamp> parseRfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS is fixed width; the fraction and the offset follow.
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (text.size() < 20 || !readDigits(text, 0, 4, year) || text[4] != '-' ||
      !readDigits(text, 5, 2, month) || text[7] != '-' || !readDigits(text, 8, 2, day)) {
    return std::nullopt;
  }
  if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return std::nullopt;
  if (!readDigits(text, 11, 2, hour) || text[13] != ':' || !readDigits(text, 14, 2, minute) ||
      text[16] != ':' || !readDigits(text, 17, 2, second)) {
    return std::nullopt;
  }
  std::size_t pos = 19;

  int millis = 0;
  if (text[pos] == '.') {
    const std::size_t first = ++pos;
    while (pos < text.size() && isDigit(text[pos])) {
      // Digits past the third are below the clock's resolution: truncated, but still validated.
      if (pos - first < 3) millis = millis * 10 + (text[pos] - '0');
      ++pos;
    }
    const std::size_t digits = pos - first;
    if (digits == 0) return std::nullopt;
    for (std::size_t i = digits; i < 3; ++i) millis *= 10;
  }

  if (pos >= text.size()) return std::nullopt;
  int offset_minutes = 0;
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    const int sign = text[pos] == '-' ? -1 : 1;
    int offset_hour = 0, offset_minute = 0;
    if (!readDigits(text, pos + 1, 2, offset_hour) || pos + 3 >= text.size() ||
        text[pos + 3] != ':' || !readDigits(text, pos + 4, 2, offset_minute) || offset_hour > 23 ||
        offset_minute > 59) {
      return std::nullopt;
    }
    offset_minutes = sign * (offset_hour * 60 + offset_minute);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;

  const std::chrono::year_month_day date{std::chrono::year{year},
                                         std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  // A leap second is folded into the second before it: the clock has no 60.
  if (second == 60) second = 59;

  return Timestamp{std::chrono::sys_days{date}} + std::chrono::hours{hour} +
         std::chrono::minutes{minute} + std::chrono::seconds{second} +
         std::chrono::milliseconds{millis} - std::chrono::minutes{offset_minutes};
}

std::optional<detectors::Timestamp> fromEpochNumber(double value) {
  if (!std::isfinite(value)) return std::nullopt;
  // 1e11 seconds is year 5138 and 1e11 milliseconds is 1973: no plausible value is ambiguous.
  const double millis = std::fabs(value) < 1e11 ? value * 1000.0 : value;
  if (std::fabs(millis) >= kMaxEpochMillis) return std::nullopt;
  // Round, not truncate: 1736951520.123 * 1000 is 1736951520122.9999 in binary.
  return detectors::timestampFromMillis(std::llround(millis));
}

}  // namespace vigil::stream
