// HTTP integration tests of transaction and batch Bundles: all-or-nothing, urn:uuid and
// conditional references, conditional entries, If-Match, processing order and response shape.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

// A JSON value as text, for comparing with std::string in assertions.
std::string Text(const json::value& value) {
  return value.is_string() ? std::string(value.as_string()) : json::serialize(value);
}

constexpr const char* kNhsNumber = "https://fhir.nhs.uk/Id/nhs-number";
constexpr const char* kGmcNumber = "https://fhir.hl7.org.uk/Id/gmc-number";

json::object PatientWith(const std::string& nhs_number, const std::string& family) {
  return json::parse(R"({"resourceType":"Patient","identifier":[{"system":")" +
                     std::string(kNhsNumber) + R"(","value":")" + nhs_number +
                     R"("}],"name":[{"family":")" + family +
                     R"(","given":["Alex"]}],"birthDate":"1984-03-17"})")
      .as_object();
}

json::object PractitionerWith(const std::string& gmc) {
  return json::parse(R"({"resourceType":"Practitioner","identifier":[{"system":")" +
                     std::string(kGmcNumber) + R"(","value":")" + gmc +
                     R"("}],"name":[{"family":"Okafor","prefix":["Dr"]}]})")
      .as_object();
}

json::object ObservationFor(const std::string& subject) {
  return json::parse(R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://snomed.info/sct","code":"27113001","display":"Body weight"}]},
      "subject":{"reference":")" +
                     subject + R"("},
      "valueQuantity":{"value":72.5,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}})")
      .as_object();
}

// One Bundle entry: request method and url, optional fullUrl and resource, extra request fields.
json::object Entry(const std::string& method, const std::string& url,
                   std::optional<json::object> resource = std::nullopt,
                   const std::string& full_url = "", json::object request_extra = {}) {
  json::object entry;
  if (!full_url.empty()) entry["fullUrl"] = full_url;
  if (resource) entry["resource"] = std::move(*resource);
  json::object request = std::move(request_extra);
  request["method"] = method;
  request["url"] = url;
  entry["request"] = std::move(request);
  return entry;
}

std::string BundleOf(const std::string& type, std::vector<json::object> entries) {
  json::object bundle;
  bundle["resourceType"] = "Bundle";
  bundle["type"] = type;
  json::array array;
  for (auto& e : entries) array.push_back(std::move(e));
  bundle["entry"] = std::move(array);
  return json::serialize(bundle);
}

