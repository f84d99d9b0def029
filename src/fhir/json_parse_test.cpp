#include "fhir/json_parse.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fhir/json_number.h"
#include "fhir/json_text.h"

namespace carerecord::fhir {
namespace {

namespace json = boost::json;

JsonLimits RequestLimits() {
  JsonLimits limits;
  limits.max_array_items = 3;
  limits.max_values = 20;
  limits.max_resource_values = 8;
  limits.fhir_rules = true;
  return limits;
}

json::value Parse(std::string_view text, const JsonLimits& limits = {}) {
  auto parsed = ParseFhirJson(text, limits);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.error().message;
  return parsed.ok() ? std::move(parsed).value() : json::value();
}

std::string RoundTrip(std::string_view text) { return WriteJson(Parse(text)); }

base::Error Failure(std::string_view text, const JsonLimits& limits = RequestLimits()) {
  auto parsed = ParseFhirJson(text, limits);
  EXPECT_FALSE(parsed.ok()) << text;
  return parsed.ok() ? base::Error{} : parsed.error();
}

TEST(JsonParse, NumbersComeBackExactlyAsWritten) {
  for (std::string_view text :
       {"[1.50]", "[1e2]", "[1E+2]", "[0.010]", "[-0]", "[-0.0]", "[12345678901234567890123456789]",
        "[18446744073709551616]", "[5.4e-7]", "[1E300]", "[4.9e-324]", "[0.1]", "[2.0]", "[7]",
        "[-9223372036854775808]", "[18446744073709551615]", "[129.16]"}) {
    EXPECT_EQ(RoundTrip(text), text);
  }
}

TEST(JsonParse, NumbersTheWriterPrintsAlikeStayBoostNumbers) {
  const json::array numbers = Parse("[7,2.0,0.02,18446744073709551615]").as_array();
  EXPECT_TRUE(numbers[0].is_int64());
  EXPECT_TRUE(numbers[1].is_double());
  EXPECT_TRUE(numbers[2].is_double());
  EXPECT_TRUE(numbers[3].is_uint64());
}

TEST(JsonNumber, KeptNumbersReadAsNumbersNotStrings) {
  const json::array numbers =
      Parse(R"([1.50,1e2,-0,12345678901234567890123456789,"1.50"])").as_array();
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(IsNumber(numbers[i])) << i;
    EXPECT_EQ(IfText(numbers[i]), nullptr) << i;
  }
  EXPECT_EQ(NumberValue(numbers[0]), 1.5);
  EXPECT_EQ(NumberValue(numbers[1]), 100.0);
  EXPECT_EQ(NumberValue(numbers[2]), 0.0);
  EXPECT_EQ(NumberValue(numbers[3]), 1.2345678901234568e28);
  EXPECT_EQ(NumberText(numbers[0]), "1.50");
  EXPECT_EQ(NumberText(numbers[3]), "12345678901234567890123456789");
  // The string "1.50" is text, not a number.
  EXPECT_FALSE(IsNumber(numbers[4]));
  ASSERT_NE(IfText(numbers[4]), nullptr);
  EXPECT_EQ(*IfText(numbers[4]), "1.50");
  EXPECT_EQ(NumberText(json::value(2.0)), "2.0");
  EXPECT_EQ(NumberText(json::value(7)), "7");
}

TEST(JsonNumber, OnlyANumberAfterTheMarkIsWrittenRaw) {
  // Code that builds a string with the mark by mistake still writes valid, quoted JSON.
  std::string marked(1, kExactNumberMark);
  json::array values{json::string(marked + "1.50"), json::string(marked + "1,\"x\":2"),
                     json::string(marked)};
  EXPECT_EQ(WriteJson(values), "[1.50,\"\\u001f1,\\\"x\\\":2\",\"\\u001f\"]");
}

TEST(JsonParse, NumbersBeyondADoubleAreRefusedByPointer) {
  for (std::string_view number : {"1e400", "-1e400", "1e-400", "1.7976931348623159e308"}) {
    const std::string text = R"({"a":[1,{"b":)" + std::string(number) + "}]}";
    base::Error error = Failure(text, JsonLimits{});
    EXPECT_EQ(error.location, "/a/1/b") << number;
    EXPECT_EQ(error.code, base::ErrorCode::kInvalid);
    EXPECT_NE(error.message.find(number), std::string::npos) << error.message;
  }
  const std::string digits = "[" + std::string(10000, '9') + "]";
  EXPECT_EQ(Failure(digits, JsonLimits{}).location, "/0");
}

TEST(JsonParse, AStringStartingWithTheMarkIsRefused) {
  EXPECT_EQ(Failure(R"({"a":"\u001f1.5"})", JsonLimits{}).location, "/a");
  EXPECT_EQ(Failure(R"({"a":"\u001f1.5"})").location, "/a");
  // Elsewhere in a string it is only a control character, which FHIR's rules refuse.
  EXPECT_TRUE(ParseFhirJson(R"({"a":"x\u001f"})", JsonLimits{}).ok());
  EXPECT_EQ(Failure(R"({"a":"x\u001f"})").location, "/a");
}

TEST(JsonParse, ArraysBeyondTheLimitAreRefusedNamingTheArray) {
  EXPECT_TRUE(ParseFhirJson(R"({"a":[1,2,3]})", RequestLimits()).ok());
  base::Error error = Failure(R"({"a":[[],{"b":[1,2,3,4]}]})");
  EXPECT_EQ(error.code, base::ErrorCode::kTooLarge);
  EXPECT_EQ(error.location, "/a/1/b");
  EXPECT_NE(error.message.find("at most 3"), std::string::npos) << error.message;
}

TEST(JsonParse, ResourcesBeyondTheLimitAreRefusedNamingTheResource) {
  // Eight values inside the Patient (its own object not counted) pass; nine do not.
  const std::string eight = R"({"resourceType":"Patient","a":[1,2,3],"b":{"c":true,"d":null}})";
  EXPECT_TRUE(ParseFhirJson(eight, RequestLimits()).ok());
  const std::string nine =
      R"({"resourceType":"Patient","a":[1,2,3],"b":{"c":true,"d":null},"e":1})";
  base::Error error = Failure(nine);
  EXPECT_EQ(error.code, base::ErrorCode::kTooLarge);
  EXPECT_EQ(error.location, "/");
  // A Bundle holds resources: the document limit bounds it, each resource its own.
  const std::string bundle = R"({"resourceType":"Bundle","entry":[{"resource":)" + nine + "}]}";
  EXPECT_EQ(Failure(bundle).location, "/entry/0/resource");
  const std::string bundle_of_small =
      R"({"resourceType":"Bundle","entry":[{"resource":)" + eight + "}]}";
  EXPECT_TRUE(ParseFhirJson(bundle_of_small, RequestLimits()).ok());
}

TEST(JsonParse, DocumentsBeyondTheValueLimitAreRefused) {
  JsonLimits limits = RequestLimits();
  limits.max_array_items = 10;
  base::Error error = Failure(R"([[1,2,3],[1,2,3],[1,2,3],[1,2,3],[1,2,3],[1,2,3]])", limits);
  EXPECT_EQ(error.code, base::ErrorCode::kTooLarge);
  EXPECT_EQ(error.location, "/4/2");  // the 21st value
}

TEST(JsonParse, DuplicateKeysAndControlCharactersNamedUnderFhirRules) {
  EXPECT_EQ(Failure(R"({"a":{"b":1,"b":2}})").location, "/a/b");
  EXPECT_EQ(Failure(R"({"a":["x","\u0000"]})").location, "/a/1");
  EXPECT_TRUE(ParseFhirJson(R"({"a":{"b":1,"b":2}})", JsonLimits{}).ok());
}

TEST(JsonParse, DepthIsAsAskedNotBoostsDefault) {
  std::string deep;
  for (int i = 0; i < 60; ++i) deep += "[";
  for (int i = 0; i < 60; ++i) deep += "]";
  EXPECT_TRUE(ParseFhirJson(deep, JsonLimits{}).ok());
  JsonLimits shallow;
  shallow.max_depth = 32;
  base::Error error = Failure(deep, shallow);
  EXPECT_NE(error.message.find("nested more than 32"), std::string::npos) << error.message;
}

TEST(JsonParse, SyntaxErrorsNameLineAndColumn) {
  base::Error error = Failure("{\n  \"a\": 1.5.0\n}", JsonLimits{});
  EXPECT_EQ(error.location, "line 2, column 11");
}

}  // namespace
}  // namespace carerecord::fhir
