// HTTP integration tests of single-resource writes and their conditional forms: If-None-Exist,
// If-Match, conditional update and delete, Prefer return, Location and ETag headers.
#include <gtest/gtest.h>

#include <string>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

// A JSON value as text, for comparing with std::string in assertions.
std::string Text(const json::value& value) {
  return value.is_string() ? std::string(value.as_string()) : json::serialize(value);
}

constexpr const char* kNhsNumber = "https://fhir.nhs.uk/Id/nhs-number";

std::string PatientBody(const std::string& nhs_number, const std::string& family,
                        const std::string& id = "") {
  json::object patient = json::parse(R"({"resourceType":"Patient","name":[{"given":["Sam"]}],
      "birthDate":"1991-11-02"})")
                             .as_object();
  if (!id.empty()) patient["id"] = id;
  patient["identifier"] = json::array{json::object{{"system", kNhsNumber}, {"value", nhs_number}}};
  patient["name"].as_array()[0].as_object()["family"] = family;
  return json::serialize(patient);
}

std::string ByNhsNumber(const std::string& nhs_number) {
  return "identifier=" + std::string(kNhsNumber) + "|" + nhs_number;
}

size_t CountMatches(TestServer& server, const std::string& query) {
  auto bundle = TestServer::Json(server.Get("/fhir/" + query + "&_count=1000"));
  size_t n = 0;
  if (auto* entries = bundle.if_contains("entry")) {
    for (auto& e : entries->as_array()) {
      auto* search = e.as_object().if_contains("search");
      if (search && search->as_object().at("mode").as_string() == "match") ++n;
    }
  }
  return n;
}

int64_t StoredVersions(TestServer& server) { return server.store().Stats().value().versions; }

std::string Family(const json::object& patient) {
  return std::string(patient.at("name").as_array()[0].as_object().at("family").as_string());
}

TEST(FhirConditional, PostIfNoneExistCreatesWhenNothingMatches) {
  TestServer server;
  auto created = server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Hughes"),
                             {{"If-None-Exist", ByNhsNumber("9000000009")}});
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(CountMatches(server, "Patient?" + ByNhsNumber("9000000009")), 1u);
}

TEST(FhirConditional, PostIfNoneExistReturnsTheOneMatchWith200AndWritesNothing) {
  TestServer server;
  auto first = server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Hughes"));
  ASSERT_EQ(first.status, 201);
  std::string id(TestServer::Json(first)["id"].as_string());
  int64_t before = StoredVersions(server);
  // The header may carry the query with or without a leading "Type?".
  for (std::string condition :
       {ByNhsNumber("9000000009"), "Patient?" + ByNhsNumber("9000000009")}) {
    auto again = server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Changed"),
                             {{"If-None-Exist", condition}});
    EXPECT_EQ(again.status, 200) << again.body;
    auto body = TestServer::Json(again);
    EXPECT_EQ(Text(body["id"]), id);
    EXPECT_EQ(Family(body), "Hughes");
    EXPECT_EQ(again.Header("etag"), "W/\"1\"");
    EXPECT_NE(again.Header("location").find("/Patient/" + id), std::string::npos);
  }
  EXPECT_EQ(StoredVersions(server), before);
}

TEST(FhirConditional, PostIfNoneExistMatchingSeveralIs412) {
  TestServer server;
  server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Hughes"));
  server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Hughes"));
  int64_t before = StoredVersions(server);
  auto response = server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Hughes"),
                              {{"If-None-Exist", ByNhsNumber("9000000009")}});
  EXPECT_EQ(response.status, 412) << response.body;
  EXPECT_EQ(Text(TestServer::Json(response)["resourceType"]), "OperationOutcome");
  EXPECT_EQ(StoredVersions(server), before);
}

TEST(FhirConditional, PostIfNoneExistWithUnknownParameterIs400) {
  TestServer server;
  auto response = server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Hughes"),
                              {{"If-None-Exist", "favourite-colour=blue"}});
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_EQ(StoredVersions(server), 0);
}

