#include "stream/decoder.h"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detectors/dataset_spec.h"
#include "detectors/observation.h"
#include "detectors/time.h"

namespace vigil::stream {
namespace {

using detectors::Observation;
using detectors::Timestamp;
using std::chrono::sys_days;

// A UTC instant spelled out, so expectations read like the timestamps in the records.
Timestamp utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0, int ms = 0) {
  const std::chrono::year_month_day date{std::chrono::year{y},
                                         std::chrono::month{static_cast<unsigned>(mo)},
                                         std::chrono::day{static_cast<unsigned>(d)}};
  return Timestamp{sys_days{date}} + std::chrono::hours{h} + std::chrono::minutes{mi} +
         std::chrono::seconds{s} + std::chrono::milliseconds{ms};
}

const Timestamp kKafkaTime = utc(2025, 1, 15, 14, 32, 5);

DecodePlan pipelinePlan() {
  DecodePlan plan;
  plan.dataset = "orders";
  plan.series_key = "pipeline_id";
  plan.event_time = "ts";
  plan.latency_field = "latency_ms";
  plan.latency_scale = 1e-3;
  plan.max_record_bytes = 4096;
  return plan;
}

constexpr std::string_view kValidRecord =
    R"({"pipeline_id":"etl_orders_07","ts":"2025-01-15T14:32:00.123Z","latency_ms":153.2,)"
    R"("rows":1200,"user_id":"u-8812","amount":19.99,"status":"ok","region":"eu-west-1"})";

// Everything a decode yields that a test may look at, copied out of the decoder's buffers (their
// views die with the decoder or the next record).
struct Result {
  std::optional<InvalidReason> reason;
  std::string series;
  Timestamp event_time;
  std::optional<double> latency_seconds;
  double volume = 0;
  std::uint32_t null_mask = 0;
  bool latency_wrong_type = false;
  bool count_wrong_type = false;
  std::vector<std::pair<std::string, std::uint8_t>> fields;
  bool operator==(const Result&) const = default;
};

Result decodeOn(Decoder& decoder, std::string_view value, DecodeNotes& notes,
                Timestamp kafka_time = kKafkaTime) {
  Observation obs;
  Result result;
  result.reason = decoder.decode(value, kafka_time, obs, notes);
  result.series = std::string(obs.series);
  result.event_time = obs.event_time;
  result.latency_seconds = obs.latency_seconds;
  result.volume = obs.volume;
  result.null_mask = obs.null_mask;
  result.latency_wrong_type = notes.latency_wrong_type;
  result.count_wrong_type = notes.count_wrong_type;
  for (const RawField& f : notes.fields) result.fields.emplace_back(std::string(f.name), f.type);
  return result;
}

// Decodes one value with a fresh decoder.
Result decodeWith(const DecodePlan& plan, std::string_view value,
                  Timestamp kafka_time = kKafkaTime) {
  Decoder decoder(plan);
  DecodeNotes notes;
  return decodeOn(decoder, value, notes, kafka_time);
}

Result decode(std::string_view value) { return decodeWith(pipelinePlan(), value); }

std::string withTs(std::string_view ts_json) {
  return R"({"pipeline_id":"p","ts":)" + std::string(ts_json) + "}";
}

std::string withLatency(std::string_view latency_json) {
  return R"({"pipeline_id":"p","ts":"2025-01-15T14:32:00Z","latency_ms":)" +
         std::string(latency_json) + "}";
}

// --- Valid records --------------------------------------------------------------------------

// A realistic record yields its series, event time and latency in seconds.
TEST(DecoderTest, ValidRecordYieldsSeriesEventTimeAndLatency) {
  const Result r = decode(kValidRecord);
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.series, "etl_orders_07");
  EXPECT_EQ(r.event_time, utc(2025, 1, 15, 14, 32, 0, 123));
  ASSERT_TRUE(r.latency_seconds.has_value());
  EXPECT_NEAR(*r.latency_seconds, 0.1532, 1e-12);
  EXPECT_FALSE(r.latency_wrong_type);
}

// Whitespace between tokens is allowed anywhere JSON allows it.
TEST(DecoderTest, WhitespaceAroundTokensIsAccepted) {
  const Result r =
      decode(" \n{ \"pipeline_id\" : \"p\" ,\t\"ts\" : 1736951520 , \"latency_ms\" : 5 }\r\n ");
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.series, "p");
  EXPECT_EQ(r.latency_seconds, 0.005);
}

// A string series value is unescaped.
TEST(DecoderTest, EscapedSeriesValueIsUnescaped) {
  const Result r = decode(R"({"pipeline_id":"etl\/orders\u0021","ts":1736951520})");
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.series, "etl/orders!");
}

// A numeric series key becomes its JSON text, so 42 and "42" name the same series.
TEST(DecoderTest, IntegerSeriesKeyUsesItsJsonText) {
  const Result r = decode(R"({"pipeline_id":42 ,"ts":1736951520})");
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.series, "42");
}

// A non-integer numeric series key keeps its exact JSON spelling.
TEST(DecoderTest, DecimalSeriesKeyUsesItsJsonText) {
  const Result r = decode(R"({"ts":1736951520,"pipeline_id":-1.50e3})");
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.series, "-1.50e3");
}

// Without a series_key the whole dataset is one series named after it.
TEST(DecoderTest, PlanWithoutSeriesKeyUsesDatasetName) {
  DecodePlan plan = pipelinePlan();
  plan.series_key.reset();
  const Result r = decodeWith(plan, R"({"ts":1736951520})");
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.series, "orders");
}

// A record exactly max_record_bytes long is still accepted.
TEST(DecoderTest, RecordOfExactlyMaxBytesIsAccepted) {
  DecodePlan plan = pipelinePlan();
  plan.max_record_bytes = kValidRecord.size();
  EXPECT_EQ(decodeWith(plan, kValidRecord).reason, std::nullopt);
}

// Fields nested inside other values are not top-level fields and never match.
TEST(DecoderTest, NestedFieldWithWantedNameIsIgnored) {
  const Result r = decode(
      R"({"meta":{"pipeline_id":"inner","ts":"bad"},"pipeline_id":"outer","ts":1736951520})");
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.series, "outer");
}

// Nesting within the depth limit is accepted when skipped.
TEST(DecoderTest, SkippedValueNestedWithinLimitIsAccepted) {
  const std::string nested = std::string(32, '[') + "1" + std::string(32, ']');
  EXPECT_EQ(decode(R"({"pipeline_id":"p","ts":1736951520,"payload":)" + nested + "}").reason,
            std::nullopt);
}

// --- Keys -----------------------------------------------------------------------------------

