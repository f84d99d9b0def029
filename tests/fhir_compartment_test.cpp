// Compartment search: GET Patient/{id}/{type} returns only that patient's resources of the type,
// with the type's search parameters applied on top.
#include <gtest/gtest.h>

#include <set>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

std::set<std::string> Ids(TestServer& server, const std::string& target) {
  auto response = server.Get(target);
  EXPECT_EQ(response.status, 200) << target << ": " << response.body;
  std::set<std::string> ids;
  auto bundle = TestServer::Json(response);
  if (auto* entries = bundle.if_contains("entry")) {
    for (auto& e : entries->as_array()) {
      auto& entry = e.as_object();
      if (entry["search"].as_object()["mode"] != "match") continue;
      ids.insert(std::string(entry["resource"].as_object()["id"].as_string()));
    }
  }
  return ids;
}

void Put(TestServer& server, const std::string& type, const std::string& id,
         const std::string& body) {
  auto response = server.Send("PUT", "/fhir/" + type + "/" + id, body);
  ASSERT_LT(response.status, 300) << response.body;
}

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

  EXPECT_EQ(Ids(server, "/fhir/Patient/a/Observation"), (std::set<std::string>{"a1", "a2"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient/a/Observation?code=8867-4"), std::set<std::string>{"a1"});
  EXPECT_EQ(Ids(server, "/fhir/Patient/b/Observation"), std::set<std::string>{"b1"});
  EXPECT_EQ(Ids(server, "/fhir/Patient/a/Condition"), std::set<std::string>{"ac"});
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
