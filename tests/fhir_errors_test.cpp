// HTTP integration tests of bad input: every one is a 4xx with an OperationOutcome that says
// where the problem is, never a 5xx, and the stored record is unchanged afterwards.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

constexpr const char* kStoredPatient = R"({"resourceType":"Patient","id":"pt-1",
  "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],
  "name":[{"family":"Whitfield","given":["Morgan"]}],"gender":"female","birthDate":"1962-08-14"})";

struct Issue {
  std::string severity;
  std::string code;
  std::string diagnostics;
  std::string expression;
};

// The first issue of an OperationOutcome; fails the test if the body is not one.
Issue FirstIssue(const http::HttpResponse& response) {
  auto outcome = TestServer::Json(response);
  Issue issue;
  if (outcome["resourceType"] != "OperationOutcome") {
    ADD_FAILURE() << "not an OperationOutcome: " << response.body;
    return issue;
  }
  auto& first = outcome["issue"].as_array().at(0).as_object();
  issue.severity = first["severity"].as_string();
  issue.code = first["code"].as_string();
  issue.diagnostics = first["diagnostics"].as_string();
  if (auto* expression = first.if_contains("expression")) {
    issue.expression = expression->as_array().at(0).as_string();
  }
  return issue;
}

// A server holding Patient/pt-1 at version 1, to check bad requests leave it as it was.
class FhirErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = server_.Send("PUT", "/fhir/Patient/pt-1", kStoredPatient);
    ASSERT_EQ(created.status, 201) << created.body;
    stored_ = server_.Get("/fhir/Patient/pt-1").body;
    versions_ = server_.store().Stats().value().versions;
  }

  // Checks a response is the 4xx given, with an OperationOutcome, and that nothing changed.
  Issue ExpectRejected(const http::HttpResponse& response, int status) {
    EXPECT_EQ(response.status, status) << response.body;
    EXPECT_EQ(response.Header("content-type"), "application/fhir+json; charset=utf-8");
    Issue issue = FirstIssue(response);
    EXPECT_EQ(issue.severity, "error") << response.body;
    EXPECT_FALSE(issue.diagnostics.empty());
    ExpectUnchanged();
    return issue;
  }

  void ExpectUnchanged() {
    EXPECT_EQ(server_.Get("/fhir/Patient/pt-1").body, stored_);
    EXPECT_EQ(server_.store().Stats().value().versions, versions_);
  }

  // The stored Patient with one element replaced by raw JSON text.
  static std::string PatientWith(const std::string& key, const std::string& raw_value) {
    json::object patient = json::parse(kStoredPatient).as_object();
    patient[key] = json::parse(raw_value);
    return json::serialize(patient);
  }

  TestServer server_;
  std::string stored_;
  int64_t versions_ = 0;
};

TEST_F(FhirErrors, TruncatedJsonSaysLineAndColumn) {
  std::string truncated = std::string(kStoredPatient).substr(0, 120);
  size_t last_newline = truncated.rfind('\n');
  std::string end_of_text =
      "line " + std::to_string(1 + std::count(truncated.begin(), truncated.end(), '\n')) +
      ", column " + std::to_string(truncated.size() - last_newline);
  Issue issue = ExpectRejected(server_.Send("PUT", "/fhir/Patient/pt-1", truncated), 400);
  EXPECT_NE(issue.diagnostics.find("malformed JSON"), std::string::npos) << issue.diagnostics;
  EXPECT_EQ(issue.expression, end_of_text);
}

TEST_F(FhirErrors, TrailingGarbageAfterTheResourceIsRejectedWithItsPosition) {
  std::string body = R"({"resourceType":"Patient","id":"pt-1"} {"x":1})";
  Issue issue = ExpectRejected(server_.Send("PUT", "/fhir/Patient/pt-1", body), 400);
  EXPECT_EQ(issue.expression, "line 1, column 40") << issue.diagnostics;
  Issue trailing_comma = ExpectRejected(
      server_.Send("PUT", "/fhir/Patient/pt-1", R"({"resourceType":"Patient","id":"pt-1",})"), 400);
  EXPECT_NE(trailing_comma.expression.find("line 1"), std::string::npos);
}