// A key written with escapes matches the plain field name it spells.
TEST(DecoderTest, EscapedKeyMatchesWantedField) {
  const Result r = decode(R"({"pipeline\u005fid":"p1","\u0074s":1736951520})");
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.series, "p1");
  EXPECT_EQ(r.event_time, utc(2025, 1, 15, 14, 32));
}

// When a key repeats, the last occurrence is the one used.
TEST(DecoderTest, DuplicateKeyLastOccurrenceWins) {
  const Result r = decode(R"({"pipeline_id":"first","ts":1736951520,"pipeline_id":"second"})");
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.series, "second");
}

// The last occurrence wins even when it is null and the first one was usable.
TEST(DecoderTest, DuplicateKeyWithLastNullIsMissing) {
  EXPECT_EQ(decode(R"({"pipeline_id":"first","ts":1736951520,"pipeline_id":null})").reason,
            InvalidReason::kMissingSeriesKey);
}

// A record key that is a prefix of the wanted key is a different field.
TEST(DecoderTest, KeyThatIsPrefixOfWantedKeyIsNotMatched) {
  const Result r = decode(R"({"pipeline":"wrong","ts":1736951520,"pipeline_id":"right"})");
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.series, "right");
}

// A wanted key that is a prefix of a record key does not match it either.
TEST(DecoderTest, WantedKeyThatIsPrefixOfRecordKeyIsNotMatched) {
  DecodePlan plan = pipelinePlan();
  plan.series_key = "pipeline";
  EXPECT_EQ(decodeWith(plan, R"({"pipeline_id":"p","ts":1736951520})").reason,
            InvalidReason::kMissingSeriesKey);
}

// --- kEmpty, kTooLarge, kInvalidUtf8 --------------------------------------------------------

// A plan whose limit is beyond what simdjson parses (4 GiB) refuses every record as too large,
// without sizing a buffer from a wrapped-around length.
TEST(DecoderTest, LimitBeyondParserCapacityIsTooLarge) {
  DecodePlan plan = pipelinePlan();
  plan.max_record_bytes = std::numeric_limits<std::uint64_t>::max() - 8;
  EXPECT_EQ(decodeWith(plan, kValidRecord).reason, InvalidReason::kTooLarge);
}

// A zero-length value (a tombstone) is empty.
TEST(DecoderTest, EmptyValueIsEmpty) { EXPECT_EQ(decode("").reason, InvalidReason::kEmpty); }

// A value one byte over max_record_bytes is too large, before any parsing.
TEST(DecoderTest, ValueOverMaxRecordBytesIsTooLarge) {
  DecodePlan plan = pipelinePlan();
  plan.max_record_bytes = kValidRecord.size() - 1;
  EXPECT_EQ(decodeWith(plan, kValidRecord).reason, InvalidReason::kTooLarge);
}

// A megabyte-sized value against the default limit is too large.
TEST(DecoderTest, HugeValueIsTooLarge) {
  DecodePlan plan = pipelinePlan();
  plan.max_record_bytes = 1 << 20;
  const std::string huge =
      R"({"pipeline_id":"p","ts":1736951520,"blob":")" + std::string(1 << 20, 'x') + "\"}";
  EXPECT_EQ(decodeWith(plan, huge).reason, InvalidReason::kTooLarge);
}

// A stray 0xFF byte inside a string is invalid UTF-8.
TEST(DecoderTest, InvalidUtf8ByteIsInvalidUtf8) {
  EXPECT_EQ(decode("{\"pipeline_id\":\"p\xff\",\"ts\":1736951520}").reason,
            InvalidReason::kInvalidUtf8);
}

// A truncated multi-byte sequence is invalid UTF-8 even though the JSON is also broken.
TEST(DecoderTest, TruncatedUtf8SequenceIsInvalidUtf8) {
  EXPECT_EQ(decode("{\"pipeline_id\":\"caf\xc3").reason, InvalidReason::kInvalidUtf8);
}

// --- kInvalidJson ---------------------------------------------------------------------------

// A record cut off in the middle of the object is invalid JSON.
TEST(DecoderTest, TruncatedObjectIsInvalidJson) {
  EXPECT_EQ(decode(R"({"pipeline_id":"p","ts":1736951520,"rows":12)").reason,
            InvalidReason::kInvalidJson);
}

// A record cut off right after a nested object still lacks its own closing brace.
TEST(DecoderTest, TruncatedAfterNestedObjectIsInvalidJson) {
  EXPECT_EQ(decode(R"({"pipeline_id":"p","ts":1736951520,"meta":{"a":1})").reason,
            InvalidReason::kInvalidJson);
}

// A record cut off inside a string is invalid JSON.
TEST(DecoderTest, UnterminatedStringIsInvalidJson) {
  EXPECT_EQ(decode(R"({"pipeline_id":"p)").reason, InvalidReason::kInvalidJson);
}

// Garbage after the closing brace is invalid JSON.
TEST(DecoderTest, TrailingGarbageIsInvalidJson) {
  EXPECT_EQ(decode(R"({"pipeline_id":"p","ts":1736951520} xyz)").reason,
            InvalidReason::kInvalidJson);
}

// Two concatenated objects are not one record.
TEST(DecoderTest, SecondObjectAfterRecordIsInvalidJson) {
  EXPECT_EQ(decode(R"({"pipeline_id":"p","ts":1736951520}{"pipeline_id":"q"})").reason,
            InvalidReason::kInvalidJson);
}

// An unquoted key is invalid JSON.
TEST(DecoderTest, UnquotedKeyIsInvalidJson) {
  EXPECT_EQ(decode(R"({pipeline_id:"p","ts":1736951520})").reason, InvalidReason::kInvalidJson);
}

// A trailing comma before the closing brace is invalid JSON.
TEST(DecoderTest, TrailingCommaIsInvalidJson) {
  EXPECT_EQ(decode(R"({"pipeline_id":"p","ts":1736951520,})").reason, InvalidReason::kInvalidJson);
}

// A missing value after a colon is invalid JSON.
TEST(DecoderTest, MissingValueIsInvalidJson) {
  EXPECT_EQ(decode(R"({"pipeline_id":"p","ts":1736951520,"rows":})").reason,
            InvalidReason::kInvalidJson);
}

// A missing comma inside a value we skip is still caught.
TEST(DecoderTest, MissingCommaInSkippedArrayIsInvalidJson) {
  EXPECT_EQ(decode(R"({"pipeline_id":"p","ts":1736951520,"tags":[1 2]})").reason,
            InvalidReason::kInvalidJson);
}

// A misspelled literal in a field we skip is invalid JSON.
TEST(DecoderTest, MisspelledLiteralInSkippedFieldIsInvalidJson) {
  EXPECT_EQ(decode(R"({"pipeline_id":"p","ts":1736951520,"ok":tru})").reason,
            InvalidReason::kInvalidJson);
}

// A malformed number in a field we skip is invalid JSON.
TEST(DecoderTest, MalformedNumberInSkippedFieldIsInvalidJson) {
  EXPECT_EQ(decode(R"({"pipeline_id":"p","ts":1736951520,"rows":12x})").reason,
            InvalidReason::kInvalidJson);
}

// A single-quoted string is not JSON.
TEST(DecoderTest, SingleQuotedStringIsInvalidJson) {
  EXPECT_EQ(decode(R"({"pipeline_id":'p',"ts":1736951520})").reason, InvalidReason::kInvalidJson);
}

// A raw control character inside a string is invalid JSON.
TEST(DecoderTest, UnescapedControlCharacterIsInvalidJson) {
  EXPECT_EQ(decode("{\"pipeline_id\":\"p\x01\",\"ts\":1736951520}").reason,
            InvalidReason::kInvalidJson);
}

// A bad escape in the series value is invalid JSON.
TEST(DecoderTest, InvalidEscapeInSeriesValueIsInvalidJson) {
  EXPECT_EQ(decode(R"({"pipeline_id":"p\q","ts":1736951520})").reason, InvalidReason::kInvalidJson);
}

// A bad escape in a string the plan does not read is invalid JSON too: skipped strings and keys
// are not unescaped, but their escapes are checked.
TEST(DecoderTest, InvalidEscapeInSkippedStringIsInvalidJson) {
  for (const char* bad : {R"("p\q")", R"("\u12G4")", R"("ab\u12")", R"(["x\ "])", R"({"k":"\x41"})",
                          R"({"\}k":1})", R"([{"a\u00":1}])"}) {
    EXPECT_EQ(
        decode(R"({"pipeline_id":"p","ts":1736951520,"note":)" + std::string(bad) + "}").reason,
        InvalidReason::kInvalidJson)
        << bad;
  }
}