// Number of current resources a search finds (all pages' worth is small in these tests).
size_t CountMatches(TestServer& server, const std::string& query) {
  auto response = server.Get("/fhir/" + query + (query.find('?') == std::string::npos ? "?" : "&") +
                             "_count=1000");
  EXPECT_EQ(response.status, 200) << query << ": " << response.body;
  auto bundle = TestServer::Json(response);
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

std::string IssueText(const http::HttpResponse& response) {
  auto outcome = TestServer::Json(response);
  if (outcome["resourceType"] != "OperationOutcome") return "<not an OperationOutcome>";
  auto& issue = outcome["issue"].as_array().at(0).as_object();
  std::string text(issue["diagnostics"].as_string());
  if (auto* expression = issue.if_contains("expression")) {
    text += " @ " + std::string(expression->as_array().at(0).as_string());
  }
  return text;
}

json::object& ResponseOf(json::object& bundle, size_t i) {
  return bundle["entry"].as_array().at(i).as_object()["response"].as_object();
}

// "Patient/abc/_history/1" -> "abc".
std::string IdFromLocation(std::string_view location) {
  size_t history = location.find("/_history");
  if (history != std::string_view::npos) location = location.substr(0, history);
  return std::string(location.substr(location.rfind('/') + 1));
}

std::string CreatePatient(TestServer& server, const std::string& nhs, const std::string& family) {
  auto created = server.Send("POST", "/fhir/Patient", json::serialize(PatientWith(nhs, family)));
  EXPECT_EQ(created.status, 201) << created.body;
  return std::string(TestServer::Json(created)["id"].as_string());
}

TEST(FhirTransaction, InvalidEntryLateInTheBundleLeavesNothingStored) {
  TestServer server;
  auto bad = PatientWith("9000000025", "Patel");
  bad["birthDate"] = "2021-02-30";
  std::string body = BundleOf(
      "transaction", {Entry("POST", "Patient", PatientWith("9000000009", "Jones"),
                            "urn:uuid:00000000-0000-4000-8000-000000000001"),
                      Entry("POST", "Observation",
                            ObservationFor("urn:uuid:00000000-0000-4000-8000-000000000001")),
                      Entry("POST", "Patient", PatientWith("9000000017", "Evans")),
                      Entry("POST", "Patient", bad)});
  auto response = server.Send("POST", "/fhir", body);
  EXPECT_EQ(response.status, 400) << response.body;
  std::string issue = IssueText(response);
  EXPECT_NE(issue.find("Bundle.entry[3]"), std::string::npos) << issue;
  EXPECT_NE(issue.find("birthDate"), std::string::npos) << issue;
  EXPECT_EQ(CountMatches(server, "Patient"), 0u);
  EXPECT_EQ(CountMatches(server, "Observation"), 0u);
  EXPECT_EQ(StoredVersions(server), 0);
}

TEST(FhirTransaction, UrnUuidReferencesAreRewrittenWhateverTheEntryOrder) {
  TestServer server;
  const std::string patient_urn = "urn:uuid:5b0f6f8a-3f43-4a2c-9d4e-0c1f7c1a2b01";
  const std::string encounter_urn = "urn:uuid:5b0f6f8a-3f43-4a2c-9d4e-0c1f7c1a2b02";
  auto observation = ObservationFor(patient_urn);
  observation["encounter"] = json::object{{"reference", encounter_urn}};
  json::object encounter = json::parse(R"({"resourceType":"Encounter","status":"finished",
      "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"}})")
                               .as_object();
  encounter["subject"] = json::object{{"reference", patient_urn}};
  // The Observation comes first and points at entries that come after it.
  std::string body = BundleOf(
      "transaction", {Entry("POST", "Observation", observation),
                      Entry("POST", "Encounter", encounter, encounter_urn),
                      Entry("POST", "Patient", PatientWith("9000000009", "Jones"), patient_urn)});
  auto response = server.Send("POST", "/fhir", body);
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  EXPECT_EQ(Text(bundle["type"]), "transaction-response");
  std::string observation_id = IdFromLocation(ResponseOf(bundle, 0)["location"].as_string());
  std::string encounter_id = IdFromLocation(ResponseOf(bundle, 1)["location"].as_string());
  std::string patient_id = IdFromLocation(ResponseOf(bundle, 2)["location"].as_string());

  auto stored = TestServer::Json(server.Get("/fhir/Observation/" + observation_id));
  EXPECT_EQ(Text(stored["subject"].as_object()["reference"]), "Patient/" + patient_id);
  EXPECT_EQ(Text(stored["encounter"].as_object()["reference"]), "Encounter/" + encounter_id);
  auto stored_encounter = TestServer::Json(server.Get("/fhir/Encounter/" + encounter_id));
  EXPECT_EQ(Text(stored_encounter["subject"].as_object()["reference"]), "Patient/" + patient_id);
  // The rewritten references are indexed: the patient's observations find it.
  EXPECT_EQ(CountMatches(server, "Observation?subject=Patient/" + patient_id), 1u);
}

TEST(FhirTransaction, UrnUuidNamingNoEntryIs400AndStoresNothing) {
  TestServer server;
  std::string body = BundleOf(
      "transaction", {Entry("POST", "Patient", PatientWith("9000000009", "Jones"),
                            "urn:uuid:00000000-0000-4000-8000-00000000aaa1"),
                      Entry("POST", "Observation", ObservationFor("urn:uuid:not-in-this-bundle"))});
  auto response = server.Send("POST", "/fhir", body);
  EXPECT_EQ(response.status, 400) << response.body;
  std::string issue = IssueText(response);
  EXPECT_NE(issue.find("urn:uuid:not-in-this-bundle"), std::string::npos) << issue;
  EXPECT_NE(issue.find("Bundle.entry[1]"), std::string::npos) << issue;
  EXPECT_EQ(StoredVersions(server), 0);
}

TEST(FhirTransaction, TwoEntriesWithTheSameFullUrlAre400) {
  TestServer server;
  std::string body = BundleOf(
      "transaction", {Entry("POST", "Patient", PatientWith("9000000009", "Jones"),
                            "urn:uuid:00000000-0000-4000-8000-0000000000c1"),
                      Entry("POST", "Patient", PatientWith("9000000017", "Evans"),
                            "urn:uuid:00000000-0000-4000-8000-0000000000c1"),
                      Entry("POST", "Observation",
                            ObservationFor("urn:uuid:00000000-0000-4000-8000-0000000000c1"))});
  auto response = server.Send("POST", "/fhir", body);
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_NE(IssueText(response).find("urn:uuid:00000000-0000-4000-8000-0000000000c1"),
            std::string::npos)
      << response.body;
  EXPECT_EQ(StoredVersions(server), 0);
}

