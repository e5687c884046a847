#include "stream/field_interner.h"

namespace vigil::stream {

std::span<const detectors::FieldSeen> FieldInterner::intern(std::span<const RawField> raw) {
  out_.clear();
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
    if (it->second) out_.push_back(detectors::FieldSeen{*it->second, f.type});
  }
  return out_;
}

}  // namespace vigil::stream
