// HTTP integration tests of searches on clinical resources: Observation (reference, token,
// date, quantity), Condition, chains, :missing, uri and number parameters, and how unknown or
// unsupported parameters are handled.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

constexpr const char* kLoinc = "http://loinc.org";

using Names = std::vector<std::string>;

std::string Observation(const std::string& patient, const std::string& code,
                        const std::string& display, const std::string& category,
                        const std::string& effective, const std::string& value,
                        const std::string& status = "final") {
  return R"({"resourceType":"Observation","status":")" + status +
         R"(","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":")" +
         category + R"("}]}],"code":{"coding":[{"system":"http://loinc.org","code":")" + code +
         R"(","display":")" + display + R"("}]},"subject":{"reference":"Patient/)" + patient +
         R"("},)" + effective + (value.empty() ? "" : "," + value) + "}";
}

std::string Mmol(const std::string& number) {
  return R"("valueQuantity":{"value":)" + number +
         R"(,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"})";
}

// Two patients; p1 has heart rate o1, glucose o2 and weight o5, p2 glucose o3 and o4.
void PutObservations(TestServer& server) {
  Put(server, "Patient", "p1", R"({"resourceType":"Patient",
    "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],
    "name":[{"family":"Smith","given":["Jane"]}],"birthDate":"1970-05-01"})");
  Put(server, "Patient", "p2", R"({"resourceType":"Patient",
    "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000017"}],
    "name":[{"family":"Brontë","given":["Zoë"]}],"birthDate":"1970-11-30"})");
  Put(server, "Observation", "o1",
      Observation("p1", "8867-4", "Heart rate", "vital-signs",
                  R"("effectiveDateTime":"2024-03-01T10:00:00Z")",
                  R"("valueQuantity":{"value":72,"unit":"beats/minute",
                     "system":"http://unitsofmeasure.org","code":"/min"})"));
  Put(server, "Observation", "o2",
      Observation("p1", "2339-0", "Glucose [Mass/volume] in Blood", "laboratory",
                  R"("effectivePeriod":{"start":"2024-03-05T08:00:00Z",
                                        "end":"2024-03-05T09:00:00Z"})",
                  Mmol("5.40")));
  Put(server, "Observation", "o3",
      Observation("p2", "2339-0", "Glucose [Mass/volume] in Blood", "laboratory",
                  R"("effectiveDateTime":"2024-04-10")", Mmol("5.35"), "preliminary"));
  Put(server, "Observation", "o4",
      Observation("p2", "2339-0", "Glucose [Mass/volume] in Blood", "laboratory",
                  R"("effectiveDateTime":"2023-12-31T23:00:00Z")", Mmol("5.5"), "amended"));
  Put(server, "Observation", "o5", R"({"resourceType":"Observation","status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":"29463-7","display":"Body weight"},
                      {"system":"http://snomed.info/sct","code":"27113001"}],
            "text":"Weight measured in clinic"},
    "subject":{"reference":"Patient/p1"},"effectiveDateTime":"2020-01-01"})");
}

TEST(FhirSearchObservation, PatientMatchesOnlyThatPatientsObservations) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p1"), (Names{"o1", "o2", "o5"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=Patient/p2"), (Names{"o3", "o4"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p1,p2"), (Names{"o1", "o2", "o3", "o4", "o5"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=nobody"), Names{});
}

TEST(FhirSearchObservation, SubjectAcceptsTypedBareAndAbsoluteReferences) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, "/fhir/Observation?subject=Patient/p2"), (Names{"o3", "o4"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?subject=p2"), (Names{"o3", "o4"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?subject:Patient=p2"), (Names{"o3", "o4"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?subject:Group=p2"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Observation?subject=" + server.base() + "/Patient/p2"),
            (Names{"o3", "o4"}));
}

TEST(FhirSearchObservation, ReferenceToATypeTheParameterCannotTargetIs400) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(server.Get("/fhir/Observation?patient=Organization/p1").status, 400);
}