TEST_F(FhirErrors, BodyThatIsNotAnObjectIs400) {
  for (std::string body : {"[1,2,3]", "\"Patient\"", "42", "null"}) {
    ExpectRejected(server_.Send("PUT", "/fhir/Patient/pt-1", body), 400);
    ExpectRejected(server_.Send("POST", "/fhir/Patient", body), 400);
    ExpectRejected(server_.Send("POST", "/fhir", body), 400);
  }
}

TEST_F(FhirErrors, EmptyBodyOnPostOrPutIs400) {
  Issue issue = ExpectRejected(server_.Send("POST", "/fhir/Patient"), 400);
  EXPECT_NE(issue.diagnostics.find("empty"), std::string::npos) << issue.diagnostics;
  ExpectRejected(server_.Send("PUT", "/fhir/Patient/pt-1"), 400);
  ExpectRejected(server_.Send("POST", "/fhir"), 400);
  ExpectRejected(server_.Send("POST", "/fhir/Patient", "   \n"), 400);
}

TEST_F(FhirErrors, ResourceTypeOtherThanTheUrlsIs400) {
  std::string observation = R"({"resourceType":"Observation","id":"pt-1","status":"final",
      "code":{"text":"weight"}})";
  Issue issue = ExpectRejected(server_.Send("PUT", "/fhir/Patient/pt-1", observation), 400);
  EXPECT_EQ(issue.expression, "/resourceType");
  ExpectRejected(server_.Send("POST", "/fhir/Patient", observation), 400);
  Issue missing =
      ExpectRejected(server_.Send("POST", "/fhir/Patient", R"({"id":"pt-1","active":true})"), 400);
  EXPECT_EQ(missing.expression, "/resourceType");
  ExpectRejected(server_.Send("POST", "/fhir/Patient", R"({"resourceType":7})"), 400);
}

TEST_F(FhirErrors, UnknownResourceTypeIs404InTheUrlAnd400InTheBody) {
  ExpectRejected(server_.Send("POST", "/fhir/Spaceship", R"({"resourceType":"Spaceship"})"), 404);
  ExpectRejected(server_.Send("PUT", "/fhir/Spaceship/x1", R"({"resourceType":"Spaceship"})"), 404);
  ExpectRejected(server_.Send("DELETE", "/fhir/Spaceship/x1"), 404);
  ExpectRejected(server_.Send("POST", "/fhir/Patient", R"({"resourceType":"Spaceship"})"), 400);
}

TEST_F(FhirErrors, IdThatIsNotAFhirIdIs400) {
  std::string long_id(65, 'a');
  for (std::string bad : {std::string("bad_id"), std::string("has%20space"), long_id}) {
    json::object patient = json::parse(kStoredPatient).as_object();
    patient["id"] = bad;
    ExpectRejected(server_.Send("PUT", "/fhir/Patient/" + bad, json::serialize(patient)), 400);
    ExpectRejected(server_.Get("/fhir/Patient/" + bad), 400);
    ExpectRejected(server_.Send("DELETE", "/fhir/Patient/" + bad), 400);
  }
  Issue in_body = ExpectRejected(
      server_.Send("PUT", "/fhir/Patient/pt-1", PatientWith("id", R"("pt 1")")), 400);
  EXPECT_EQ(in_body.expression, "/id") << in_body.diagnostics;
  ExpectRejected(server_.Send("PUT", "/fhir/Patient/pt-1", PatientWith("id", "17")), 400);
}

