#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "detectors/observation.h"
#include "detectors/schema.h"
#include "stream/decoder.h"

namespace vigil::stream {

// Turns the field names a decoder reports into the dataset's field ids. Each
// lane keeps its own cache, so the shared dictionary (and its mutex, when
// partitions run in parallel) is touched only for a name the lane has not
// seen. Names beyond the dictionary's cap are not tracked. Owned by one lane;
// not thread-safe itself.
class FieldInterner {
 public:
  // `mutex` may be null when a single thread uses the dictionary.
  FieldInterner(detectors::FieldDictionary& dictionary, std::mutex* mutex)
      : dictionary_(&dictionary), mutex_(mutex) {}

  static constexpr std::size_t kMaxCached = 4 * detectors::FieldDictionary::kMaxFields;

  // The ids of `raw`, valid until the next call. `keys_id` and `shape_id` are
  // the decoder's DecodeNotes ids for `raw` (0: unknown).
  std::span<const detectors::FieldSeen> intern(std::span<const RawField> raw,
                                               std::uint64_t keys_id = 0,
                                               std::uint64_t shape_id = 0) {
    // The decoder says the keys and their types are the last call's: so are the ids.
    if (shape_id != 0 && shape_id == last_shape_id_) return out_;
    return internSlow(raw, keys_id, shape_id);
  }
  // obs.fields and obs.fields_token for the record `notes` describes.
  void intern(const DecodeNotes& notes, detectors::Observation& obs) {
    if (notes.fields.empty()) return;
    obs.fields = intern(notes.fields, notes.keys_id, notes.shape_id);
    obs.fields_token = notes.shape_id;
  }

 private:
  std::span<const detectors::FieldSeen> internSlow(std::span<const RawField> raw,
                                                   std::uint64_t keys_id, std::uint64_t shape_id);

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  detectors::FieldDictionary* dictionary_;
  std::mutex* mutex_;
  std::unordered_map<std::string, std::optional<detectors::FieldId>, Hash, std::equal_to<>> cache_;
  std::vector<detectors::FieldSeen> out_;
  std::vector<std::string> last_names_;  // the key sequence out_ answers
  std::uint64_t last_keys_id_ = 0;       // its decoder id; 0: none
  std::uint64_t last_shape_id_ = 0;      // the decoder's shape id out_ answers; 0: none
};

}  // namespace vigil::stream