TEST(FhirSearchObservation, CodeWithSystemOrCodeAlone) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, std::string("/fhir/Observation?code=") + kLoinc + "%7C2339-0"),
            (Names{"o2", "o3", "o4"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?code=2339-0"), (Names{"o2", "o3", "o4"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?code=http://snomed.info/sct%7C2339-0"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code=http://snomed.info/sct%7C27113001"), Names{"o5"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code=%7C2339-0"), Names{});
}

TEST(FhirSearchObservation, CommaIsOrAndRepeatedParameterIsAnd) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, "/fhir/Observation?code=8867-4,29463-7"), (Names{"o1", "o5"}));
  // o5 carries both codings; no observation is both heart rate and weight.
  EXPECT_EQ(Ids(server,
                "/fhir/Observation?code=http://loinc.org%7C29463-7&"
                "code=http://snomed.info/sct%7C27113001"),
            Names{"o5"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code=8867-4&code=29463-7"), Names{});
}

TEST(FhirSearchObservation, NotModifierExcludesTheCodeAndKeepsThoseWithout) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, "/fhir/Observation?code:not=2339-0"), (Names{"o1", "o5"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p1&code:not=2339-0"), (Names{"o1", "o5"}));
  // :not on a parameter o5 has no value for: o5 is included.
  EXPECT_EQ(Ids(server, "/fhir/Observation?category:not=laboratory"), (Names{"o1", "o5"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?code:not=2339-0,8867-4"), Names{"o5"});
}

TEST(FhirSearchObservation, NotOnASystemNeverStoredKeepsEveryResourceAndTheOtherConditions) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, "/fhir/Observation?code:not=http://unseen.example%7Cx&status=final"),
            (Names{"o1", "o2", "o5"}));
}

TEST(FhirSearchObservation, TextModifierSearchesDisplayAndConceptText) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, "/fhir/Observation?code:text=glucose"), (Names{"o2", "o3", "o4"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?code:text=HEART"), Names{"o1"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code:text=measured%20in%20clinic"), Names{"o5"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p2&code:text=glucose"), (Names{"o3", "o4"}));
}

TEST(FhirSearchObservation, CategoryAndStatusTokens) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, "/fhir/Observation?category=vital-signs"), Names{"o1"});
  EXPECT_EQ(Ids(server,
                "/fhir/Observation?category=http://terminology.hl7.org/CodeSystem/"
                "observation-category%7Claboratory"),
            (Names{"o2", "o3", "o4"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?status=final"), (Names{"o1", "o2", "o5"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?status=preliminary,amended"), (Names{"o3", "o4"}));
}

TEST(FhirSearchObservation, PatientAndCodeTogetherReturnOnlyThatPatients) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p1&code=2339-0"), Names{"o2"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code=2339-0&patient=Patient/p2"), (Names{"o3", "o4"}));
  EXPECT_EQ(
      Ids(server, "/fhir/Observation?subject=p2&code=http://loinc.org%7C2339-0&status=amended"),
      Names{"o4"});
}