TEST_F(FhirErrors, WrongPrimitiveTypesNameTheElement) {
  struct Case {
    std::string key, value, expression;
  } cases[] = {
      {"birthDate", "123", "/birthDate"},
      {"active", R"("yes")", "/active"},
      {"gender", R"(["male"])", "/gender"},
      {"name", R"({"family":"Whitfield"})", "/name"},
      {"birthDate", R"("2021-02-30")", "/birthDate"},
      {"birthDate", R"("14/08/1962")", "/birthDate"},
      {"deceasedDateTime", R"("2024-13-01T10:00:00Z")", "/deceasedDateTime"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key + " = " + c.value);
    Issue issue =
        ExpectRejected(server_.Send("PUT", "/fhir/Patient/pt-1", PatientWith(c.key, c.value)), 400);
    EXPECT_EQ(issue.expression, c.expression) << issue.diagnostics;
    EXPECT_EQ(issue.code, "invalid");
  }
}

TEST_F(FhirErrors, CodeOutsideARequiredValueSetIs400) {
  Issue issue = ExpectRejected(
      server_.Send("PUT", "/fhir/Patient/pt-1", PatientWith("gender", R"("bloke")")), 400);
  EXPECT_EQ(issue.expression, "/gender");
  ExpectRejected(server_.Send("POST", "/fhir/Observation",
                              R"({"resourceType":"Observation","status":"finalish",
                                  "code":{"text":"Pulse"}})"),
                 400);
}

TEST_F(FhirErrors, NestedWrongTypeGivesAJsonPointer) {
  Issue issue = ExpectRejected(
      server_.Send("PUT", "/fhir/Patient/pt-1",
                   PatientWith("name", R"([{"family":"Whitfield","given":["Morgan",7]}])")),
      400);
  EXPECT_EQ(issue.expression, "/name/0/given/1") << issue.diagnostics;
}

TEST_F(FhirErrors, UnknownElementIs400) {
  Issue issue = ExpectRejected(
      server_.Send("PUT", "/fhir/Patient/pt-1", PatientWith("favouriteColour", R"("teal")")), 400);
  EXPECT_EQ(issue.expression, "/favouriteColour") << issue.diagnostics;
  EXPECT_NE(issue.diagnostics.find("favouriteColour"), std::string::npos);
}

TEST_F(FhirErrors, ReferenceToAMissingResourceIs422) {
  std::string observation = R"({"resourceType":"Observation","status":"final",
      "code":{"text":"Blood pressure"},"subject":{"reference":"Patient/does-not-exist"}})";
  Issue issue = ExpectRejected(server_.Send("POST", "/fhir/Observation", observation), 422);
  EXPECT_NE(issue.diagnostics.find("Patient/does-not-exist"), std::string::npos)
      << issue.diagnostics;
  // Pointing at a deleted resource is as broken as pointing at nothing.
  server_.Send("PUT", "/fhir/Patient/pt-gone", R"({"resourceType":"Patient","id":"pt-gone"})");
  server_.Send("DELETE", "/fhir/Patient/pt-gone");
  std::string to_deleted = R"({"resourceType":"Observation","status":"final",
      "code":{"text":"Blood pressure"},"subject":{"reference":"Patient/pt-gone"}})";
  auto response = server_.Send("POST", "/fhir/Observation", to_deleted);
  EXPECT_EQ(response.status, 422) << response.body;
}

TEST_F(FhirErrors, ReferenceToAnUnknownTypeOrBadIdIs400) {
  for (std::string reference : {"Spaceship/1", "Patient/bad_id", "Patient/", "just-text"}) {
    SCOPED_TRACE(reference);
    std::string observation = R"({"resourceType":"Observation","status":"final",
        "code":{"text":"Blood pressure"},"subject":{"reference":")" +
                              reference + R"("}})";
    Issue issue = ExpectRejected(server_.Send("POST", "/fhir/Observation", observation), 400);
    EXPECT_NE(issue.diagnostics.find(reference), std::string::npos) << issue.diagnostics;
  }
}