TEST(FhirTransaction, ConditionalReferenceResolvesWhenExactlyOneMatches) {
  TestServer server;
  auto created =
      server.Send("POST", "/fhir/Practitioner", json::serialize(PractitionerWith("C1234567")));
  ASSERT_EQ(created.status, 201) << created.body;
  std::string practitioner_id(TestServer::Json(created)["id"].as_string());
  server.Send("POST", "/fhir/Practitioner", json::serialize(PractitionerWith("C7654321")));

  auto observation = ObservationFor("urn:uuid:00000000-0000-4000-8000-0000000000b1");
  observation["performer"] = json::array{json::object{
      {"reference", "Practitioner?identifier=" + std::string(kGmcNumber) + "|C1234567"}}};
  std::string body =
      BundleOf("transaction", {Entry("POST", "Patient", PatientWith("9000000009", "Jones"),
                                     "urn:uuid:00000000-0000-4000-8000-0000000000b1"),
                               Entry("POST", "Observation", observation)});
  auto response = server.Send("POST", "/fhir", body);
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  std::string id = IdFromLocation(ResponseOf(bundle, 1)["location"].as_string());
  auto stored = TestServer::Json(server.Get("/fhir/Observation/" + id));
  EXPECT_EQ(Text(stored["performer"].as_array()[0].as_object()["reference"]),
            "Practitioner/" + practitioner_id);
}

TEST(FhirTransaction, ConditionalReferenceMatchingNothingIs422AndStoresNothing) {
  TestServer server;
  int64_t before = StoredVersions(server);
  auto observation = ObservationFor("urn:uuid:00000000-0000-4000-8000-0000000000b1");
  observation["performer"] = json::array{json::object{
      {"reference", "Practitioner?identifier=" + std::string(kGmcNumber) + "|C0000000"}}};
  std::string body =
      BundleOf("transaction", {Entry("POST", "Patient", PatientWith("9000000009", "Jones"),
                                     "urn:uuid:00000000-0000-4000-8000-0000000000b1"),
                               Entry("POST", "Observation", observation)});
  auto response = server.Send("POST", "/fhir", body);
  EXPECT_EQ(response.status, 422) << response.body;
  std::string issue = IssueText(response);
  EXPECT_NE(issue.find("matches no resource"), std::string::npos) << issue;
  EXPECT_NE(issue.find("Bundle.entry[1]"), std::string::npos) << issue;
  EXPECT_EQ(StoredVersions(server), before);
}

TEST(FhirTransaction, ConditionalReferenceMatchingSeveralIs412AndStoresNothing) {
  TestServer server;
  server.Send("POST", "/fhir/Practitioner", json::serialize(PractitionerWith("C1111111")));
  server.Send("POST", "/fhir/Practitioner", json::serialize(PractitionerWith("C1111111")));
  int64_t before = StoredVersions(server);
  auto observation = ObservationFor("urn:uuid:00000000-0000-4000-8000-0000000000b1");
  observation["performer"] = json::array{json::object{
      {"reference", "Practitioner?identifier=" + std::string(kGmcNumber) + "|C1111111"}}};
  std::string body =
      BundleOf("transaction", {Entry("POST", "Patient", PatientWith("9000000009", "Jones"),
                                     "urn:uuid:00000000-0000-4000-8000-0000000000b1"),
                               Entry("POST", "Observation", observation)});
  auto response = server.Send("POST", "/fhir", body);
  EXPECT_EQ(response.status, 412) << response.body;
  EXPECT_NE(IssueText(response).find("more than one"), std::string::npos) << response.body;
  EXPECT_EQ(StoredVersions(server), before);
  EXPECT_EQ(CountMatches(server, "Patient"), 0u);
}

TEST(FhirTransaction, ConditionalReferenceWithUnknownParameterIs400) {
  TestServer server;
  auto observation = ObservationFor("Practitioner?shoe-size=9");
  std::string body = BundleOf("transaction", {Entry("POST", "Observation", observation)});
  auto response = server.Send("POST", "/fhir", body);
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_EQ(StoredVersions(server), 0);
}

TEST(FhirTransaction, IfNoneExistMatchingReturnsTheExistingOneAndCreatesNothing) {
  TestServer server;
  std::string existing = CreatePatient(server, "9000000009", "Jones");
  int64_t before = StoredVersions(server);
  std::string condition = "identifier=" + std::string(kNhsNumber) + "|9000000009";
  std::string body = BundleOf(
      "transaction", {Entry("POST", "Patient", PatientWith("9000000009", "Jones-Changed"),
                            "urn:uuid:00000000-0000-4000-8000-0000000000b2",
                            json::object{{"ifNoneExist", condition}}),
                      Entry("POST", "Observation",
                            ObservationFor("urn:uuid:00000000-0000-4000-8000-0000000000b2"))});
  auto response = server.Send("POST", "/fhir", body);
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  EXPECT_EQ(ResponseOf(bundle, 0)["status"].as_string().subview(0, 3), "200");
  EXPECT_EQ(IdFromLocation(ResponseOf(bundle, 0)["location"].as_string()), existing);
  EXPECT_EQ(ResponseOf(bundle, 1)["status"].as_string().subview(0, 3), "201");
  // Only the Observation was written; it points at the existing Patient, which is unchanged.
  EXPECT_EQ(StoredVersions(server), before + 1);
  EXPECT_EQ(CountMatches(server, "Patient"), 1u);
  EXPECT_EQ(CountMatches(server, "Observation?subject=Patient/" + existing), 1u);
  auto patient = TestServer::Json(server.Get("/fhir/Patient/" + existing));
  EXPECT_EQ(patient["name"].as_array()[0].as_object()["family"], "Jones");
}

