#pragma once

// What the harnesses share: the libFuzzer entry point's signature, and a check that stops the
// run on a broken invariant. A check failure is a crash to libFuzzer (it keeps the input) and a
// failed test to the corpus replay.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace vigil::fuzz {

[[noreturn]] inline void checkFailed(const char* file, int line, const char* condition,
                                     std::string_view detail) {
  std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, condition);
  if (!detail.empty()) {
    std::fprintf(stderr, "  %.*s\n", static_cast<int>(detail.size()), detail.data());
  }
  std::fflush(stderr);
  std::abort();
}

}  // namespace vigil::fuzz

// FUZZ_CHECK(condition) or FUZZ_CHECK(condition, detail): detail is anything convertible to a
// string_view, evaluated only when the check fails.
#define FUZZ_CHECK(condition, ...)                                      \
  do {                                                                  \
    if (!(condition)) {                                                 \
      ::vigil::fuzz::checkFailed(__FILE__, __LINE__, #condition,        \
                                 ::vigil::fuzz::detailOf(__VA_ARGS__)); \
    }                                                                   \
  } while (false)

namespace vigil::fuzz {
inline std::string_view detailOf() { return {}; }
template <typename T>
std::string_view detailOf(const T& detail) {
  return std::string_view(detail);
}
}  // namespace vigil::fuzz
