#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace vigil::detectors {

// A mergeable quantile sketch over positive values with a relative-error
// guarantee (DDSketch, Masson et al., VLDB 2019).
//
// Maths: a value v > 0 goes to bucket i = ceil(log_gamma(v)) with
// gamma = (1 + a) / (1 - a); every value in bucket i lies in (gamma^(i-1), gamma^i],
// and the bucket's representative 2 gamma^i / (gamma + 1) is within relative
// error a of all of them. A quantile query walks the buckets to the rank
// floor(q * (n - 1)) (the "lower" rank convention) and returns the representative
// clamped to the exact [min, max] (which can only reduce the error), so the answer is
// within relative error a of the exact value at that rank. Ranks 0 and n - 1 return
// the exact min and max. With a = kRelativeAccuracy = 0.5 % the guarantee is well
// inside the 1 % budget; the index is computed as ceil(ln(v) / ln(gamma)) in double
// precision, so values within a few ulps of a bucket boundary may land in the
// neighbouring bucket and see a + 1e-15 instead of a.
//
// Values <= 0 (and denormals below kMinIndexable) are counted in a zero bucket
// and reported as 0. NaN and infinities are ignored and counted in rejected().
// Merging adds bucket counts: the merged sketch answers exactly as a sketch fed
// both streams, so sub-windows and partitions merge without loss.
//
// Memory: one 32-bit counter per bucket between the smallest and largest index
// seen, plus growth headroom (dense, offset by the lowest index). A span from 1 µs to 1 h needs
// about 2,200 buckets; to bound memory on absurd inputs the span is capped at kMaxBuckets by
// collapsing the lowest buckets into the lowest kept one, which only affects quantiles that fall in
// the collapsed tail (documented behaviour of DDSketch's collapsing store): they are overestimated,
// never beyond the lowest kept bucket. The kept range depends only on the highest index seen, so
// merging stays order-independent even after collapsing. A counter saturates at 2^32 - 1 rather
// than wrapping (over four billion values within 1 % of each other).
//
// Cost: add() is one std::log and one increment; the store reallocates only when a
// value falls outside the current range (with headroom, so O(log span) times), and
// clear() keeps the allocation, so a recycled window slot does not allocate.
// quantile() and merge() are linear in the number of buckets.
//
// Not thread-safe; owned by one window slot.
class QuantileSketch {
 public:
  static constexpr double kRelativeAccuracy = 0.005;
  static constexpr std::size_t kMaxBuckets = 4096;
  static constexpr double kMinIndexable = 1e-9;
  static constexpr std::size_t kSparseLimit = 32;

  QuantileSketch() = default;

  void add(double value, std::uint32_t count = 1);
  void merge(const QuantileSketch& other);
  // Removes what an earlier merge(other) added — a sliding window dropping
  // its oldest step. Exact for every bucket; afterwards min() and max() are
  // only bounds, so quantiles are no longer clamped to them.
  void subtract(const QuantileSketch& other);
  // Restores exact extremes after subtract(), from what the caller knows of
  // the values that remain (a window's min and max over its steps).
  void setExtremes(double min, double max) {
    min_ = min;
    max_ = max;
    extremes_exact_ = true;
  }
  void clear();

  // q in [0, 1]. Returns NaN when empty.
  double quantile(double q) const;
  // quantile(q) of each q in `qs` (ascending) into `out`, in one walk over the buckets.
  void quantiles(std::span<const double> qs, std::span<double> out) const;

  std::uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  std::uint64_t rejected() const { return rejected_; }
  double min() const;  // exact; NaN when empty
  double max() const;  // exact; NaN when empty

  std::size_t memoryBytes() const;

 private:
  int indexOf(double value) const;
  double valueOf(int index) const;
  // Grows (or collapses) the store so that indices [lo, hi] have a counter, or, when the
  // span would exceed kMaxBuckets, so that indices below the kept range map to buckets_[0].
  void ensureRange(int lo, int hi);

  // A rank in quantiles() that a rule has already answered.
  static constexpr std::uint64_t kAnsweredRank = ~std::uint64_t{0};
  // quantiles() over a dense store with exact counts, from the top bucket down: the ranks of
  // p95 and p99 are reached after the few buckets above them. `ranks` as quantiles() has them,
  // one for each of `out`.
  void walkDown(std::span<const std::uint64_t> ranks, std::span<double> out, double lo,
                double hi) const;

  void widenUsed(int first, int last);
  // Adds `count` at bucket index `index`, in whichever store is active.
  void addAt(int index, std::uint64_t count);
  void addDense(int index, std::uint64_t count);
  void densify();

  // Small sketches (a sub-window of one series) keep (index, count) pairs of
  // 16 bits each: a merge then costs one add per pair, not a scan of a dense
  // range, and a sub-window of a few records costs a few bytes. Past
  // kSparseLimit distinct buckets, or an index or count a pair cannot hold,
  // the sketch turns dense for good (until clear()).
  struct SparseBucket {
    std::int16_t index;
    std::uint16_t count;
  };
  std::vector<SparseBucket> sparse_;
  bool dense_ = false;
  std::vector<std::uint32_t> buckets_;  // dense: buckets_[k] counts index offset_ + k
  int offset_ = 0;
  // Positions in buckets_ that may be non-zero (first > last: none). Merges,
  // clears and queries touch only these, not the slack the store keeps.
  int used_first_ = 0;
  int used_last_ = -1;
  bool extremes_exact_ = true;  // false once subtract() ran: min_/max_ may be stale
  // The counters and zero_count_ add up to count_: false once a saturated counter (or a
  // subtract() of what was never merged) lost counts. Only then must a query walk up.
  bool exact_counts_ = true;
  std::uint64_t zero_count_ = 0;
  std::uint64_t count_ = 0;
  std::uint64_t rejected_ = 0;
  double min_ = 0;
  double max_ = 0;
};

}  // namespace vigil::detectors
