#include "remediation/placeholders.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "detectors/failure_event.h"

namespace vigil::remediation {
namespace {

bool identStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool identChar(char c) { return identStart(c) || (c >= '0' && c <= '9'); }

// End of the identifier starting at `pos`, or `pos` when there is none.
std::size_t identEnd(std::string_view s, std::size_t pos) {
  if (pos >= s.size() || !identStart(s[pos])) return pos;
  std::size_t end = pos + 1;
  while (end < s.size() && identChar(s[end])) ++end;
  return end;
}

// One token of a template: literal text, or a placeholder name (known or not).
struct Token {
  enum class Kind { kText, kPlaceholder } kind;
  std::string_view text;  // kText: the literal text; kPlaceholder: the name without braces
};

// Splits `tmpl` into tokens by the rules in placeholders.h and hands each to `emit`.
template <class Emit>
void scan(std::string_view tmpl, Emit emit) {
  std::size_t text_start = 0;
  std::size_t i = 0;
  auto flush = [&](std::size_t end) {
    if (end > text_start)
      emit(Token{Token::Kind::kText, tmpl.substr(text_start, end - text_start)});
  };
  while (i < tmpl.size()) {
    if (tmpl[i] != '{') {
      ++i;
      continue;
    }
    // `{{name}}`: the text `{name}`.
    if (i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
      const std::size_t end = identEnd(tmpl, i + 2);
      if (end > i + 2 && tmpl.substr(end).starts_with("}}")) {
        flush(i);
        emit(Token{Token::Kind::kText, tmpl.substr(i + 1, end + 1 - (i + 1))});
        i = end + 2;
        text_start = i;
        continue;
      }
    }
    const std::size_t end = identEnd(tmpl, i + 1);
    if (end > i + 1 && end < tmpl.size() && tmpl[end] == '}') {
      flush(i);
      emit(Token{Token::Kind::kPlaceholder, tmpl.substr(i + 1, end - i - 1)});
      i = end + 1;
      text_start = i;
      continue;
    }
    ++i;  // a brace that starts no placeholder is text
  }
  flush(tmpl.size());
}

// Length of the valid UTF-8 sequence at `pos`, or 0 when the bytes there are not one.
std::size_t utf8SequenceLength(std::string_view s, std::size_t pos) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[pos + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (pos + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not valid UTF-8.
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

void appendEscaped(std::string& out, std::string_view value, Escaping how) {
  switch (how) {
    case Escaping::kRaw:
      out += value;
      break;
    case Escaping::kUrl:
      out += percentEncode(value);
      break;
    case Escaping::kJsonString:
      out += jsonEscape(value);
      break;
  }
}

}  // namespace

PlaceholderValues::PlaceholderValues(const ActionCall& call) {
  // Order: pipeline_id, dataset, failure_type, event_id, action, attempt, severity, status.
  if (call.event != nullptr) {
    const detectors::FailureEvent& e = *call.event;
    values_[0] = e.pipeline_id;
    values_[1] = e.dataset;
    values_[2] = std::string(detectors::failureTypeName(e.failure_type));
    values_[3] = e.eventId();
    values_[6] = std::string(detectors::severityName(e.severity));
    values_[7] = std::string(detectors::statusName(e.status));
  }
  if (call.action != nullptr) values_[4] = call.action->name;
  values_[5] = std::to_string(call.attempt);
}

const std::string* PlaceholderValues::find(std::string_view name) const {
  const auto it = std::find(kPlaceholderNames.begin(), kPlaceholderNames.end(), name);
  if (it == kPlaceholderNames.end()) return nullptr;
  return &values_[static_cast<std::size_t>(it - kPlaceholderNames.begin())];
}

std::string expandPlaceholders(std::string_view tmpl, const PlaceholderValues& values,
                               Escaping how) {
  std::string out;
  out.reserve(tmpl.size());
  scan(tmpl, [&](const Token& t) {
    if (t.kind == Token::Kind::kText) {
      out += t.text;
    } else if (const std::string* value = values.find(t.text)) {
      appendEscaped(out, *value, how);
    } else {
      out += '{';
      out += t.text;
      out += '}';
    }
  });
  return out;
}

std::string expandUrl(std::string_view tmpl, const ActionCall& call) {
  return expandPlaceholders(tmpl, PlaceholderValues(call), Escaping::kUrl);
}

std::string expandJsonBody(std::string_view tmpl, const ActionCall& call) {
  return expandPlaceholders(tmpl, PlaceholderValues(call), Escaping::kJsonString);
}

std::vector<std::string> expandArgv(const std::vector<std::string>& argv, const ActionCall& call) {
  const PlaceholderValues values(call);
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (std::size_t i = 0; i < argv.size(); ++i) {
    out.push_back(i == 0 ? argv[i] : expandPlaceholders(argv[i], values, Escaping::kRaw));
  }
  return out;
}

std::vector<std::string> unknownPlaceholders(std::string_view tmpl) {
  std::vector<std::string> unknown;
  scan(tmpl, [&](const Token& t) {
    if (t.kind != Token::Kind::kPlaceholder) return;
    if (std::find(kPlaceholderNames.begin(), kPlaceholderNames.end(), t.text) ==
        kPlaceholderNames.end()) {
      unknown.push_back("{" + std::string(t.text) + "}");
    }
  });
  return unknown;
}

std::string percentEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size() * 3);
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
  return out;
}

std::string jsonEscape(std::string_view value) {
  const std::string text = sanitizeUtf8(value);
  std::string out;
  out.reserve(text.size() + 8);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  return out;
}

std::string sanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t n = utf8SequenceLength(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string_view utf8Prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  // Step back over continuation bytes to the start of the sequence that would be cut.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

std::size_t utf8Length(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string formatDuration(detectors::Duration d) {
  const long long ms = d.count();
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

}  // namespace vigil::remediation