TEST(FhirSearchObservation, DateMatchesDateTimesAndPeriodsOnPartialDates) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=2024"), (Names{"o1", "o2", "o3"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=2024-03"), (Names{"o1", "o2"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=2024-03-05"), Names{"o2"});  // the period
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=2024-03-05T08:30:00Z"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=gt2024-03-05T08:30:00Z"), (Names{"o2", "o3"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=ge2024-03-02"), (Names{"o2", "o3"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=lt2024"), (Names{"o4", "o5"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=le2024-03-01"), (Names{"o1", "o4", "o5"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=sa2024-03-01"), (Names{"o2", "o3"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=eb2024"), (Names{"o4", "o5"}));
  // A time with an offset: 2024-01-01T00:30+01:00 is 2023-12-31T23:30Z, after o4.
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=lt2024-01-01T00:30:00%2B01:00&patient=p2"),
            Names{"o4"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=lt2024-01-01T00:00:00%2B01:00&patient=p2"),
            Names{});
}

TEST(FhirSearchObservation, DateApproximatelyIncludesNearbyAndExcludesFar) {
  TestServer server;
  PutObservations(server);
  auto near = Ids(server, "/fhir/Observation?date=ap2024-03-03");
  EXPECT_NE(std::find(near.begin(), near.end(), "o1"), near.end());
  EXPECT_NE(std::find(near.begin(), near.end(), "o2"), near.end());
  EXPECT_EQ(std::find(near.begin(), near.end(), "o5"), near.end());
}

TEST(FhirSearchObservation, OpenEndedPeriodIsStillGoing) {
  TestServer server;
  PutObservations(server);
  Put(server, "Observation", "ongoing",
      Observation("p1", "8867-4", "Heart rate", "vital-signs",
                  R"("effectivePeriod":{"start":"2024-06-01"})", ""));
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=gt2090&patient=p1"), Names{"ongoing"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=lt2024-06-01&patient=p1"),
            (Names{"o1", "o2", "o5"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?date=2024-06&patient=p1"), Names{});
}

TEST(FhirSearchObservation, QuantityEqualityUsesTheValuesPrecision) {
  TestServer server;
  PutObservations(server);
  // 5.4 means [5.35, 5.45): 5.40 and 5.35 are in, 5.5 is out.
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=5.4"), (Names{"o2", "o3"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=eq5.4"), (Names{"o2", "o3"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=5.40"), Names{"o2"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=72"), Names{"o1"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=5.5"), Names{"o4"});
}

TEST(FhirSearchObservation, QuantityPrefixes) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=gt5.4"), (Names{"o1", "o4"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=ge5.4"), (Names{"o1", "o2", "o4"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=lt5.4"), Names{"o3"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=le5.4"), (Names{"o2", "o3"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=ne5.4"), (Names{"o1", "o4"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=gt5.4&value-quantity=lt10"), Names{"o4"});
  auto approximately = Ids(server, "/fhir/Observation?value-quantity=ap5.4");
  EXPECT_EQ(approximately, (Names{"o2", "o3", "o4"}));
}

TEST(FhirSearchObservation, QuantityWithSystemAndCodeOrCodeAlone) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(
      Ids(server, "/fhir/Observation?value-quantity=5.4%7Chttp://unitsofmeasure.org%7Cmmol/L"),
      (Names{"o2", "o3"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=5.4%7C%7Cmmol/L"), (Names{"o2", "o3"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=72%7C%7Cmmol/L"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=72%7Chttp://unitsofmeasure.org%7C/min"),
            Names{"o1"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=lt100%7C%7C/min"), Names{"o1"});
  // The human unit is found without a system, never under a system it was not sent with.
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=72%7C%7Cbeats/minute"), Names{"o1"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=5.4%7Chttp://unknown.example%7Cmmol/L"),
            Names{});
}

TEST(FhirSearchCondition, PatientCodeClinicalStatusAndOnset) {
  TestServer server;
  PutObservations(server);
  Put(server, "Condition", "c1", R"({"resourceType":"Condition",
    "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},
    "code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006","display":"Diabetes mellitus type 2"}]},
    "subject":{"reference":"Patient/p1"},"onsetDateTime":"2015-06"})");
  Put(server, "Condition", "c2", R"({"resourceType":"Condition",
    "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"resolved"}]},
    "code":{"coding":[{"system":"http://snomed.info/sct","code":"38341003","display":"Hypertension"}]},
    "subject":{"reference":"Patient/p1"},"onsetPeriod":{"start":"2010-01-01","end":"2012-12-31"}})");
  Put(server, "Condition", "c3", R"({"resourceType":"Condition",
    "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},
    "code":{"coding":[{"system":"http://snomed.info/sct","code":"38341003","display":"Hypertension"}]},
    "subject":{"reference":"Patient/p2"},"onsetDateTime":"2019-02-14"})");
  EXPECT_EQ(Ids(server, "/fhir/Condition?patient=p1"), (Names{"c1", "c2"}));
  EXPECT_EQ(Ids(server, "/fhir/Condition?code=http://snomed.info/sct%7C38341003"),
            (Names{"c2", "c3"}));
  EXPECT_EQ(Ids(server, "/fhir/Condition?patient=p1&clinical-status=active"), Names{"c1"});
  EXPECT_EQ(Ids(server, "/fhir/Condition?clinical-status=active"), (Names{"c1", "c3"}));
  EXPECT_EQ(Ids(server, "/fhir/Condition?onset-date=2015"), Names{"c1"});
  EXPECT_EQ(Ids(server, "/fhir/Condition?onset-date=2011"), Names{});  // period not inside
  EXPECT_EQ(Ids(server, "/fhir/Condition?onset-date=lt2011"), Names{"c2"});
  EXPECT_EQ(Ids(server, "/fhir/Condition?onset-date=ge2015-06-01"), (Names{"c1", "c3"}));
  EXPECT_EQ(Ids(server, "/fhir/Condition?onset-date=2010-01-01&onset-date=lt2020"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Condition?onset-date=ge2010&onset-date=le2013"), Names{"c2"});
}

TEST(FhirSearchChain, PatientIdentifierChainFindsTheirObservations) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server,
                "/fhir/Observation?patient.identifier=https://fhir.nhs.uk/Id/"
                "nhs-number%7C9000000009"),
            (Names{"o1", "o2", "o5"}));
  EXPECT_EQ(Ids(server,
                "/fhir/Observation?patient.identifier=https://fhir.nhs.uk/Id/"
                "nhs-number%7C9000000009&code=2339-0"),
            Names{"o2"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient.identifier=9999999999"), Names{});
}

TEST(FhirSearchChain, TypedSubjectChainOnName) {
  TestServer server;
  PutObservations(server);
  EXPECT_EQ(Ids(server, "/fhir/Observation?subject:Patient.name=bront"), (Names{"o3", "o4"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?subject:Patient.name=smith&code=8867-4"), Names{"o1"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?subject:Patient.birthdate=1970-11-30"),
            (Names{"o3", "o4"}));
}

TEST(FhirSearchChain, ChainOnAmbiguousTargetWithoutTypeIs400) {
  TestServer server;
  PutObservations(server);
  auto response = server.Get("/fhir/Observation?subject.name=smith");
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_EQ(TestServer::Json(response)["resourceType"].as_string(), "OperationOutcome");
}

TEST(FhirSearchModifiers, MissingTrueAndFalse) {
  TestServer server;
  PutObservations(server);
  Put(server, "Patient", "nobirth", R"({"resourceType":"Patient","gender":"unknown"})");
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate:missing=true"), Names{"nobirth"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate:missing=false"), (Names{"p1", "p2"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity:missing=true"), Names{"o5"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?category:missing=true"), Names{"o5"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p1&category:missing=false"),
            (Names{"o1", "o2"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?encounter:missing=false"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Observation?subject:missing=true"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Patient?name:missing=true"), Names{"nobirth"});
  EXPECT_EQ(server.Get("/fhir/Patient?name:missing=maybe").status, 400);
}

TEST(FhirSearchModifiers, UnknownModifierIs400) {
  TestServer server;
  PutObservations(server);
  auto response = server.Get("/fhir/Observation?code:banana=2339-0");
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_EQ(TestServer::Json(response)["resourceType"].as_string(), "OperationOutcome");
  EXPECT_EQ(server.Get("/fhir/Patient?name:text=smith").status, 400);
  EXPECT_EQ(server.Get("/fhir/Patient?birthdate:exact=1970").status, 400);
}

TEST(FhirSearchUri, ProfileMatchesExactlyAndBelow) {
  TestServer server;
  Put(server, "Patient", "uk", R"({"resourceType":"Patient",
    "meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"],
            "source":"https://gp.example.nhs.uk/emis"}})");
  Put(server, "Patient", "plain", R"({"resourceType":"Patient"})");
  EXPECT_EQ(Ids(server,
                "/fhir/Patient?_profile=https://fhir.hl7.org.uk/StructureDefinition/"
                "UKCore-Patient"),
            Names{"uk"});
  EXPECT_EQ(Ids(server,
                "/fhir/Patient?_profile=https://fhir.hl7.org.uk/StructureDefinition/"
                "UKCore"),
            Names{});
  EXPECT_EQ(Ids(server, "/fhir/Patient?_profile:below=https://fhir.hl7.org.uk/"), Names{"uk"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?_source=https://gp.example.nhs.uk/emis"), Names{"uk"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?_profile:missing=true"), Names{"plain"});
}

TEST(FhirSearchNumber, RiskAssessmentProbabilityWithPrefixesAndPrecision) {
  TestServer server;
  PutObservations(server);
  auto risk = [](const std::string& patient, const std::string& p) {
    return R"({"resourceType":"RiskAssessment","status":"final",
      "subject":{"reference":"Patient/)" +
           patient + R"("},"prediction":[{"probabilityDecimal":)" + p + "}]}";
  };
  Put(server, "RiskAssessment", "r1", risk("p1", "0.25"));
  Put(server, "RiskAssessment", "r2", risk("p2", "0.8"));
  Put(server, "RiskAssessment", "r3", risk("p2", "0.245"));
  EXPECT_EQ(Ids(server, "/fhir/RiskAssessment?probability=0.25"), (Names{"r1", "r3"}));
  EXPECT_EQ(Ids(server, "/fhir/RiskAssessment?probability=0.250"), Names{"r1"});
  EXPECT_EQ(Ids(server, "/fhir/RiskAssessment?probability=gt0.5"), Names{"r2"});
  EXPECT_EQ(Ids(server, "/fhir/RiskAssessment?probability=le0.25"), (Names{"r1", "r3"}));
  EXPECT_EQ(Ids(server, "/fhir/RiskAssessment?probability=lt0.5&patient=p2"), Names{"r3"});
  EXPECT_EQ(server.Get("/fhir/RiskAssessment?probability=high").status, 400);
}

TEST(FhirSearchHandling, UnknownParameterIsIgnoredWithAnOutcomeEntry) {
  TestServer server;
  PutObservations(server);
  auto response = server.Get("/fhir/Observation?patient=p2&colour=blue");
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  std::vector<std::string> matches;
  int outcomes = 0;
  for (auto& entry : bundle["entry"].as_array()) {
    auto& e = entry.as_object();
    std::string mode(e["search"].as_object()["mode"].as_string());
    if (mode == "match") matches.emplace_back(e["resource"].as_object()["id"].as_string());
    if (mode == "outcome") {
      ++outcomes;
      auto& outcome = e["resource"].as_object();
      EXPECT_EQ(outcome["resourceType"].as_string(), "OperationOutcome");
      EXPECT_NE(json::serialize(outcome).find("colour"), std::string::npos);
    }
  }
  std::sort(matches.begin(), matches.end());
  EXPECT_EQ(matches, (Names{"o3", "o4"}));
  EXPECT_EQ(outcomes, 1);
  // The ignored parameter is not echoed in the self link.
  for (auto& link : bundle["link"].as_array()) {
    if (link.as_object()["relation"].as_string() == "self") {
      EXPECT_EQ(std::string(link.as_object()["url"].as_string()).find("colour"), std::string::npos);
    }
  }
}

TEST(FhirSearchHandling, UnknownParameterIs400WhenStrict) {
  TestServer server;
  PutObservations(server);
  auto response = server.Send("GET", "/fhir/Observation?patient=p2&colour=blue", "",
                              {{"Prefer", "handling=strict"}});
  EXPECT_EQ(response.status, 400) << response.body;
  auto outcome = TestServer::Json(response);
  EXPECT_EQ(outcome["resourceType"].as_string(), "OperationOutcome");
  EXPECT_NE(response.body.find("colour"), std::string::npos);
}

TEST(FhirSearchHandling, UnsupportedParameterIsIgnoredWhenLenientAnd400WhenStrict) {
  TestServer server;
  PutObservations(server);
  auto lenient = server.Get("/fhir/Observation?patient=p1&_list=abc");
  ASSERT_EQ(lenient.status, 200) << lenient.body;
  EXPECT_NE(lenient.body.find("\"outcome\""), std::string::npos);
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p1&_list=abc"), (Names{"o1", "o2", "o5"}));
  auto strict =
      server.Send("GET", "/fhir/Observation?_list=abc", "", {{"Prefer", "handling=strict"}});
  EXPECT_EQ(strict.status, 400) << strict.body;
}

TEST(FhirSearchHandling, ChainsOfMoreThanFourLinksAre400) {
  TestServer server;
  EXPECT_EQ(server.Get("/fhir/Organization?partof.partof.partof.partof.name=x").status, 200);
  EXPECT_EQ(server.Get("/fhir/Organization?partof.partof.partof.partof.partof.name=x").status, 400);
}

TEST(FhirSearchHandling, InvalidValuesAre400WithOperationOutcome) {
  TestServer server;
  PutObservations(server);
  for (const char* target :
       {"/fhir/Observation?date=2024-13-01", "/fhir/Observation?date=yesterday",
        "/fhir/Patient?birthdate=1970-02-30", "/fhir/Patient?_lastUpdated=soon",
        "/fhir/Observation?value-quantity=lots", "/fhir/Patient?_count=many",
        "/fhir/Patient?_sort=colour", "/fhir/Patient?_summary=maybe",
        "/fhir/Observation?_include=Observation:colour"}) {
    auto response = server.Get(target);
    EXPECT_EQ(response.status, 400) << target << ": " << response.body;
    EXPECT_EQ(TestServer::Json(response)["resourceType"].as_string(), "OperationOutcome") << target;
  }
}

TEST(FhirSearchHandling, PostSearchWithFormBodyMatchesGet) {
  TestServer server;
  PutObservations(server);
  auto response = server.Send("POST", "/fhir/Observation/_search",
                              "patient=p1&code=http%3A%2F%2Floinc.org%7C2339-0",
                              {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = TestServer::Json(response);
  ASSERT_TRUE(bundle.contains("entry")) << response.body;
  auto& entries = bundle["entry"].as_array();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].as_object()["resource"].as_object()["id"].as_string(), "o2");
  // URL and body parameters combine.
  auto combined = server.Send("POST", "/fhir/Observation/_search?patient=p2", "code=2339-0",
                              {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(combined.status, 200) << combined.body;
  EXPECT_EQ(TestServer::Json(combined)["entry"].as_array().size(), 2u);
}

}  // namespace
}  // namespace carerecord::testing

namespace carerecord::testing {
namespace {

TEST(FhirSearchPartition, PatientOfACoverageInAnotherPatientsPartitionIsFound) {
  TestServer server;
  Put(server, "Patient", "holder", R"({"resourceType":"Patient"})");
  Put(server, "Patient", "child", R"({"resourceType":"Patient"})");
  Put(server, "Organization", "insurer", R"({"resourceType":"Organization"})");
  // The policy holder is listed first in the compartment, the beneficiary is `patient`.
  Put(server, "Coverage", "cov", R"({"resourceType":"Coverage","status":"active",
    "policyHolder":{"reference":"Patient/holder"},"beneficiary":{"reference":"Patient/child"},
    "payor":[{"reference":"Organization/insurer"}]})");
  EXPECT_EQ(Ids(server, "/fhir/Coverage?patient=child"), Names{"cov"});
  EXPECT_EQ(Ids(server, "/fhir/Coverage?patient=child&status=active"), Names{"cov"});
  EXPECT_EQ(Ids(server, "/fhir/Coverage?beneficiary=child&status=active"), Names{"cov"});
}

TEST(FhirSearchPartition, AppointmentOfTheSecondParticipantIsFound) {
  TestServer server;
  Put(server, "Patient", "a", R"({"resourceType":"Patient"})");
  Put(server, "Patient", "b", R"({"resourceType":"Patient"})");
  Put(server, "Appointment", "ap", R"({"resourceType":"Appointment","status":"booked",
    "participant":[{"actor":{"reference":"Patient/a"},"status":"accepted"},
                   {"actor":{"reference":"Patient/b"},"status":"accepted"}]})");
  EXPECT_EQ(Ids(server, "/fhir/Appointment?patient=b&status=booked"), Names{"ap"});
  EXPECT_EQ(Ids(server, "/fhir/Appointment?patient=a&status=booked"), Names{"ap"});
}

}  // namespace
}  // namespace carerecord::testing

