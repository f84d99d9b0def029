// HTTP integration tests of Patient search: identifier, name, birthdate, gender, address,
// _id and _lastUpdated, each against a few synthetic patients made in the test.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

constexpr const char* kNhs = "https://fhir.nhs.uk/Id/nhs-number";

using Names = std::vector<std::string>;

void PutPatients(TestServer& server) {
  Put(server, "Patient", "jane", R"({"resourceType":"Patient",
    "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],
    "name":[{"family":"Smith","given":["Jane","Ann"]}],"gender":"female","birthDate":"1970-05-01",
    "address":[{"line":["1 High Street"],"city":"Leeds","postalCode":"LS1 4AP"}]})");
  Put(server, "Patient", "zoe", R"({"resourceType":"Patient",
    "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000017"},
                  {"system":"https://example.nhs.uk/mrn","value":"MRN-17"}],
    "name":[{"family":"Brontë","given":["Zoë"]}],"gender":"female","birthDate":"1970-11-30",
    "address":[{"city":"Bradford","postalCode":"BD1 1AA"}]})");
  Put(server, "Patient", "tom", R"({"resourceType":"Patient",
    "identifier":[{"system":"https://example.nhs.uk/mrn","value":"9000000009"}],
    "name":[{"family":"Smithson","given":["Tom"]}],"gender":"male","birthDate":"1971",
    "address":[{"city":"York","postalCode":"YO1 7HH"}]})");
  Put(server, "Patient", "nodata", R"({"resourceType":"Patient",
    "identifier":[{"value":"9000000025"}]})");
}

TEST(FhirSearchPatient, IdentifierSystemAndValueMatchesOnlyThatSystem) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, std::string("/fhir/Patient?identifier=") + kNhs + "%7C9000000009"),
            Names{"jane"});
  // URL-encoded bar, as most clients send it.
  EXPECT_EQ(Ids(server,
                "/fhir/Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%"
                "7C9000000009"),
            Names{"jane"});
}

TEST(FhirSearchPatient, IdentifierValueOnlyMatchesAnySystem) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, "/fhir/Patient?identifier=9000000009"), (Names{"jane", "tom"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?identifier=9000000025"), Names{"nodata"});
}

TEST(FhirSearchPatient, IdentifierWithEmptySystemMatchesOnlyValuesWithoutSystem) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, "/fhir/Patient?identifier=%7C9000000025"), Names{"nodata"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?identifier=%7C9000000009"), Names{});
}

TEST(FhirSearchPatient, IdentifierSystemOnlyMatchesEveryValueInThatSystem) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, std::string("/fhir/Patient?identifier=") + kNhs + "%7C"),
            (Names{"jane", "zoe"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?identifier=https://example.nhs.uk/mrn%7C"),
            (Names{"tom", "zoe"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?identifier=https://unknown.example/id%7C"), Names{});
}

TEST(FhirSearchPatient, IdentifierOrListMatchesEither) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(
      Ids(server, std::string("/fhir/Patient?identifier=") + kNhs + "%7C9000000017,%7C9000000025"),
      (Names{"nodata", "zoe"}));
}

TEST(FhirSearchPatient, NameIsCaseInsensitiveStartsWith) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, "/fhir/Patient?name=smi"), (Names{"jane", "tom"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?name=SMITH"), (Names{"jane", "tom"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?name=jan"), Names{"jane"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?name=ann"), Names{"jane"});  // second given name
  EXPECT_EQ(Ids(server, "/fhir/Patient?name=mith"), Names{});       // not a prefix
}

TEST(FhirSearchPatient, NameIgnoresAccentsBothWays) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, "/fhir/Patient?given=ZOE"), Names{"zoe"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?given=zo%C3%AB"), Names{"zoe"});  // zoë
  EXPECT_EQ(Ids(server, "/fhir/Patient?family=bronte"), Names{"zoe"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?name=BRONT%C3%8B"), Names{"zoe"});  // BRONTË
}

TEST(FhirSearchPatient, FamilyAndGivenSearchOnlyTheirPart) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, "/fhir/Patient?family=smith"), (Names{"jane", "tom"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?family=jane"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Patient?given=smith"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Patient?given=tom"), Names{"tom"});
}

TEST(FhirSearchPatient, ExactModifierMatchesWholeStringCaseAndAccents) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, "/fhir/Patient?family:exact=Smith"), Names{"jane"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?family:exact=smith"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Patient?family:exact=Smit"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Patient?family:exact=Bront%C3%AB"), Names{"zoe"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?family:exact=Bronte"), Names{});
}

