#include "detectors/string_map.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace vigil::detectors {
namespace {

std::map<std::string, int> contents(const StringMap<int>& map) {
  std::map<std::string, int> out;
  map.forEach([&](std::string_view key, int value) {
    EXPECT_TRUE(out.emplace(std::string(key), value).second) << "listed twice: " << key;
  });
  return out;
}

TEST(StringMapTest, FindsWhatWasInsertedAndNothingElse) {
  StringMap<int> map;
  EXPECT_EQ(map.find("a", StringMap<int>::hashOf("a")), nullptr);
  EXPECT_FALSE(map.erase("a", StringMap<int>::hashOf("a")));
  const auto a = map.insert("a", StringMap<int>::hashOf("a"), 1);
  EXPECT_EQ(a.key, "a");
  EXPECT_EQ(a.value, 1);
  map.insert("", StringMap<int>::hashOf(""), 2);  // the empty key is a key
  ASSERT_NE(map.find("a", StringMap<int>::hashOf("a")), nullptr);
  EXPECT_EQ(*map.find("a", StringMap<int>::hashOf("a")), 1);
  EXPECT_EQ(*map.find("", StringMap<int>::hashOf("")), 2);
  EXPECT_EQ(map.find("b", StringMap<int>::hashOf("b")), nullptr);
  EXPECT_EQ(map.size(), 2u);
}

// Values and the map's keys stay where they are while the table grows.
TEST(StringMapTest, GrowthKeepsValuesInPlace) {
  StringMap<std::string> map;
  std::vector<std::pair<std::string_view, std::string*>> seen;
  std::size_t capacity = 0;
  int doublings = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "series-" + std::to_string(i);
    const auto entry = map.insert(key, StringMap<std::string>::hashOf(key), "v" + std::to_string(i));
    seen.emplace_back(entry.key, &entry.value);
    if (map.capacity() != capacity) {
      ++doublings;
      capacity = map.capacity();
    }
    EXPECT_LE(map.size() * 4, map.capacity() * 3) << "at most 3/4 full";
  }
  EXPECT_GE(doublings, 8);
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "series-" + std::to_string(i);
    EXPECT_EQ(seen[i].first, key);
    ASSERT_EQ(map.find(key, StringMap<std::string>::hashOf(key)), seen[i].second) << key;
    EXPECT_EQ(*seen[i].second, "v" + std::to_string(i));
  }
}

// Every key given the same hash: one long probe run, found by comparing keys;
// erasing from the middle of the run leaves the rest reachable.
TEST(StringMapTest, CollidingHashesAreToldApartByKey) {
  StringMap<int> map;
  constexpr std::uint64_t kSame = 12345;
  for (int i = 0; i < 40; ++i) map.insert("k" + std::to_string(i), kSame, i);
  for (int i = 0; i < 40; ++i) {
    ASSERT_NE(map.find("k" + std::to_string(i), kSame), nullptr) << i;
    EXPECT_EQ(*map.find("k" + std::to_string(i), kSame), i);
  }
  EXPECT_EQ(map.find("k40", kSame), nullptr);
  for (int i = 0; i < 40; i += 3) EXPECT_TRUE(map.erase("k" + std::to_string(i), kSame));
  for (int i = 0; i < 40; ++i) {
    const int* v = map.find("k" + std::to_string(i), kSame);
    if (i % 3 == 0) {
      EXPECT_EQ(v, nullptr) << i;
    } else {
      ASSERT_NE(v, nullptr) << i;
      EXPECT_EQ(*v, i);
    }
  }
  // Hashes that differ only above the table's mask share home slots too.
  StringMap<int> high;
  for (std::uint64_t i = 0; i < 20; ++i) high.insert("h" + std::to_string(i), i << 40, int(i));
  for (std::uint64_t i = 0; i < 20; i += 2) EXPECT_TRUE(high.erase("h" + std::to_string(i), i << 40));
  for (std::uint64_t i = 0; i < 20; ++i) {
    EXPECT_EQ(high.find("h" + std::to_string(i), i << 40) != nullptr, i % 2 == 1) << i;
  }
}

// Probe runs that wrap around the end of the table: erasing in them keeps
// the entries that moved past the end reachable.
TEST(StringMapTest, EraseInRunsThatWrapAround) {
  StringMap<int> map;  // 16 slots up to 12 entries
  for (int i = 0; i < 10; ++i) map.insert("w" + std::to_string(i), 14 + (i % 3), i);
  ASSERT_EQ(map.capacity(), 16u);
  for (int victim = 0; victim < 10; ++victim) {
    StringMap<int> copy;
    for (int i = 0; i < 10; ++i) copy.insert("w" + std::to_string(i), 14 + (i % 3), i);
    ASSERT_TRUE(copy.erase("w" + std::to_string(victim), 14 + (victim % 3)));
    for (int i = 0; i < 10; ++i) {
      const int* v = copy.find("w" + std::to_string(i), 14 + (i % 3));
      EXPECT_EQ(v != nullptr, i != victim) << "victim " << victim << " key " << i;
    }
  }
}

// Random inserts and erases, with hashes from a deliberately tiny range so
// that runs are long, against std::map.
TEST(StringMapTest, RandomOperationsMatchStdMap) {
  std::mt19937 rng(11);
  for (const std::uint64_t hash_range : {std::uint64_t{7}, std::uint64_t{1} << 62}) {
    StringMap<int> map;
    std::map<std::string, int> reference;
    const auto hash = [&](const std::string& key) { return StringMap<int>::hashOf(key) % hash_range; };
    for (int op = 0; op < 20000; ++op) {
      const std::string key = "key" + std::to_string(rng() % 300);
      if (rng() % 3 == 0) {
        EXPECT_EQ(map.erase(key, hash(key)), reference.erase(key) == 1) << key;
      } else if (map.find(key, hash(key)) == nullptr) {
        ASSERT_EQ(reference.count(key), 0u) << key;
        map.insert(key, hash(key), op);
        reference[key] = op;
      } else {
        *map.find(key, hash(key)) = op;
        reference[key] = op;
      }
      ASSERT_EQ(map.size(), reference.size());
    }
    EXPECT_EQ(contents(map), reference);
    map.clear();
    EXPECT_TRUE(map.empty());
    EXPECT_TRUE(contents(map).empty());
  }
}

// Values are destroyed once: on erase, clear, or with the map; a moved-from
// map owns nothing.
TEST(StringMapTest, OwnsItsValues) {
  const auto counter = std::make_shared<int>(0);
  {
    StringMap<std::shared_ptr<int>> map;
    for (int i = 0; i < 30; ++i) {
      const std::string key = std::to_string(i);
      map.insert(key, StringMap<std::shared_ptr<int>>::hashOf(key), counter);
    }
    EXPECT_EQ(counter.use_count(), 31);
    map.erase("3", StringMap<std::shared_ptr<int>>::hashOf("3"));
    EXPECT_EQ(counter.use_count(), 30);
    StringMap<std::shared_ptr<int>> moved(std::move(map));
    EXPECT_EQ(map.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_EQ(moved.size(), 29u);
    EXPECT_EQ(counter.use_count(), 30);
    ASSERT_NE(moved.find("4", StringMap<std::shared_ptr<int>>::hashOf("4")), nullptr);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

}  // namespace
}  // namespace vigil::detectors