// Bugs outside the search code, found by these tests; each is skipped until fixed where it lives.
namespace carerecord::testing {
namespace {

TEST(FhirSearchIndexing, StringAlreadyInSearchFormIsIndexed) {
  TestServer server;
  Put(server, "Patient", "lower", R"({"resourceType":"Patient",
    "name":[{"family":"smith","given":["jane"]}],"address":[{"postalCode":"ls1 4ap"}]})");
  EXPECT_EQ(Ids(server, "/fhir/Patient?family=smith"), Names{"lower"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?family:exact=smith"), Names{"lower"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?given=JANE"), Names{"lower"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?address-postalcode=LS1"), Names{"lower"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?_sort=family&_elements=id").size(), 1u);
}

TEST(FhirSearchIndexing, QuantityWithoutUnitIsIndexed) {
  TestServer server;
  Put(server, "Patient", "p1", R"({"resourceType":"Patient"})");
  Put(server, "Observation", "score", R"({"resourceType":"Observation","status":"final",
    "code":{"text":"Frailty score"},"subject":{"reference":"Patient/p1"},
    "valueQuantity":{"value":7}})");
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity=7"), Names{"score"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?value-quantity:missing=true"), Names{});
}

TEST(FhirSearchHandling, UnencodedBarInTheQueryIsAccepted) {
  // Most FHIR clients send token searches with a raw '|', which RFC 3986 does not allow.
  TestServer server;
  Put(server, "Patient", "p1", R"({"resourceType":"Patient",
    "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}]})");
  EXPECT_EQ(Ids(server, "/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009"),
            Names{"p1"});
}

