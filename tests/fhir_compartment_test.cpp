// Compartment search: GET Patient/{id}/{type} returns only that patient's resources of the type,
// with the type's search parameters applied on top.
#include <gtest/gtest.h>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

std::string Observation(const std::string& id, const std::string& patient,
                        const std::string& code) {
  return R"({"resourceType":"Observation","id":")" + id +
         R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":")" + code +
         R"("}]},"subject":{"reference":"Patient/)" + patient + R"("}})";
}

TEST(FhirCompartment, CompartmentSearchReturnsOnlyThatPatientsResources) {
  TestServer server;
  Put(server, "Patient", "a", R"({"resourceType":"Patient","id":"a"})");
  Put(server, "Patient", "b", R"({"resourceType":"Patient","id":"b"})");
  Put(server, "Observation", "a1", Observation("a1", "a", "8867-4"));
  Put(server, "Observation", "a2", Observation("a2", "a", "29463-7"));
  Put(server, "Observation", "b1", Observation("b1", "b", "8867-4"));
  Put(server, "Condition", "ac",
      R"({"resourceType":"Condition","id":"ac","subject":{"reference":"Patient/a"}})");

  EXPECT_EQ(Ids(server, "/fhir/Patient/a/Observation"), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient/a/Observation?code=8867-4"), std::vector<std::string>{"a1"});
  EXPECT_EQ(Ids(server, "/fhir/Patient/b/Observation"), std::vector<std::string>{"b1"});
  EXPECT_EQ(Ids(server, "/fhir/Patient/a/Condition"), std::vector<std::string>{"ac"});
  EXPECT_TRUE(Ids(server, "/fhir/Patient/nobody/Observation").empty());
}

TEST(FhirCompartment, TypeOutsideThePatientCompartmentIs400) {
  TestServer server;
  Put(server, "Patient", "a", R"({"resourceType":"Patient","id":"a"})");
  EXPECT_EQ(server.Get("/fhir/Patient/a/Organization").status, 400);
  EXPECT_EQ(server.Get("/fhir/Patient/a/Spaceship").status, 404);
}

TEST(FhirCompartment, PagingLinksStayInTheCompartment) {
  TestServer server;
  Put(server, "Patient", "a", R"({"resourceType":"Patient","id":"a"})");
  for (int i = 0; i < 5; ++i) {
    Put(server, "Observation", "o" + std::to_string(i),
        Observation("o" + std::to_string(i), "a", "8867-4"));
  }
  auto bundle = TestServer::Json(server.Get("/fhir/Patient/a/Observation?_count=2"));
  std::string next;
  for (auto& link : bundle["link"].as_array()) {
    if (link.as_object()["relation"] == "next") next = link.as_object()["url"].as_string();
  }
  EXPECT_NE(next.find("/fhir/Patient/a/Observation?"), std::string::npos) << next;
}

}  // namespace
}  // namespace carerecord::testing

namespace carerecord::testing {
namespace {

// A Provenance naming two patients is in both compartments, and a search on the second patient
// finds it even though its partition is the first one's.
TEST(FhirCompartment, ResourceOfTwoPatientsIsFoundFromEither) {
  TestServer server;
  Put(server, "Patient", "a", R"({"resourceType":"Patient"})");
  Put(server, "Patient", "b", R"({"resourceType":"Patient"})");
  Put(server, "Provenance", "prov", R"({"resourceType":"Provenance",
    "meta":{"tag":[{"system":"https://example.org/tags","code":"t1"}]},
    "target":[{"reference":"Patient/a"},{"reference":"Patient/b"}],
    "recorded":"2024-01-01T00:00:00Z","agent":[{"who":{"display":"Clerk"}}]})");
  EXPECT_EQ(Ids(server, "/fhir/Provenance?patient=a"), std::vector<std::string>{"prov"});
  EXPECT_EQ(Ids(server, "/fhir/Provenance?patient=b"), std::vector<std::string>{"prov"});
  // A token condition with the patient: the search must not assume patient b's partition.
  EXPECT_EQ(Ids(server, "/fhir/Provenance?patient=b&_tag=https://example.org/tags%7Ct1"),
            std::vector<std::string>{"prov"});
  EXPECT_EQ(Ids(server, "/fhir/Patient/b/Provenance"), std::vector<std::string>{"prov"});
}

}  // namespace
}  // namespace carerecord::testing

namespace carerecord::testing {
namespace {

// combo-code and combo-value-quantity are code|component-code and value|component-value: they
// find a code or value wherever it sits, though only their parts are indexed.
TEST(FhirComboParameters, ComboSearchesFindTopLevelAndComponentValues) {
  TestServer server;
  Put(server, "Patient", "p", R"({"resourceType":"Patient"})");
  Put(server, "Observation", "bp", R"({"resourceType":"Observation","status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
    "subject":{"reference":"Patient/p"},
    "component":[
      {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
       "valueQuantity":{"value":150,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
      {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},
       "valueQuantity":{"value":95,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]})");
  Put(server, "Observation", "hr", R"({"resourceType":"Observation","status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},
    "subject":{"reference":"Patient/p"},
    "valueQuantity":{"value":72,"system":"http://unitsofmeasure.org","code":"/min"}})");
  using V = std::vector<std::string>;
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-code=8480-6"), V{"bp"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-code=http://loinc.org%7C8867-4"), V{"hr"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-code=8867-4,85354-9"), (V{"bp", "hr"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p&combo-code=8462-4"), V{"bp"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-code:text=heart"), V{"hr"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-value-quantity=gt100"), V{"bp"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-value-quantity=lt80"), V{"hr"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p&_sort=combo-code&_elements=id").size(), 2u);
  EXPECT_EQ(server.Get("/fhir/Observation?combo-code:missing=true").status, 400);
}

}  // namespace
}  // namespace carerecord::testing
