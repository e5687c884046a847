#include "remediation/placeholders.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "detectors/failure_event.h"

namespace vigil::remediation {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Values that have tried to escape their context somewhere, once.
const std::string kUrlBreaker = "a/b?c=d&e#f";
const std::string kShellBreaker = "$(rm -rf /)";
const std::string kSqlBreaker = "\"; DROP";
const std::string kUnicode = "Zürich-東京-🚀";

detectors::FailureEvent sampleEvent(std::string pipeline_id) {
  detectors::FailureEvent e;
  e.status = detectors::EventStatus::kFiring;
  e.timestamp = detectors::timestampFromMillis(1736951520000);
  e.dataset = "orders";
  e.pipeline_id = std::move(pipeline_id);
  e.failure_type = detectors::FailureType::kStaleData;
  e.severity = detectors::Severity::kWarning;
  return e;
}

// A call whose event carries `pipeline_id`; owns what the call points to.
struct CallFixture {
  explicit CallFixture(std::string pipeline_id) : event(sampleEvent(std::move(pipeline_id))) {
    action.name = "rerun";
    call.action = &action;
    call.event = &event;
    call.attempt = 3;
  }
  ActionSpec action;
  detectors::FailureEvent event;
  ActionCall call;
};

PlaceholderValues onlyPipeline(std::string value) {
  return PlaceholderValues({std::move(value), "orders", "", "", "", "", "", ""});
}

TEST(PlaceholdersTest, EveryKnownPlaceholderTakesItsValueFromTheCall) {
  CallFixture f("etl_orders_01");
  const std::string out = expandPlaceholders(
      "{pipeline_id}|{dataset}|{failure_type}|{event_id}|{action}|{attempt}|{severity}|{status}",
      PlaceholderValues(f.call), Escaping::kRaw);
  EXPECT_EQ(out,
            "etl_orders_01|orders|stale_data|" + f.event.eventId() + "|rerun|3|warning|firing");
}

TEST(PlaceholdersTest, MissingEventAndActionGiveEmptyValues) {
  ActionCall call;
  call.attempt = 1;
  EXPECT_EQ(expandPlaceholders("[{pipeline_id}][{action}][{attempt}]", PlaceholderValues(call),
                               Escaping::kRaw),
            "[][][1]");
}

TEST(PlaceholdersTest, UrlValuesArePercentEncodedIntoOneSegment) {
  EXPECT_EQ(expandPlaceholders("http://h/rerun/{pipeline_id}?x=1", onlyPipeline(kUrlBreaker),
                               Escaping::kUrl),
            "http://h/rerun/a%2Fb%3Fc%3Dd%26e%23f?x=1");
  EXPECT_EQ(expandPlaceholders("http://h/q?id={pipeline_id}", onlyPipeline(kShellBreaker),
                               Escaping::kUrl),
            "http://h/q?id=%24%28rm%20-rf%20%2F%29");
  EXPECT_EQ(expandPlaceholders("/{pipeline_id}/", onlyPipeline(kSqlBreaker), Escaping::kUrl),
            "/%22%3B%20DROP/");
  EXPECT_EQ(expandPlaceholders("/{pipeline_id}/", onlyPipeline("ü"), Escaping::kUrl), "/%C3%BC/");
  EXPECT_EQ(expandPlaceholders("/{pipeline_id}/", onlyPipeline(""), Escaping::kUrl), "//");
}

TEST(PlaceholdersTest, PercentEncodingKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(percentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percentEncode(":/?#[]@!$&'()*+,;=% "),
            "%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%20");
  EXPECT_EQ(percentEncode(std::string("\0\x7f\xff", 3)), "%00%7F%FF");
  // Whatever the value, the encoded form holds no URL delimiter.
  for (const std::string& v : {kUrlBreaker, kShellBreaker, kSqlBreaker, kUnicode}) {
    EXPECT_EQ(percentEncode(v).find_first_of("/?#&=;\" "), std::string::npos) << v;
  }
}

TEST(PlaceholdersTest, ArgvValuesStayOneArgumentEachAndLiteral) {
  for (const std::string& hostile :
       {kShellBreaker, kSqlBreaker, kUrlBreaker, kUnicode, std::string(), std::string("a b\tc"),
        std::string("'; rm -rf ~ #"), std::string("*"), std::string("--help")}) {
    CallFixture f(hostile);
    const auto argv =
        expandArgv({"/usr/local/bin/restart-job", "{pipeline_id}", "--id={pipeline_id}"}, f.call);
    EXPECT_THAT(argv, ElementsAre("/usr/local/bin/restart-job", hostile, "--id=" + hostile));
  }
}

TEST(PlaceholdersTest, TheProgramIsNeverExpanded) {
  CallFixture f("/tmp/evil");
  EXPECT_THAT(expandArgv({"{pipeline_id}", "{pipeline_id}"}, f.call),
              ElementsAre("{pipeline_id}", "/tmp/evil"));
}

TEST(PlaceholdersTest, ValuesAreNotExpandedAgain) {
  // A value that looks like a placeholder is data, not template.
  EXPECT_EQ(expandPlaceholders("x{pipeline_id}y", onlyPipeline("{dataset}"), Escaping::kRaw),
            "x{dataset}y");
  EXPECT_EQ(expandPlaceholders("/{pipeline_id}", onlyPipeline("{dataset}"), Escaping::kUrl),
            "/%7Bdataset%7D");
}

TEST(PlaceholdersTest, JsonValuesCannotLeaveTheirStringLiteral) {
  const std::string tmpl = R"({"pipeline": "{pipeline_id}", "opts": {"force": true}})";
  for (const std::string& hostile :
       {kSqlBreaker, kShellBreaker, kUrlBreaker, kUnicode, std::string(),
        std::string("\\\", \"admin\": true, \"x\": \""), std::string("line\nbreak\r\t\b\f"),
        std::string("nul\0byte\x1f\x7f", 10)}) {
    const std::string body = expandPlaceholders(tmpl, onlyPipeline(hostile), Escaping::kJsonString);
    const auto j = nlohmann::json::parse(body);
    ASSERT_EQ(j.size(), 2u) << body;
    EXPECT_EQ(j["pipeline"], hostile) << body;
    EXPECT_EQ(j["opts"]["force"], true);
  }
}

TEST(PlaceholdersTest, InvalidUtf8BecomesReplacementCharactersInJson) {
  const std::string body = expandPlaceholders(
      R"({"p":"{pipeline_id}"})", onlyPipeline("ok\xff\xc3(\xed\xa0\x80"), Escaping::kJsonString);
  const auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j["p"], "ok\xEF\xBF\xBD\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(PlaceholdersTest, BracesThatAreNotPlaceholdersAreText) {
  const PlaceholderValues v = onlyPipeline("p1");
  // JSON objects, empty braces, unclosed ones, non-identifiers.
  EXPECT_EQ(expandPlaceholders(R"({"a":{"b":[{}]}})", v, Escaping::kJsonString),
            R"({"a":{"b":[{}]}})");
  EXPECT_EQ(expandPlaceholders("{ pipeline_id } {1} {pipeline_id", v, Escaping::kRaw),
            "{ pipeline_id } {1} {pipeline_id");
  EXPECT_EQ(expandPlaceholders("}}{{", v, Escaping::kRaw), "}}{{");
}

TEST(PlaceholdersTest, DoubledBracesWriteAPlaceholderLiterally) {
  const PlaceholderValues v = onlyPipeline("p1");
  EXPECT_EQ(expandPlaceholders("{{pipeline_id}}={pipeline_id}", v, Escaping::kRaw),
            "{pipeline_id}=p1");
  EXPECT_EQ(expandPlaceholders("{{foo}}", v, Escaping::kUrl), "{foo}");
}

TEST(PlaceholdersTest, UnknownPlaceholdersAreLeftAsWritten) {
  EXPECT_EQ(
      expandPlaceholders("/{foo}/{pipeline_id}/{Pipeline_ID}", onlyPipeline("p 1"), Escaping::kUrl),
      "/{foo}/p%201/{Pipeline_ID}");
}

TEST(PlaceholdersTest, UnknownPlaceholdersAreReportedForValidation) {
  EXPECT_THAT(unknownPlaceholders("http://h/{pipline_id}/{dataset}?a={foo}&b={foo}"),
              ElementsAre("{pipline_id}", "{foo}", "{foo}"));
  EXPECT_THAT(unknownPlaceholders(R"({"a": "{pipeline_id}", "b": {"c": 1}} {{foo}} { x } {})"),
              IsEmpty());
  for (const std::string_view name : kPlaceholderNames) {
    EXPECT_THAT(unknownPlaceholders("{" + std::string(name) + "}"), IsEmpty()) << name;
  }
}

TEST(PlaceholdersTest, Utf8Helpers) {
  EXPECT_EQ(sanitizeUtf8(kUnicode), kUnicode);
  EXPECT_EQ(sanitizeUtf8("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  EXPECT_EQ(utf8Prefix("aü", 2), "a");                              // does not cut the two-byte ü
  EXPECT_EQ(utf8Prefix("aü", 3), "aü");
  EXPECT_EQ(utf8Prefix("🚀x", 3), "");
  EXPECT_EQ(utf8Length(kUnicode), 11u);
}

TEST(PlaceholdersTest, FormatDuration) {
  EXPECT_EQ(formatDuration(detectors::Duration{250}), "250ms");
  EXPECT_EQ(formatDuration(detectors::Duration{10000}), "10s");
  EXPECT_EQ(formatDuration(detectors::Duration{1500}), "1.5s");
}

}  // namespace
}  // namespace vigil::remediation