TEST(FhirSearchReference, ReferenceToAnotherServersPatientIsNotTheLocalPatient) {
  TestServer server;
  Put(server, "Patient", "p1", R"({"resourceType":"Patient"})");
  Put(server, "Observation", "foreign", R"({"resourceType":"Observation","status":"final",
    "code":{"text":"x"},
    "subject":{"reference":"https://other.example.nhs.uk/fhir/Patient/p1"}})");
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p1"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Observation?subject=https://other.example.nhs.uk/fhir/Patient/p1"),
            Names{"foreign"});
}

// _summary=true keeps the elements R4 marks isSummary, inside backbone elements too.
TEST(FhirSearchElements, SummaryTrueKeepsTheSummaryElements) {
  TestServer server;
  Put(server, "Patient", "p1", R"({"resourceType":"Patient","gender":"female",
    "name":[{"family":"Hardy","given":["Tess"]}],"birthDate":"1970-05-01",
    "_birthDate":{"extension":[{"url":"http://example.org/x","valueString":"y"}]},
    "maritalStatus":{"text":"Married"},"photo":[{"contentType":"image/png"}],
    "contact":[{"name":{"family":"Durbeyfield"}}],
    "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Tess</div>"}})");
  Put(server, "Observation", "bp", R"({"resourceType":"Observation","status":"final",
    "code":{"text":"BP"},"subject":{"reference":"Patient/p1"},"note":[{"text":"seated"}],
    "interpretation":[{"text":"high"}],"component":[{"code":{"text":"systolic"},
    "valueQuantity":{"value":150},"interpretation":[{"text":"high"}]}]})");
  auto patients = TestServer::Json(server.Get("/fhir/Patient?_id=p1&_summary=true"));
  auto& patient = patients["entry"].as_array()[0].as_object()["resource"].as_object();
  for (const char* kept :
       {"resourceType", "id", "meta", "gender", "name", "birthDate", "_birthDate"}) {
    EXPECT_TRUE(patient.contains(kept)) << kept;
  }
  for (const char* dropped : {"maritalStatus", "photo", "contact", "text"}) {
    EXPECT_FALSE(patient.contains(dropped)) << dropped;
  }
  EXPECT_EQ(patient["name"].as_array()[0].as_object()["given"].as_array().size(), 1u);
  EXPECT_EQ(patient["meta"].as_object()["tag"].as_array()[0].as_object()["code"].as_string(),
            "SUBSETTED");
  auto observations = TestServer::Json(server.Get("/fhir/Observation?_id=bp&_summary=true"));
  auto& bp = observations["entry"].as_array()[0].as_object()["resource"].as_object();
  EXPECT_TRUE(bp.contains("code"));
  EXPECT_TRUE(bp.contains("subject"));
  EXPECT_FALSE(bp.contains("note"));
  EXPECT_FALSE(bp.contains("interpretation"));
  auto& component = bp["component"].as_array()[0].as_object();
  EXPECT_TRUE(component.contains("code"));
  EXPECT_TRUE(component.contains("valueQuantity"));
  EXPECT_FALSE(component.contains("interpretation"));
}

