// What a commit carries for a state rebuild: the metadata's text form and
// the per-step offsets it is computed from.

#include <gtest/gtest.h>

#include "stream/commit_metadata.h"
#include "stream/window_offsets.h"

namespace vigil::stream {
namespace {

using std::chrono::seconds;
using detectors::timestampFromMillis;

const detectors::Timestamp kT0 = timestampFromMillis(1'736'950'000'000);  // a multiple of 10 s

TEST(CommitMetadataTest, RoundTrips) {
  CommitMetadata m;
  m.reread = 1234;
  m.evaluated_through["orders"] = kT0;
  m.evaluated_through["naïve \"name\", with, commas"] = kT0 + seconds(10);
  const auto back = CommitMetadata::decode(m.encode());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, m);
  EXPECT_LT(m.encode().size(), 4096u) << "Kafka's default offset.metadata.max.bytes";
}

TEST(CommitMetadataTest, RefusesWhatIsNotOurs) {
  for (const char* text : {"", "hello", "{}", "[1]", R"({"vigil":2,"reread":1,"through":{}})",
                           R"({"vigil":1,"reread":-1,"through":{}})",
                           R"({"vigil":1,"reread":"1","through":{}})",
                           R"({"vigil":1,"reread":1,"through":[]})",
                           R"({"vigil":1,"reread":1,"through":{"a":"x"}})",
                           R"({"vigil":1,"through":{}})", "{\"vigil\":1,\"reread\":1,"}) {
    EXPECT_FALSE(CommitMetadata::decode(text)) << text;
  }
  EXPECT_TRUE(CommitMetadata::decode(R"({"vigil":1,"reread":0,"through":{}})"));
}

TEST(WindowOffsetsTest, OldestOffsetOfTheStepsNotForgotten) {
  WindowOffsets offsets(seconds(10));
  EXPECT_FALSE(offsets.oldest());
  offsets.placed(kT0 + seconds(1), 100);
  offsets.placed(kT0 + seconds(12), 101);
  offsets.placed(kT0 + seconds(25), 102);
  offsets.placed(kT0 + seconds(5), 103);   // late, into the first step
  offsets.placed(kT0 + seconds(15), 99);   // a lower offset in the middle step
  EXPECT_EQ(offsets.steps(), 3u);
  EXPECT_EQ(offsets.oldest(), 99);
  offsets.forgetBefore(kT0 + seconds(10));  // the first step ends at 10 s
  EXPECT_EQ(offsets.steps(), 2u);
  EXPECT_EQ(offsets.oldest(), 99);
  offsets.forgetBefore(kT0 + seconds(19));  // the middle step still reaches past it
  EXPECT_EQ(offsets.oldest(), 99);
  offsets.forgetBefore(kT0 + seconds(20));
  EXPECT_EQ(offsets.oldest(), 102);
  offsets.placed(kT0 - seconds(30), 7);  // older than anything kept: kept in order
  EXPECT_EQ(offsets.oldest(), 7);
  offsets.forgetBefore(kT0 + seconds(30));
  EXPECT_FALSE(offsets.oldest());
}

}  // namespace
}  // namespace vigil::stream