// Every RFC 8259 escape in a skipped string is accepted, an escaped lone surrogate too (it is
// well-formed JSON; only strings that are read are unescaped).
TEST(DecoderTest, ValidEscapesInSkippedStringAreAccepted) {
  const Result r =
      decode(R"({"pipeline_id":"p","ts":1736951520,"note":"\"\\\/\b\f\n\r\t\u00e9\uD800 \\u",)"
             R"("list":["\"",{"k\"":"\\"}]})");
  EXPECT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.series, "p");
}

// A string followed by a colon inside a skipped array is no key: invalid JSON, also when the
// array then closes with the wrong bracket (simdjson's own skip would take `"b":` for a key).
TEST(DecoderTest, ColonAfterStringInSkippedArrayIsInvalidJson) {
  for (const char* bad :
       {R"(["a","b":1])", R"({"k":["a","b":1}]})", R"({"k":["a","b":[1]}]})", R"(["a":{"c":1}])"}) {
    EXPECT_EQ(
        decode(R"({"pipeline_id":"p","ts":1736951520,"meta":)" + std::string(bad) + "}").reason,
        InvalidReason::kInvalidJson)
        << bad;
  }
}

// A bad escape in a key is invalid JSON.
TEST(DecoderTest, InvalidEscapeInKeyIsInvalidJson) {
  EXPECT_EQ(decode(R"({"pipeline_id":"p","t\qs":1736951520})").reason, InvalidReason::kInvalidJson);
}

// A value of only whitespace is not empty but holds no JSON.
TEST(DecoderTest, WhitespaceOnlyValueIsInvalidJson) {
  EXPECT_EQ(decode("  \n ").reason, InvalidReason::kInvalidJson);
}

// 10,000 levels of balanced nesting in a skipped value are rejected cleanly, not a crash.
TEST(DecoderTest, DeeplyNestedSkippedValueIsInvalidJson) {
  DecodePlan plan = pipelinePlan();
  plan.max_record_bytes = 1 << 20;
  const std::string deep = R"({"pipeline_id":"p","ts":1736951520,"payload":)" +
                           std::string(10000, '[') + std::string(10000, ']') + "}";
  EXPECT_EQ(decodeWith(plan, deep).reason, InvalidReason::kInvalidJson);
}

// 10,000 unclosed brackets are rejected cleanly, not a crash.
TEST(DecoderTest, DeeplyNestedUnclosedValueIsInvalidJson) {
  DecodePlan plan = pipelinePlan();
  plan.max_record_bytes = 1 << 20;
  const std::string deep = R"({"pipeline_id":"p","payload":)" + std::string(10000, '{');
  EXPECT_EQ(decodeWith(plan, deep).reason, InvalidReason::kInvalidJson);
}

// Deep objects alternating with arrays, inside the series field itself, are rejected cleanly.
TEST(DecoderTest, DeeplyNestedWantedValueIsInvalidJson) {
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += R"({"a":[)";
  for (int i = 0; i < 5000; ++i) deep += "]}";
  DecodePlan plan = pipelinePlan();
  plan.max_record_bytes = 1 << 20;
  EXPECT_EQ(decodeWith(plan, R"({"pipeline_id":)" + deep + "}").reason,
            InvalidReason::kInvalidJson);
}

// --- kNotObject -----------------------------------------------------------------------------

// An array at the top level is valid JSON but not a record.
TEST(DecoderTest, ArrayAtTopLevelIsNotObject) {
  EXPECT_EQ(decode(R"([{"pipeline_id":"p","ts":1736951520}])").reason, InvalidReason::kNotObject);
}

// A string at the top level is valid JSON but not a record.
TEST(DecoderTest, StringAtTopLevelIsNotObject) {
  EXPECT_EQ(decode(R"("pipeline_id")").reason, InvalidReason::kNotObject);
}

// A number at the top level is valid JSON but not a record.
TEST(DecoderTest, NumberAtTopLevelIsNotObject) {
  EXPECT_EQ(decode("42 ").reason, InvalidReason::kNotObject);
}

// A truncated top-level array is malformed, which outranks "not an object".
TEST(DecoderTest, TruncatedArrayAtTopLevelIsInvalidJson) {
  EXPECT_EQ(decode("[1,2").reason, InvalidReason::kInvalidJson);
}

// Two scalars in a row are malformed, not a scalar record.
TEST(DecoderTest, TwoScalarsAtTopLevelAreInvalidJson) {
  EXPECT_EQ(decode(R"("a" "b")").reason, InvalidReason::kInvalidJson);
}

// A bare word is not JSON at all.
TEST(DecoderTest, BareWordAtTopLevelIsInvalidJson) {
  EXPECT_EQ(decode("hello").reason, InvalidReason::kInvalidJson);
}

// --- kMissingSeriesKey ----------------------------------------------------------------------

