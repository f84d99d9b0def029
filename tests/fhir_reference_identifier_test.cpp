// reference:identifier: a reference that carries only an identifier (common when a sending
// system knows the NHS number but not our id) is found by that identifier.
#include <gtest/gtest.h>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

int Matches(TestServer& server, const std::string& target) {
  auto response = server.Get(target);
  EXPECT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  auto* entries = bundle.if_contains("entry");
  return entries ? static_cast<int>(entries->as_array().size()) : 0;
}

TEST(FhirReferenceIdentifier, ReferenceByIdentifierIsFoundByIdentifier) {
  TestServer server;
  auto created = server.Send("POST", "/fhir/Observation", R"({"resourceType":"Observation",
    "status":"final","code":{"text":"pulse"},
    "subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}}})");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(Matches(server,
                    "/fhir/Observation?subject:identifier="
                    "https://fhir.nhs.uk/Id/nhs-number%7C9000000009"),
            1);
  EXPECT_EQ(Matches(server, "/fhir/Observation?subject:identifier=9000000009"), 1);
  EXPECT_EQ(Matches(server,
                    "/fhir/Observation?subject:identifier="
                    "https://fhir.nhs.uk/Id/nhs-number%7C9000000017"),
            0);
  EXPECT_EQ(Matches(server,
                    "/fhir/Observation?patient:identifier="
                    "https://fhir.nhs.uk/Id/nhs-number%7C9000000009"),
            0);  // patient is subject.where(resolve() is Patient): no type, so not a Patient
}

// identifier:of-type: an identifier found by its type (e.g. a hospital's MRN) and value.
TEST(FhirIdentifierOfType, IdentifierIsFoundByTypeAndValue) {
  TestServer server;
  Put(server, "Patient", "p1", R"({"resourceType":"Patient","identifier":[
    {"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]},
     "system":"https://hospital.example/mrn","value":"H123"},
    {"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}]})");
  Put(server, "Patient", "p2", R"({"resourceType":"Patient","identifier":[
    {"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"SS"}]},
     "value":"H123"}]})");
  const std::string of_type =
      "/fhir/Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203%7C";
  EXPECT_EQ(Ids(server, of_type + "MR%7CH123"), std::vector<std::string>{"p1"});
  EXPECT_EQ(Ids(server, of_type + "SS%7CH123"), std::vector<std::string>{"p2"});
  EXPECT_TRUE(Ids(server, of_type + "MR%7C9000000009").empty());
  EXPECT_EQ(server.Get("/fhir/Patient?identifier:of-type=MR%7CH123").status, 400);
  // The plain identifier search is unchanged.
  EXPECT_EQ(Ids(server, "/fhir/Patient?identifier=H123"), (std::vector<std::string>{"p1", "p2"}));
}

}  // namespace
}  // namespace carerecord::testing