TEST(FhirTransaction, IfNoneExistMatchingNothingCreates) {
  TestServer server;
  std::string condition = "identifier=" + std::string(kNhsNumber) + "|9000000009";
  std::string body =
      BundleOf("transaction", {Entry("POST", "Patient", PatientWith("9000000009", "Jones"), "",
                                     json::object{{"ifNoneExist", condition}})});
  auto response = server.Send("POST", "/fhir", body);
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  EXPECT_EQ(ResponseOf(bundle, 0)["status"].as_string().subview(0, 3), "201");
  EXPECT_EQ(CountMatches(server, "Patient?" + condition), 1u);
}

TEST(FhirTransaction, TwoEntriesWithOneIfNoneExistConditionCreateOnce) {
  TestServer server;
  std::string condition = "identifier=" + std::string(kGmcNumber) + "|C2468024";
  auto observation = ObservationFor("urn:uuid:00000000-0000-4000-8000-0000000000b1");
  observation["performer"] =
      json::array{json::object{{"reference", "urn:uuid:00000000-0000-4000-8000-0000000000a2"}}};
  std::string body =
      BundleOf("transaction", {Entry("POST", "Practitioner", PractitionerWith("C2468024"),
                                     "urn:uuid:00000000-0000-4000-8000-0000000000a1",
                                     json::object{{"ifNoneExist", condition}}),
                               Entry("POST", "Practitioner", PractitionerWith("C2468024"),
                                     "urn:uuid:00000000-0000-4000-8000-0000000000a2",
                                     json::object{{"ifNoneExist", condition}}),
                               Entry("POST", "Patient", PatientWith("9000000009", "Jones"),
                                     "urn:uuid:00000000-0000-4000-8000-0000000000b1"),
                               Entry("POST", "Observation", observation)});
  auto response = server.Send("POST", "/fhir", body);
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  std::string first = IdFromLocation(ResponseOf(bundle, 0)["location"].as_string());
  EXPECT_EQ(IdFromLocation(ResponseOf(bundle, 1)["location"].as_string()), first);
  EXPECT_EQ(CountMatches(server, "Practitioner?" + condition), 1u);
  std::string observation_id = IdFromLocation(ResponseOf(bundle, 3)["location"].as_string());
  auto stored = TestServer::Json(server.Get("/fhir/Observation/" + observation_id));
  EXPECT_EQ(Text(stored["performer"].as_array()[0].as_object()["reference"]),
            "Practitioner/" + first);
}

TEST(FhirTransaction, ConditionalUpdateAfterDeletingItsMatchCreatesANewResource) {
  TestServer server;
  std::string old_id = CreatePatient(server, "9000000009", "Jones");
  std::string url = "Patient?identifier=" + std::string(kNhsNumber) + "|9000000009";
  std::string body = BundleOf(
      "transaction", {Entry("PUT", url, PatientWith("9000000009", "New")), Entry("DELETE", url)});
  auto response = server.Send("POST", "/fhir", body);
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  EXPECT_EQ(ResponseOf(bundle, 0)["status"].as_string().subview(0, 3), "201");
  EXPECT_NE(IdFromLocation(ResponseOf(bundle, 0)["location"].as_string()), old_id);
  EXPECT_EQ(server.Get("/fhir/Patient/" + old_id).status, 410);
  EXPECT_EQ(CountMatches(server, url), 1u);
}

TEST(FhirTransaction, ConditionalUpdateCreatesUpdatesOrRejectsByMatchCount) {
  TestServer server;
  std::string url = "Patient?identifier=" + std::string(kNhsNumber) + "|9000000009";
  auto put = [&](const std::string& family) {
    return server.Send(
        "POST", "/fhir",
        BundleOf("transaction", {Entry("PUT", url, PatientWith("9000000009", family))}));
  };
  // No match: created.
  auto first = put("Jones");
  ASSERT_EQ(first.status, 200) << first.body;
  auto first_bundle = TestServer::Json(first);
  EXPECT_EQ(ResponseOf(first_bundle, 0)["status"].as_string().subview(0, 3), "201");
  std::string id = IdFromLocation(ResponseOf(first_bundle, 0)["location"].as_string());
  // One match: a new version of the same resource.
  auto second = put("Jones-Williams");
  ASSERT_EQ(second.status, 200) << second.body;
  auto second_bundle = TestServer::Json(second);
  EXPECT_EQ(ResponseOf(second_bundle, 0)["status"].as_string().subview(0, 3), "200");
  EXPECT_EQ(ResponseOf(second_bundle, 0)["etag"], "W/\"2\"");
  EXPECT_EQ(IdFromLocation(ResponseOf(second_bundle, 0)["location"].as_string()), id);
  auto current = TestServer::Json(server.Get("/fhir/Patient/" + id));
  EXPECT_EQ(current["name"].as_array()[0].as_object()["family"], "Jones-Williams");
  // Several matches: 412, nothing written.
  CreatePatient(server, "9000000009", "Duplicate");
  int64_t before = StoredVersions(server);
  auto third = put("Nobody");
  EXPECT_EQ(third.status, 412) << third.body;
  EXPECT_EQ(StoredVersions(server), before);
}

