// HTTP integration tests of _has (reverse chaining): Patients found by their Observations,
// nested _has, OR within and AND across parameters, combination with other conditions, paging,
// _include/_revinclude, compartments, and the errors for each malformed part.
#include <gtest/gtest.h>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

using Names = std::vector<std::string>;

std::string PatientJson(const std::string& family, const std::string& gender,
                        const std::string& extra = "") {
  return R"({"resourceType":"Patient","gender":")" + gender + R"(","name":[{"family":")" + family +
         R"("}])" + extra + "}";
}

// An Observation of LOINC `code` about `subject` ("Patient/p1"), optionally in `encounter`.
std::string ObservationJson(const std::string& subject, const std::string& code,
                            const std::string& encounter = "") {
  return R"({"resourceType":"Observation","status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":")" +
         code + R"("}]},"subject":{"reference":")" + subject + R"("})" +
         (encounter.empty() ? "" : R"(,"encounter":{"reference":"Encounter/)" + encounter + "\"}") +
         "}";
}

std::string ReportJson(const std::string& status, const std::string& patient,
                       const std::string& result) {
  return R"({"resourceType":"DiagnosticReport","status":")" + status +
         R"(","code":{"text":"Panel"},"subject":{"reference":"Patient/)" + patient +
         R"("},"result":[{"reference":"Observation/)" + result + R"("}]})";
}

// p1: heart rate o1 (in encounter e1) and glucose o2; p2: glucose o3 (in e2); p3: weight o4;
// p4: nothing. Group g1 has a heart rate o5. Report r-final (final) has o3 as its result,
// r-prelim (preliminary) o2.
class FhirSearchHas : public ::testing::Test {
 protected:
  void SetUp() override {
    Put(server_, "Practitioner", "dr1", R"({"resourceType":"Practitioner"})");
    Put(server_, "Patient", "p1",
        PatientJson("Smith", "female",
                    R"(,"generalPractitioner":[{"reference":"Practitioner/dr1"}])"));
    Put(server_, "Patient", "p2", PatientJson("Jones", "male"));
    Put(server_, "Patient", "p3", PatientJson("Brown", "female"));
    Put(server_, "Patient", "p4", PatientJson("Green", "female"));
    Put(server_, "Group", "g1", R"({"resourceType":"Group","type":"person","actual":true})");
    Put(server_, "Encounter", "e1", R"({"resourceType":"Encounter","status":"finished",
      "class":{"code":"AMB"},"subject":{"reference":"Patient/p1"}})");
    Put(server_, "Encounter", "e2", R"({"resourceType":"Encounter","status":"in-progress",
      "class":{"code":"AMB"},"subject":{"reference":"Patient/p2"}})");
    Put(server_, "Observation", "o1", ObservationJson("Patient/p1", "8867-4", "e1"));
    Put(server_, "Observation", "o2", ObservationJson("Patient/p1", "2339-0"));
    Put(server_, "Observation", "o3", ObservationJson("Patient/p2", "2339-0", "e2"));
    Put(server_, "Observation", "o4", ObservationJson("Patient/p3", "29463-7"));
    Put(server_, "Observation", "o5", ObservationJson("Group/g1", "8867-4"));
    Put(server_, "DiagnosticReport", "r-final", ReportJson("final", "p2", "o3"));
    Put(server_, "DiagnosticReport", "r-prelim", ReportJson("preliminary", "p1", "o2"));
  }

  Names Search(const std::string& query) { return Ids(server_, "/fhir/" + query); }

  http::HttpResponse Strict(const std::string& query) {
    return server_.Send("GET", "/fhir/" + query, "", {{"Prefer", "handling=strict"}});
  }

  TestServer server_;
};

