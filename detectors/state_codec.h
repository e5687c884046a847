#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace vigil::detectors {

// The byte encoding of checkpointed detector state (a series' learned
// baseline, written to a Kafka topic and read back after a restart).
//
// Format: a plain concatenation of fixed-width values, little-endian whatever
// the host's byte order (the bytes are assembled with shifts, so the same blob
// restores on any machine): u8, u32, u64, i64 (two's complement), f32 and f64
// (their IEEE 754 bit patterns, so NaN and infinities round-trip bit for bit)
// and str (a u32 byte count, then the bytes). There are no tags, no field
// names and no padding: the reader must read exactly what the writer wrote, in
// the same order. Versioning is the caller's: each saved object starts with
// its own format-version byte and refuses versions it does not know.
//
// Reading never throws and never reads out of bounds. A read past the end
// sets a sticky failed() flag and returns 0 (or an empty string); every later
// read fails too, so a caller may read a whole record and check failed() once
// at the end, as long as it validates sizes before looping on them.

// Appends encoded values to a string the caller owns.
class StateWriter {
 public:
  explicit StateWriter(std::string& out) : out_(&out) {}

  void u8(std::uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void i64(std::int64_t v) { put(static_cast<std::uint64_t>(v), 8); }
  void f32(float v) { put(std::bit_cast<std::uint32_t>(v), 4); }
  void f64(double v) { put(std::bit_cast<std::uint64_t>(v), 8); }
  // State strings are short names; one over 4 GiB would be cut at 4 GiB - 1
  // bytes rather than written with a wrong length.
  void str(std::string_view s) {
    const std::size_t n =
        std::min<std::size_t>(s.size(), std::numeric_limits<std::uint32_t>::max());
    u32(static_cast<std::uint32_t>(n));
    out_->append(s.data(), n);
  }

 private:
  void put(std::uint64_t v, std::size_t bytes) {
    for (std::size_t i = 0; i < bytes; ++i) {
      out_->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
  }

  std::string* out_;
};

// Decodes values from a view of what a StateWriter wrote. The view (and
// every string_view str() returns) must outlive the reader's use of it.
class StateReader {
 public:
  explicit StateReader(std::string_view in) : in_(in) {}

  std::uint8_t u8() { return static_cast<std::uint8_t>(get(1)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(get(4)); }
  std::uint64_t u64() { return get(8); }
  std::int64_t i64() { return static_cast<std::int64_t>(get(8)); }
  float f32() { return std::bit_cast<float>(static_cast<std::uint32_t>(get(4))); }
  double f64() { return std::bit_cast<double>(get(8)); }
  std::string_view str() {
    const std::uint32_t n = u32();
    if (!take(n)) return {};
    return in_.substr(pos_ - n, n);
  }

  // Marks the data invalid: a caller that found a value out of range says so,
  // and every later read fails as a short one would.
  void fail() { failed_ = true; }
  bool failed() const { return failed_; }
  // Everything was read and nothing failed: the record had no trailing bytes.
  bool done() const { return !failed_ && pos_ == in_.size(); }
  std::size_t remaining() const { return failed_ ? 0 : in_.size() - pos_; }

 private:
  // Advances over `n` bytes if they are there; fails (for good) if not.
  bool take(std::size_t n) {
    if (failed_ || in_.size() - pos_ < n) {
      failed_ = true;
      return false;
    }
    pos_ += n;
    return true;
  }

  std::uint64_t get(std::size_t bytes) {
    if (!take(bytes)) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < bytes; ++i) {
      v |= std::uint64_t{static_cast<unsigned char>(in_[pos_ - bytes + i])} << (8 * i);
    }
    return v;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace vigil::detectors