TEST(FhirTransaction, ConditionalDeleteRemovesTheMatch) {
  TestServer server;
  std::string id = CreatePatient(server, "9000000009", "Jones");
  CreatePatient(server, "9000000017", "Evans");
  std::string body =
      BundleOf("transaction",
               {Entry("DELETE", "Patient?identifier=" + std::string(kNhsNumber) + "|9000000009")});
  auto response = server.Send("POST", "/fhir", body);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(server.Get("/fhir/Patient/" + id).status, 410);
  EXPECT_EQ(CountMatches(server, "Patient"), 1u);
}

TEST(FhirTransaction, IfMatchInEntryIsHonoured) {
  TestServer server;
  server.Send("PUT", "/fhir/Patient/pt-ifmatch",
              R"({"resourceType":"Patient","id":"pt-ifmatch","gender":"female"})");
  server.Send("PUT", "/fhir/Patient/pt-ifmatch",
              R"({"resourceType":"Patient","id":"pt-ifmatch","gender":"male"})");
  auto patient =
      json::parse(R"({"resourceType":"Patient","id":"pt-ifmatch","gender":"other"})").as_object();
  int64_t before = StoredVersions(server);
  auto stale = server.Send(
      "POST", "/fhir",
      BundleOf("transaction", {Entry("POST", "Patient", PatientWith("9000000017", "Evans")),
                               Entry("PUT", "Patient/pt-ifmatch", patient, "",
                                     json::object{{"ifMatch", "W/\"1\""}})}));
  EXPECT_EQ(stale.status, 412) << stale.body;
  EXPECT_NE(IssueText(stale).find("Bundle.entry[1]"), std::string::npos) << stale.body;
  EXPECT_EQ(StoredVersions(server), before);
  EXPECT_EQ(TestServer::Json(server.Get("/fhir/Patient/pt-ifmatch"))["gender"], "male");

  auto fresh = server.Send("POST", "/fhir",
                           BundleOf("transaction", {Entry("PUT", "Patient/pt-ifmatch", patient, "",
                                                          json::object{{"ifMatch", "W/\"2\""}})}));
  ASSERT_EQ(fresh.status, 200) << fresh.body;
  EXPECT_EQ(TestServer::Json(server.Get("/fhir/Patient/pt-ifmatch"))["gender"], "other");

  auto malformed =
      server.Send("POST", "/fhir",
                  BundleOf("transaction", {Entry("PUT", "Patient/pt-ifmatch", patient, "",
                                                 json::object{{"ifMatch", "version three"}})}));
  EXPECT_EQ(malformed.status, 400) << malformed.body;
}

TEST(FhirTransaction, DeleteIsProcessedBeforePostSoIfNoneExistSeesTheDeletion) {
  TestServer server;
  std::string old_id = CreatePatient(server, "9000000009", "Jones");
  std::string condition = "identifier=" + std::string(kNhsNumber) + "|9000000009";
  // The POST comes first in the Bundle, but DELETE is processed first: the POST's condition
  // then matches nothing, so it creates a new Patient.
  std::string body =
      BundleOf("transaction", {Entry("POST", "Patient", PatientWith("9000000009", "Jones"), "",
                                     json::object{{"ifNoneExist", condition}}),
                               Entry("DELETE", "Patient?" + condition)});
  auto response = server.Send("POST", "/fhir", body);
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  EXPECT_EQ(ResponseOf(bundle, 0)["status"].as_string().subview(0, 3), "201");
  std::string new_id = IdFromLocation(ResponseOf(bundle, 0)["location"].as_string());
  EXPECT_NE(new_id, old_id);
  EXPECT_EQ(server.Get("/fhir/Patient/" + old_id).status, 410);
  EXPECT_EQ(server.Get("/fhir/Patient/" + new_id).status, 200);
  EXPECT_EQ(CountMatches(server, "Patient?" + condition), 1u);
}