TEST_F(FhirSearchHas, PatientsFoundByTheirObservationsCodeThroughPatientOrSubject) {
  EXPECT_EQ(Search("Patient?_has:Observation:patient:code=8867-4"), Names{"p1"});
  EXPECT_EQ(Search("Patient?_has:Observation:subject:code=2339-0"), (Names{"p1", "p2"}));
  EXPECT_EQ(Search("Patient?_has:Observation:patient:code=http://loinc.org%7C2339-0"),
            (Names{"p1", "p2"}));
  EXPECT_EQ(Search("Patient?_has:Observation:patient:code=http://snomed.info/sct%7C2339-0"),
            Names{});
  EXPECT_EQ(Search("Patient?_has:Observation:patient:code=0000-0"), Names{});
}

TEST_F(FhirSearchHas, AReferenceToAnotherTypeDoesNotMatch) {
  // o5 is a heart rate about Group g1: it names no Patient.
  EXPECT_EQ(Search("Patient?_has:Observation:subject:code=8867-4"), Names{"p1"});
  EXPECT_EQ(Search("Group?_has:Observation:subject:code=8867-4"), Names{"g1"});
}

TEST_F(FhirSearchHas, CommaIsOrAndRepeatedHasIsAnd) {
  EXPECT_EQ(Search("Patient?_has:Observation:patient:code=8867-4,29463-7"), (Names{"p1", "p3"}));
  EXPECT_EQ(Search("Patient?_has:Observation:patient:code=8867-4&"
                   "_has:Observation:patient:code=2339-0"),
            Names{"p1"});
  EXPECT_EQ(Search("Patient?_has:Observation:patient:code=29463-7&"
                   "_has:Observation:patient:code=2339-0"),
            Names{});
}

TEST_F(FhirSearchHas, CombinesWithTheSearchedTypesOwnConditions) {
  EXPECT_EQ(Search("Patient?gender=female&_has:Observation:patient:code=2339-0"), Names{"p1"});
  EXPECT_EQ(Search("Patient?_has:Observation:patient:code=2339-0&family=jones"), Names{"p2"});
  EXPECT_EQ(Search("Patient?_id=p3,p4&_has:Observation:patient:code=2339-0,29463-7"), Names{"p3"});
  EXPECT_EQ(Search("Patient?gender=male&_has:Observation:patient:code=29463-7"), Names{});
}

TEST_F(FhirSearchHas, InnerSearchTakesModifiersChainsAndSpecialParameters) {
  // Patients with at least one Observation that is not a glucose.
  EXPECT_EQ(Search("Patient?_has:Observation:patient:code:not=2339-0"), (Names{"p1", "p3"}));
  EXPECT_EQ(Search("Patient?_has:Observation:patient:_id=o3"), Names{"p2"});
  EXPECT_EQ(Search("Patient?_has:Observation:patient:encounter:Encounter.status=finished"),
            Names{"p1"});
  EXPECT_EQ(Search("Patient?_has:Observation:patient:encounter:missing=true"), (Names{"p1", "p3"}));
}

TEST_F(FhirSearchHas, NestedHasFollowsTwoReverseLinks) {
  // Patients with an Observation that is the result of a final DiagnosticReport.
  EXPECT_EQ(Search("Patient?_has:Observation:patient:_has:DiagnosticReport:result:status=final"),
            Names{"p2"});
  EXPECT_EQ(Search("Patient?_has:Observation:patient:_has:DiagnosticReport:result:status="
                   "preliminary"),
            Names{"p1"});
  EXPECT_EQ(Search("Patient?_has:Observation:patient:_has:DiagnosticReport:result:status="
                   "final,preliminary&gender=male"),
            Names{"p2"});
  EXPECT_EQ(Search("Patient?_has:Observation:patient:_has:DiagnosticReport:result:status="
                   "cancelled"),
            Names{});
}

TEST_F(FhirSearchHas, WorksForTypesOtherThanPatientAndInsideACompartment) {
  EXPECT_EQ(Search("Encounter?_has:Observation:encounter:code=2339-0"), Names{"e2"});
  EXPECT_EQ(Search("Patient/p1/Encounter?_has:Observation:encounter:code=8867-4"), Names{"e1"});
  EXPECT_EQ(Search("Patient/p2/Encounter?_has:Observation:encounter:code=8867-4"), Names{});
}

