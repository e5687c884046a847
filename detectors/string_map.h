#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <new>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::detectors {

// A hash map from string keys to values that never move: what a store keeps
// per series, looked up once per record.
//
// Open addressing with linear probing over a flat array of (hash, node)
// slots: a lookup reads one slot (usually) and compares the stored 64-bit
// hash before it touches a node, so a probe past another key costs no cache
// miss. Each entry is one heap block holding the value and, right after it,
// the key's bytes. Erasing shifts the following slots of the probe run back
// (no tombstones). The table doubles when it is 3/4 full; nodes stay where
// they are, so pointers to values and the keys' string_views stay valid until
// their entry is erased.
//
// The caller hashes a key once with hashOf() and passes the hash to every
// call, so a key looked up in several maps is hashed once.
template <class V>
class StringMap {
 public:
  StringMap() = default;
  StringMap(StringMap&& other) noexcept
      : slots_(std::move(other.slots_)), size_(std::exchange(other.size_, 0)) {
    other.slots_.clear();
  }
  StringMap& operator=(StringMap&& other) noexcept {
    if (this != &other) {
      clear();
      slots_ = std::move(other.slots_);
      other.slots_.clear();
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  StringMap(const StringMap&) = delete;
  StringMap& operator=(const StringMap&) = delete;
  ~StringMap() { clear(); }

  static std::uint64_t hashOf(std::string_view key) { return std::hash<std::string_view>{}(key); }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Slots in the table (a power of two, or 0 before the first insert).
  std::size_t capacity() const { return slots_.size(); }

  // The value of `key` (whose hashOf() is `hash`), or nullptr.
  V* find(std::string_view key, std::uint64_t hash) const {
    if (slots_.empty()) return nullptr;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.node == nullptr) return nullptr;
      if (s.hash == hash && s.node->key() == key) return &s.node->value;
    }
  }

  // An entry: the map's own copy of the key, and the value.
  struct Inserted {
    std::string_view key;
    V& value;
  };
  // Adds `key`, which must be absent, with `value`.
  Inserted insert(std::string_view key, std::uint64_t hash, V value) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    Node* node = Node::make(key, std::move(value));
    place(Slot{hash, node});
    ++size_;
    return {node->key(), node->value};
  }

  // Removes `key` if present; true when it was.
  bool erase(std::string_view key, std::uint64_t hash) {
    if (slots_.empty()) return false;
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = hash & mask;
    for (;; i = (i + 1) & mask) {
      if (slots_[i].node == nullptr) return false;
      if (slots_[i].hash == hash && slots_[i].node->key() == key) break;
    }
    Node::destroy(slots_[i].node);
    --size_;
    // Backward shift: move each later entry of the run into the hole when its
    // home slot is at or before the hole (cyclically), so every entry stays
    // reachable from its home without tombstones.
    for (std::size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
      if (slots_[j].node == nullptr) break;
      const std::size_t home = slots_[j].hash & mask;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = Slot{};
    return true;
  }

  void clear() {
    for (Slot& s : slots_) {
      if (s.node != nullptr) Node::destroy(s.node);
      s = Slot{};
    }
    size_ = 0;
  }

  // Calls f(key, value) for every entry, in table order.
  template <class F>
  void forEach(F&& f) const {
    for (const Slot& s : slots_) {
      if (s.node != nullptr) f(s.node->key(), s.node->value);
    }
  }

 private:
  // One heap block: the value, then the key's bytes.
  struct Node {
    V value;
    std::size_t key_size;

    std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), key_size}; }
    static Node* make(std::string_view key, V&& value) {
      void* raw = ::operator new(sizeof(Node) + key.size());
      Node* node = ::new (raw) Node{std::move(value), key.size()};
      if (!key.empty()) std::memcpy(static_cast<char*>(raw) + sizeof(Node), key.data(), key.size());
      return node;
    }
    static void destroy(Node* node) {
      node->~Node();
      ::operator delete(static_cast<void*>(node));
    }
  };
  struct Slot {
    std::uint64_t hash = 0;
    Node* node = nullptr;  // nullptr: empty
  };

  void place(Slot slot) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = slot.hash & mask;
    while (slots_[i].node != nullptr) i = (i + 1) & mask;
    slots_[i] = slot;
  }
  void grow() {
    std::vector<Slot> old(slots_.empty() ? 16 : slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old) {
      if (s.node != nullptr) place(s);
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace vigil::detectors