TEST(FhirTransaction, GetEntriesRunAfterTheWritesAndAnswerInPlace) {
  TestServer server;
  server.Send("PUT", "/fhir/Patient/pt-read", R"({"resourceType":"Patient","id":"pt-read"})");
  std::string body = BundleOf(
      "transaction", {Entry("GET", "Patient?identifier=" + std::string(kNhsNumber) + "|9000000009"),
                      Entry("POST", "Patient", PatientWith("9000000009", "Jones")),
                      Entry("GET", "Patient/pt-read")});
  auto response = server.Send("POST", "/fhir", body);
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  auto& entries = bundle["entry"].as_array();
  ASSERT_EQ(entries.size(), 3u);
  // The search saw the Patient the transaction created.
  auto& searchset = entries[0].as_object()["resource"].as_object();
  EXPECT_EQ(Text(searchset["type"]), "searchset");
  EXPECT_EQ(searchset["entry"].as_array().size(), 1u);
  EXPECT_EQ(entries[2].as_object()["resource"].as_object()["id"], "pt-read");
  EXPECT_EQ(ResponseOf(bundle, 2)["etag"], "W/\"1\"");
}

// A transaction succeeds or fails as a whole: a GET entry that fails (an answer of 200 with
// the failure inside its entry, the writes kept, was the defect) fails the transaction with
// its status, names the entry, and nothing is written.
TEST(FhirTransaction, AFailingGetEntryFailsTheWholeTransactionAndWritesNothing) {
  TestServer server;
  server.Send("PUT", "/fhir/Patient/pt-read", R"({"resourceType":"Patient","id":"pt-read"})");
  int64_t versions = StoredVersions(server);
  struct Case {
    std::string url;
    int status;
  };
  for (const Case& c : std::vector<Case>{{"Patient/no-such-patient", 404},
                                         {"Patient/pt-read/_history/7", 404},
                                         {"Patient?name=a%00b", 400},
                                         {"Patient?name=%zz", 400},
                                         {"Patient?name=%ff", 400},
                                         {"Patient?no-such-parameter=x", 200},
                                         {"Patient?birthdate=notadate", 400},
                                         {"http://elsewhere.example/fhir/Patient/pt-read", 400},
                                         {"Patient/pt-read/$everything", 400},
                                         {"Patient/no-such-patient/$everything", 400},
                                         {"NoSuchType?name=x", 404},
                                         {"Patient/bad$id", 400}}) {
    std::string body =
        BundleOf("transaction", {Entry("POST", "Patient", PatientWith("9000000009", "Jones")),
                                 Entry("GET", "Patient/pt-read"), Entry("GET", c.url)});
    auto response = server.Send("POST", "/fhir", body);
    EXPECT_EQ(response.status, c.status) << c.url << ": " << response.body.substr(0, 300);
    if (c.status >= 400) {
      EXPECT_NE(IssueText(response).find("Bundle.entry[2]"), std::string::npos)
          << c.url << ": " << IssueText(response);
      EXPECT_EQ(StoredVersions(server), versions) << c.url;
    } else {
      server.Send("DELETE", "/fhir/Patient?identifier=" + std::string(kNhsNumber) + "|9000000009");
      versions = StoredVersions(server);
    }
  }
  // A batch answers each entry on its own, as before.
  auto batch = server.Send("POST", "/fhir",
                           BundleOf("batch", {Entry("GET", "Patient/no-such-patient"),
                                              Entry("GET", "Patient/pt-read")}));
  ASSERT_EQ(batch.status, 200) << batch.body;
  auto bundle = TestServer::Json(batch);
  EXPECT_EQ(ResponseOf(bundle, 0)["status"].as_string().subview(0, 3), "404");
  EXPECT_EQ(ResponseOf(bundle, 1)["status"].as_string().subview(0, 3), "200");
}

// A GET entry may read what the transaction itself writes: it is not read ahead of the writes.
TEST(FhirTransaction, AGetEntryOfAResourceTheTransactionCreatesIsAnswered) {
  TestServer server;
  auto patient = PatientWith("9000000009", "Jones");
  patient["id"] = "pt-new";
  auto response = server.Send("POST", "/fhir",
                              BundleOf("transaction", {Entry("GET", "Patient/pt-new"),
                                                       Entry("PUT", "Patient/pt-new", patient)}));
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  EXPECT_EQ(ResponseOf(bundle, 0)["status"].as_string().subview(0, 3), "200");
}