TEST(FhirSearchElements, ReadAndVreadTakeSummaryAndElements) {
  TestServer server;
  Put(server, "Patient", "p1", R"({"resourceType":"Patient","gender":"female",
    "maritalStatus":{"text":"Married"},"birthDate":"1970-05-01"})");
  auto summary = TestServer::Json(server.Get("/fhir/Patient/p1?_summary=true"));
  EXPECT_TRUE(summary.contains("gender"));
  EXPECT_FALSE(summary.contains("maritalStatus"));
  auto elements = TestServer::Json(server.Get("/fhir/Patient/p1/_history/1?_elements=birthDate"));
  EXPECT_TRUE(elements.contains("birthDate"));
  EXPECT_FALSE(elements.contains("gender"));
  auto whole = TestServer::Json(server.Get("/fhir/Patient/p1?_pretty=true"));
  EXPECT_TRUE(whole.contains("maritalStatus"));
  EXPECT_EQ(server.Get("/fhir/Patient/p1?_summary=count").status, 400);
  EXPECT_EQ(server.Get("/fhir/Patient/p1?_summary=maybe").status, 400);
}

TEST(FhirSearchElements, ElementsNamesAChoiceByItsBaseName) {
  TestServer server;
  Put(server, "Observation", "o", R"({"resourceType":"Observation","status":"final",
    "code":{"text":"x"},"valueQuantity":{"value":1},"note":[{"text":"n"}]})");
  auto bundle = TestServer::Json(server.Get("/fhir/Observation?_id=o&_elements=value"));
  auto& resource = bundle["entry"].as_array()[0].as_object()["resource"].as_object();
  EXPECT_TRUE(resource.contains("valueQuantity"));
  EXPECT_FALSE(resource.contains("note"));
  EXPECT_FALSE(resource.contains("status"));
  // Not every name followed by a capital is a choice: status is not statusHistory.
  Put(server, "Encounter", "e", R"({"resourceType":"Encounter","status":"finished",
    "class":{"code":"AMB"},"statusHistory":[{"status":"planned","period":{"start":"2024"}}]})");
  auto encounters = TestServer::Json(server.Get("/fhir/Encounter?_id=e&_elements=status"));
  auto& encounter = encounters["entry"].as_array()[0].as_object()["resource"].as_object();
  EXPECT_TRUE(encounter.contains("status"));
  EXPECT_FALSE(encounter.contains("statusHistory"));
}

TEST(FhirSearchElements, SummaryTextKeepsTheNarrativeAndRequiredElements) {
  TestServer server;
  Put(server, "Observation", "o", R"({"resourceType":"Observation","status":"final",
    "code":{"text":"x"},"valueQuantity":{"value":1},"note":[{"text":"n"}],
    "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}})");
  auto bundle = TestServer::Json(server.Get("/fhir/Observation?_id=o&_summary=text"));
  auto& resource = bundle["entry"].as_array()[0].as_object()["resource"].as_object();
  for (const char* kept : {"resourceType", "id", "meta", "text", "status", "code"}) {
    EXPECT_TRUE(resource.contains(kept)) << kept;
  }
  EXPECT_FALSE(resource.contains("valueQuantity"));
  EXPECT_FALSE(resource.contains("note"));
}

}  // namespace
}  // namespace carerecord::testing
