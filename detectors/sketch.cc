#include "detectors/sketch.h"

#include <algorithm>
#include <array>
#include <tuple>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace vigil::detectors {
namespace {

// ln(gamma) = ln((1 + a) / (1 - a)) = 2 atanh(a) = 2 (a + a^3/3 + a^5/5 + ...). The series
// is a compile-time constant (std::log is not constexpr), so add() needs only one std::log and
// one multiplication, and there is no static-initialisation order to worry about.
constexpr double lnGammaSeries(double a) {
  double sum = 0;
  double power = a;
  for (int k = 1; k < 40; k += 2) {
    sum += power / k;
    power *= a * a;
  }
  return 2 * sum;
}

constexpr double kA = QuantileSketch::kRelativeAccuracy;
constexpr double kGamma = (1 + kA) / (1 - kA);
constexpr double kLnGamma = lnGammaSeries(kA);
constexpr double kIndexMultiplier = 1 / kLnGamma;
// valueOf(i) = 2 gamma^i / (gamma + 1) = exp(i ln(gamma)) * kRepresentativeScale.
constexpr double kRepresentativeScale = 2 / (kGamma + 1);

constexpr int kMaxSpan = static_cast<int>(QuantileSketch::kMaxBuckets);
// Headroom added when the dense store grows, so a stream that slowly widens its range
// reallocates O(log span) times instead of once per new bucket.
constexpr int kMinGrowth = 64;

// Counters saturate rather than wrap: a wrapped bucket would silently move every quantile.
// Sets `lost` when counts were lost (a local of the caller's loop: the branch is never taken in
// practice, so the loop costs what it did without the flag).
inline void addSaturating(std::uint32_t& bucket, std::uint64_t n, bool& lost) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint32_t>::max();
  const std::uint64_t sum = bucket + n;
  if (sum > kMax) [[unlikely]] {
    bucket = static_cast<std::uint32_t>(kMax);
    lost = true;
  } else {
    bucket = static_cast<std::uint32_t>(sum);
  }
}

// [first, last] positions of the non-zero counters; first > last when all are zero.
std::pair<int, int> nonZeroExtent(const std::vector<std::uint32_t>& b) {
  const int size = static_cast<int>(b.size());
  int first = 0;
  while (first < size && b[first] == 0) ++first;
  int last = size - 1;
  while (last >= first && b[last] == 0) --last;
  return {first, last};
}

}  // namespace

int QuantileSketch::indexOf(double value) const {
  return static_cast<int>(std::ceil(std::log(value) * kIndexMultiplier));
}

double QuantileSketch::valueOf(int index) const {
  return std::exp(index * kLnGamma) * kRepresentativeScale;
}