TEST(FhirTransaction, ResponseEntriesFollowRequestOrderWithStatusLocationEtagLastModified) {
  TestServer server;
  server.Send("PUT", "/fhir/Patient/pt-old", R"({"resourceType":"Patient","id":"pt-old"})");
  server.Send("PUT", "/fhir/Patient/pt-upd", R"({"resourceType":"Patient","id":"pt-upd"})");
  std::string body = BundleOf(
      "transaction",
      {Entry("PUT", "Patient/pt-upd",
             json::parse(R"({"resourceType":"Patient","id":"pt-upd","active":true})").as_object()),
       Entry("POST", "Patient", PatientWith("9000000009", "Jones")),
       Entry("DELETE", "Patient/pt-old"),
       Entry("PUT", "Patient/pt-new",
             json::parse(R"({"resourceType":"Patient","id":"pt-new"})").as_object())});
  auto response = server.Send("POST", "/fhir", body);
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  ASSERT_EQ(bundle["entry"].as_array().size(), 4u);

  auto& update = ResponseOf(bundle, 0);
  EXPECT_EQ(update["status"].as_string().subview(0, 3), "200");
  EXPECT_EQ(Text(update["location"]), "Patient/pt-upd/_history/2");
  EXPECT_EQ(Text(update["etag"]), "W/\"2\"");
  EXPECT_TRUE(update.contains("lastModified"));

  auto& create = ResponseOf(bundle, 1);
  EXPECT_EQ(create["status"].as_string().subview(0, 3), "201");
  EXPECT_NE(create["location"].as_string().find("Patient/"), json::string::npos);
  EXPECT_EQ(Text(create["etag"]), "W/\"1\"");
  EXPECT_TRUE(create.contains("lastModified"));

  auto& remove = ResponseOf(bundle, 2);
  std::string remove_status(remove["status"].as_string());
  EXPECT_TRUE(remove_status.starts_with("204") || remove_status.starts_with("200"))
      << remove_status;

  auto& put_create = ResponseOf(bundle, 3);
  EXPECT_EQ(put_create["status"].as_string().subview(0, 3), "201");
  EXPECT_EQ(Text(put_create["location"]), "Patient/pt-new/_history/1");
  // The default is minimal in a transaction response: no resource bodies.
  EXPECT_FALSE(bundle["entry"].as_array()[1].as_object().contains("resource"));
}

TEST(FhirTransaction, PreferRepresentationIncludesTheStoredResources) {
  TestServer server;
  std::string body = BundleOf(
      "transaction", {Entry("POST", "Patient", PatientWith("9000000009", "Jones"),
                            "urn:uuid:00000000-0000-4000-8000-0000000000b1"),
                      Entry("POST", "Observation",
                            ObservationFor("urn:uuid:00000000-0000-4000-8000-0000000000b1"))});
  auto response = server.Send("POST", "/fhir", body, {{"Prefer", "return=representation"}});
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  auto& entries = bundle["entry"].as_array();
  ASSERT_EQ(entries.size(), 2u);
  auto& patient = entries[0].as_object()["resource"].as_object();
  auto& observation = entries[1].as_object()["resource"].as_object();
  EXPECT_EQ(Text(patient["resourceType"]), "Patient");
  EXPECT_EQ(Text(patient["meta"].as_object()["versionId"]), "1");
  EXPECT_EQ(Text(observation["subject"].as_object()["reference"]),
            "Patient/" + std::string(patient["id"].as_string()));
  EXPECT_EQ(Text(entries[0].as_object()["fullUrl"]),
            server.base() + "/Patient/" + std::string(patient["id"].as_string()));
}

TEST(FhirTransaction, SameResourceTwiceIs400AndStoresNothing) {
  TestServer server;
  auto v1 = json::parse(R"({"resourceType":"Patient","id":"pt-twice","gender":"male"})");
  auto v2 = json::parse(R"({"resourceType":"Patient","id":"pt-twice","gender":"female"})");
  auto response =
      server.Send("POST", "/fhir",
                  BundleOf("transaction", {Entry("PUT", "Patient/pt-twice", v1.as_object()),
                                           Entry("PUT", "Patient/pt-twice", v2.as_object())}));
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_NE(IssueText(response).find("Patient/pt-twice"), std::string::npos) << response.body;
  EXPECT_EQ(StoredVersions(server), 0);

  server.Send("PUT", "/fhir/Patient/pt-twice", json::serialize(v1));
  auto put_and_delete =
      server.Send("POST", "/fhir",
                  BundleOf("transaction", {Entry("PUT", "Patient/pt-twice", v2.as_object()),
                                           Entry("DELETE", "Patient/pt-twice")}));
  EXPECT_EQ(put_and_delete.status, 400) << put_and_delete.body;
  EXPECT_EQ(TestServer::Json(server.Get("/fhir/Patient/pt-twice"))["gender"], "male");
}

