#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

namespace vigil::log {

enum class Level { kDebug, kInfo, kWarn, kError };

// Minimum level written; set once at start-up (VIGIL_LOG_LEVEL=debug|info|warn|error).
void setLevel(Level level);
bool enabled(Level level);

// Writes one line to stderr: "<level> <component>: <message>". Thread-safe.
void write(Level level, std::string_view component, std::string_view message);

// Builds one log line with << and writes it when destroyed.
class Line {
 public:
  Line(Level level, std::string_view component) : level_(level), component_(component) {}
  ~Line() { write(level_, component_, out_.str()); }
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  template <class T>
  Line& operator<<(const T& v) {
    out_ << v;
    return *this;
  }

 private:
  Level level_;
  std::string_view component_;
  std::ostringstream out_;
};

// Lets through at most one message per `interval`, counting the rest so the next
// message can say how many were suppressed. Thread-safe (lock-free); reads the
// steady clock, so it lives outside detectors/.
class RateLimiter {
 public:
  explicit RateLimiter(std::chrono::milliseconds interval) : interval_(interval) {}
  // True when a message may be written now; `suppressed` is set to the number
  // of messages dropped since the last one that passed.
  bool allow(std::uint64_t& suppressed);

 private:
  std::chrono::milliseconds interval_;
  std::atomic<std::int64_t> next_ms_{0};
  std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace vigil::log

#define VIGIL_LOG(level, component)                       \
  if (!::vigil::log::enabled(::vigil::log::Level::level)) \
    ;                                                     \
  else                                                    \
    ::vigil::log::Line(::vigil::log::Level::level, component)

// As VIGIL_LOG, with the level as a runtime value.
#define VIGIL_LOG_AT(level_value, component)                     \
  if (!::vigil::log::enabled(level_value))                       \
    ;                                                            \
  else                                                           \
    ::vigil::log::Line(level_value, component)