void QuantileSketch::add(double value, std::uint32_t count) {
  if (count == 0) return;
  if (!std::isfinite(value)) {
    rejected_ += count;
    return;
  }
  if (count_ == 0) {
    min_ = value;
    max_ = value;
  } else {
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  count_ += count;
  if (value < kMinIndexable) {  // also every value <= 0
    zero_count_ += count;
    return;
  }
  addAt(indexOf(value), count);
}

void QuantileSketch::addAt(int index, std::uint64_t count) {
  if (dense_) {
    addDense(index, count);
    return;
  }
  constexpr std::uint64_t kMaxPairCount = std::numeric_limits<std::uint16_t>::max();
  for (auto& b : sparse_) {
    if (b.index != index) continue;
    if (b.count + count <= kMaxPairCount) {
      b.count = static_cast<std::uint16_t>(b.count + count);
      return;
    }
    densify();
    addDense(index, count);
    return;
  }
  const bool fits = index >= std::numeric_limits<std::int16_t>::min() &&
                    index <= std::numeric_limits<std::int16_t>::max() && count <= kMaxPairCount;
  if (fits && sparse_.size() < kSparseLimit) {
    sparse_.push_back({static_cast<std::int16_t>(index), static_cast<std::uint16_t>(count)});
    return;
  }
  densify();
  addDense(index, count);
}

void QuantileSketch::densify() {
  dense_ = true;
  for (const SparseBucket& b : sparse_) addDense(b.index, b.count);
  std::vector<SparseBucket>().swap(sparse_);  // dense from here on: free it
}

void QuantileSketch::addDense(int index, std::uint64_t count) {
  const int hi = offset_ + static_cast<int>(buckets_.size()) - 1;
  if (index < offset_ || index > hi) [[unlikely]] {
    // A full store whose top bucket is in use already collapses everything below it; skip
    // ensureRange's scan so a stream of tiny outliers stays O(1).
    const bool full_and_pinned =
        buckets_.size() == QuantileSketch::kMaxBuckets && buckets_.back() != 0;
    if (!(index < offset_ && full_and_pinned)) ensureRange(index, index);
    index = std::max(index, offset_);
  }
  const int position = index - offset_;
  bool lost = false;
  addSaturating(buckets_[position], count, lost);
  exact_counts_ = exact_counts_ && !lost;
  widenUsed(position, position);
}

void QuantileSketch::widenUsed(int first, int last) {
  if (used_first_ > used_last_) {
    used_first_ = first;
    used_last_ = last;
  } else {
    used_first_ = std::min(used_first_, first);
    used_last_ = std::max(used_last_, last);
  }
}

void QuantileSketch::ensureRange(int lo, int hi) {
  const int size = static_cast<int>(buckets_.size());
  const int first = used_first_;
  const int last = used_last_;
  const bool has_data = first <= last;
  const int need_lo = has_data ? std::min(lo, offset_ + first) : lo;
  const int need_hi = has_data ? std::max(hi, offset_ + last) : hi;
  // 64-bit: the span of two extreme doubles' indices does not fit comfortably in int.
  const std::int64_t span = std::int64_t{need_hi} - need_lo + 1;

  int new_lo = 0;
  int new_hi = 0;
  if (span > kMaxSpan) {
    // Collapsing lowest store: keep the kMaxBuckets highest indices. The kept range depends
    // only on the highest index ever seen, so the result does not depend on insertion or
    // merge order.
    new_hi = need_hi;
    new_lo = need_hi - kMaxSpan + 1;
  } else {
    const int room = kMaxSpan - static_cast<int>(span);
    const int growth = std::min(room, std::max(kMinGrowth, static_cast<int>(span) / 2));
    const bool grow_down = size == 0 || need_lo < offset_;
    const bool grow_up = size == 0 || need_hi > offset_ + size - 1;
    const int down = grow_down ? (grow_up ? growth / 2 : growth) : 0;
    const int up = grow_up ? growth - down : 0;
    new_lo = need_lo - down;
    new_hi = need_hi + up;
  }
  if (new_lo == offset_ && new_hi == offset_ + size - 1) return;

  std::vector<std::uint32_t> grown(static_cast<std::size_t>(new_hi - new_lo + 1), 0);
  bool lost = false;
  for (int k = has_data ? first : size; k <= last; ++k) {
    const int index = std::max(offset_ + k, new_lo);
    addSaturating(grown[index - new_lo], buckets_[k], lost);
  }
  exact_counts_ = exact_counts_ && !lost;
  buckets_ = std::move(grown);
  offset_ = new_lo;
  std::tie(used_first_, used_last_) = nonZeroExtent(buckets_);  // rare: only when the store moves
}

void QuantileSketch::merge(const QuantileSketch& other) {
  if (other.count_ == 0) {
    rejected_ += other.rejected_;
    return;
  }
  // Copy what we read from `other` first: `other` may be *this.
  const std::uint64_t other_count = other.count_;
  const std::uint64_t other_zero = other.zero_count_;
  const std::uint64_t other_rejected = other.rejected_;
  // Also read once: a sparse self-merge may turn this sketch, and so `other`, dense half-way.
  const bool other_dense = other.dense_;
  if (&other == this && !other_dense) {
    const std::vector<SparseBucket> copy = sparse_;
    for (const SparseBucket& b : copy) addAt(b.index, b.count);
  } else if (!other_dense) {
    for (const SparseBucket& b : other.sparse_) addAt(b.index, b.count);
  } else if (!dense_) {
    densify();
  }
  const int first = other_dense ? other.used_first_ : 0;
  const int last = other_dense ? other.used_last_ : -1;
  if (first <= last) {
    const int lo = other.offset_ + first;
    const int hi = other.offset_ + last;
    const bool full_and_pinned = buckets_.size() == kMaxBuckets && buckets_.back() != 0;
    const bool covered = lo >= offset_ && hi < offset_ + static_cast<int>(buckets_.size());
    const bool below_only = hi < offset_ && full_and_pinned;
    if (!covered && !below_only) ensureRange(lo, hi);
    // A local: a member written in the loop would be stored at every bucket.
    bool lost = false;
    if (&other == this) {
      for (auto& b : buckets_) addSaturating(b, b, lost);
    } else {
      for (int k = first; k <= last; ++k) {
        const int index = std::max(other.offset_ + k, offset_);
        addSaturating(buckets_[index - offset_], other.buckets_[k], lost);
      }
      widenUsed(std::max(other.offset_ + first, offset_) - offset_,
                std::max(other.offset_ + last, offset_) - offset_);
    }
    exact_counts_ = exact_counts_ && !lost;
  }
  if (count_ == 0) {
    min_ = other.min_;
    max_ = other.max_;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  count_ += other_count;
  zero_count_ += other_zero;
  rejected_ += other_rejected;
  extremes_exact_ = extremes_exact_ && other.extremes_exact_;
  exact_counts_ = exact_counts_ && other.exact_counts_;
}

void QuantileSketch::subtract(const QuantileSketch& other) {
  if (other.count_ == 0 || &other == this) {
    if (&other == this) clear();
    return;
  }
  bool lost = false;  // a local, as in merge()
  auto take = [this, &lost](int index, std::uint32_t c) {
    if (!dense_) {
      for (auto it = sparse_.begin(); it != sparse_.end(); ++it) {
        if (it->index != index) continue;
        lost |= c > it->count;
        it->count = static_cast<std::uint16_t>(it->count - std::min<std::uint32_t>(c, it->count));
        if (it->count == 0) sparse_.erase(it);
        return;
      }
      lost = true;  // nothing to take from
      return;
    }
    // The same mapping merge() used: indices below a collapsed store's range
    // went to its lowest bucket.
    const int position = std::max(index, offset_) - offset_;
    if (position < 0 || position >= static_cast<int>(buckets_.size())) {
      lost = true;
      return;
    }
    auto& bucket = buckets_[static_cast<std::size_t>(position)];
    lost |= c > bucket;
    bucket -= std::min(c, bucket);
  };
  if (!other.dense_) {
    for (const SparseBucket& b : other.sparse_) take(b.index, b.count);
  } else {
    for (int k = other.used_first_; k <= other.used_last_; ++k) {
      const auto c = other.buckets_[static_cast<std::size_t>(k)];
      if (c != 0) take(other.offset_ + k, c);
    }
  }
  lost |= other.count_ > count_ || other.zero_count_ > zero_count_;
  // Counts `other` lost were never taken from this sketch's counters either.
  exact_counts_ = exact_counts_ && other.exact_counts_ && !lost;
  count_ -= std::min(count_, other.count_);
  zero_count_ -= std::min(zero_count_, other.zero_count_);
  if (count_ == 0) {
    clear();
    return;
  }
  extremes_exact_ = false;
}

void QuantileSketch::clear() {
  // Keep the store's allocation: a window slot is cleared and refilled every step, and the
  // next step's values usually land in the same buckets.
  if (used_first_ <= used_last_) {
    std::fill(buckets_.begin() + used_first_, buckets_.begin() + used_last_ + 1, 0);
  }
  sparse_.clear();
  dense_ = false;
  extremes_exact_ = true;
  exact_counts_ = true;
  used_first_ = 0;
  used_last_ = -1;
  zero_count_ = 0;
  count_ = 0;
  rejected_ = 0;
  min_ = 0;
  max_ = 0;
}

double QuantileSketch::quantile(double q) const {
  double out = 0;
  quantiles(std::span<const double>(&q, 1), std::span<double>(&out, 1));
  return out;
}

void QuantileSketch::quantiles(std::span<const double> qs, std::span<double> out) const {
  // Ascending qs have ascending ranks: one walk over the buckets answers, in
  // order, every q that is not answered by a rule first. Chunks keep the
  // ranks on the stack.
  constexpr std::size_t kChunk = 8;
  if (qs.size() > kChunk) {
    quantiles(qs.first(kChunk), out.first(kChunk));
    quantiles(qs.subspan(kChunk), out.subspan(kChunk));
    return;
  }
  std::array<std::uint64_t, kChunk> ranks;
  bool walks = false;
  for (std::size_t i = 0; i < qs.size(); ++i) {
    ranks[i] = kAnsweredRank;
    if (count_ == 0 || std::isnan(qs[i])) {
      out[i] = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    const double q = std::clamp(qs[i], 0.0, 1.0);
    // The double product may round past the last rank when count_ is beyond 2^53.
    const auto rank = std::min(
        count_ - 1, static_cast<std::uint64_t>(std::floor(q * static_cast<double>(count_ - 1))));
    if (rank < zero_count_) {
      out[i] = 0;
    } else if (extremes_exact_ && rank == 0) {
      // The extreme ranks are the exact min and max, while the sketch knows them.
      out[i] = min_;
    } else if (extremes_exact_ && rank == count_ - 1) {
      out[i] = max_;
    } else {
      ranks[i] = rank;
      walks = true;
    }
  }
  if (!walks) return;
  const double lo = extremes_exact_ ? min_ : -std::numeric_limits<double>::infinity();
  const double hi = extremes_exact_ ? max_ : std::numeric_limits<double>::infinity();
  std::size_t next = 0;  // the first q not answered yet, and its rank
  std::uint64_t target = kAnsweredRank;
  const auto skipAnswered = [&] {
    while (next < qs.size() && ranks[next] == kAnsweredRank) ++next;
    target = next < qs.size() ? ranks[next] : kAnsweredRank;
  };
  skipAnswered();
  std::uint64_t seen = zero_count_;
  // Called once the walk has seen more than `target` values: answers every q
  // whose rank falls in the bucket at `index`.
  const auto reach = [&](int index) {
    do {
      // Every value in the bucket lies in [min, max]; clamping can only reduce the error.
      out[next++] = std::clamp(valueOf(index), lo, hi);
      skipAnswered();
    } while (seen > target);
  };
  double beyond = max_;  // for ranks the walk does not reach
  if (!dense_) {
    std::array<SparseBucket, kSparseLimit> sorted;
    std::copy(sparse_.begin(), sparse_.end(), sorted.begin());
    const auto end = sorted.begin() + static_cast<std::ptrdiff_t>(sparse_.size());
    std::sort(sorted.begin(), end,
              [](const SparseBucket& a, const SparseBucket& b) { return a.index < b.index; });
    for (auto it = sorted.begin(); it != end && next < qs.size(); ++it) {
      seen += it->count;
      if (seen > target) reach(it->index);
    }
    if (!extremes_exact_ && !sparse_.empty()) beyond = valueOf(sorted[sparse_.size() - 1].index);
  } else if (exact_counts_ && target > zero_count_ + (count_ - zero_count_) / 2) {
    walkDown(std::span<const std::uint64_t>(ranks.data(), qs.size()), out, lo, hi);
    return;
  } else {
    for (int k = used_first_; k <= used_last_; ++k) {
      seen += buckets_[static_cast<std::size_t>(k)];
      if (seen > target) {
        reach(offset_ + k);
        if (next == qs.size()) break;
      }
    }
    // Only reachable when a saturated counter lost counts.
  }
  for (; next < qs.size(); skipAnswered()) out[next++] = beyond;
}

void QuantileSketch::walkDown(std::span<const std::uint64_t> ranks, std::span<double> out,
                              double lo, double hi) const {
  // Rank r lies in the highest bucket k where the values in buckets k and above outnumber the
  // count_ - 1 - r values above rank r. The highest rank is answered first.
  std::size_t next = ranks.size();  // answers out[next - 1] next
  const auto skipAnswered = [&] {
    while (next > 0 && ranks[next - 1] == kAnsweredRank) --next;
  };
  skipAnswered();
  std::uint64_t above = 0;  // values in the buckets above k
  int k = used_last_;
  for (; next > 0; skipAnswered()) {
    const std::uint64_t values_above = count_ - 1 - ranks[next - 1];
    while (k > used_first_ && above + buckets_[static_cast<std::size_t>(k)] <= values_above) {
      above += buckets_[static_cast<std::size_t>(k)];
      --k;
    }
    // With exact counts the rank is in bucket k; the lowest bucket also takes any rank left.
    // Every value in the bucket lies in [min, max]; clamping can only reduce the error.
    out[--next] = std::clamp(valueOf(offset_ + k), lo, hi);
  }
}

double QuantileSketch::min() const {
  return count_ == 0 ? std::numeric_limits<double>::quiet_NaN() : min_;
}

double QuantileSketch::max() const {
  return count_ == 0 ? std::numeric_limits<double>::quiet_NaN() : max_;
}

std::size_t QuantileSketch::memoryBytes() const {
  return sizeof(*this) + buckets_.capacity() * sizeof(std::uint32_t) +
         sparse_.capacity() * sizeof(sparse_[0]);
}

}  // namespace vigil::detectors