// A record without the series key field is missing it.
TEST(DecoderTest, AbsentSeriesKeyIsMissingSeriesKey) {
  EXPECT_EQ(decode(R"({"ts":1736951520,"rows":3})").reason, InvalidReason::kMissingSeriesKey);
}

// An empty string names no series (a failure event needs a pipeline_id): missing too.
TEST(DecoderTest, EmptySeriesKeyIsMissingSeriesKey) {
  EXPECT_EQ(decode(R"({"pipeline_id":"","ts":1736951520})").reason,
            InvalidReason::kMissingSeriesKey);
}

// A null series key is missing.
TEST(DecoderTest, NullSeriesKeyIsMissingSeriesKey) {
  EXPECT_EQ(decode(R"({"pipeline_id":null,"ts":1736951520})").reason,
            InvalidReason::kMissingSeriesKey);
}

// An object is not a usable series key.
TEST(DecoderTest, ObjectSeriesKeyIsMissingSeriesKey) {
  EXPECT_EQ(decode(R"({"pipeline_id":{"name":"p"},"ts":1736951520})").reason,
            InvalidReason::kMissingSeriesKey);
}

// A boolean is not a usable series key.
TEST(DecoderTest, BoolSeriesKeyIsMissingSeriesKey) {
  EXPECT_EQ(decode(R"({"pipeline_id":true,"ts":1736951520})").reason,
            InvalidReason::kMissingSeriesKey);
}

// --- Event time -----------------------------------------------------------------------------

// Without an event_time field the Kafka timestamp is the event time.
TEST(DecoderTest, PlanWithoutEventTimeUsesKafkaTimestamp) {
  DecodePlan plan = pipelinePlan();
  plan.event_time.reset();
  const Result r = decodeWith(plan, R"({"pipeline_id":"p"})");
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.event_time, kKafkaTime);
}

