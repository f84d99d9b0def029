// HTTP integration tests of create, read, vread, update, delete and history.
#include <gtest/gtest.h>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

const char* kPatient = R"({"resourceType":"Patient",
  "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],
  "name":[{"family":"Smith","given":["Jane"]}],"gender":"female","birthDate":"1970-05-01"})";

TEST(FhirCrud, CreateThenReadReturnsTheResourceWithMeta) {
  TestServer server;
  auto created = server.Send("POST", "/fhir/Patient", kPatient);
  ASSERT_EQ(created.status, 201) << created.body;
  std::string location(created.Header("location"));
  ASSERT_NE(location.find("/fhir/Patient/"), std::string::npos);
  EXPECT_EQ(created.Header("etag"), "W/\"1\"");
  EXPECT_FALSE(created.Header("last-modified").empty());
  auto body = TestServer::Json(created);
  std::string id(body["id"].as_string());
  EXPECT_EQ(body["meta"].as_object()["versionId"].as_string(), "1");

  auto read = server.Get("/fhir/Patient/" + id);
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(read.Header("content-type"), "application/fhir+json; charset=utf-8");
  auto resource = TestServer::Json(read);
  EXPECT_EQ(resource["name"].as_array()[0].as_object()["family"].as_string(), "Smith");
}

TEST(FhirCrud, UpdateCreatesVersionsAndVreadReturnsEach) {
  TestServer server;
  std::string body = R"({"resourceType":"Patient","id":"p1","gender":"male"})";
  auto first = server.Send("PUT", "/fhir/Patient/p1", body);
  ASSERT_EQ(first.status, 201) << first.body;  // create-on-update
  auto second = server.Send("PUT", "/fhir/Patient/p1",
                            R"({"resourceType":"Patient","id":"p1","gender":"female"})");
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.Header("etag"), "W/\"2\"");
  auto v1 = TestServer::Json(server.Get("/fhir/Patient/p1/_history/1"));
  auto v2 = TestServer::Json(server.Get("/fhir/Patient/p1/_history/2"));
  EXPECT_EQ(v1["gender"].as_string(), "male");
  EXPECT_EQ(v2["gender"].as_string(), "female");
  EXPECT_EQ(server.Get("/fhir/Patient/p1/_history/3").status, 404);
}

TEST(FhirCrud, IfMatchWithStaleVersionIs412AndChangesNothing) {
  TestServer server;
  server.Send("PUT", "/fhir/Patient/p1", R"({"resourceType":"Patient","id":"p1"})");
  server.Send("PUT", "/fhir/Patient/p1", R"({"resourceType":"Patient","id":"p1","gender":"male"})");
  auto stale = server.Send("PUT", "/fhir/Patient/p1",
                           R"({"resourceType":"Patient","id":"p1","gender":"female"})",
                           {{"If-Match", "W/\"1\""}});
  EXPECT_EQ(stale.status, 412) << stale.body;
  EXPECT_EQ(TestServer::Json(stale)["resourceType"].as_string(), "OperationOutcome");
  auto current = TestServer::Json(server.Get("/fhir/Patient/p1"));
  EXPECT_EQ(current["gender"].as_string(), "male");
  auto fresh = server.Send("PUT", "/fhir/Patient/p1",
                           R"({"resourceType":"Patient","id":"p1","gender":"female"})",
                           {{"If-Match", "W/\"2\""}});
  EXPECT_EQ(fresh.status, 200) << fresh.body;
}

TEST(FhirCrud, DeleteIsVersionedAndReadGives410) {
  TestServer server;
  server.Send("PUT", "/fhir/Patient/p1", R"({"resourceType":"Patient","id":"p1"})");
  auto deleted = server.Send("DELETE", "/fhir/Patient/p1");
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(server.Get("/fhir/Patient/p1").status, 410);
  EXPECT_EQ(server.Get("/fhir/Patient/p1/_history/1").status, 200);
  auto history = TestServer::Json(server.Get("/fhir/Patient/p1/_history"));
  EXPECT_EQ(history["total"].as_int64(), 2);
  auto entries = history["entry"].as_array();
  EXPECT_EQ(entries[0].as_object()["request"].as_object()["method"].as_string(), "DELETE");
  EXPECT_EQ(server.Get("/fhir/Patient?_id=p1").body.find("\"entry\""), std::string::npos);
}

TEST(FhirCrud, TypeAndSystemHistoryListNewestFirst) {
  TestServer server;
  server.Send("PUT", "/fhir/Patient/a", R"({"resourceType":"Patient","id":"a"})");
  server.Send("PUT", "/fhir/Patient/b", R"({"resourceType":"Patient","id":"b"})");
  server.Send("PUT", "/fhir/Organization/o", R"({"resourceType":"Organization","id":"o"})");
  auto type_history = TestServer::Json(server.Get("/fhir/Patient/_history"));
  EXPECT_EQ(type_history["total"].as_int64(), 2);
  auto system_history = TestServer::Json(server.Get("/fhir/_history?_count=2"));
  EXPECT_EQ(system_history["total"].as_int64(), 3);
  auto& entries = system_history["entry"].as_array();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].as_object()["resource"].as_object()["id"].as_string(), "o");
  bool has_next = false;
  for (auto& link : system_history["link"].as_array()) {
    has_next = has_next || link.as_object()["relation"].as_string() == "next";
  }
  EXPECT_TRUE(has_next);
}

TEST(FhirCrud, UnknownTypeIs404WithOperationOutcome) {
  TestServer server;
  auto response = server.Get("/fhir/Spaceship/1");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(TestServer::Json(response)["resourceType"].as_string(), "OperationOutcome");
  EXPECT_EQ(server.Get("/fhir/Spaceship?name=x").status, 404);
}

// A read shaped by _elements is an incomplete copy: written back it erased name and birthDate.
TEST(FhirCrud, ASubsettedCopyCannotBeWrittenBack) {
  TestServer server;
  Put(server, "Patient", "p1",
      R"({"resourceType":"Patient","gender":"male","birthDate":"1970-01-01","name":[{"family":"Keep"}]})");
  auto shaped = server.Get("/fhir/Patient/p1?_elements=gender");
  ASSERT_EQ(shaped.status, 200) << shaped.body;
  auto put = server.Send("PUT", "/fhir/Patient/p1", shaped.body);
  EXPECT_EQ(put.status, 422) << put.body;
  EXPECT_NE(put.body.find("SUBSETTED"), std::string::npos) << put.body;
  auto kept = TestServer::Json(server.Get("/fhir/Patient/p1"));
  EXPECT_EQ(kept["birthDate"].as_string(), "1970-01-01");
}

}  // namespace
}  // namespace carerecord::testing