TEST(FhirTransaction, BatchEntriesSucceedOrFailIndependently) {
  TestServer server;
  server.Send("PUT", "/fhir/Patient/pt-batch",
              R"({"resourceType":"Patient","id":"pt-batch","gender":"female"})");
  auto bad_date = PatientWith("9000000025", "Patel");
  bad_date["birthDate"] = "2021-02-30";
  auto stale = json::parse(R"({"resourceType":"Patient","id":"pt-batch","gender":"male"})");
  std::string body =
      BundleOf("batch", {Entry("POST", "Patient", PatientWith("9000000009", "Jones")),
                         Entry("POST", "Patient", bad_date),
                         Entry("POST", "Observation", ObservationFor("Patient/does-not-exist")),
                         Entry("PUT", "Patient/pt-batch", stale.as_object(), "",
                               json::object{{"ifMatch", "W/\"7\""}}),
                         Entry("PATCH", "Patient/pt-batch"),
                         Entry("POST", "Observation", ObservationFor("Patient/pt-batch")),
                         Entry("GET", "Patient/pt-batch")});
  auto response = server.Send("POST", "/fhir", body);
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  EXPECT_EQ(Text(bundle["type"]), "batch-response");
  auto& entries = bundle["entry"].as_array();
  ASSERT_EQ(entries.size(), 7u);
  auto status_of = [&](size_t i) {
    return std::string(ResponseOf(bundle, i)["status"].as_string().subview(0, 3));
  };
  EXPECT_EQ(status_of(0), "201");
  EXPECT_EQ(status_of(1), "400");
  EXPECT_EQ(status_of(2), "422");
  EXPECT_EQ(status_of(3), "412");
  EXPECT_EQ(status_of(4), "400");
  EXPECT_EQ(status_of(5), "201");
  EXPECT_EQ(status_of(6), "200");
  for (size_t i : {1, 2, 3, 4}) {
    auto& outcome = ResponseOf(bundle, i)["outcome"].as_object();
    EXPECT_EQ(Text(outcome["resourceType"]), "OperationOutcome") << i;
  }
  EXPECT_EQ(CountMatches(server, "Patient"), 2u);
  EXPECT_EQ(CountMatches(server, "Observation?subject=Patient/pt-batch"), 1u);
  EXPECT_EQ(TestServer::Json(server.Get("/fhir/Patient/pt-batch"))["gender"], "female");
}

TEST(FhirTransaction, BundleThatIsNeitherTransactionNorBatchIs400) {
  TestServer server;
  auto response =
      server.Send("POST", "/fhir", R"({"resourceType":"Bundle","type":"collection","entry":[]})");
  EXPECT_EQ(response.status, 400) << response.body;
  auto not_bundle = server.Send("POST", "/fhir", json::serialize(PatientWith("9000000009", "J")));
  EXPECT_EQ(not_bundle.status, 400) << not_bundle.body;
  auto empty = server.Send("POST", "/fhir", R"({"resourceType":"Bundle","type":"transaction"})");
  EXPECT_EQ(empty.status, 200) << empty.body;
}

TEST(FhirTransaction, EntryWithBadUrlOrMissingResourceIs400) {
  TestServer server;
  for (auto entry :
       {Entry("POST", "Spaceship", json::object{{"resourceType", "Spaceship"}}),
        Entry("PUT", "Patient/bad id!",
              json::object{{"resourceType", "Patient"}, {"id", "bad id!"}}),
        Entry("POST", "Patient"),
        Entry("POST", "Patient", json::object{{"resourceType", "Observation"}}),
        Entry("PUT", "Patient/pt-a", json::object{{"resourceType", "Patient"}, {"id", "pt-b"}})}) {
    std::string body = BundleOf(
        "transaction", {Entry("POST", "Patient", PatientWith("9000000009", "Jones")), entry});
    auto response = server.Send("POST", "/fhir", body);
    EXPECT_GE(response.status, 400) << body << "\n" << response.body;
    EXPECT_LT(response.status, 500) << body << "\n" << response.body;
    EXPECT_NE(IssueText(response).find("Bundle.entry[1]"), std::string::npos) << response.body;
  }
  EXPECT_EQ(StoredVersions(server), 0);
}

// Two conditional updates on one condition each created (two Patients for one identifier): a
// transaction's identities must not overlap, resolved ones included.
TEST(FhirTransaction, TwoConditionalWritesOnOneConditionAre400AndStoreNothing) {
  TestServer server;
  const std::string entry =
      R"({"request":{"method":"PUT","url":"Patient?identifier=urn:s|2"},)"
      R"("resource":{"resourceType":"Patient","identifier":[{"system":"urn:s","value":"2"}]}})";
  auto response = server.Send(
      "POST", "/fhir",
      R"({"resourceType":"Bundle","type":"transaction","entry":[)" + entry + "," + entry + "]}");
  EXPECT_EQ(response.status, 400) << response.body;
  auto total = TestServer::Json(server.Get("/fhir/Patient?_summary=count"));
  EXPECT_EQ(total["total"].as_int64(), 0);
}

}  // namespace
}  // namespace carerecord::testing