TEST_F(FhirErrors, UrnReferenceOutsideATransactionIs400) {
  std::string observation = R"({"resourceType":"Observation","status":"final",
      "code":{"text":"Blood pressure"},
      "subject":{"reference":"urn:uuid:0d6e2d7c-5a55-4a29-9a36-8f1f2b39c0aa"}})";
  Issue issue = ExpectRejected(server_.Send("POST", "/fhir/Observation", observation), 400);
  EXPECT_NE(issue.diagnostics.find("urn:uuid:0d6e2d7c"), std::string::npos) << issue.diagnostics;
}

// Single writes share the transaction path, so they resolve conditional references too.
TEST_F(FhirErrors, ConditionalReferenceInASingleCreateResolvesOrIs422) {
  auto resolved = server_.Send("POST", "/fhir/Observation", R"({"resourceType":"Observation",
      "status":"final","code":{"text":"Blood pressure"},
      "subject":{"reference":"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009"}})");
  ASSERT_EQ(resolved.status, 201) << resolved.body;
  auto subject = TestServer::Json(resolved)["subject"].as_object()["reference"];
  EXPECT_EQ(subject, "Patient/pt-1");
  versions_ += 1;
  ExpectRejected(server_.Send("POST", "/fhir/Observation", R"({"resourceType":"Observation",
      "status":"final","code":{"text":"Blood pressure"},
      "subject":{"reference":"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9999999999"}})"),
                 422);
}

TEST(FhirErrorsLimits, BodyOverTheConfiguredLimitIs413) {
  TestServer server(/*max_body=*/4096);
  json::object patient = json::parse(kStoredPatient).as_object();
  patient["name"].as_array()[0].as_object()["family"] = std::string(8000, 'x');
  auto response = server.Send("PUT", "/fhir/Patient/pt-1", json::serialize(patient));
  EXPECT_EQ(response.status, 413) << response.body.substr(0, 300);
  EXPECT_EQ(FirstIssue(response).code, "too-costly");
  EXPECT_EQ(server.Get("/fhir/Patient/pt-1").status, 404);
  // The server still answers afterwards.
  EXPECT_EQ(server.Send("PUT", "/fhir/Patient/pt-1", kStoredPatient).status, 201);
}

TEST_F(FhirErrors, AbsurdlyDeepJsonIs400NotACrash) {
  std::string deep = std::string(10000, '[') + std::string(10000, ']');
  std::string body = R"({"resourceType":"Patient","id":"pt-1","extension":[{"url":)"
                     R"("https://example.org/deep","valueString":)" +
                     deep + "}]}";
  Issue issue = ExpectRejected(server_.Send("PUT", "/fhir/Patient/pt-1", body), 400);
  EXPECT_NE(issue.diagnostics.find("deep"), std::string::npos) << issue.diagnostics;
  std::string deep_objects;
  for (int i = 0; i < 5000; ++i) deep_objects += R"({"a":)";
  deep_objects += "1" + std::string(5000, '}');
  ExpectRejected(server_.Send("POST", "/fhir", deep_objects), 400);
  // Deep but allowed nesting in a transaction is not refused for the Bundle's own depth.
  EXPECT_EQ(server_.Get("/fhir/Patient/pt-1").status, 200);
}

TEST_F(FhirErrors, XmlIsRefusedPlainly) {
  std::string xml = R"(<Patient xmlns="http://hl7.org/fhir"><id value="pt-1"/></Patient>)";
  auto response =
      server_.Send("PUT", "/fhir/Patient/pt-1", xml, {{"Content-Type", "application/fhir+xml"}});
  Issue issue = ExpectRejected(response, 415);
  EXPECT_EQ(issue.expression, "Content-Type");

  auto format = server_.Get("/fhir/Patient/pt-1?_format=xml");
  EXPECT_TRUE(format.status == 406 || format.status == 400) << format.status;
  EXPECT_EQ(FirstIssue(format).expression, "_format");
  auto accept = server_.Send("GET", "/fhir/Patient/pt-1", {}, {{"Accept", "application/fhir+xml"}});
  EXPECT_EQ(accept.status, 406) << accept.body;
  auto json_format = server_.Get("/fhir/Patient/pt-1?_format=json");
  EXPECT_EQ(json_format.status, 200) << json_format.body;
}

