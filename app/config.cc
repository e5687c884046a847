#include "app/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "remediation/placeholders.h"
#include "stream/kafka_conf.h"

namespace vigil::app {
namespace {

using detectors::Duration;

// Durations above this are refused, so that adding one to a timestamp cannot overflow.
constexpr Duration kMaxDuration = std::chrono::days(36500);
constexpr std::int64_t kMaxStepsPerWindow = 10000;
constexpr std::uint64_t kMaxThreads = 1024;
// Every partition worker's decoder is sized for max_record_bytes (about 7 times it in memory).
constexpr std::uint64_t kMaxRecordBytes = 64 << 20;
// A secret file larger than this is a mistake (a device, a log), not a secret.
constexpr std::size_t kMaxSecretBytes = 1 << 20;
constexpr std::string_view kPagerDutyUrl = "https://events.pagerduty.com/v2/enqueue";
constexpr std::string_view kDurationHint = "expected a duration like 5s";
constexpr std::string_view kListenHint = R"(expected HOST:PORT (port 0..65535), or "" to disable)";

constexpr std::string_view kFailureTypes[] = {"latency_spike", "stale_data", "volume_drop",
                                              "volume_spike",  "null_spike", "schema_drift"};

template <typename T>
using Choices = std::pair<std::string_view, T>;

constexpr Choices<detectors::LatencyUnit> kLatencyUnits[] = {
    {"us", detectors::LatencyUnit::kMicroseconds},
    {"ms", detectors::LatencyUnit::kMilliseconds},
    {"s", detectors::LatencyUnit::kSeconds}};
constexpr Choices<detectors::Severity> kSeverities[] = {
    {"critical", detectors::Severity::kCritical},
    {"error", detectors::Severity::kError},
    {"warning", detectors::Severity::kWarning},
    {"info", detectors::Severity::kInfo}};
constexpr Choices<detectors::Seasonality> kSeasonalities[] = {
    {"auto", detectors::Seasonality::kAuto},
    {"none", detectors::Seasonality::kNone},
    {"hour_of_day", detectors::Seasonality::kHourOfDay},
    {"hour_of_week", detectors::Seasonality::kHourOfWeek}};
constexpr Choices<detectors::Direction> kDirections[] = {{"up", detectors::Direction::kUp},
                                                         {"down", detectors::Direction::kDown},
                                                         {"both", detectors::Direction::kBoth}};
constexpr Choices<remediation::Mode> kModes[] = {{"enforce", remediation::Mode::kEnforce},
                                                 {"shadow", remediation::Mode::kShadow}};
constexpr Choices<remediation::Risk> kRisks[] = {{"low", remediation::Risk::kLow},
                                                 {"medium", remediation::Risk::kMedium},
                                                 {"high", remediation::Risk::kHigh}};
constexpr Choices<remediation::ActionType> kActionTypes[] = {
    {"http", remediation::ActionType::kHttp},
    {"command", remediation::ActionType::kCommand},
    {"kafka", remediation::ActionType::kKafka},
    {"pagerduty", remediation::ActionType::kPagerDuty}};
constexpr Choices<std::string_view> kHttpMethods[] = {
    {"GET", "GET"}, {"POST", "POST"}, {"PUT", "PUT"}, {"PATCH", "PATCH"}, {"DELETE", "DELETE"}};

// ---------------------------------------------------------------------------------------------
// Words

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

bool isControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

void appendHexEscape(std::string& out, char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(static_cast<unsigned char>(c)));
  out += buf;
}

// `text` with control characters written \xNN, so that a problem stays on its one line whatever
// the keys it names hold.
std::string oneLine(std::string_view text) {
  if (std::none_of(text.begin(), text.end(), isControl)) return std::string(text);
  std::string out;
  for (const char c : text) {
    if (isControl(c)) {
      appendHexEscape(out, c);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// `"text"`, with control characters escaped so a hostile key cannot forge output lines.
std::string inQuotes(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (isControl(c)) {
      appendHexEscape(out, c);
    } else {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

// The offset of the first byte that is not part of well-formed UTF-8 (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or nullopt.
std::optional<std::size_t> invalidUtf8At(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xbf;  // the range of the second byte
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      if (c == 0xe0) low = 0xa0;
      if (c == 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      if (c == 0xf0) low = 0x90;
      if (c == 0xf4) high = 0x8f;
    } else {
      return i;
    }
    if (i + length > s.size()) return i;
    for (std::size_t k = 1; k < length; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xbf)) return i;
    }
    i += length;
  }
  return std::nullopt;
}

// ` (did you mean "x"?)` for the closest candidate within edit distance 2, else "". Ties go to
// the earlier candidate.
template <typename Range>
std::string didYouMean(std::string_view word, const Range& candidates) {
  std::string_view best;
  std::size_t best_distance = 3;
  for (const auto& candidate : candidates) {
    const std::size_t d = editDistance(word, candidate);
    // A suggestion keeps at least one character: "ab" is not a typo of "s".
    if (d < best_distance && d < std::max(word.size(), std::string_view(candidate).size())) {
      best = candidate;
      best_distance = d;
    }
  }
  return best_distance <= 2 ? " (did you mean " + inQuotes(best) + "?)" : "";
}

template <typename T, std::size_t N>
std::string oneOf(const Choices<T> (&choices)[N]) {
  std::string out = "one of ";
  for (std::size_t i = 0; i < N; ++i) {
    if (i) out += ", ";
    out += choices[i].first;
  }
  return out;
}

std::string formatDuration(Duration d) {
  struct Unit {
    std::int64_t ms;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {
      {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
  const std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  for (const Unit& unit : kUnits) {
    if (ms % unit.ms == 0) return std::to_string(ms / unit.ms) + unit.suffix;
  }
  return std::to_string(ms) + "ms";
}

// "line L, column C" of a byte offset, both from 1 (columns count bytes).
std::string lineAndColumn(std::string_view text, std::size_t offset) {
  const std::string_view before = text.substr(0, offset);
  const auto line = static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n')) + 1;
  const std::size_t line_start = before.rfind('\n');
  const std::size_t column =
      offset - (line_start == std::string_view::npos ? 0 : line_start + 1) + 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// ---------------------------------------------------------------------------------------------
// Files

// Reads at most `limit` bytes of `path`; on failure returns the reason, never the contents.
std::optional<std::string> readFile(const std::string& path, std::size_t limit, std::string& out) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return std::generic_category().message(errno);
  out.clear();
  char buf[8192];
  std::optional<std::string> error;
  for (;;) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, file);
    out.append(buf, n);
    if (out.size() > limit) {
      error = "larger than " + std::to_string(limit) + " bytes";
      break;
    }
    if (n < sizeof buf) {
      if (std::ferror(file)) error = std::generic_category().message(errno);
      break;
    }
  }
  std::fclose(file);
  if (error) out.clear();
  return error;
}

// ---------------------------------------------------------------------------------------------
// Problems, in document order

class Problems {
 public:
  void add(const YAML::Mark& at, std::string_view path, std::string_view message) {
    entries_.push_back({at.line, at.column, {oneLine(path), oneLine(message)}});
  }
  std::size_t size() const { return entries_.size(); }

  // Sorted by position in the file (problems about absent sections first), so the report reads
  // top to bottom however the schema happened to be walked.
  std::vector<ConfigProblem> take() && {
    std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    std::vector<ConfigProblem> out;
    out.reserve(entries_.size());
    for (Entry& e : entries_) out.push_back(std::move(e.problem));
    return out;
  }

 private:
  struct Entry {
    int line;
    int column;
    ConfigProblem problem;
  };
  std::vector<Entry> entries_;
};

// Everything the schema walk shares.
struct Context {
  Problems problems;
  std::string base_dir;
  std::vector<std::string> secrets;  // every value read from a file, and inline sensitive ones
};

// ---------------------------------------------------------------------------------------------
// Values: one node and its key path. The as* functions record a problem and return nullopt when
// the value is not what was expected.

struct Value {
  Context* ctx;
  YAML::Node node;
  std::string path;

  void problem(std::string message) const {
    ctx->problems.add(node.Mark(), path, std::move(message));
  }
  const std::string& text() const { return node.Scalar(); }
};

enum class Need { kOptional, kRequired };
enum class Sign { kNonNegative, kPositive };
enum class Empty { kRefuse, kAllow };

std::optional<std::string> asString(const Value& v, Empty empty = Empty::kRefuse) {
  if (!v.node.IsScalar()) {
    v.problem("expected a string");
    return std::nullopt;
  }
  // The text is UTF-8 (parseConfig checks it), but names must stay so whatever yaml-cpp does.
  if (invalidUtf8At(v.text())) {
    v.problem("not valid UTF-8");
    return std::nullopt;
  }
  if (empty == Empty::kRefuse && v.text().empty()) {
    v.problem("must not be empty");
    return std::nullopt;
  }
  return v.text();
}

std::optional<Duration> asDuration(const Value& v, Sign sign) {
  std::optional<Duration> d;
  if (v.node.IsScalar()) d = parseDuration(v.text());
  if (!d) {
    v.problem(std::string(kDurationHint));
    return std::nullopt;
  }
  if (sign == Sign::kPositive && d->count() == 0) {
    v.problem("must be positive");
    return std::nullopt;
  }
  return d;
}

// A decimal integer in [min, max]; min is 0 or 1.
std::optional<std::uint64_t> asInteger(const Value& v, std::uint64_t min, std::uint64_t max) {
  const char* expected =
      min == 0 ? "expected a non-negative integer" : "expected a positive integer";
  const std::string& s = v.node.IsScalar() ? v.text() : std::string();
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  const bool digits = !s.empty() && end == s.data() + s.size() &&
                      std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || (ec == std::errc() && n < min)) {
    v.problem(expected);
    return std::nullopt;
  }
  if (ec != std::errc() || n > max) {
    v.problem("must be at most " + std::to_string(max));
    return std::nullopt;
  }
  return n;
}

// A finite number accepted by `ok`; `expected` describes the accepted range.
template <typename Ok>
std::optional<double> asNumber(const Value& v, std::string_view expected, Ok ok) {
  double x = 0;
  bool valid = false;
  if (v.node.IsScalar() && !v.text().empty()) {
    const std::string& s = v.text();
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    valid = ec == std::errc() && end == s.data() + s.size() && std::isfinite(x) && ok(x);
  }
  if (!valid) {
    v.problem(std::string(expected));
    return std::nullopt;
  }
  return x;
}

std::optional<bool> asBool(const Value& v) {
  bool b = false;
  if (!v.node.IsScalar() || !YAML::convert<bool>::decode(v.node, b)) {
    v.problem("expected true or false");
    return std::nullopt;
  }
  return b;
}

template <typename T, std::size_t N>
std::optional<T> asChoice(const Value& v, const Choices<T> (&choices)[N]) {
  if (v.node.IsScalar()) {
    for (const auto& [name, value] : choices) {
      if (v.text() == name) return value;
    }
  }
  std::vector<std::string_view> names;
  for (const auto& choice : choices) names.push_back(choice.first);
  v.problem("expected " + oneOf(choices) +
            (v.node.IsScalar() ? didYouMean(v.text(), names) : std::string()));
  return std::nullopt;
}

// The elements of a list, each with its path `path[i]`. Null reads as an empty list.
std::optional<std::vector<Value>> asList(const Value& v, std::string_view what) {
  if (v.node.IsNull()) return std::vector<Value>{};
  if (!v.node.IsSequence()) {
    v.problem("expected a list of " + std::string(what));
    return std::nullopt;
  }
  std::vector<Value> items;
  for (std::size_t i = 0; i < v.node.size(); ++i) {
    items.push_back({v.ctx, v.node[i], v.path + "[" + std::to_string(i) + "]"});
  }
  return items;
}

std::optional<std::vector<std::string>> asStrings(const Value& v, Empty empty = Empty::kRefuse) {
  auto items = asList(v, "strings");
  if (!items) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (const Value& item : *items) {
    if (auto s = asString(item, empty)) {
      out.push_back(std::move(*s));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

// HOST:PORT with a port in 0..65535 (an IPv6 host in brackets), or "" for no endpoint.
bool validListen(std::string_view s) {
  if (s.empty()) return true;
  const std::size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view host = s.substr(0, colon);
  const std::string_view port = s.substr(colon + 1);
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  if (!bracketed && host.find_first_of(":[]") != std::string_view::npos) return false;
  if (port.empty() || port.size() > 5) return false;
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  return std::stoul(std::string(port)) <= 65535;
}

std::optional<std::string> asListen(const Value& v) {
  auto s = asString(v, Empty::kAllow);
  if (s && !validListen(*s)) {
    v.problem(std::string(kListenHint));
    return std::nullopt;
  }
  return s;
}

// True when every `{name}` placeholder of a template is a known one; reports
// the others, with a did-you-mean.
bool knownPlaceholders(const Value& v, std::string_view text) {
  bool ok = true;
  for (const std::string& unknown : remediation::unknownPlaceholders(text)) {
    const std::string_view name = std::string_view(unknown).substr(1, unknown.size() - 2);
    const std::string hint = didYouMean(name, remediation::kPlaceholderNames);
    std::string expected;
    for (const std::string_view known : remediation::kPlaceholderNames) {
      expected += (expected.empty() ? "" : ", ") + ("{" + std::string(known) + "}");
    }
    v.problem("unknown placeholder " + unknown + (hint.empty() ? ": expected one of " + expected : hint));
    ok = false;
  }
  return ok;
}

// An http(s) URL whose `{...}` placeholders are all known ones.
std::optional<std::string> asUrl(const Value& v) {
  auto s = asString(v);
  if (!s) return std::nullopt;
  const std::string_view url = *s;
  const std::size_t scheme = url.starts_with("https://") ? 8 : url.starts_with("http://") ? 7 : 0;
  if (scheme == 0 || url.size() == scheme || url[scheme] == '/') {
    v.problem("expected an http:// or https:// URL");
    return std::nullopt;
  }
  const bool ok = knownPlaceholders(v, url);
  if (!ok) return std::nullopt;
  return s;
}

// The contents of the secret file named by `v` (relative to base_dir), minus one trailing
// newline ("\n", or "\r\n" from an editor that writes those). Only when `load`: a section the
// command does not need is checked but its secrets are not read, so one config can serve processes
// that see different secrets. The contents are never part of a problem.
std::optional<std::string> asSecretFile(const Value& v, bool load) {
  auto name = asString(v);
  if (!name || !load) return std::nullopt;
  std::filesystem::path path(*name);
  if (path.is_relative()) path = std::filesystem::path(v.ctx->base_dir) / path;
  std::string contents;
  if (auto error = readFile(path.string(), kMaxSecretBytes, contents)) {
    v.problem("cannot read " + path.string() + ": " + *error);
    return std::nullopt;
  }
  if (contents.ends_with("\r\n")) {
    contents.resize(contents.size() - 2);
  } else if (contents.ends_with('\n')) {
    contents.pop_back();
  }
  v.ctx->secrets.push_back(contents);
  return contents;
}

// ---------------------------------------------------------------------------------------------
// Reader: one YAML map at a known path. Every accessor names the key it reads, so finish() can
// report the keys nobody asked for, with a suggestion when one was close.

class Reader {
 public:
  // A null node (`section:` with nothing after it) reads as an empty map.
  Reader(Context& ctx, const YAML::Node& node, std::string path)
      : ctx_(&ctx), node_(node), path_(std::move(path)) {
    if (node_.IsNull()) return;
    if (!node_.IsMap()) {
      problem("expected a map");
      valid_ = false;
      return;
    }
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (!it->first.IsScalar()) {
        ctx_->problems.add(it->first.Mark(), displayPath(), "keys must be strings");
        continue;
      }
      const std::string& key = it->first.Scalar();
      if (find(key) != nullptr) {
        ctx_->problems.add(it->first.Mark(), pathOf(key), "duplicate key");
        continue;
      }
      entries_.push_back({key, it->first, it->second});
    }
  }

  bool valid() const { return valid_; }
  bool empty() const { return entries_.empty(); }
  // An empty key is shown as "", so that a problem about it still names a path.
  std::string pathOf(std::string_view key) const {
    const std::string shown = key.empty() ? std::string(R"("")") : std::string(key);
    return path_.empty() ? shown : path_ + "." + shown;
  }

  bool has(std::string_view key) const { return find(key) != nullptr; }
  std::size_t problemCount() const { return ctx_->problems.size(); }

  // The value at `key`, which becomes a known key. Absent: nullopt, and "required" if needed.
  std::optional<Value> get(std::string_view key, Need need = Need::kOptional,
                           std::string_view required_message = "required") {
    asked_.emplace_back(key);
    Entry* entry = find(key);
    if (entry == nullptr) {
      if (need == Need::kRequired && valid_) problem(key, std::string(required_message));
      return std::nullopt;
    }
    entry->known = true;
    return Value{ctx_, entry->value, pathOf(key)};
  }

  // Keys accepted without being read (e.g. those of an action whose type is unknown).
  void ignore(std::initializer_list<std::string_view> keys) {
    for (std::string_view key : keys) get(key);
  }

  // Every entry, all known: for free-form maps.
  std::vector<std::pair<std::string, Value>> all() {
    std::vector<std::pair<std::string, Value>> out;
    for (Entry& e : entries_) {
      e.known = true;
      out.emplace_back(e.key, Value{ctx_, e.value, pathOf(e.key)});
    }
    return out;
  }

  std::optional<std::string> string(std::string_view key, Need need = Need::kOptional) {
    auto v = get(key, need);
    return v ? asString(*v) : std::nullopt;
  }
  std::optional<Duration> duration(std::string_view key, Sign sign) {
    auto v = get(key);
    return v ? asDuration(*v, sign) : std::nullopt;
  }
  std::optional<std::uint64_t> integer(std::string_view key, std::uint64_t min, std::uint64_t max) {
    auto v = get(key);
    return v ? asInteger(*v, min, max) : std::nullopt;
  }
  std::optional<bool> boolean(std::string_view key) {
    auto v = get(key);
    return v ? asBool(*v) : std::nullopt;
  }
  std::optional<std::vector<std::string>> strings(std::string_view key, Need need) {
    auto v = get(key, need);
    return v ? asStrings(*v) : std::nullopt;
  }
  std::optional<std::string> listen(std::string_view key) {
    auto v = get(key);
    return v ? asListen(*v) : std::nullopt;
  }
  template <typename T, std::size_t N>
  std::optional<T> choice(std::string_view key, const Choices<T> (&choices)[N],
                          Need need = Need::kOptional) {
    auto v = get(key, need, "required: " + oneOf(choices));
    return v ? asChoice(*v, choices) : std::nullopt;
  }
  // A nested map; nullopt when absent or not a map (reported).
  std::optional<Reader> map(std::string_view key, Need need = Need::kOptional) {
    auto v = get(key, need);
    if (!v) return std::nullopt;
    Reader child(*ctx_, v->node, v->path);
    if (!child.valid()) return std::nullopt;
    return child;
  }

  // A problem about this map as a whole.
  void problem(std::string message) const {
    ctx_->problems.add(node_.Mark(), displayPath(), std::move(message));
  }
  // A problem about `key`, placed at its value when present.
  void problem(std::string_view key, std::string message) const {
    const Entry* entry = find(key);
    ctx_->problems.add(entry ? entry->value.Mark() : node_.Mark(), pathOf(key), std::move(message));
  }

  // Reports every key that no accessor asked for.
  void finish() const {
    for (const Entry& e : entries_) {
      if (!e.known) {
        ctx_->problems.add(e.key_node.Mark(), pathOf(e.key),
                           "unknown key" + didYouMean(e.key, asked_));
      }
    }
  }

 private:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
    bool known = false;
  };

  std::string displayPath() const { return path_.empty() ? "config" : path_; }
  const Entry* find(std::string_view key) const {
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const Entry& e) { return e.key == key; });
    return it == entries_.end() ? nullptr : &*it;
  }
  Entry* find(std::string_view key) {
    return const_cast<Entry*>(static_cast<const Reader*>(this)->find(key));
  }

  Context* ctx_;
  YAML::Node node_;
  std::string path_;
  bool valid_ = true;
  std::vector<Entry> entries_;
  std::vector<std::string> asked_;
};

// ---------------------------------------------------------------------------------------------
// kafka

// `kafka.<key>: <librdkafka's message>`; an unknown name gets the closest librdkafka property.
void kafkaProblem(const Value& v, const std::string& property, std::string_view suffix,
                  const stream::KafkaPropertyProblem& problem) {
  if (problem.kind == stream::KafkaPropertyProblem::Kind::kInvalid) {
    v.problem(problem.message);
    return;
  }
  std::vector<std::string> candidates;
  for (const std::string& name : stream::kafkaPropertyNames()) {
    candidates.push_back(name + std::string(suffix));
  }
  v.problem(problem.message + didYouMean(property + std::string(suffix), candidates));
}

// Every property goes to librdkafka as written; librdkafka judges each one now, so a typo or a
// bad value stops the command before it starts. `<name>_file` reads the value from a file (only
// when the section is required): such a value is a secret, never part of a problem.
void readKafka(Reader& r, bool required, stream::KafkaProperties& out) {
  constexpr std::string_view kFileSuffix = "_file";
  for (auto& [key, value] : r.all()) {
    if (!value.node.IsScalar()) {
      value.problem("expected a string, number or boolean");
      continue;
    }
    if (key.size() <= kFileSuffix.size() || !key.ends_with(kFileSuffix)) {
      if (stream::sensitiveKafkaProperty(key)) value.ctx->secrets.push_back(value.text());
      if (auto problem = stream::checkKafkaProperty(key, value.text(), false)) {
        kafkaProblem(value, key, "", *problem);
      }
      out[key] = value.text();
      continue;
    }
    const std::string property = key.substr(0, key.size() - kFileSuffix.size());
    if (r.has(property)) {
      value.problem("conflicts with " + property + ": set one of them");
      continue;
    }
    if (!stream::knownKafkaProperty(property)) {
      kafkaProblem(value, property, kFileSuffix,
                   {stream::KafkaPropertyProblem::Kind::kUnknown, "unknown librdkafka property"});
      continue;
    }
    if (auto secret = asSecretFile(value, required)) {
      if (auto problem = stream::checkKafkaProperty(property, *secret, true)) {
        kafkaProblem(value, property, kFileSuffix, *problem);
      }
      out[property] = std::move(*secret);
    }
  }
  if (required && !r.has("bootstrap.servers") && !r.has("bootstrap.servers_file")) {
    r.problem("bootstrap.servers", "required");
  } else if (auto it = out.find("bootstrap.servers");
             required && it != out.end() && it->second.empty()) {
    r.problem(r.has("bootstrap.servers") ? "bootstrap.servers" : "bootstrap.servers_file",
              "must not be empty");
  }
}

// ---------------------------------------------------------------------------------------------
// detect

void readDetect(Reader& r, stream::DetectSpec& spec) {
  if (auto s = r.string("group_id")) spec.group_id = *s;
  if (auto s = r.string("failures_topic")) spec.failures_topic = *s;
  if (auto n = r.integer("threads", 0, kMaxThreads)) spec.threads = static_cast<unsigned>(*n);
  if (auto s = r.listen("listen")) spec.listen = *s;
  if (auto s = r.string("state_topic")) spec.state_topic = *s;
  if (auto d = r.duration("idle_timeout", Sign::kPositive)) spec.idle_timeout = d;
  r.finish();
}

// ---------------------------------------------------------------------------------------------
// datasets

std::optional<detectors::AdaptiveSpec> readAdaptive(Reader& parent) {
  auto r = parent.map("adaptive");
  if (!r) return std::nullopt;
  detectors::AdaptiveSpec spec;
  if (auto v = r->get("sensitivity")) {
    if (auto x = asNumber(*v, "expected a positive number", [](double d) { return d > 0; })) {
      spec.sensitivity = *x;
    }
  }
  if (auto s = r->choice("seasonality", kSeasonalities)) spec.seasonality = *s;
  if (auto d = r->choice("direction", kDirections)) spec.direction = *d;
  r->finish();
  return spec;
}

detectors::LatencySpec readLatency(Reader& r) {
  detectors::LatencySpec spec;
  spec.field = r.string("field");
  if (auto u = r.choice("unit", kLatencyUnits)) spec.unit = *u;
  spec.p95_max = r.duration("p95_max", Sign::kNonNegative);
  spec.p99_max = r.duration("p99_max", Sign::kNonNegative);
  spec.adaptive = readAdaptive(r);
  if (!r.has("p95_max") && !r.has("p99_max") && !r.has("adaptive")) {
    r.problem("no bound configured: set p95_max, p99_max or adaptive");
  }
  r.finish();
  return spec;
}

detectors::FreshnessSpec readFreshness(Reader& r) {
  detectors::FreshnessSpec spec;
  if (auto v = r.get("max_age", Need::kRequired)) {
    if (auto d = asDuration(*v, Sign::kPositive)) spec.max_age = *d;
  }
  r.finish();
  return spec;
}

detectors::VolumeSpec readVolume(Reader& r) {
  detectors::VolumeSpec spec;
  spec.count_field = r.string("count_field");
  const auto nonNegative = [](double x) { return x >= 0; };
  auto min = r.get("min");
  auto max = r.get("max");
  if (min) spec.min = asNumber(*min, "expected a non-negative number", nonNegative);
  if (max) spec.max = asNumber(*max, "expected a non-negative number", nonNegative);
  if (spec.min && spec.max && *spec.min > *spec.max) {
    min->problem("must not exceed max (" + max->text() + ")");
  }
  spec.adaptive = readAdaptive(r);
  if (!min && !max && !r.has("adaptive")) {
    r.problem("no bound configured: set min, max or adaptive");
  }
  r.finish();
  return spec;
}

detectors::NullsSpec readNulls(Reader& r) {
  detectors::NullsSpec spec;
  if (auto v = r.get("fields", Need::kRequired)) {
    if (auto fields = asStrings(*v)) {
      if (fields->empty()) v->problem("must list at least one field");
      if (fields->size() > 32) v->problem("at most 32 fields");
      spec.fields = std::move(*fields);
    }
  }
  if (auto v = r.get("max_rate")) {
    spec.max_rate = asNumber(*v, "expected a number between 0 and 1",
                             [](double x) { return x >= 0 && x <= 1; });
  }
  spec.adaptive = readAdaptive(r);
  if (!r.has("max_rate") && !r.has("adaptive")) {
    r.problem("no bound configured: set max_rate or adaptive");
  }
  r.finish();
  return spec;
}

detectors::SchemaSpec readSchema(Reader& r) {
  detectors::SchemaSpec spec;
  if (auto fields = r.strings("required", Need::kOptional)) spec.required = std::move(*fields);
  if (auto b = r.boolean("alert_on_new_fields")) spec.alert_on_new_fields = *b;
  r.finish();
  return spec;
}

void readChecks(Reader& r, detectors::DatasetSpec& spec) {
  if (r.empty())
    r.problem("at least one check is required: latency, freshness, volume, nulls or schema");
  if (auto c = r.map("latency")) spec.latency = readLatency(*c);
  if (auto c = r.map("freshness")) spec.freshness = readFreshness(*c);
  if (auto c = r.map("volume")) spec.volume = readVolume(*c);
  if (auto c = r.map("nulls")) spec.nulls = readNulls(*c);
  if (auto c = r.map("schema")) spec.schema = readSchema(*c);
  r.finish();
}

void readAlert(Reader& r, detectors::AlertSpec& spec) {
  if (auto d = r.duration("for", Sign::kNonNegative)) spec.for_duration = *d;
  if (auto d = r.duration("keep_firing_for", Sign::kNonNegative)) spec.keep_firing_for = *d;
  if (auto s = r.choice("severity", kSeverities)) spec.severity = *s;
  r.finish();
}

// Relations between window, step and allowed_lateness; each problem is put on a key the user
// wrote, so a default is never blamed.
void checkTiming(Reader& r, const detectors::DatasetSpec& spec) {
  const std::string step = formatDuration(spec.step);
  const std::string window = formatDuration(spec.window);
  const bool has_window = r.has("window");
  if (spec.window < spec.step) {
    if (has_window) {
      r.problem("window", "must be at least step (" + step + ")");
    } else {
      r.problem("step", "must not exceed window (" + window + ")");
    }
    return;
  }
  if (spec.window.count() % spec.step.count() != 0) {
    if (has_window) {
      r.problem("window", "must be a multiple of step (" + step + ")");
    } else {
      r.problem("step", "must divide window (" + window + ")");
    }
    return;
  }
  if (spec.window / spec.step > kMaxStepsPerWindow) {
    r.problem(r.has("step") ? "step" : "window", "window " + window + " holds more than " +
                                                     std::to_string(kMaxStepsPerWindow) +
                                                     " steps of " + step + ": use a larger step");
  }
  if (spec.allowed_lateness && *spec.allowed_lateness > spec.window) {
    r.problem("allowed_lateness", "must not exceed window (" + window + ")");
  }
}

detectors::DatasetSpec readDataset(Reader& r) {
  detectors::DatasetSpec spec;
  if (auto s = r.string("name", Need::kRequired)) spec.name = *s;
  if (auto s = r.string("topic", Need::kRequired)) spec.topic = *s;
  spec.series_key = r.string("series_key");
  spec.event_time = r.string("event_time");

  const std::size_t before = r.problemCount();
  if (auto d = r.duration("window", Sign::kPositive)) spec.window = *d;
  if (auto d = r.duration("step", Sign::kPositive)) spec.step = *d;
  spec.allowed_lateness = r.duration("allowed_lateness", Sign::kNonNegative);
  if (r.problemCount() == before) checkTiming(r, spec);

  if (auto n = r.integer("max_record_bytes", 1, kMaxRecordBytes)) {
    spec.max_record_bytes = *n;
  }
  if (auto n = r.integer("max_series", 1, std::numeric_limits<std::uint32_t>::max())) {
    spec.max_series = static_cast<std::uint32_t>(*n);
  }
  spec.dead_letter_topic = r.string("dead_letter_topic");
  if (auto checks = r.map("checks", Need::kRequired)) readChecks(*checks, spec);
  if (auto alert = r.map("alert")) readAlert(*alert, spec.alert);
  r.finish();
  return spec;
}

void readDatasets(const Value& v, bool required, std::vector<detectors::DatasetSpec>& out) {
  auto items = asList(v, "datasets");
  if (!items) return;
  if (items->empty() && required) v.problem("at least one dataset is required");
  std::map<std::string, std::size_t, std::less<>> seen;
  for (const Value& item : *items) {
    Reader r(*item.ctx, item.node, item.path);
    if (!r.valid()) continue;
    detectors::DatasetSpec spec = readDataset(r);
    if (!spec.name.empty() && !seen.emplace(spec.name, out.size()).second) {
      r.problem("name", "duplicate dataset name " + inQuotes(spec.name));
    }
    out.push_back(std::move(spec));
  }
}

// ---------------------------------------------------------------------------------------------
// remediate

// Names of the configured actions, to check references against.
using ActionNames = std::vector<std::string>;

void checkActionRef(const Value& v, const std::string& name, const ActionNames& actions) {
  if (std::find(actions.begin(), actions.end(), name) != actions.end()) return;
  v.problem("unknown action " + inQuotes(name) + didYouMean(name, actions));
}

remediation::ActionSpec readAction(Reader& r, const std::string& name, bool load) {
  using remediation::ActionType;
  remediation::ActionSpec spec;
  spec.name = name;
  const auto type = r.choice("type", kActionTypes, Need::kRequired);
  if (type) spec.type = *type;
  // The operator decides the risk of anything that changes a pipeline; a notification is low.
  const bool risk_required = type == ActionType::kHttp || type == ActionType::kCommand;
  if (auto risk = r.choice("risk", kRisks, risk_required ? Need::kRequired : Need::kOptional)) {
    spec.risk = *risk;
  }
  if (auto d = r.duration("timeout", Sign::kPositive)) spec.timeout = *d;
  if (!type) {  // Only `type` is reported; the rest cannot be judged without it.
    r.ignore({"method", "url", "headers", "header_files", "body", "argv", "topic", "routing_key_file",
              "severity"});
    r.finish();
    return spec;
  }
  switch (*type) {
    case ActionType::kHttp:
      if (auto m = r.choice("method", kHttpMethods)) spec.method = *m;
      if (auto v = r.get("url", Need::kRequired)) spec.url = asUrl(*v).value_or("");
      if (auto headers = r.map("headers")) {
        for (auto& [header, value] : headers->all()) {
          if (auto s = asString(value, Empty::kAllow)) {
            knownPlaceholders(value, *s);
            spec.headers[header] = *s;
          }
        }
      }
      if (auto files = r.map("header_files")) {
        for (auto& [header, value] : files->all()) {
          const std::string& header_name = header;  // clang 14 lambdas cannot capture a binding
          const auto templated =
              std::find_if(spec.headers.begin(), spec.headers.end(), [&](const auto& h) {
                return std::equal(h.first.begin(), h.first.end(), header_name.begin(),
                                  header_name.end(), [](char a, char b) {
                                    return std::tolower(static_cast<unsigned char>(a)) ==
                                           std::tolower(static_cast<unsigned char>(b));
                                  });
              });
          if (templated != spec.headers.end()) {
            value.problem("conflicts with headers." + templated->first + ": set one of them");
            continue;
          }
          auto secret = asSecretFile(value, load);
          if (!secret) continue;
          if (secret->empty()) {
            value.problem("the file is empty");
          } else if (secret->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
            value.problem("the file holds a line break or NUL (one trailing newline is dropped)");
          }
          spec.secret_headers[header] = std::move(*secret);
        }
      }
      if (auto v = r.get("body")) {
        spec.body = asString(*v, Empty::kAllow);
        if (spec.body) knownPlaceholders(*v, *spec.body);
      }
      break;
    case ActionType::kCommand:
      if (auto v = r.get("argv", Need::kRequired)) {
        if (auto argv = asStrings(*v, Empty::kAllow)) {
          if (argv->empty() || argv->front().empty()) {
            v->problem("must list the program and its arguments");
          } else {
            // The program is fixed by the operator: event data never picks it.
            for (const std::string_view known : remediation::kPlaceholderNames) {
              if (argv->front().find("{" + std::string(known) + "}") != std::string::npos) {
                v->problem("the program (first element) cannot hold a placeholder");
                break;
              }
            }
          }
          for (const std::string& arg : *argv) knownPlaceholders(*v, arg);
          spec.argv = std::move(*argv);
        }
      }
      break;
    case ActionType::kKafka:
      if (auto s = r.string("topic", Need::kRequired)) spec.topic = *s;
      break;
    case ActionType::kPagerDuty:
      if (auto v = r.get("routing_key_file", Need::kRequired)) {
        if (auto key = asSecretFile(*v, load)) {
          if (key->empty()) v->problem("the file is empty");
          spec.routing_key = std::move(*key);
        }
      }
      spec.severity = r.choice("severity", kSeverities);
      spec.url = kPagerDutyUrl;
      if (auto v = r.get("url")) spec.url = asUrl(*v).value_or("");
      break;
  }
  r.finish();
  return spec;
}

remediation::PlaybookStep readStep(Reader& r, const ActionNames& actions) {
  remediation::PlaybookStep step;
  if (auto v = r.get("action", Need::kRequired)) {
    if (auto name = asString(*v)) {
      checkActionRef(*v, *name, actions);
      step.action = *name;
    }
  }
  if (auto n = r.integer("retries", 0, std::numeric_limits<unsigned>::max())) {
    step.retries = static_cast<unsigned>(*n);
  }
  if (auto d = r.duration("backoff", Sign::kNonNegative)) step.backoff = *d;
  if (auto d = r.duration("verify_within", Sign::kPositive)) step.verify_within = *d;
  r.finish();
  return step;
}

// Escalations notify; they do not change a pipeline, so they run without an
// approval and must be configured as low risk.
void checkEscalation(const Value& v, const std::string& name,
                     const std::vector<remediation::ActionSpec>& specs) {
  for (const auto& a : specs) {
    if (a.name == name && a.risk != remediation::Risk::kLow) {
      v.problem("escalation action " + inQuotes(name) +
                " must be risk low: an escalation notifies, it does not change a pipeline");
    }
  }
}

remediation::Playbook readPlaybook(Reader& r, const ActionNames& actions,
                                   const std::vector<remediation::ActionSpec>& specs) {
  remediation::Playbook playbook;
  if (auto match = r.map("match")) {
    if (auto v = match->get("failure_type")) {
      for (const Value& item : asList(*v, "failure types").value_or(std::vector<Value>{})) {
        auto type = asString(item);
        if (!type) continue;
        if (std::find(std::begin(kFailureTypes), std::end(kFailureTypes), *type) ==
            std::end(kFailureTypes)) {
          const std::string hint = didYouMean(*type, kFailureTypes);
          item.problem("unknown failure type " + inQuotes(*type) +
                       (hint.empty() ? ": expected one of latency_spike, stale_data, volume_drop, "
                                       "volume_spike, null_spike, schema_drift"
                                     : hint));
          continue;
        }
        playbook.failure_types.push_back(*type);
      }
    }
    playbook.dataset_glob = match->string("dataset");
    match->finish();
  }
  if (auto v = r.get("steps")) {
    for (const Value& item : asList(*v, "steps").value_or(std::vector<Value>{})) {
      Reader step(*item.ctx, item.node, item.path);
      if (step.valid()) playbook.steps.push_back(readStep(step, actions));
    }
  }
  if (auto v = r.get("escalate")) {
    if (auto name = asString(*v)) {
      checkActionRef(*v, *name, actions);
      checkEscalation(*v, *name, specs);
      playbook.escalate = *name;
    }
  }
  if (!r.has("steps") && !r.has("escalate")) r.problem("does nothing: set steps or escalate");
  r.finish();
  return playbook;
}

void readRemediate(Reader& r, bool load, remediation::RemediateSpec& spec) {
  if (auto s = r.string("group_id")) spec.group_id = *s;
  if (auto s = r.string("failures_topic")) spec.failures_topic = *s;
  if (auto s = r.string("outcomes_topic")) spec.outcomes_topic = *s;
  if (auto m = r.choice("mode", kModes)) spec.mode = *m;
  if (auto s = r.listen("listen")) spec.listen = *s;
  if (auto v = r.get("api_token_file")) {
    if (auto token = asSecretFile(*v, load)) {
      if (token->empty()) v->problem("the file is empty");
      spec.api_token = std::move(*token);
    }
  }
  if (auto budget = r.map("budget")) {
    const auto kMax = std::numeric_limits<unsigned>::max();
    if (auto n = budget->integer("per_pipeline_per_hour", 0, kMax)) {
      spec.budget.per_pipeline_per_hour = static_cast<unsigned>(*n);
    }
    if (auto n = budget->integer("global_per_hour", 0, kMax)) {
      spec.budget.global_per_hour = static_cast<unsigned>(*n);
    }
    budget->finish();
  }
  if (auto d = r.duration("approval_ttl", Sign::kPositive)) spec.approval_ttl = *d;

  ActionNames names;
  if (auto actions = r.map("actions")) {
    for (auto& [name, value] : actions->all()) {
      names.push_back(name);
      Reader action(*value.ctx, value.node, value.path);
      if (action.valid()) spec.actions.push_back(readAction(action, name, load));
    }
  }
  if (auto v = r.get("playbooks")) {
    for (const Value& item : asList(*v, "playbooks").value_or(std::vector<Value>{})) {
      Reader playbook(*item.ctx, item.node, item.path);
      if (playbook.valid()) spec.playbooks.push_back(readPlaybook(playbook, names, spec.actions));
    }
  }
  if (auto v = r.get("default_escalation")) {
    if (auto name = asString(*v)) {
      checkActionRef(*v, *name, names);
      checkEscalation(*v, *name, spec.actions);
      spec.default_escalation = *name;
    }
  }
  r.finish();
}

// ---------------------------------------------------------------------------------------------
// The whole file

// The message may quote the parser's view of the text (yaml-cpp's "unknown escape character: x").
ConfigResult oneProblem(std::string_view message) {
  ConfigResult result;
  result.problems.push_back({"config", oneLine(message)});
  return result;
}

ConfigResult parseDocument(const YAML::Node& root, unsigned required, const std::string& base_dir) {
  Context ctx{{}, base_dir, {}};
  Config config;
  Reader top(ctx, root, "");
  if (!top.valid()) return {std::nullopt, std::move(ctx.problems).take()};

  static constexpr std::pair<Section, std::string_view> kSections[] = {
      {kKafkaSection, "kafka"},
      {kDetectSection, "detect"},
      {kDatasetsSection, "datasets"},
      {kRemediateSection, "remediate"}};
  for (const auto& [section, name] : kSections) {
    if ((required & section) && !top.has(name)) {
      ctx.problems.add(YAML::Mark::null_mark(), std::string(name), "required");
    }
  }
  const auto needs = [required](Section section) { return (required & section) != 0; };

  if (auto r = top.map("kafka")) readKafka(*r, needs(kKafkaSection), config.kafka);
  if (auto r = top.map("detect")) readDetect(*r, config.detect);
  if (auto v = top.get("datasets")) readDatasets(*v, needs(kDatasetsSection), config.datasets);
  if (auto r = top.map("remediate")) readRemediate(*r, needs(kRemediateSection), config.remediate);
  top.finish();

  ConfigResult result;
  result.problems = std::move(ctx.problems).take();
  result.secrets = std::move(ctx.secrets);
  // Every section present is returned; only the required ones had their secret files read.
  if (result.problems.empty()) result.config = std::move(config);
  return result;
}

}  // namespace

std::optional<Duration> parseDuration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  std::int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = Duration(std::chrono::minutes(1)).count();
  } else if (unit == "h") {
    scale = Duration(std::chrono::hours(1)).count();
  } else if (unit == "d") {
    scale = Duration(std::chrono::days(1)).count();
  } else {
    return std::nullopt;
  }
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (ec != std::errc() || value > kMaxDuration.count() / scale) return std::nullopt;
  return Duration{value * scale};
}

