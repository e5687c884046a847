#include "stream/field_interner.h"

namespace vigil::stream {

std::span<const detectors::FieldSeen> FieldInterner::internSlow(std::span<const RawField> raw,
                                                                std::uint64_t keys_id,
                                                                std::uint64_t shape_id) {
  // Records of one dataset nearly always carry the same keys in the same
  // order: then the previous record's ids hold and only the types change.
  // The decoder has already compared the keys when it says they are the same.
  if (raw.size() == last_names_.size() && raw.size() == out_.size()) {
    bool same = keys_id != 0 && keys_id == last_keys_id_;
    if (!same) {
      same = true;
      for (std::size_t i = 0; i < raw.size() && same; ++i) same = raw[i].name == last_names_[i];
    }
    if (same) {
      last_keys_id_ = keys_id;
      for (std::size_t i = 0; i < raw.size(); ++i) out_[i].types = raw[i].type;
      last_shape_id_ = shape_id;
      return out_;
    }
  }
  last_keys_id_ = 0;
  last_shape_id_ = 0;
  out_.clear();
  last_names_.clear();
  bool all_tracked = true;
  for (const RawField& f : raw) {
    auto it = cache_.find(f.name);
    if (it == cache_.end()) {
      std::optional<detectors::FieldId> id;
      if (mutex_ != nullptr) {
        std::lock_guard lock(*mutex_);
        id = dictionary_->intern(f.name);
      } else {
        id = dictionary_->intern(f.name);
      }
      // Records with ever-new keys must not grow the cache without bound.
      if (cache_.size() >= kMaxCached) cache_.clear();
      it = cache_.emplace(std::string(f.name), id).first;
    }
    if (it->second) {
      out_.push_back(detectors::FieldSeen{*it->second, f.type});
    } else {
      all_tracked = false;
    }
  }
  // Remember the key sequence only when every name has an id, so the fast
  // path never has to skip an untracked field.
  if (all_tracked) {
    for (const RawField& f : raw) last_names_.emplace_back(f.name);
    last_keys_id_ = keys_id;
  }
  last_shape_id_ = shape_id;
  return out_;
}

}  // namespace vigil::stream