TEST_F(FhirErrors, UnknownRouteIs404AndWrongMethodIs405) {
  ExpectRejected(server_.Get("/nothing-here"), 404);
  ExpectRejected(server_.Get("/fhir/Patient/pt-1/_history/1/extra"), 404);
  ExpectRejected(server_.Send("PATCH", "/fhir/Patient/pt-1", R"({"active":false})"), 405);
  ExpectRejected(server_.Send("DELETE", "/fhir/metadata"), 405);
  ExpectRejected(server_.Send("GET", "/fhir"), 405);
  ExpectRejected(server_.Send("POST", "/fhir/Patient/pt-1/_history"), 405);
  ExpectRejected(server_.Send("DELETE", "/fhir/Patient"), 400);  // needs a condition
}

TEST_F(FhirErrors, InvalidCountIs400) {
  for (std::string count : {"abc", "-1", "1.5", "", "99999999999999999999999"}) {
    SCOPED_TRACE(count);
    Issue issue = ExpectRejected(server_.Get("/fhir/Patient?_count=" + count), 400);
    EXPECT_EQ(issue.expression, "_count");
  }
  ExpectRejected(server_.Get("/fhir/Patient/pt-1/_history?_count=none"), 400);
}

TEST_F(FhirErrors, HugeNumberOfQueryParametersIs400) {
  std::string target = "/fhir/Patient?";
  for (int i = 0; i < 3000; ++i) target += "family=Whitfield&";
  target += "_count=1";
  Issue issue = ExpectRejected(server_.Get(target), 400);
  EXPECT_NE(issue.diagnostics.find("3001 parameters"), std::string::npos) << issue.diagnostics;
  std::string form;
  for (int i = 0; i < 1500; ++i) form += "code=http://loinc.org|" + std::to_string(i) + "-1&";
  auto posted = server_.Send("POST", "/fhir/Observation/_search", form,
                             {{"Content-Type", "application/x-www-form-urlencoded"}});
  ExpectRejected(posted, 400);
  // Up to the limit, a search runs.
  std::string many = "/fhir/Patient?";
  for (int i = 0; i < 150; ++i) many += "family=Whitfield&";
  auto allowed = server_.Get(many + "_count=1");
  EXPECT_EQ(allowed.status, 200) << allowed.body.substr(0, 300);
}

TEST_F(FhirErrors, SearchWithThousandsOfOrValuesIsNeverA5xx) {
  std::string ids;
  for (int i = 0; i < 3000; ++i) ids += (i ? "," : "") + std::string("pt-") + std::to_string(i);
  auto by_id = server_.Get("/fhir/Patient?_id=" + ids);
  EXPECT_LT(by_id.status, 500) << by_id.body.substr(0, 300);
  std::string families;
  for (int i = 0; i < 3000; ++i)
    families += (i ? "," : "") + std::string("Whitfield") + std::to_string(i);
  auto by_family = server_.Get("/fhir/Patient?family=" + families);
  EXPECT_LT(by_family.status, 500) << by_family.body.substr(0, 300);
}

TEST_F(FhirErrors, InvalidVersionInVreadIs400AndUnknownVersionIs404) {
  for (std::string version : {"abc", "0", "-1", "1.0", "99999999999999999999999"}) {
    SCOPED_TRACE(version);
    ExpectRejected(server_.Get("/fhir/Patient/pt-1/_history/" + version), 400);
  }
  ExpectRejected(server_.Get("/fhir/Patient/pt-1/_history/2"), 404);
  EXPECT_EQ(server_.Get("/fhir/Patient/pt-1/_history/1").status, 200);
}

