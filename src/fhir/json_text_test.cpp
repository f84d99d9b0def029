#include "fhir/json_text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace carerecord::fhir {
namespace {

std::string RoundTrip(std::string_view text) { return WriteJson(boost::json::parse(text)); }

TEST(JsonText, DecimalsAreWrittenPlainNotScientific) {
  EXPECT_EQ(RoundTrip(R"({"value":0.02})"), R"({"value":0.02})");
  EXPECT_EQ(RoundTrip(R"({"value":129.16})"), R"({"value":129.16})");
  EXPECT_EQ(RoundTrip(R"({"value":-0.009995654582771556})"), R"({"value":-0.009995654582771556})");
}

TEST(JsonText, WholeDecimalsStayDecimals) {
  EXPECT_EQ(RoundTrip(R"({"value":2.0})"), R"({"value":2.0})");
  EXPECT_EQ(RoundTrip(R"({"count":2})"), R"({"count":2})");
}

TEST(JsonText, StringsAreEscaped) {
  EXPECT_EQ(RoundTrip(R"(["a\"b\\c\n\u0001é"])"), "[\"a\\\"b\\\\c\\n\\u0001é\"]");
}

TEST(JsonText, OutputParsesBackToTheSameValue) {
  const char* text =
      R"({"resourceType":"Observation","valueQuantity":{"value":5.4e-7,"unit":"g"},"a":[true,null,1E300]})";
  auto original = boost::json::parse(text);
  EXPECT_EQ(boost::json::parse(WriteJson(original)), original);
}

}  // namespace
}  // namespace carerecord::fhir