// An epoch number below 1e11 is read as seconds.
TEST(DecoderTest, EventTimeEpochSecondsIsRead) {
  const Result r = decode(withTs("1736951520"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.event_time, utc(2025, 1, 15, 14, 32));
}

// Fractional epoch seconds keep their milliseconds.
TEST(DecoderTest, EventTimeFractionalEpochSecondsKeepsMilliseconds) {
  const Result r = decode(withTs("1736951520.123"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.event_time, utc(2025, 1, 15, 14, 32, 0, 123));
}

// An epoch number of 1e11 or more is read as milliseconds.
TEST(DecoderTest, EventTimeEpochMillisecondsIsRead) {
  const Result r = decode(withTs("1736951520123"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.event_time, utc(2025, 1, 15, 14, 32, 0, 123));
}

// An RFC 3339 time with a positive offset is converted to UTC.
TEST(DecoderTest, EventTimeRfc3339WithPositiveOffsetIsUtc) {
  const Result r = decode(withTs(R"("2025-01-15T16:32:00.250+02:00")"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.event_time, utc(2025, 1, 15, 14, 32, 0, 250));
}

// An RFC 3339 time with a negative offset is converted to UTC, across midnight.
TEST(DecoderTest, EventTimeRfc3339WithNegativeOffsetIsUtc) {
  const Result r = decode(withTs(R"("2025-01-14T21:02:00-05:30")"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.event_time, utc(2025, 1, 15, 2, 32));
}

// A nanosecond fraction is truncated to milliseconds.
TEST(DecoderTest, EventTimeNanosecondFractionIsTruncated) {
  const Result r = decode(withTs(R"("2025-01-15T14:32:00.123999999Z")"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.event_time, utc(2025, 1, 15, 14, 32, 0, 123));
}

// A record without its event time field is missing it.
TEST(DecoderTest, AbsentEventTimeIsMissingEventTime) {
  EXPECT_EQ(decode(R"({"pipeline_id":"p"})").reason, InvalidReason::kMissingEventTime);
}

// A null event time is missing.
TEST(DecoderTest, NullEventTimeIsMissingEventTime) {
  EXPECT_EQ(decode(withTs("null")).reason, InvalidReason::kMissingEventTime);
}

// A string that is not a timestamp is a bad event time.
TEST(DecoderTest, GarbageEventTimeStringIsBadEventTime) {
  EXPECT_EQ(decode(withTs(R"("yesterday at noon")")).reason, InvalidReason::kBadEventTime);
}

// A timestamp without a zone is ambiguous and a bad event time.
TEST(DecoderTest, EventTimeWithoutZoneIsBadEventTime) {
  EXPECT_EQ(decode(withTs(R"("2025-01-15T14:32:00")")).reason, InvalidReason::kBadEventTime);
}

// A boolean event time is bad.
TEST(DecoderTest, BoolEventTimeIsBadEventTime) {
  EXPECT_EQ(decode(withTs("true")).reason, InvalidReason::kBadEventTime);
}

// An object event time is bad.
TEST(DecoderTest, ObjectEventTimeIsBadEventTime) {
  EXPECT_EQ(decode(withTs(R"({"seconds":1736951520})")).reason, InvalidReason::kBadEventTime);
}

// A number beyond double range is a bad event time, not malformed JSON.
TEST(DecoderTest, OverflowingEventTimeNumberIsBadEventTime) {
  EXPECT_EQ(decode(withTs("1e400")).reason, InvalidReason::kBadEventTime);
}

// An event time before 1970 is a producer bug.
TEST(DecoderTest, EventTimeBefore1970IsBadEventTime) {
  EXPECT_EQ(decode(withTs("-1")).reason, InvalidReason::kBadEventTime);
}

// An event time after year 9999 is a producer bug.
TEST(DecoderTest, EventTimeAfterYear9999IsBadEventTime) {
  EXPECT_EQ(decode(withTs("1e17")).reason, InvalidReason::kBadEventTime);
}

// An offset can push a year-9999 wall-clock time past the end of 9999 UTC.
TEST(DecoderTest, OffsetPastYear9999IsBadEventTime) {
  EXPECT_EQ(decode(withTs(R"("9999-12-31T23:30:00-01:00")")).reason, InvalidReason::kBadEventTime);
}

// The epoch itself is the earliest accepted event time.
TEST(DecoderTest, EpochZeroIsAccepted) {
  const Result r = decode(withTs("0"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.event_time, Timestamp{});
}

// --- Latency --------------------------------------------------------------------------------

// A string latency is noted as the wrong type but the record is still used.
TEST(DecoderTest, StringLatencyIsWrongTypeButRecordIsUsed) {
  const Result r = decode(withLatency(R"("153.2")"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_TRUE(r.latency_wrong_type);
  EXPECT_FALSE(r.latency_seconds.has_value());
  EXPECT_EQ(r.series, "p");
}

// A boolean latency is the wrong type.
TEST(DecoderTest, BoolLatencyIsWrongType) {
  const Result r = decode(withLatency("false"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_TRUE(r.latency_wrong_type);
}

// A negative latency is not a duration and counts as the wrong type.
TEST(DecoderTest, NegativeLatencyIsWrongType) {
  const Result r = decode(withLatency("-3"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_TRUE(r.latency_wrong_type);
  EXPECT_FALSE(r.latency_seconds.has_value());
}

// A latency beyond double range is non-finite and counts as the wrong type.
TEST(DecoderTest, OverflowingLatencyIsWrongType) {
  const Result r = decode(withLatency("1e999"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_TRUE(r.latency_wrong_type);
}

// A record without the latency field is fine, with no latency.
TEST(DecoderTest, AbsentLatencyIsNotAnError) {
  const Result r = decode(R"({"pipeline_id":"p","ts":1736951520})");
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_FALSE(r.latency_seconds.has_value());
  EXPECT_FALSE(r.latency_wrong_type);
}

// A null latency is fine, with no latency.
TEST(DecoderTest, NullLatencyIsNotAnError) {
  const Result r = decode(withLatency("null"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_FALSE(r.latency_seconds.has_value());
  EXPECT_FALSE(r.latency_wrong_type);
}

// The latency is scaled from the field's unit to seconds.
TEST(DecoderTest, LatencyIsScaledToSeconds) {
  DecodePlan plan = pipelinePlan();
  plan.latency_scale = 1e-6;
  const Result r = decodeWith(plan, withLatency("2500000"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_DOUBLE_EQ(r.latency_seconds.value(), 2.5);
}

// Derived latency is the Kafka timestamp minus the event time.
TEST(DecoderTest, DerivedLatencyIsKafkaTimestampMinusEventTime) {
  DecodePlan plan = pipelinePlan();
  plan.latency_field.reset();
  plan.derived_latency = true;
  const Result r = decodeWith(plan, withTs(R"("2025-01-15T14:32:00.500Z")"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_DOUBLE_EQ(r.latency_seconds.value(), 4.5);
}

// An event time ahead of the Kafka timestamp (clock skew) gives a zero derived latency.
TEST(DecoderTest, DerivedLatencyIsClampedAtZero) {
  DecodePlan plan = pipelinePlan();
  plan.latency_field.reset();
  plan.derived_latency = true;
  const Result r = decodeWith(plan, withTs(R"("2025-01-15T14:33:00Z")"));
  ASSERT_EQ(r.reason, std::nullopt);
  EXPECT_EQ(r.latency_seconds, 0.0);
}

// --- Reuse ----------------------------------------------------------------------------------

// One decoder decodes many records in a row, each view describing the current record.
TEST(DecoderTest, ManyRecordsInARowReuseTheDecoder) {
  Decoder decoder(pipelinePlan());
  Observation obs;
  DecodeNotes notes;
  for (int i = 0; i < 10000; ++i) {
    const std::string id = "pipeline-" + std::to_string(i);
    const std::string value = R"({"pipeline_id":")" + id + R"(","ts":)" +
                              std::to_string(1736951520000LL + i) + R"(,"latency_ms":)" +
                              std::to_string(i) + "}";
    ASSERT_EQ(decoder.decode(value, kKafkaTime, obs, notes), std::nullopt) << value;
    ASSERT_EQ(obs.series, id);
    ASSERT_EQ(obs.event_time,
              utc(2025, 1, 15, 14, 32, 0, i % 1000) + std::chrono::seconds{i / 1000});
    ASSERT_DOUBLE_EQ(obs.latency_seconds.value(), i * 1e-3);
  }
}

// A short truncated record after a longer one does not borrow the longer one's bytes.
TEST(DecoderTest, TruncatedRecordAfterLongerRecordIsInvalidJson) {
  Decoder decoder(pipelinePlan());
  Observation obs;
  DecodeNotes notes;
  const std::string longer = R"({"pipeline_id":"p","ts":1736951520,"meta":{"a":1}})";
  ASSERT_EQ(decoder.decode(longer, kKafkaTime, obs, notes), std::nullopt);
  // The same bytes minus the final brace: the stale '}' is still in the decoder's buffer.
  const std::string truncated = longer.substr(0, longer.size() - 1);
  EXPECT_EQ(decoder.decode(truncated, kKafkaTime, obs, notes), InvalidReason::kInvalidJson);
}

// Notes describe only the latest record: a wrong type does not stick to the next one.
TEST(DecoderTest, NotesAreResetForEachRecord) {
  Decoder decoder(pipelinePlan());
  Observation obs;
  DecodeNotes notes;
  ASSERT_EQ(decoder.decode(withLatency(R"("x")"), kKafkaTime, obs, notes), std::nullopt);
  ASSERT_TRUE(notes.latency_wrong_type);
  ASSERT_EQ(decoder.decode(withLatency("1"), kKafkaTime, obs, notes), std::nullopt);
  EXPECT_FALSE(notes.latency_wrong_type);
}

// A decoder keeps working after it is moved.
TEST(DecoderTest, MovedDecoderStillDecodes) {
  Decoder original(pipelinePlan());
  Decoder moved(std::move(original));
  Observation obs;
  DecodeNotes notes;
  ASSERT_EQ(moved.decode(kValidRecord, kKafkaTime, obs, notes), std::nullopt);
  EXPECT_EQ(obs.series, "etl_orders_07");
  EXPECT_EQ(moved.plan().series_key, "pipeline_id");
}

// Records that mostly repeat the keys of the one before, with keys that differ from a wanted one
// by a byte, a prefix, an escape or their length, values of every type, and now and then a record
// that is cut short or malformed.
std::string randomRecord(std::mt19937_64& rng, std::vector<std::string>& keys) {
  static const std::vector<std::string> kKeys = {"pipeline_id",
                                                 "pipeline_ie",
                                                 "pipeline_i",
                                                 "pipeline_idx",
                                                 R"(pipeline\u005fid)",
                                                 "ts",
                                                 "t",
                                                 "tsx",
                                                 "latency_ms",
                                                 "latency_mz",
                                                 "rows",
                                                 "user_id",
                                                 "amount",
                                                 "",
                                                 "a_key_longer_than_sixteen_bytes",
                                                 "status",
                                                 R"(st\"atus)"};
  static const std::vector<std::string> kValues = {R"("etl_07")",
                                                   "42",
                                                   "1736951520123",
                                                   R"("2025-01-15T14:32:00.250Z")",
                                                   "153.2",
                                                   "-1",
                                                   "null",
                                                   "true",
                                                   R"({"a":[1,2]})",
                                                   "[]",
                                                   R"("x\ny")",
                                                   "1e400",
                                                   "0"};
  std::uniform_int_distribution<std::size_t> key(0, kKeys.size() - 1);
  std::uniform_int_distribution<std::size_t> val(0, kValues.size() - 1);
  std::uniform_int_distribution<int> percent(0, 99);
  if (keys.empty() || percent(rng) < 15) {
    keys.clear();
    const int n = 1 + percent(rng) % 9;
    for (int i = 0; i < n; ++i) keys.push_back(kKeys[key(rng)]);
    if (percent(rng) < 70) keys.insert(keys.begin(), {"pipeline_id", "ts"});
  } else if (percent(rng) < 10) {
    keys[static_cast<std::size_t>(percent(rng)) % keys.size()] = kKeys[key(rng)];
  }
  std::string out = "{";
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out += percent(rng) < 5 ? " , " : ",";
    out += '"' + keys[i] + "\":" + kValues[val(rng)];
  }
  out += '}';
  if (percent(rng) < 3) out.resize(out.size() / 2);
  if (percent(rng) < 2) out.insert(out.size() / 2, "\"");
  return out;
}

DecodePlan everyRolePlan() {
  DecodePlan plan = pipelinePlan();
  plan.count_field = "rows";
  plan.null_fields = {"user_id", "amount", "ts"};
  plan.track_fields = true;
  return plan;
}

// A decoder that has seen records before (and matches their keys by position) yields exactly what
// a fresh one does, record after record, on randomized input.
TEST(DecoderTest, ReusedDecoderAgreesWithFreshOnes) {
  std::mt19937_64 rng(7);
  std::vector<std::string> keys;
  Decoder reused(everyRolePlan());
  DecodeNotes reused_notes;
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string value = randomRecord(rng, keys);
    const Result expected = decodeWith(everyRolePlan(), value);
    ASSERT_EQ(decodeOn(reused, value, reused_notes), expected) << value;
    accepted += expected.reason ? 0 : 1;
  }
  EXPECT_GT(accepted, 2000);  // the comparison covered accepted records, not only rejections
}

// The ids `decoder` gives `value`, after the records it decoded before.
struct Ids {
  std::uint64_t keys;
  std::uint64_t shape;
};
Ids idsOf(Decoder& decoder, std::string_view value) {
  DecodeNotes notes;
  decodeOn(decoder, value, notes);
  return {notes.keys_id, notes.shape_id};
}

// Records with the same keys in the same order share a keys id; another order gets another one.
TEST(DecoderTest, KeysIdFollowsTheKeySequence) {
  Decoder decoder(everyRolePlan());
  const auto keysId = [&](std::string_view value) { return idsOf(decoder, value).keys; };
  const std::uint64_t first = keysId(R"({"pipeline_id":"a","ts":1,"x":1})");
  EXPECT_NE(first, 0u);
  EXPECT_EQ(keysId(R"({"pipeline_id":"b","ts":2,"x":"s"})"), first);
  const std::uint64_t second = keysId(R"({"pipeline_id":"b","ts":2,"y":1})");
  EXPECT_NE(second, first);
  // Rejected after its keys were read (no id): the next record has the keys of the first, and is
  // not taken for the second.
  EXPECT_EQ(keysId(R"({"pipeline_id":"b","ts":2,"x":1,"z":tru})"), 0u);
  const std::uint64_t third = keysId(R"({"pipeline_id":"b","ts":2,"x":1})");
  EXPECT_NE(third, second);
  EXPECT_NE(third, 0u);
}

// Records with the same keys in the same order and of the same types share a shape id: a type
// that changes, or a record rejected half-way (which may have changed what the decoder knows),
// gives the next record a new one.
TEST(DecoderTest, ShapeIdFollowsKeysAndTypes) {
  Decoder decoder(everyRolePlan());
  std::uint64_t keys = 0;  // the keys id of the last record
  const auto shapeId = [&](std::string_view value) {
    const Ids ids = idsOf(decoder, value);
    keys = ids.keys;
    return ids.shape;
  };
  const std::uint64_t numbers = shapeId(R"({"pipeline_id":"a","ts":1,"x":1})");
  const std::uint64_t first_keys = keys;
  EXPECT_NE(numbers, 0u);
  EXPECT_EQ(shapeId(R"({"pipeline_id":"b","ts":2,"x":5})"), numbers);
  const std::uint64_t strings = shapeId(R"({"pipeline_id":"b","ts":2,"x":"s"})");
  EXPECT_NE(strings, numbers);
  EXPECT_NE(strings, 0u);
  EXPECT_EQ(keys, first_keys);  // the keys did not change, only a type
  EXPECT_EQ(shapeId(R"({"pipeline_id":"c","ts":3,"x":"t"})"), strings);
  // Rejected once its "x" was seen to be a number (a malformed one): the next record with a number
  // there is not taken for the strings' shape.
  EXPECT_EQ(shapeId(R"({"pipeline_id":"b","ts":2,"x":1x})"), 0u);
  const std::uint64_t after = shapeId(R"({"pipeline_id":"b","ts":2,"x":1})");
  EXPECT_NE(after, strings);
  EXPECT_NE(after, 0u);
  // Without the schema check there is no shape to tell.
  Decoder untracked(pipelinePlan());
  EXPECT_EQ(idsOf(untracked, R"({"pipeline_id":"a","ts":1,"x":1})").shape, 0u);
}

// On randomized input, two records given the same shape id have equal fields: names, order and
// types. Few key lists and types, so shapes repeat; some records are cut short by a bad value
// after some of their fields were read.
TEST(DecoderTest, EqualShapeIdsMeanEqualFields) {
  const std::vector<std::vector<std::string>> lists = {
      {"pipeline_id", "ts", "a", "b"}, {"pipeline_id", "ts", "b", "a"}, {"pipeline_id", "ts", "a"}};
  const std::vector<std::string> values = {"1", R"("s")", "null"};
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int> percent(0, 99);
  Decoder decoder(everyRolePlan());
  DecodeNotes notes;
  std::map<std::uint64_t, std::vector<std::pair<std::string, std::uint8_t>>> seen;
  int repeats = 0;
  for (int i = 0; i < 20000; ++i) {
    const auto& keys = lists[static_cast<std::size_t>(percent(rng)) % lists.size()];
    std::string value = R"({"pipeline_id":"p","ts":1)";
    for (std::size_t k = 2; k < keys.size(); ++k) {
      value += ",\"" + keys[k] + "\":" + values[static_cast<std::size_t>(percent(rng)) % 3];
    }
    if (percent(rng) < 5) value += R"(,"z":tru)";
    value += '}';
    const Result r = decodeOn(decoder, value, notes);
    if (r.reason || notes.shape_id == 0) continue;
    const auto [it, first] = seen.emplace(notes.shape_id, r.fields);
    if (first) continue;
    ++repeats;
    ASSERT_EQ(r.fields, it->second) << value;
  }
  EXPECT_GT(repeats, 500);  // the comparison ran, not only first sightings
}

// --- Plan and names -------------------------------------------------------------------------

// The plan takes names, unit scale and size limit from the dataset spec.
TEST(DecoderTest, PlanFromSpecWithLatencyField) {
  detectors::DatasetSpec spec;
  spec.name = "orders";
  spec.series_key = "pipeline_id";
  spec.event_time = "ts";
  spec.max_record_bytes = 2048;
  spec.latency = detectors::LatencySpec{};
  spec.latency->field = "latency_us";
  spec.latency->unit = detectors::LatencyUnit::kMicroseconds;
  const DecodePlan plan = DecodePlan::fromSpec(spec);
  EXPECT_EQ(plan.dataset, "orders");
  EXPECT_EQ(plan.series_key, "pipeline_id");
  EXPECT_EQ(plan.event_time, "ts");
  EXPECT_EQ(plan.latency_field, "latency_us");
  EXPECT_FALSE(plan.derived_latency);
  EXPECT_DOUBLE_EQ(plan.latency_scale, 1e-6);
  EXPECT_EQ(plan.max_record_bytes, 2048u);
}

// A latency spec without a field derives latency from the timestamps.
TEST(DecoderTest, PlanFromSpecWithoutLatencyFieldDerivesLatency) {
  detectors::DatasetSpec spec;
  spec.name = "orders";
  spec.latency = detectors::LatencySpec{};
  const DecodePlan plan = DecodePlan::fromSpec(spec);
  EXPECT_FALSE(plan.latency_field.has_value());
  EXPECT_TRUE(plan.derived_latency);
  EXPECT_FALSE(plan.series_key.has_value());
  EXPECT_FALSE(plan.event_time.has_value());
}

// A spec without latency asks for none.
TEST(DecoderTest, PlanFromSpecWithoutLatencyHasNoLatency) {
  detectors::DatasetSpec spec;
  spec.name = "orders";
  const DecodePlan plan = DecodePlan::fromSpec(spec);
  EXPECT_FALSE(plan.latency_field.has_value());
  EXPECT_FALSE(plan.derived_latency);
}

// Reason names are metric labels and must match the documented spelling exactly.
TEST(DecoderTest, ReasonNamesAreTheMetricLabels) {
  const std::vector<std::pair<InvalidReason, std::string_view>> names = {
      {InvalidReason::kEmpty, "empty"},
      {InvalidReason::kTooLarge, "too_large"},
      {InvalidReason::kInvalidUtf8, "invalid_utf8"},
      {InvalidReason::kInvalidJson, "invalid_json"},
      {InvalidReason::kNotObject, "not_object"},
      {InvalidReason::kMissingSeriesKey, "missing_series_key"},
      {InvalidReason::kMissingEventTime, "missing_event_time"},
      {InvalidReason::kBadEventTime, "bad_event_time"},
      {InvalidReason::kWrongType, "wrong_type"},
      {InvalidReason::kLate, "late"},
      {InvalidReason::kFuture, "future"},
      {InvalidReason::kSeriesCap, "series_cap"},
  };
  ASSERT_EQ(names.size(), static_cast<std::size_t>(kInvalidReasonCount));
  for (const auto& [reason, name] : names) EXPECT_EQ(reasonName(reason), name);
}

// --- fromEpochNumber ------------------------------------------------------------------------

// Just below 1e11 is seconds (year 5138); 1e11 itself is milliseconds (1973).
TEST(DecoderTest, EpochNumberSwitchesToMillisecondsAt1e11) {
  EXPECT_EQ(fromEpochNumber(99999999999.0), detectors::timestampFromMillis(99999999999000));
  EXPECT_EQ(fromEpochNumber(1e11), detectors::timestampFromMillis(100000000000));
}

// Infinity and NaN are not times.
TEST(DecoderTest, NonFiniteEpochNumberIsRejected) {
  EXPECT_EQ(fromEpochNumber(std::numeric_limits<double>::infinity()), std::nullopt);
  EXPECT_EQ(fromEpochNumber(-std::numeric_limits<double>::infinity()), std::nullopt);
  EXPECT_EQ(fromEpochNumber(std::numeric_limits<double>::quiet_NaN()), std::nullopt);
}

// A finite number too large for the millisecond clock is rejected rather than overflowing.
TEST(DecoderTest, EpochNumberBeyondClockRangeIsRejected) {
  EXPECT_EQ(fromEpochNumber(1e300), std::nullopt);
}

// --- parseRfc3339 ---------------------------------------------------------------------------

struct Rfc3339Case {
  std::string_view text;
  Timestamp expected;
};

// Every accepted spelling maps to the expected UTC instant.
TEST(Rfc3339Test, AcceptsValidTimestamps) {
  const std::vector<Rfc3339Case> cases = {
      {"2025-01-15T14:32:00Z", utc(2025, 1, 15, 14, 32)},
      {"2025-01-15t14:32:00z", utc(2025, 1, 15, 14, 32)},
      {"2025-01-15 14:32:00Z", utc(2025, 1, 15, 14, 32)},
      {"2025-01-15T14:32:00.1Z", utc(2025, 1, 15, 14, 32, 0, 100)},
      {"2025-01-15T14:32:00.12Z", utc(2025, 1, 15, 14, 32, 0, 120)},
      {"2025-01-15T14:32:00.123Z", utc(2025, 1, 15, 14, 32, 0, 123)},
      {"2025-01-15T14:32:00.123456789Z", utc(2025, 1, 15, 14, 32, 0, 123)},
      {"2025-01-15T14:32:00+00:00", utc(2025, 1, 15, 14, 32)},
      {"2025-01-15T14:32:00-00:00", utc(2025, 1, 15, 14, 32)},
      {"2025-01-15T16:32:00.250+02:00", utc(2025, 1, 15, 14, 32, 0, 250)},
      {"2025-01-15T00:15:00+05:45", utc(2025, 1, 14, 18, 30)},
      {"2024-12-31T23:00:00-02:00", utc(2025, 1, 1, 1)},
      {"1970-01-01T00:00:00Z", Timestamp{}},
      {"9999-12-31T23:59:59.999Z", utc(9999, 12, 31, 23, 59, 59, 999)},
      {"2025-04-30T00:00:00Z", utc(2025, 4, 30)},
  };
  for (const auto& c : cases) EXPECT_EQ(parseRfc3339(c.text), c.expected) << c.text;
}

// Malformed or out-of-range spellings are rejected.
TEST(Rfc3339Test, RejectsInvalidTimestamps) {
  const std::vector<std::string_view> cases = {
      "",
      "2025-01-15",
      "2025-01-15T14:32Z",
      "2025-01-15T14:32:00",
      "2025-01-15T14:32:00.Z",
      "2025-01-15T14:32:00.123",
      "2025-01-15T14:32:00+0200",
      "2025-01-15T14:32:00+02",
      "2025-01-15T14:32:00+24:00",
      "2025-01-15T14:32:00+02:60",
      "2025-01-15T14:32:00Zjunk",
      "2025-01-15T14:32:00Z ",
      " 2025-01-15T14:32:00Z",
      "2025-01-15X14:32:00Z",
      "2025/01/15T14:32:00Z",
      "25-01-15T14:32:00Z",
      "2025-1-15T14:32:00Z",
      "2025-00-15T14:32:00Z",
      "2025-13-15T14:32:00Z",
      "2025-01-00T14:32:00Z",
      "2025-01-32T14:32:00Z",
      "2025-04-31T14:32:00Z",
      "2025-01-15T24:00:00Z",
      "2025-01-15T14:60:00Z",
      "2025-01-15T14:32:61Z",
      "2025-01-15T1a:32:00Z",
      "-025-01-15T14:32:00Z",
      "2025-01-15T14:32:00.12a4Z",
  };
  for (const auto text : cases) EXPECT_EQ(parseRfc3339(text), std::nullopt) << '"' << text << '"';
}

// February 29 exists in a leap year.
TEST(Rfc3339Test, Feb29OnLeapYearIsAccepted) {
  EXPECT_EQ(parseRfc3339("2024-02-29T12:00:00Z"), utc(2024, 2, 29, 12));
}

// February 29 does not exist in a common year.
TEST(Rfc3339Test, Feb29OnNonLeapYearIsRejected) {
  EXPECT_EQ(parseRfc3339("2025-02-29T12:00:00Z"), std::nullopt);
}

// Century years are leap years only when divisible by 400.
TEST(Rfc3339Test, Feb29FollowsTheCenturyRule) {
  EXPECT_EQ(parseRfc3339("2000-02-29T00:00:00Z"), utc(2000, 2, 29));
  EXPECT_EQ(parseRfc3339("2100-02-29T00:00:00Z"), std::nullopt);
}

// A leap second is read as second 59 of the same minute.
TEST(Rfc3339Test, LeapSecondIsReadAsFiftyNine) {
  EXPECT_EQ(parseRfc3339("2016-12-31T23:59:60.500Z"), utc(2016, 12, 31, 23, 59, 59, 500));
}

// With count_field the observation's volume is the field's value; absent or
// null is 0 rows; a string is the wrong type and counts 0.
TEST(DecoderTest, CountFieldBecomesTheVolume) {
  DecodePlan plan = pipelinePlan();
  plan.count_field = "rows";
  Decoder decoder(plan);
  Observation obs;
  DecodeNotes notes;
  ASSERT_FALSE(decoder.decode(kValidRecord, kKafkaTime, obs, notes));
  EXPECT_DOUBLE_EQ(obs.volume, 1200.0);
  ASSERT_FALSE(decoder.decode(R"({"pipeline_id":"p","ts":1736951520})", kKafkaTime, obs, notes));
  EXPECT_DOUBLE_EQ(obs.volume, 0.0);
  EXPECT_FALSE(notes.count_wrong_type);
  ASSERT_FALSE(
      decoder.decode(R"({"pipeline_id":"p","ts":1736951520,"rows":"many"})", kKafkaTime, obs, notes));
  EXPECT_DOUBLE_EQ(obs.volume, 0.0);
  EXPECT_TRUE(notes.count_wrong_type);
}

// Without count_field every record is a volume of 1.
TEST(DecoderTest, WithoutCountFieldVolumeIsOne) {
  Decoder decoder(pipelinePlan());
  Observation obs;
  DecodeNotes notes;
  ASSERT_FALSE(decoder.decode(kValidRecord, kKafkaTime, obs, notes));
  EXPECT_DOUBLE_EQ(obs.volume, 1.0);
}

// A nulls field that is absent or JSON null sets its bit; one with a value clears it.
TEST(DecoderTest, NullMaskMarksAbsentAndNullFields) {
  DecodePlan plan = pipelinePlan();
  plan.null_fields = {"user_id", "amount", "coupon"};
  Decoder decoder(plan);
  Observation obs;
  DecodeNotes notes;
  ASSERT_FALSE(decoder.decode(kValidRecord, kKafkaTime, obs, notes));
  EXPECT_EQ(obs.null_mask, 0b100u);  // coupon absent
  ASSERT_FALSE(decoder.decode(
      R"({"pipeline_id":"p","ts":1736951520,"user_id":null,"amount":0,"coupon":""})", kKafkaTime,
      obs, notes));
  EXPECT_EQ(obs.null_mask, 0b001u);  // user_id null; 0 and "" are values
}

// With track_fields every top-level field is reported once, in order, with its JSON type.
TEST(DecoderTest, TrackFieldsReportsEveryTopLevelFieldAndType) {
  DecodePlan plan = pipelinePlan();
  plan.track_fields = true;
  Decoder decoder(plan);
  Observation obs;
  DecodeNotes notes;
  ASSERT_FALSE(decoder.decode(
      R"({"pipeline_id":"p","ts":1736951520,"n":null,"b":true,"a":[1,{"x":2}],"o":{"k":"v"}})",
      kKafkaTime, obs, notes));
  ASSERT_EQ(notes.fields.size(), 6u);
  const std::vector<std::pair<std::string_view, std::uint8_t>> expected = {
      {"pipeline_id", detectors::kJsonString}, {"ts", detectors::kJsonNumber},
      {"n", detectors::kJsonNull},             {"b", detectors::kJsonBool},
      {"a", detectors::kJsonArray},            {"o", detectors::kJsonObject}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(notes.fields[i].name, expected[i].first);
    EXPECT_EQ(notes.fields[i].type, expected[i].second);
  }
  // Nested keys are not top-level fields, and the list starts over per record.
  ASSERT_FALSE(decoder.decode(R"({"pipeline_id":"p","ts":1736951520})", kKafkaTime, obs, notes));
  EXPECT_EQ(notes.fields.size(), 2u);
}

// Without an event_time field the Kafka timestamp is the event time, and an
// unusable one (0 means "not available") makes the record bad_event_time.
TEST(DecoderTest, UnusableKafkaTimestampIsBadEventTime) {
  DecodePlan plan = pipelinePlan();
  plan.event_time.reset();
  EXPECT_EQ(decodeWith(plan, kValidRecord, Timestamp{}).reason, InvalidReason::kBadEventTime);
  EXPECT_EQ(decodeWith(plan, kValidRecord, utc(10000, 1, 1)).reason, InvalidReason::kBadEventTime);
  EXPECT_FALSE(decodeWith(plan, kValidRecord).reason.has_value());
}

}  // namespace
}  // namespace vigil::stream
