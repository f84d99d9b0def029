#include "fhir/reference_scan.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/json_text.h"

namespace carerecord::fhir {
namespace {

namespace json = boost::json;

std::vector<std::string> Scan(std::string_view text) {
  std::vector<std::string> out;
  ForEachReferenceString(text, [&](std::string_view r) { out.emplace_back(r); });
  return out;
}

using V = std::vector<std::string>;

TEST(ReferenceScan, FindsEveryReferenceMember) {
  EXPECT_EQ(Scan(R"({"resourceType":"Observation","subject":{"reference":"Patient/1"},)"
                 R"("performer":[{"display":"x","reference":"Practitioner/2"},)"
                 R"({"reference":"Organization/3"}],"contained":[{"resourceType":"Medication",)"
                 R"("manufacturer":{"reference":"Organization/4"}}]})"),
            (V{"Patient/1", "Practitioner/2", "Organization/3", "Organization/4"}));
}

TEST(ReferenceScan, IgnoresTheWordInsideStringsAndAsAValue) {
  // A narrative quoting JSON, the word as a value and as an array item, a member whose name
  // only ends in "reference" (its quote is escaped).
  EXPECT_EQ(Scan(R"({"text":{"div":"<div>{\"reference\":\"Patient/9\"}</div>"},)"
                 R"("a":"reference","b":["reference"],"c\"reference":"Patient/8",)"
                 R"("note":[{"text":",\"reference\":\"Patient/7\""}]})"),
            V{});
}

TEST(ReferenceScan, AcceptsWhitespaceBetweenTokens) {
  EXPECT_EQ(Scan("{ \"subject\" : {\n  \"reference\" :\t\"Patient/1\" } ,\n \"reference\":\"x\"}"),
            (V{"Patient/1", "x"}));
}

TEST(ReferenceScan, SkipsValuesWithEscapesAndGoesOn) {
  EXPECT_EQ(Scan(R"({"a":{"reference":"Patient\/1"},"b":{"reference":"ab\\"},)"
                 R"("c":{"reference":"Patient/2"}})"),
            V{"Patient/2"});
}

TEST(ReferenceScan, ObjectValuedReferenceIsNotAString) {
  // ImplementationGuide.definition.resource.reference is a Reference, not a string.
  EXPECT_EQ(Scan(R"({"resource":[{"reference":{"reference":"StructureDefinition/a"}}]})"),
            V{"StructureDefinition/a"});
}

TEST(ReferenceScan, TruncatedTextEndsTheScanSafely) {
  const std::string text = R"({"subject":{"reference":"Patient/1"},"x":{"reference":"Pat)";
  for (size_t n = 0; n <= text.size(); ++n) {
    auto found = Scan(std::string_view(text).substr(0, n));
    EXPECT_LE(found.size(), 1u);
  }
  EXPECT_EQ(Scan(text), V{"Patient/1"});
}

// Every resource of the Synthea bundles, written as the store writes bodies: the scan finds
// exactly what a walk of the parsed document finds.
TEST(ReferenceScan, AgreesWithAParsedWalkOnSyntheaResources) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(CARERECORD_SOURCE_DIR) / ".." / "shared" / "data" / "synthea-r4";
  if (!fs::is_directory(dir)) GTEST_SKIP() << "no Synthea data at " << dir;
  size_t resources = 0, references = 0;
  for (const fs::directory_entry& file : fs::directory_iterator(dir)) {
    if (file.path().extension() != ".json") continue;
    std::ifstream in(file.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    json::value bundle = json::parse(text.str());
    for (const json::value& entry : bundle.at("entry").as_array()) {
      const json::value& resource = entry.at("resource");
      V expected;
      ForEachReference(resource, [&](std::string_view r) { expected.emplace_back(r); });
      ASSERT_EQ(Scan(WriteJson(resource)), expected) << WriteJson(resource).substr(0, 300);
      ASSERT_EQ(Scan(json::serialize(resource)), expected);
      ++resources;
      references += expected.size();
    }
  }
  EXPECT_GT(resources, 20000u);
  EXPECT_GT(references, resources);
}

}  // namespace
}  // namespace carerecord::fhir
