#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vigil::secrets {

// Values shorter than this are not registered: blanking every "on" or "1" in a
// log would hide more than it protects. Secrets are expected to be longer.
inline constexpr std::size_t kMinLength = 4;

inline constexpr std::string_view kRedacted = "[redacted]";

// Registers a value that must never be shown (one read from a `*_file`
// setting, a password written inline). From then on every log line, and
// every text passed to redact(), has it replaced by "[redacted]".
// Thread-safe; meant to be called at start-up, before the value is used.
void add(std::string value);

// `text` with every registered secret replaced by "[redacted]".
std::string redact(std::string text);

// Forgets every registered secret (tests).
void clear();

}  // namespace vigil::secrets