TEST(FhirSearchPatient, ContainsModifierMatchesAnywhere) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, "/fhir/Patient?family:contains=MITH"), (Names{"jane", "tom"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?family:contains=son"), Names{"tom"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?name:contains=ont%C3%AB"), Names{"zoe"});
  // LIKE wildcards in the value are literal.
  EXPECT_EQ(Ids(server, "/fhir/Patient?family:contains=%25"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Patient?family:contains=_"), Names{});
}

TEST(FhirSearchPatient, BirthdateEqualsCoversPartialDates) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=1970"), (Names{"jane", "zoe"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=1970-05"), Names{"jane"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=1970-05-01"), Names{"jane"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=eq1970-05-01"), Names{"jane"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=1970-05-02"), Names{});
  // tom's birth date is only a year: a day inside it does not contain it.
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=1971-01-01"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=1971"), Names{"tom"});
}

TEST(FhirSearchPatient, BirthdateComparisonPrefixes) {
  TestServer server;
  PutPatients(server);
  // A patient without a birth date has no value that differs.
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=ne1970"), Names{"tom"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=gt1970-05-01"), (Names{"tom", "zoe"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=ge1970-05-01"), (Names{"jane", "tom", "zoe"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=lt1970-11-30"), Names{"jane"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=le1970-11-30"), (Names{"jane", "zoe"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=gt1970"), Names{"tom"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=lt1971"), (Names{"jane", "zoe"}));
  // tom's 1971 overlaps the time after 1971-06-01 and before it.
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=gt1971-06-01"), Names{"tom"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=lt1971-06-01"), (Names{"jane", "tom", "zoe"}));
}

TEST(FhirSearchPatient, BirthdateStartsAfterAndEndsBefore) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=sa1970-05"), (Names{"tom", "zoe"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=sa1970"), Names{"tom"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=eb1970-11-30"), Names{"jane"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=eb1971"), (Names{"jane", "zoe"}));
  // 1971 does not end before 1971-06-01, though it starts before it.
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=eb1971-06-01"), (Names{"jane", "zoe"}));
}

TEST(FhirSearchPatient, BirthdateRangeByTwoConditions) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, "/fhir/Patient?birthdate=ge1970-06-01&birthdate=lt1971-01-01"),
            Names{"zoe"});
}

TEST(FhirSearchPatient, GenderTokenMatchesCode) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, "/fhir/Patient?gender=female"), (Names{"jane", "zoe"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?gender=male"), Names{"tom"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?gender=male,female"), (Names{"jane", "tom", "zoe"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?gender:not=female"), (Names{"nodata", "tom"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?gender=female&name=smith"), Names{"jane"});
}

TEST(FhirSearchPatient, PostalcodeStartsWithIgnoringCase) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, "/fhir/Patient?address-postalcode=LS1%204AP"), Names{"jane"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?address-postalcode=ls1"), Names{"jane"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?address-postalcode=BD1+1AA"), Names{"zoe"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?address-postalcode=1AA"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Patient?address=york"), Names{"tom"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?address-city=leeds"), Names{"jane"});
}

TEST(FhirSearchPatient, IdMatchesEachOfACommaList) {
  TestServer server;
  PutPatients(server);
  EXPECT_EQ(Ids(server, "/fhir/Patient?_id=jane"), Names{"jane"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?_id=jane,tom,nobody"), (Names{"jane", "tom"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?_id=nobody"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Patient?_id=jane,tom&gender=male"), Names{"tom"});
}

TEST(FhirSearchPatient, LastUpdatedBeforeAndAfterAWrite) {
  TestServer server;
  Put(server, "Patient", "early", R"({"resourceType":"Patient","gender":"male"})");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto middle =
      TestServer::Json(server.Send("PUT", "/fhir/Patient/middle",
                                   R"({"resourceType":"Patient","id":"middle","gender":"male"})"));
  std::string stamp(middle["meta"].as_object()["lastUpdated"].as_string());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Put(server, "Patient", "late", R"({"resourceType":"Patient","gender":"male"})");
  // '+' of a time zone must be encoded; lastUpdated is in Z form.
  EXPECT_EQ(Ids(server, "/fhir/Patient?_lastUpdated=gt" + stamp), Names{"late"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?_lastUpdated=lt" + stamp), Names{"early"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?_lastUpdated=ge" + stamp), (Names{"late", "middle"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?_lastUpdated=le" + stamp), (Names{"early", "middle"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient?_lastUpdated=" + stamp), Names{"middle"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?_lastUpdated=gt2000-01-01&_lastUpdated=lt" + stamp),
            Names{"early"});
}

TEST(FhirSearchPatient, DeletedAndUpdatedResourcesMatchOnlyTheirCurrentVersion) {
  TestServer server;
  PutPatients(server);
  Put(server, "Patient", "tom", R"({"resourceType":"Patient",
    "name":[{"family":"Jones","given":["Tom"]}],"gender":"male"})");
  ASSERT_EQ(server.Send("DELETE", "/fhir/Patient/zoe").status, 200);
  EXPECT_EQ(Ids(server, "/fhir/Patient?name=smith"), Names{"jane"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?name=jones"), Names{"tom"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?gender=female"), Names{"jane"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?identifier=9000000009"), Names{"jane"});
}

}  // namespace
}  // namespace carerecord::testing
