#include "detectors/schema_check.h"

#include <algorithm>

namespace vigil::detectors {
namespace {

constexpr std::uint8_t kNonNull = static_cast<std::uint8_t>(~kJsonNull);

bool sameFields(const FieldSet& a, const FieldSet& b) {
  const auto fa = a.fields();
  const auto fb = b.fields();
  return std::equal(fa.begin(), fa.end(), fb.begin(), fb.end(),
                    [](const FieldSeen& x, const FieldSeen& y) {
                      return x.id == y.id && x.types == y.types;
                    });
}

}  // namespace

SchemaCheck::SchemaCheck(const DatasetSpec& spec, const FieldDictionary& dictionary)
    : dictionary_(dictionary),
      required_(spec.schema->required),
      alert_on_new_fields_(spec.schema->alert_on_new_fields),
      basics_(spec) {}

void SchemaCheck::resolveRequired() const {
  if (resolved_at_ == dictionary_.size()) return;
  required_ids_.clear();
  for (const std::string& name : required_) required_ids_.push_back(dictionary_.find(name));
  resolved_at_ = dictionary_.size();
}

std::optional<FailureEvent> SchemaCheck::evaluate(const FieldSet& window, const FieldSet& latest,
                                                  std::uint64_t records_latest, Timestamp end,
                                                  const SeriesContext& series,
                                                  State& state) const {
  if (!state.reference) {
    if (window.empty()) return std::nullopt;
    state.reference = window;
    return std::nullopt;
  }

  resolveRequired();
  std::vector<std::string> missing;
  if (records_latest > 0) {
    for (std::size_t i = 0; i < required_.size(); ++i) {
      const auto& id = required_ids_[i];
      if (!id || latest.types(*id) == 0) missing.push_back(required_[i]);
    }
  }
  // Fields outside the reference, and reference fields with a new type.
  FieldSet drift;
  std::vector<std::string> added, changed;
  // Both are sorted by id: one pass over the two, not a search per field.
  const auto reference = state.reference->fields();
  auto ref = reference.begin();
  for (const FieldSeen& f : window.fields()) {
    while (ref != reference.end() && ref->id < f.id) ++ref;
    const std::uint8_t known = ref != reference.end() && ref->id == f.id ? ref->types : 0;
    if (known == 0) {
      if (!alert_on_new_fields_) continue;
      drift.add(f);
      added.emplace_back(dictionary_.name(f.id));
    } else if ((f.types & kNonNull & ~known) != 0) {
      drift.add(f);
      changed.emplace_back(dictionary_.name(f.id));
    }
  }
  // Ids depend on the order partitions first saw the names: sort by name so
  // replay and detect write the same event.
  std::sort(added.begin(), added.end());
  std::sort(changed.begin(), changed.end());
  // A drift that holds still for a full window becomes the new normal.
  if (drift.empty() || !sameFields(drift, state.candidate)) {
    state.candidate = drift;
    state.candidate_since = end;
  } else if (end - state.candidate_since >= basics_.window) {
    state.reference->merge(drift);
    state.candidate.clear();
    added.clear();
    changed.clear();
  }

  const bool breached = !missing.empty() || !added.empty() || !changed.empty();
  const auto transition =
      state.lifecycle.update(breached ? Condition::kBreached : Condition::kClear, end);
  if (transition == AlertLifecycle::Transition::kNone) return std::nullopt;
  FailureEvent e = basics_.event(transition, series, FailureType::kSchemaDrift, end);
  e.metric = "schema_fields";
  e.threshold = 0;
  e.actual_value = static_cast<double>(missing.size() + added.size() + changed.size());
  e.missing = std::move(missing);
  e.added = std::move(added);
  e.changed = std::move(changed);
  return e;
}

}  // namespace vigil::detectors
