#include "stream/field_interner.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "detectors/schema.h"

namespace vigil::stream {
namespace {

using detectors::FieldDictionary;
using detectors::FieldSeen;
using detectors::kJsonNumber;
using detectors::kJsonString;

// The interned fields as (name, types) pairs, through the dictionary.
std::vector<std::pair<std::string, std::uint8_t>> named(const FieldDictionary& dictionary,
                                                        std::span<const FieldSeen> fields) {
  std::vector<std::pair<std::string, std::uint8_t>> out;
  for (const FieldSeen& f : fields) out.emplace_back(std::string(dictionary.name(f.id)), f.types);
  return out;
}

using Named = std::vector<std::pair<std::string, std::uint8_t>>;

TEST(FieldInternerTest, NamesBecomeTheDictionarysIds) {
  FieldDictionary dictionary;
  FieldInterner interner(dictionary, nullptr);
  const std::vector<RawField> raw = {{"a", kJsonNumber}, {"b", kJsonString}};
  EXPECT_EQ(named(dictionary, interner.intern(raw)), (Named{{"a", kJsonNumber}, {"b", kJsonString}}));
  EXPECT_EQ(dictionary.size(), 2u);
  // Another order, another type: the same ids, this record's types.
  const std::vector<RawField> other = {{"b", kJsonNumber}, {"a", kJsonNumber}};
  EXPECT_EQ(named(dictionary, interner.intern(other)),
            (Named{{"b", kJsonNumber}, {"a", kJsonNumber}}));
  EXPECT_EQ(dictionary.size(), 2u);
}

// The decoder's ids let the interner skip work, never give a wrong answer: with the same keys id
// the ids hold and the types are this record's; with the same shape id the fields are the last
// call's; a new id is worked out again.
TEST(FieldInternerTest, DecoderIdsShortenTheWork) {
  FieldDictionary dictionary;
  FieldInterner interner(dictionary, nullptr);
  const std::vector<RawField> numbers = {{"a", kJsonNumber}, {"b", kJsonNumber}};
  const std::vector<RawField> strings = {{"a", kJsonString}, {"b", kJsonString}};
  const std::vector<RawField> renamed = {{"a", kJsonString}, {"c", kJsonString}};
  EXPECT_EQ(named(dictionary, interner.intern(numbers, 1, 10)),
            (Named{{"a", kJsonNumber}, {"b", kJsonNumber}}));
  EXPECT_EQ(named(dictionary, interner.intern(numbers, 1, 10)),
            (Named{{"a", kJsonNumber}, {"b", kJsonNumber}}));
  EXPECT_EQ(named(dictionary, interner.intern(strings, 1, 11)),
            (Named{{"a", kJsonString}, {"b", kJsonString}}));
  EXPECT_EQ(named(dictionary, interner.intern(renamed, 2, 12)),
            (Named{{"a", kJsonString}, {"c", kJsonString}}));
  EXPECT_EQ(named(dictionary, interner.intern(numbers, 1, 10)),
            (Named{{"a", kJsonNumber}, {"b", kJsonNumber}}));
  // Without ids, every call compares.
  EXPECT_EQ(named(dictionary, interner.intern(strings)),
            (Named{{"a", kJsonString}, {"b", kJsonString}}));
}

// What the decoder noted becomes the observation's fields and token.
TEST(FieldInternerTest, FillsTheObservation) {
  FieldDictionary dictionary;
  FieldInterner interner(dictionary, nullptr);
  DecodeNotes notes;
  notes.fields = {{"a", kJsonNumber}};
  notes.keys_id = 3;
  notes.shape_id = 4;
  detectors::Observation obs;
  interner.intern(notes, obs);
  EXPECT_EQ(named(dictionary, obs.fields), (Named{{"a", kJsonNumber}}));
  EXPECT_EQ(obs.fields_token, 4u);
  // No fields noted (no schema check): the observation is left as the decoder made it.
  detectors::Observation untouched;
  interner.intern(DecodeNotes{}, untouched);
  EXPECT_TRUE(untouched.fields.empty());
  EXPECT_EQ(untouched.fields_token, 0u);
}

// Names beyond the dictionary's cap are left out, the others keep their ids.
TEST(FieldInternerTest, NamesPastTheCapAreNotTracked) {
  FieldDictionary dictionary;
  for (std::size_t i = 0; i < FieldDictionary::kMaxFields; ++i) {
    ASSERT_TRUE(dictionary.intern("f" + std::to_string(i)).has_value());
  }
  FieldInterner interner(dictionary, nullptr);
  const std::vector<RawField> raw = {{"f1", kJsonNumber}, {"new", kJsonNumber}, {"f2", kJsonString}};
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(named(dictionary, interner.intern(raw, 7, 8)),
              (Named{{"f1", kJsonNumber}, {"f2", kJsonString}}));
  }
}

}  // namespace
}  // namespace vigil::stream