TEST(FhirConditional, ResultParametersInAConditionAre400AndNeverHideAMatch) {
  TestServer server;
  ASSERT_EQ(server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Hughes")).status, 201);
  int64_t before = StoredVersions(server);
  for (const char* extra : {"&_count=0", "&_summary=count", "&_cursor=abc", "&_sort=-_id",
                            "&_include=Patient:link", "&_elements=id"}) {
    std::string condition = ByNhsNumber("9000000009") + extra;
    auto create = server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Hughes"),
                              {{"If-None-Exist", condition}});
    EXPECT_EQ(create.status, 400) << extra << " " << create.body;
    auto update =
        server.Send("PUT", "/fhir/Patient?" + condition, PatientBody("9000000009", "Bell"));
    EXPECT_EQ(update.status, 400) << extra << " " << update.body;
    auto remove = server.Send("DELETE", "/fhir/Patient?" + condition);
    EXPECT_EQ(remove.status, 400) << extra << " " << remove.body;
  }
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"request":{"method":"POST","url":"Observation"},
       "resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},
         "subject":{"reference":"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009&_count=0"}}}]})";
  EXPECT_EQ(server.Send("POST", "/fhir", bundle).status, 400);
  EXPECT_EQ(StoredVersions(server), before);
  EXPECT_EQ(CountMatches(server, "Patient?" + ByNhsNumber("9000000009")), 1u);
}

TEST(FhirConditional, PutWithIdDifferentFromTheUrlIs400) {
  TestServer server;
  server.Send("PUT", "/fhir/Patient/pt-a", PatientBody("9000000009", "Hughes", "pt-a"));
  auto response =
      server.Send("PUT", "/fhir/Patient/pt-a", PatientBody("9000000009", "Other", "pt-b"));
  EXPECT_EQ(response.status, 400) << response.body;
  auto no_id = server.Send("PUT", "/fhir/Patient/pt-a", PatientBody("9000000009", "Other"));
  EXPECT_EQ(no_id.status, 400) << no_id.body;
  EXPECT_EQ(server.Get("/fhir/Patient/pt-b").status, 404);
  EXPECT_EQ(Family(TestServer::Json(server.Get("/fhir/Patient/pt-a"))), "Hughes");
}

TEST(FhirConditional, PutWithStaleOrMalformedIfMatchChangesNothing) {
  TestServer server;
  server.Send("PUT", "/fhir/Patient/pt-a", PatientBody("9000000009", "Hughes", "pt-a"));
  server.Send("PUT", "/fhir/Patient/pt-a", PatientBody("9000000009", "Hughes-Bell", "pt-a"));
  auto stale = server.Send("PUT", "/fhir/Patient/pt-a", PatientBody("9000000009", "Stale", "pt-a"),
                           {{"If-Match", "W/\"1\""}});
  EXPECT_EQ(stale.status, 412) << stale.body;
  auto malformed = server.Send("PUT", "/fhir/Patient/pt-a",
                               PatientBody("9000000009", "Stale", "pt-a"), {{"If-Match", "two"}});
  EXPECT_EQ(malformed.status, 400) << malformed.body;
  // If-Match on a resource that does not exist cannot match.
  auto missing = server.Send("PUT", "/fhir/Patient/pt-z", PatientBody("9000000009", "New", "pt-z"),
                             {{"If-Match", "W/\"1\""}});
  EXPECT_EQ(missing.status, 412) << missing.body;
  EXPECT_EQ(server.Get("/fhir/Patient/pt-z").status, 404);
  auto current = server.Get("/fhir/Patient/pt-a");
  EXPECT_EQ(current.Header("etag"), "W/\"2\"");
  EXPECT_EQ(Family(TestServer::Json(current)), "Hughes-Bell");
}

TEST(FhirConditional, ConditionalPutCreatesUpdatesOrRejectsByMatchCount) {
  TestServer server;
  std::string target = "/fhir/Patient?" + ByNhsNumber("9000000009");
  auto created = server.Send("PUT", target, PatientBody("9000000009", "Hughes"));
  ASSERT_EQ(created.status, 201) << created.body;
  std::string id(TestServer::Json(created)["id"].as_string());

  auto updated = server.Send("PUT", target, PatientBody("9000000009", "Hughes-Bell"));
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(Text(TestServer::Json(updated)["id"]), id);
  EXPECT_EQ(updated.Header("etag"), "W/\"2\"");
  // A body id that names the matched resource is fine.
  auto same_id = server.Send("PUT", target, PatientBody("9000000009", "Hughes-Bell", id));
  EXPECT_EQ(same_id.status, 200) << same_id.body;

  server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Duplicate"));
  int64_t before = StoredVersions(server);
  auto ambiguous = server.Send("PUT", target, PatientBody("9000000009", "Nobody"));
  EXPECT_EQ(ambiguous.status, 412) << ambiguous.body;
  EXPECT_EQ(StoredVersions(server), before);
}