TEST_F(FhirErrors, ContainedResourcesAreValidatedToo) {
  std::string body = R"({"resourceType":"Patient","id":"pt-1",
      "contained":[{"resourceType":"Practitioner","id":"gp","birthDate":"not-a-date"}],
      "generalPractitioner":[{"reference":"#gp"}]})";
  Issue issue = ExpectRejected(server_.Send("PUT", "/fhir/Patient/pt-1", body), 400);
  EXPECT_EQ(issue.expression, "/contained/0/birthDate") << issue.diagnostics;
}

TEST_F(FhirErrors, NonUtf8BodyIsRejected) {
  std::string body =
      "{\"resourceType\":\"Patient\",\"id\":\"pt-1\",\"name\":[{\"family\":\"\xff\xfe\"}]}";
  ExpectRejected(server_.Send("PUT", "/fhir/Patient/pt-1", body), 400);
}

// Smaller wrong answers of issue 17: each a 400 that says what is wrong, or a bounded answer.
TEST_F(FhirErrors, ResultParameterGivenTwiceIs400) {
  for (const char* target :
       {"/fhir/Patient?_count=1&_count=2", "/fhir/Patient?_sort=gender&_sort=-gender",
        "/fhir/Patient?_summary=true&_summary=data",
        "/fhir/Patient/pt-1/_history?_count=1&_count=2",
        "/fhir/Patient/pt-1/$everything?_count=1&_count=2",
        "/fhir/_history?_since=2020&_since=2021"}) {
    Issue issue = ExpectRejected(server_.Get(target), 400);
    EXPECT_NE(issue.diagnostics.find("more than once"), std::string::npos)
        << target << ": " << issue.diagnostics;
  }
  EXPECT_EQ(server_.Get("/fhir/Patient?_include=Patient:organization&_include=Patient:link").status,
            200);
}

TEST_F(FhirErrors, SummaryCountOnHistoryAndEverythingIs400NotEveryResource) {
  for (const char* target :
       {"/fhir/Patient/pt-1/_history?_summary=count", "/fhir/_history?_summary=count",
        "/fhir/Patient/_history?_summary=count", "/fhir/Patient/pt-1/$everything?_summary=count"}) {
    Issue issue = ExpectRejected(server_.Get(target), 400);
    EXPECT_NE(issue.diagnostics.find("_summary=count"), std::string::npos)
        << target << ": " << issue.diagnostics;
  }
}

// $everything answers what it supports and says what it ignored, as a lenient search does; with
// Prefer: handling=strict each is a 400.
TEST_F(FhirErrors, EverythingListsTheParametersItIgnoresOrRefusesThemWhenStrict) {
  for (const char* param :
       {"_elements=id", "_sort=-date", "_include=Patient:organization", "no-such-parameter=1"}) {
    const std::string target = std::string("/fhir/Patient/pt-1/$everything?") + param;
    auto lenient = server_.Get(target);
    ASSERT_EQ(lenient.status, 200) << target << ": " << lenient.body;
    const std::string name = std::string(param).substr(0, std::string(param).find('='));
    bool listed = false;
    auto bundle = TestServer::Json(lenient);
    for (auto& entry : bundle["entry"].as_array()) {
      auto& resource = entry.as_object()["resource"].as_object();
      if (resource["resourceType"] != "OperationOutcome") continue;
      listed = json::serialize(resource).find(name) != std::string::npos;
    }
    EXPECT_TRUE(listed) << target << ": " << lenient.body;
    auto strict = server_.Send("GET", target, {}, {{"Prefer", "handling=strict"}});
    EXPECT_EQ(strict.status, 400) << target << ": " << strict.body;
  }
}

TEST_F(FhirErrors, EverythingWithoutAPatientIdSaysAnIdIsNeeded) {
  Issue issue = ExpectRejected(server_.Get("/fhir/Patient/$everything"), 400);
  EXPECT_NE(issue.diagnostics.find("needs a patient's id"), std::string::npos) << issue.diagnostics;
}

}  // namespace
}  // namespace carerecord::testing