TEST_F(FhirSearchHas, FollowsUpdatesAndDeletesOfTheReferringResources) {
  Put(server_, "Observation", "o4", ObservationJson("Patient/p2", "29463-7"));
  EXPECT_EQ(Search("Patient?_has:Observation:patient:code=29463-7"), Names{"p2"});
  auto deleted = server_.Send("DELETE", "/fhir/Observation/o1");
  ASSERT_TRUE(deleted.status == 200 || deleted.status == 204) << deleted.body;
  EXPECT_EQ(Search("Patient?_has:Observation:patient:code=8867-4"), Names{});
}

TEST_F(FhirSearchHas, IncludeAndRevincludeApplyToTheMatches) {
  auto bundle = TestServer::Json(
      server_.Get("/fhir/Patient?_has:Observation:patient:code=2339-0"
                  "&_revinclude=Observation:patient&_include=Patient:general-practitioner"));
  Names matches, included;
  for (auto& entry : bundle.at("entry").as_array()) {
    auto& e = entry.as_object();
    auto& r = e.at("resource").as_object();
    std::string name =
        std::string(r.at("resourceType").as_string()) + "/" + std::string(r.at("id").as_string());
    (e.at("search").as_object().at("mode").as_string() == "match" ? matches : included)
        .push_back(name);
  }
  std::sort(matches.begin(), matches.end());
  std::sort(included.begin(), included.end());
  EXPECT_EQ(matches, (Names{"Patient/p1", "Patient/p2"}));
  EXPECT_EQ(included,
            (Names{"Observation/o1", "Observation/o2", "Observation/o3", "Practitioner/dr1"}));
}

TEST(FhirSearchHasPaging, PagesWalkEveryMatchOnceInOrderAndCountTheTotal) {
  TestServer server;
  const char* families[] = {"Eve", "Dee", "Cox", "Bee", "Ash"};
  for (int i = 0; i < 5; ++i) {
    std::string id = "q" + std::to_string(i);
    Put(server, "Patient", id, PatientJson(families[i], "female"));
    Put(server, "Observation", "h" + std::to_string(i), ObservationJson("Patient/" + id, "8867-4"));
  }
  Put(server, "Patient", "none", PatientJson("Fox", "female"));
  Put(server, "Observation", "w", ObservationJson("Patient/none", "29463-7"));
  std::string query = "/fhir/Patient?_has:Observation:patient:code=8867-4&_count=2";
  EXPECT_EQ(PagedIds(server, query), (Names{"q0", "q1", "q2", "q3", "q4"}));
  EXPECT_EQ(PagedIds(server, query + "&_sort=family"), (Names{"q4", "q3", "q2", "q1", "q0"}));
  auto first = TestServer::Json(server.Get(query + "&_total=accurate"));
  EXPECT_EQ(first.at("total").as_int64(), 5);
  // The next link carries the _has parameter.
  EXPECT_NE(Link(first, "next").find("_has:Observation:patient:code=8867-4"), std::string::npos);
}

TEST_F(FhirSearchHas, UnknownTypeIs400NamingIt) {
  auto response = server_.Get("/fhir/Patient?_has:Observatio:patient:code=8867-4");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(TestServer::Json(response)["resourceType"].as_string(), "OperationOutcome");
  EXPECT_NE(response.body.find("'Observatio' in _has:Observatio:patient:code is not a resource"),
            std::string::npos)
      << response.body;
}

TEST_F(FhirSearchHas, NonReferenceParameterIs400NamingIt) {
  auto response = server_.Get("/fhir/Patient?_has:Observation:code:status=final");
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.body.find("'code' in _has:Observation:code:status is not a reference"),
            std::string::npos)
      << response.body;
}

