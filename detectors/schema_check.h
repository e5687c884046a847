#pragma once

#include <optional>
#include <string>
#include <vector>

#include "detectors/alert_lifecycle.h"
#include "detectors/check.h"
#include "detectors/dataset_spec.h"
#include "detectors/schema.h"

namespace vigil::detectors {

// The schema check. A series' reference schema is the set of top-level fields
// (with their JSON types) seen in its first full window. At each step end:
// - missing: a `required` field absent from every record of the latest step
//   (a step without records says nothing); it clears when the field is back;
// - added (only with alert_on_new_fields): fields in the window outside the
//   reference;
// - changed: a reference field seen with a JSON type it never had (null is
//   the nulls check's business and never counts as a change).
// One schema_drift lifecycle per series covers all three; the events list
// them in context.missing / added / changed. An added or changed set that
// stays the same for a full window is accepted into the reference, which
// resolves the alert: the new shape has become the normal one.
class SchemaCheck {
 public:
  struct State {
    AlertLifecycle lifecycle;
    std::optional<FieldSet> reference;
    FieldSet candidate;        // the added/changed fields being watched for acceptance
    Timestamp candidate_since;
  };

  SchemaCheck(const DatasetSpec& spec, const FieldDictionary& dictionary);
  State newState() const { return State{basics_.lifecycle(), {}, {}, {}}; }

  // `window` merges the window's steps, `latest` the last step; `records_latest`
  // is the latest step's record count.
  std::optional<FailureEvent> evaluate(const FieldSet& window, const FieldSet& latest,
                                       std::uint64_t records_latest, Timestamp end,
                                       const SeriesContext& series, State& state) const;

  // Looks the required fields up in the dictionary again if it grew. evaluate()
  // does it first; callers that evaluate on several threads at once call it
  // before (the dictionary unchanged meanwhile), so evaluate() only reads.
  void resolveRequired() const;

 private:
  const FieldDictionary& dictionary_;
  std::vector<std::string> required_;
  // required_ resolved to ids, refreshed when the dictionary grows: names are
  // looked up once, not per series per step.
  mutable std::vector<std::optional<FieldId>> required_ids_;
  mutable std::size_t resolved_at_ = static_cast<std::size_t>(-1);
  bool alert_on_new_fields_;
  CheckBasics basics_;
};

}  // namespace vigil::detectors
