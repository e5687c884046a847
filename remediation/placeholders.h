#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detectors/time.h"
#include "remediation/executor.h"

namespace vigil::remediation {

// Placeholders in action templates (URL, headers, body, argv), filled from one ActionCall:
//
//   {pipeline_id} {dataset} {failure_type} {event_id} {status} {severity}  from the failure event
//   {action} {attempt}                                                     from the call
//
// `{severity}` and `{status}` are the failure event's ("error", "firing"). A placeholder is `{`,
// an identifier ([A-Za-z_][A-Za-z0-9_]*) and `}`. Every other brace is plain text, so a JSON body
// template needs no escaping: `{"id": "{pipeline_id}", "opts": {"force": true}}` works as
// written. `{{name}}` writes the text `{name}` literally. An identifier that is not a known
// placeholder (`{foo}`) is left as written; unknownPlaceholders() finds those so the
// configuration can reject them.
//
// How a value is inserted depends on where it goes; values come from Kafka records, so they are
// hostile until proven otherwise:
// - kUrl: percent-encoded, keeping only RFC 3986 unreserved characters (ALPHA DIGIT - . _ ~), so
//   a value stays inside its path segment or query value ("a/b?c" -> "a%2Fb%3Fc").
// - kJsonString: escaped for the inside of a JSON string literal (quotes, backslashes, control
//   characters; invalid UTF-8 becomes U+FFFD), so a value between quotes of the template cannot
//   end the string. A placeholder outside quotes in a body is the template's mistake.
// - kRaw: inserted as is (argv elements, header values; the http executor rejects header values
//   holding CR, LF or NUL after expansion).
enum class Escaping { kRaw, kUrl, kJsonString };

inline constexpr std::array<std::string_view, 8> kPlaceholderNames = {
    "pipeline_id", "dataset", "failure_type", "event_id",
    "action",      "attempt", "severity",     "status"};

// The values of the placeholders for one call, in the order of kPlaceholderNames. A missing event
// or action gives empty values.
class PlaceholderValues {
 public:
  explicit PlaceholderValues(const ActionCall& call);
  // For tests and callers without an ActionCall: values in kPlaceholderNames order.
  explicit PlaceholderValues(std::array<std::string, kPlaceholderNames.size()> values)
      : values_(std::move(values)) {}

  // nullptr when `name` is not a known placeholder.
  const std::string* find(std::string_view name) const;

 private:
  std::array<std::string, kPlaceholderNames.size()> values_;
};

// Expands the known placeholders of `tmpl`, escaping each value as `how` says.
std::string expandPlaceholders(std::string_view tmpl, const PlaceholderValues& values,
                               Escaping how);

// The three contexts of the executors.
std::string expandUrl(std::string_view tmpl, const ActionCall& call);
std::string expandJsonBody(std::string_view tmpl, const ActionCall& call);
// Each element expanded on its own, values inserted raw: one element stays one argument. The
// program (argv[0]) is copied as written, never expanded: event data must not choose what runs.
std::vector<std::string> expandArgv(const std::vector<std::string>& argv, const ActionCall& call);

// Placeholder-shaped names in `tmpl` that are not known placeholders, as written with their
// braces ("{pipline_id}"), in order of appearance, repeats included. `{{name}}` is not reported.
std::vector<std::string> unknownPlaceholders(std::string_view tmpl);

// Building blocks, exposed for the executors and their tests.
std::string percentEncode(std::string_view value);
// The inside of a JSON string literal (no surrounding quotes).
std::string jsonEscape(std::string_view value);
// `text` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string sanitizeUtf8(std::string_view text);
// The longest prefix of `text` of at most `max_bytes` bytes that does not cut a UTF-8 sequence.
std::string_view utf8Prefix(std::string_view text, std::size_t max_bytes);
// Number of code points in valid UTF-8 `text` (continuation bytes are not counted).
std::size_t utf8Length(std::string_view text);
// "250ms", "1.5s", "10s": how executor details write durations.
std::string formatDuration(detectors::Duration d);

}  // namespace vigil::remediation