TEST(FhirConditional, ConditionalPutWithBodyIdOfAnotherResourceIs400) {
  TestServer server;
  std::string target = "/fhir/Patient?" + ByNhsNumber("9000000009");
  auto created = server.Send("PUT", target, PatientBody("9000000009", "Hughes"));
  ASSERT_EQ(created.status, 201) << created.body;
  server.Send("PUT", "/fhir/Patient/pt-other", PatientBody("9000000017", "Other", "pt-other"));
  int64_t before = StoredVersions(server);
  // One match, but the body names a different resource: the client's id is the problem.
  auto response = server.Send("PUT", target, PatientBody("9000000009", "Hughes", "pt-other"));
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_EQ(StoredVersions(server), before);
  // No match, and the body names a resource that exists but does not match: 409, not an
  // overwrite of that resource.
  auto no_match = server.Send("PUT", "/fhir/Patient?" + ByNhsNumber("9000000025"),
                              PatientBody("9000000025", "Hughes", "pt-other"));
  EXPECT_EQ(no_match.status, 409) << no_match.body;
  EXPECT_EQ(StoredVersions(server), before);
  EXPECT_EQ(Family(TestServer::Json(server.Get("/fhir/Patient/pt-other"))), "Other");
}

TEST(FhirConditional, ConditionalPutWithoutParametersIs400) {
  TestServer server;
  auto response = server.Send("PUT", "/fhir/Patient", PatientBody("9000000009", "Hughes"));
  EXPECT_EQ(response.status, 400) << response.body;
  auto unknown =
      server.Send("PUT", "/fhir/Patient?shoe-size=9", PatientBody("9000000009", "Hughes"));
  EXPECT_EQ(unknown.status, 400) << unknown.body;
  EXPECT_EQ(StoredVersions(server), 0);
}

TEST(FhirConditional, ConditionalDeleteDeletesOneMatchAndRejectsSeveral) {
  TestServer server;
  auto created = server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Hughes"));
  std::string id(TestServer::Json(created)["id"].as_string());
  server.Send("POST", "/fhir/Patient", PatientBody("9000000017", "Bell"));
  server.Send("POST", "/fhir/Patient", PatientBody("9000000017", "Bell"));

  auto deleted = server.Send("DELETE", "/fhir/Patient?" + ByNhsNumber("9000000009"));
  EXPECT_EQ(deleted.status / 100, 2) << deleted.body;
  EXPECT_EQ(server.Get("/fhir/Patient/" + id).status, 410);

  auto nothing = server.Send("DELETE", "/fhir/Patient?" + ByNhsNumber("9000000009"));
  EXPECT_EQ(nothing.status / 100, 2) << nothing.body;

  int64_t before = StoredVersions(server);
  auto several = server.Send("DELETE", "/fhir/Patient?" + ByNhsNumber("9000000017"));
  EXPECT_EQ(several.status, 412) << several.body;
  EXPECT_EQ(StoredVersions(server), before);
  EXPECT_EQ(CountMatches(server, "Patient?" + ByNhsNumber("9000000017")), 2u);
}

TEST(FhirConditional, PreferMinimalHasNoBodyAndOperationOutcomeSaysWhatHappened) {
  TestServer server;
  auto minimal = server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Hughes"),
                             {{"Prefer", "return=minimal"}});
  EXPECT_EQ(minimal.status, 201);
  EXPECT_TRUE(minimal.body.empty()) << minimal.body;
  EXPECT_FALSE(minimal.Header("location").empty());
  EXPECT_EQ(minimal.Header("etag"), "W/\"1\"");

  auto outcome =
      server.Send("PUT", "/fhir/Patient/pt-oo", PatientBody("9000000017", "Bell", "pt-oo"),
                  {{"Prefer", "return=OperationOutcome"}});
  EXPECT_EQ(outcome.status, 201);
  auto body = TestServer::Json(outcome);
  EXPECT_EQ(Text(body["resourceType"]), "OperationOutcome");
  EXPECT_EQ(body["issue"].as_array()[0].as_object()["severity"], "information");

  auto representation =
      server.Send("PUT", "/fhir/Patient/pt-oo", PatientBody("9000000017", "Bell-Ray", "pt-oo"),
                  {{"Prefer", "return=representation"}});
  EXPECT_EQ(representation.status, 200);
  EXPECT_EQ(Family(TestServer::Json(representation)), "Bell-Ray");

  auto delete_minimal =
      server.Send("DELETE", "/fhir/Patient/pt-oo", {}, {{"Prefer", "return=minimal"}});
  EXPECT_EQ(delete_minimal.status / 100, 2);
  EXPECT_TRUE(delete_minimal.body.empty()) << delete_minimal.body;
}

