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

}  // namespace
}  // namespace carerecord::testing