ConfigResult parseConfig(const std::string& yaml_text, unsigned required,
                         const std::string& base_dir) {
  try {
    // Names from the file travel in failure events and metric labels, which are UTF-8. A YAML
    // stream holds no NUL byte, and yaml-cpp turns one in a plain scalar into other bytes.
    if (const auto at = invalidUtf8At(yaml_text)) {
      return oneProblem("not UTF-8 text: invalid byte at " + lineAndColumn(yaml_text, *at));
    }
    if (const std::size_t at = yaml_text.find('\0'); at != std::string::npos) {
      return oneProblem("a NUL byte at " + lineAndColumn(yaml_text, at) + ": YAML text has none");
    }
    YAML::Node root;
    try {
      root = YAML::Load(yaml_text);
    } catch (const YAML::ParserException& e) {
      return oneProblem("invalid YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
                        std::to_string(e.mark.column + 1) + ": " + e.msg);
    }
    return parseDocument(root, required, base_dir);
  } catch (const std::exception& e) {
    return oneProblem(std::string("cannot parse: ") + e.what());
  } catch (...) {
    return oneProblem("cannot parse: unknown error");
  }
}

ConfigResult loadConfig(const std::string& path, unsigned required) {
  try {
    std::string text;
    if (auto error = readFile(path, std::numeric_limits<std::size_t>::max() - 1, text)) {
      return oneProblem("cannot read " + path + ": " + *error);
    }
    std::string base_dir = std::filesystem::path(path).parent_path().string();
    if (base_dir.empty()) base_dir = ".";
    return parseConfig(text, required, base_dir);
  } catch (const std::exception& e) {
    return oneProblem("cannot read " + path + ": " + e.what());
  } catch (...) {
    return oneProblem("cannot read " + path);
  }
}

}  // namespace vigil::app