TEST(FhirConditional, CreateAndUpdateSendLocationETagAndLastModified) {
  TestServer server;
  auto created = server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Hughes"));
  ASSERT_EQ(created.status, 201);
  std::string id(TestServer::Json(created)["id"].as_string());
  EXPECT_EQ(created.Header("location"), server.base() + "/Patient/" + id + "/_history/1");
  EXPECT_EQ(created.Header("etag"), "W/\"1\"");
  EXPECT_NE(created.Header("last-modified").find(" GMT"), std::string::npos);
  EXPECT_EQ(created.Header("content-type"), "application/fhir+json; charset=utf-8");

  json::object body = TestServer::Json(created);
  body["gender"] = "unknown";
  auto updated = server.Send("PUT", "/fhir/Patient/" + id, json::serialize(body));
  ASSERT_EQ(updated.status, 200);
  EXPECT_EQ(updated.Header("location"), server.base() + "/Patient/" + id + "/_history/2");
  EXPECT_EQ(updated.Header("etag"), "W/\"2\"");
  EXPECT_EQ(TestServer::Json(updated)["meta"].as_object()["versionId"], "2");
}

TEST(FhirConditional, CreateIgnoresAClientIdAndAssignsItsOwn) {
  TestServer server;
  auto created =
      server.Send("POST", "/fhir/Patient", PatientBody("9000000009", "Hughes", "client-chosen"));
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_NE(Text(TestServer::Json(created)["id"]), "client-chosen");
  EXPECT_EQ(server.Get("/fhir/Patient/client-chosen").status, 404);
}

TEST(FhirConditional, DeleteOfADeletedResourceAndReCreateByPut) {
  TestServer server;
  server.Send("PUT", "/fhir/Patient/pt-d", PatientBody("9000000009", "Hughes", "pt-d"));
  EXPECT_EQ(server.Send("DELETE", "/fhir/Patient/pt-d").status / 100, 2);
  EXPECT_EQ(server.Send("DELETE", "/fhir/Patient/pt-d").status / 100, 2);
  EXPECT_EQ(server.Send("DELETE", "/fhir/Patient/never-existed").status / 100, 2);
  auto recreated =
      server.Send("PUT", "/fhir/Patient/pt-d", PatientBody("9000000009", "Hughes", "pt-d"));
  EXPECT_EQ(recreated.status, 201) << recreated.body;
  EXPECT_EQ(recreated.Header("etag"), "W/\"3\"");
}

// One condition, one meaning: with a raw '|' the query once took another decoding path that
// kept '+' where the other read a space, and a conditional create made a duplicate.
TEST(FhirConditional, APlusMeansTheSameWithARawOrAnEncodedBar) {
  TestServer server;
  const std::string body =
      R"({"resourceType":"Patient","identifier":[{"system":"urn:s","value":"A B"}]})";
  ASSERT_EQ(server.Send("POST", "/fhir/Patient", body).status, 201);
  for (const char* condition : {"identifier=urn:s|A+B", "identifier=urn:s%7CA+B"}) {
    auto again = server.Send("POST", "/fhir/Patient", body, {{"If-None-Exist", condition}});
    EXPECT_EQ(again.status, 200) << condition << ": " << again.body;
  }
  auto total =
      TestServer::Json(server.Get("/fhir/Patient?identifier=urn:s%7CA%20B&_summary=count"));
  EXPECT_EQ(total["total"].as_int64(), 1);
}

// The fuzzer's find: a condition that is a query followed by a fragment read past its end in
// Boost.URL's parameter iterator. A condition's fragment is not part of it.
TEST(FhirConditional, AConditionWithAFragmentIsDecodedSafely) {
  TestServer server;
  auto odd = server.Send("POST", "/fhir/Patient", R"({"resourceType":"Patient"})",
                         {{"If-None-Exist", "#__has8Observfi$1lb'vr="}});
  EXPECT_TRUE(odd.status == 400 || odd.status == 201) << odd.status << " " << odd.body;
  const std::string body =
      R"({"resourceType":"Patient","identifier":[{"system":"urn:s","value":"X"}]})";
  ASSERT_EQ(server.Send("POST", "/fhir/Patient", body).status, 201);
  auto again =
      server.Send("POST", "/fhir/Patient", body, {{"If-None-Exist", "identifier=urn:s|X#f"}});
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(server.Get("/fhir/metadata").status, 200);
}

}  // namespace
}  // namespace carerecord::testing