TEST_F(FhirSearchHas, ReferenceThatCannotPointAtTheSearchedTypeIs400) {
  auto response = server_.Get("/fhir/Encounter?_has:Observation:patient:code=8867-4");
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.body.find("Observation.patient cannot refer to a Encounter"),
            std::string::npos)
      << response.body;
  // The same check on the nested link: DiagnosticReport.subject never points at an Observation.
  auto nested =
      server_.Get("/fhir/Patient?_has:Observation:patient:_has:DiagnosticReport:subject:status=x");
  EXPECT_EQ(nested.status, 400);
  EXPECT_NE(nested.body.find("DiagnosticReport.subject cannot refer to a Observation"),
            std::string::npos)
      << nested.body;
}

TEST_F(FhirSearchHas, MissingValueOrMissingPartsAre400) {
  auto empty = server_.Get("/fhir/Patient?_has:Observation:patient:code=");
  EXPECT_EQ(empty.status, 400);
  EXPECT_NE(empty.body.find("needs a value"), std::string::npos) << empty.body;
  for (const char* query : {"Patient?_has:Observation:patient=8867-4", "Patient?_has=x",
                            "Patient?_has:Observation::code=x", "Patient?_has::patient:code=x"}) {
    auto response = server_.Get(std::string("/fhir/") + query);
    EXPECT_EQ(response.status, 400) << query;
    EXPECT_NE(response.body.find("_has takes _has:Type:reference-parameter:parameter"),
              std::string::npos)
        << query << ": " << response.body;
  }
}

TEST_F(FhirSearchHas, InvalidInnerValueIs400AtTheWholeParameter) {
  auto response = server_.Get("/fhir/Patient?_has:Observation:patient:date=yesterday");
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.body.find("(at _has:Observation:patient:date)"), std::string::npos)
      << response.body;
}

TEST_F(FhirSearchHas, UnknownParametersAreIgnoredWhenLenientAnd400WhenStrict) {
  for (const char* query : {"Patient?gender=male&_has:Observation:colour:code=8867-4",
                            "Patient?gender=male&_has:Observation:patient:colour=blue"}) {
    auto lenient = server_.Get(std::string("/fhir/") + query);
    ASSERT_EQ(lenient.status, 200) << lenient.body;
    EXPECT_NE(lenient.body.find("\"mode\":\"outcome\""), std::string::npos) << lenient.body;
    EXPECT_NE(lenient.body.find("colour"), std::string::npos) << lenient.body;
    EXPECT_EQ(Search(query), Names{"p2"});  // as if the _has were not there
    auto strict = Strict(query);
    EXPECT_EQ(strict.status, 400) << query;
    EXPECT_NE(strict.body.find("colour"), std::string::npos) << strict.body;
  }
  auto inner = Strict("Patient?_has:Observation:patient:colour=blue");
  EXPECT_NE(inner.body.find("(at _has:Observation:patient:colour)"), std::string::npos)
      << inner.body;
}

TEST_F(FhirSearchHas, DeepNestingIs400AndTheServerStillAnswers) {
  std::string deep = "/fhir/Patient?";
  for (int i = 0; i < 2800; ++i) deep += "_has:Patient:link:";
  deep += "gender=male";
  auto response = server_.Get(deep);
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.body.find("nested more than 4"), std::string::npos) << response.body;
  std::string four = "/fhir/Patient?";
  for (int i = 0; i < 4; ++i) four += "_has:Patient:link:";
  EXPECT_EQ(server_.Get(four + "gender=male").status, 200);
  std::string five = "/fhir/Patient?";
  for (int i = 0; i < 5; ++i) five += "_has:Patient:link:";
  EXPECT_EQ(server_.Get(five + "gender=male").status, 400);
  EXPECT_EQ(Search("Patient?_has:Observation:patient:code=8867-4"), Names{"p1"});
}

TEST_F(FhirSearchHas, CapabilityStatementDeclaresHasForReferencedTypes) {
  auto statement = TestServer::Json(server_.Get("/fhir/metadata"));
  bool found = false;
  for (auto& resource : statement.at("rest").as_array()[0].as_object().at("resource").as_array()) {
    if (resource.as_object().at("type").as_string() != "Patient") continue;
    for (auto& param : resource.as_object().at("searchParam").as_array()) {
      found = found || param.as_object().at("name").as_string() == "_has";
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace carerecord::testing
