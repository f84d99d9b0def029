// HTTP integration tests of composite search parameters: Observation code-value-quantity and its
// component and combo forms (the code and the value must come from the same element), code with
// a concept, date or string value, a reference-first composite (DocumentReference relationship),
// and the errors a malformed composite value gets.
#include <gtest/gtest.h>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

using Names = std::vector<std::string>;

std::string Vital(const std::string& code, const std::string& value_json) {
  return R"({"resourceType":"Observation","status":"final","subject":{"reference":"Patient/p1"},
    "code":{"coding":[{"system":"http://loinc.org","code":")" +
         code + R"("}]},)" + value_json + "}";
}

std::string MmHg(double value) {
  std::string number = std::to_string(value);
  return R"({"value":)" + number +
         R"(,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"})";
}

// A blood pressure panel: systolic and diastolic as components of one Observation.
std::string BloodPressure(double systolic, double diastolic) {
  return R"({"resourceType":"Observation","status":"final","subject":{"reference":"Patient/p1"},
    "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
    "component":[
      {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":)" +
         MmHg(systolic) + R"(},
      {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":)" +
         MmHg(diastolic) + "}]}";
}

void PutObservations(TestServer& server) {
  Put(server, "Patient", "p1", R"({"resourceType":"Patient"})");
  Put(server, "Observation", "glucose-high",
      Vital("2339-0", R"("valueQuantity":{"value":11.2,"unit":"mmol/L",
        "system":"http://unitsofmeasure.org","code":"mmol/L"})"));
  Put(server, "Observation", "glucose-normal",
      Vital("2339-0", R"("valueQuantity":{"value":5.4,"unit":"mmol/L",
        "system":"http://unitsofmeasure.org","code":"mmol/L"})"));
  Put(server, "Observation", "smoker",
      Vital("72166-2", R"("valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct",
        "code":"77176002"}]})"));
  Put(server, "Observation", "onset", Vital("11368-8", R"("valueDateTime":"2019-06-15")"));
  Put(server, "Observation", "note", Vital("8251-1", R"("valueString":"Feeling Better today")"));
  // High systolic, normal diastolic; and the other way round: only the pairing tells them apart.
  Put(server, "Observation", "bp-systolic-high", BloodPressure(150, 80));
  Put(server, "Observation", "bp-diastolic-high", BloodPressure(120, 150));
}

TEST(FhirSearchComposite, CodeValueQuantityPairsTheCodeWithItsValue) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-quantity=http://loinc.org%7C2339-0$gt10"),
            Names{"glucose-high"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-quantity=2339-0$lt10"),
            Names{"glucose-normal"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-quantity=2339-0$5.4"),
            Names{"glucose-normal"});
  EXPECT_EQ(Ids(server,
                "/fhir/Observation?code-value-quantity="
                "2339-0$gt1%7Chttp://unitsofmeasure.org%7Cmmol/L"),
            (Names{"glucose-high", "glucose-normal"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-quantity=2339-0$gt1%7C%7Cmg/dL"), Names{});
  // By the human unit without a system, as value-quantity is.
  EXPECT_EQ(Ids(server, "/fhir/Observation?component-code-value-quantity=8480-6$150%7C%7CmmHg"),
            Names{"bp-systolic-high"});
  // Comma is OR between whole composite values.
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-quantity=2339-0$gt10,2339-0$lt5"),
            Names{"glucose-high"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-quantity=8867-4$gt10"), Names{});
}

TEST(FhirSearchComposite, ComponentCodeValueQuantityPairsWithinOneComponent) {
  TestServer server;
  PutObservations(server);
  // Both panels have a systolic component and a value over 140, but only one has both in the
  // same component.
  EXPECT_EQ(Ids(server, "/fhir/Observation?component-code-value-quantity=8480-6$gt140"),
            Names{"bp-systolic-high"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?component-code-value-quantity=8462-4$gt140"),
            Names{"bp-diastolic-high"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?component-code-value-quantity=8480-6$gt160"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p1&component-code-value-quantity=8480-6$le120"),
            Names{"bp-diastolic-high"});
}

TEST(FhirSearchComposite, ComboSearchesTheObservationAndItsComponents) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-code-value-quantity=8480-6$gt140"),
            Names{"bp-systolic-high"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-code-value-quantity=2339-0$gt10"),
            Names{"glucose-high"});
  EXPECT_EQ(
      Ids(server, "/fhir/Observation?combo-code-value-quantity=2339-0$gt10,8462-4$gt140&_sort=_id"),
      (Names{"bp-diastolic-high", "glucose-high"}));
}

TEST(FhirSearchComposite, ConceptDateAndStringValues) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(
      Ids(server, "/fhir/Observation?code-value-concept=72166-2$http://snomed.info/sct%7C77176002"),
      Names{"smoker"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-concept=72166-2$266919005"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-date=11368-8$2019"), Names{"onset"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-date=11368-8$gt2020-01-01"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-string=8251-1$feeling"), Names{"note"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-string=8251-1$better"), Names{});
}

TEST(FhirSearchComposite, ReferenceFirstComponent) {
  TestServer server;
  Put(server, "DocumentReference", "old", R"({"resourceType":"DocumentReference",
    "status":"superseded","content":[{"attachment":{"contentType":"text/plain"}}]})");
  Put(server, "DocumentReference", "new", R"({"resourceType":"DocumentReference",
    "status":"current","content":[{"attachment":{"contentType":"text/plain"}}],
    "relatesTo":[{"code":"replaces","target":{"reference":"DocumentReference/old"}}]})");
  EXPECT_EQ(Ids(server, "/fhir/DocumentReference?relationship=DocumentReference/old$replaces"),
            Names{"new"});
  EXPECT_EQ(Ids(server, "/fhir/DocumentReference?relationship=old$replaces"), Names{"new"});
  EXPECT_EQ(Ids(server, "/fhir/DocumentReference?relationship=old$appends"), Names{});
}

TEST(FhirSearchComposite, UpdateReplacesTheCompositeRows) {
  TestServer server;
  PutObservations(server);
  Put(server, "Observation", "glucose-high",
      Vital("2339-0", R"("valueQuantity":{"value":4.1,"unit":"mmol/L",
        "system":"http://unitsofmeasure.org","code":"mmol/L"})"));
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-quantity=2339-0$gt10"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-quantity=2339-0$lt5"), Names{"glucose-high"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code-value-quantity:missing=true&code=2339-0"), Names{});
}

TEST(FhirSearchComposite, MalformedValuesAre400WithTheParameterNamed) {
  TestServer server;
  PutObservations(server);
  for (const char* query : {"code-value-quantity=2339-0", "code-value-quantity=2339-0$1$2",
                            "code-value-quantity=2339-0$abc", "code-value-date=11368-8$2019-13",
                            "code-value-quantity:exact=2339-0$1"}) {
    auto response = server.Get(std::string("/fhir/Observation?") + query);
    EXPECT_EQ(response.status, 400) << query;
    EXPECT_NE(response.body.find("code-value-"), std::string::npos) << query << response.body;
  }
}

}  // namespace
}  // namespace carerecord::testing
