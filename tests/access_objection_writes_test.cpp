// An objection the policy cannot enforce is refused when written, never kept and ignored (issue
// 20, hostile round 6a finding 7): an active patient-privacy Consent with a deny that names its
// patient by identifier only, nests its deny, carries nested provisions, or names actors that
// are not organisations (a Practitioner, an ODS code in lower case) is a 422 naming the element,
// whoever writes it and however (POST, PUT, batch, transaction). Those the policy enforces are
// written and close the record. Only integration clients, the patient and the patient's GP
// practice or managing organisation record, change or withdraw an objection; another
// organisation with a tie gets a 403.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "relationship_record.h"

namespace carerecord {
namespace {

using namespace relationship_testing;
namespace json = boost::json;

const std::string kConsentScope = "http://terminology.hl7.org/CodeSystem/consentscope";
std::string Consent(const std::string& patient, const std::string& provision,
                    const std::string& status = "active",
                    const std::string& scope_code = "patient-privacy",
                    const std::string& scope_system = kConsentScope) {
  return R"({"resourceType":"Consent","status":")" + status +
         R"(","scope":{"coding":[{"system":")" + scope_system + R"(","code":")" + scope_code +
         R"("}]},"category":[{"text":"opt-out"}],"patient":)" + patient + R"(,"provision":)" +
         provision + "}";
}
const std::string kP1 = R"({"reference":"Patient/p1"})";
std::string Actor(const std::string& reference) {
  return R"({"role":{"text":"refused"},"reference":)" + reference + "}";
}

struct Refused {
  std::string name;
  std::string consent;
  std::string element;
};

std::vector<Refused> RefusedCases() {
  const std::string nested_deny = R"({"type":"deny"})";
  return {
      {"patient by NHS number only",
       Consent(
           R"({"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}})",
           R"({"type":"deny"})"),
       "Consent.patient"},
      // Another server's patient (hostile 7 finding 2): this server's own URLs are stored
      // relative and in the patient's record; these would be kept in no record, closing none.
      {"patient on another server",
       Consent(R"({"reference":"http://other.example/fhir/Patient/p1"})", R"({"type":"deny"})"),
       "Consent.patient.reference"},
      {"patient at localhost, not this server's base",
       Consent(R"({"reference":"http://localhost:8080/fhir/Patient/p1"})", R"({"type":"deny"})"),
       "Consent.patient.reference"},
      {"patient at [::1]",
       Consent(R"({"reference":"http://[::1]:8080/fhir/Patient/p1"})", R"({"type":"deny"})"),
       "Consent.patient.reference"},
      {"organisation actor on another server",
       Consent(kP1, R"({"type":"deny","actor":[)" +
                        Actor(R"({"reference":"http://other.example/fhir/Organization/org-h1"})") +
                        "]}"),
       "Consent.provision.actor[0].reference"},
      {"deny under a permit",
       Consent(kP1, R"({"type":"permit","provision":[)" + nested_deny + "]}"),
       "Consent.provision.type"},
      {"deny under a provision of no type", Consent(kP1, R"({"provision":[)" + nested_deny + "]}"),
       "Consent.provision.type"},
      {"deny with nested exceptions",
       Consent(kP1, R"({"type":"deny","provision":[{"type":"permit","actor":[)" +
                        Actor(OdsRef("H2")) + "]}]}"),
       "Consent.provision.provision"},
      {"practitioner actor",
       Consent(kP1, R"({"type":"deny","actor":[)" + Actor(R"({"reference":"Practitioner/pr-1"})") +
                        "]}"),
       "Consent.provision.actor[0].reference"},
      {"an organisation and a practitioner",
       Consent(kP1, R"({"type":"deny","actor":[)" + Actor(OdsRef("H1")) + "," +
                        Actor(R"({"reference":"Practitioner/pr-1"})") + "]}"),
       "Consent.provision.actor[1].reference"},
      {"lower-case ODS code",
       Consent(kP1, R"({"type":"deny","actor":[)" + Actor(OdsRef("h1")) + "]}"),
       "Consent.provision.actor[0].reference.identifier.value"},
      {"organisation with no ODS code",
       Consent(kP1, R"({"type":"deny","actor":[)" +
                        Actor(R"({"reference":"Organization/org-none"})") + "]}"),
       "Consent.provision.actor[0].reference"},
      // A deny narrowed to some data, purpose or action (hostile 6b finding 2): enforced as a
      // whole-record objection it would refuse more than the patient objected to.
      {"class",
       Consent(
           kP1,
           R"({"type":"deny","class":[{"system":"http://hl7.org/fhir/resource-types","code":"Observation"}]})"),
       "Consent.provision.class"},
      {"purpose",
       Consent(
           kP1,
           R"({"type":"deny","purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HRESCH"}]})"),
       "Consent.provision.purpose"},
      {"action",
       Consent(
           kP1,
           R"({"type":"deny","action":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentaction","code":"collect"}]}]})"),
       "Consent.provision.action"},
      {"code",
       Consent(
           kP1,
           R"({"type":"deny","code":[{"coding":[{"system":"http://snomed.info/sct","code":"73211009"}]}]})"),
       "Consent.provision.code"},
      {"securityLabel",
       Consent(
           kP1,
           R"({"type":"deny","securityLabel":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]})"),
       "Consent.provision.securityLabel"},
      {"data",
       Consent(
           kP1,
           R"({"type":"deny","data":[{"meaning":"instance","reference":{"reference":"Encounter/enc-h1"}}]})"),
       "Consent.provision.data"},
      {"dataPeriod",
       Consent(kP1, R"({"type":"deny","dataPeriod":{"start":"2020-01-01","end":"2020-12-31"}})"),
       "Consent.provision.dataPeriod"},
      {"provision modifier extension",
       Consent(
           kP1,
           R"({"type":"deny","modifierExtension":[{"url":"http://example.org/x","valueBoolean":true}]})"),
       "Consent.provision.modifierExtension"},
      {"privacy and research scope at once",
       [] {
         std::string c = Consent(kP1, R"({"type":"deny"})");
         const std::string coding = R"("code":"patient-privacy"})";
         return c.replace(
             c.find(coding), coding.size(),
             coding +
                 R"(,{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"research"})");
       }(),
       "Consent.scope"},
  };
}

std::vector<Item> Items() {
  return {
      PatientWithGp("p1", "GP1"),
      {"Organization", "org-h1", Org("org-h1", "H1")},
      {"Organization", "org-none", R"({"resourceType":"Organization","name":"No ODS code"})"},
      {"Practitioner", "pr-1", R"({"resourceType":"Practitioner","name":[{"family":"Smith"}]})"},
      {"Encounter", "enc-h1",
       R"({"resourceType":"Encounter","status":"in-progress","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},"serviceProvider":)" +
           OdsRef("H1") + "}"},
  };
}

int ConsentCount(RelationshipRecord& record) {
  auto r = record.Send(Integration(), "GET", "/fhir/Consent?_summary=count");
  return static_cast<int>(json::parse(r.body).as_object().at("total").as_int64());
}

TEST(AccessObjectionWritesTest, AnObjectionThePolicyCannotEnforceIsRefusedNamingTheElement) {
  RelationshipRecord record;
  record.Write(Items());
  const auto h1 = Staff("h", "clinician", "H1");
  const auto gp = Staff("g", "clinician", "GP1");
  for (const Refused& c : RefusedCases()) {
    SCOPED_TRACE(c.name);
    for (const auto& who : {Integration(), gp}) {
      auto posted = record.Send(who, "POST", "/fhir/Consent", c.consent);
      EXPECT_EQ(posted.status, 422) << posted.body;
      EXPECT_NE(posted.body.find("could not enforce"), std::string::npos) << posted.body;
      EXPECT_NE(posted.body.find("\"" + c.element + "\""), std::string::npos) << posted.body;
    }
    auto put = record.Send(Integration(), "PUT", "/fhir/Consent/c-1",
                           RelationshipRecord::WithId({"Consent", "c-1", c.consent}));
    EXPECT_EQ(put.status, 422) << put.body;
    const std::string entry =
        R"({"request":{"method":"POST","url":"Consent"},"resource":)" + c.consent + "}";
    auto transaction =
        record.Send(Integration(), "POST", "/fhir",
                    R"({"resourceType":"Bundle","type":"transaction","entry":[)" + entry + "]}");
    EXPECT_EQ(transaction.status, 422) << transaction.body;
    auto batch = record.Send(Integration(), "POST", "/fhir",
                             R"({"resourceType":"Bundle","type":"batch","entry":[)" + entry + "]}");
    EXPECT_NE(batch.body.find(R"("status":"422)"), std::string::npos) << batch.body;
    EXPECT_EQ(ConsentCount(record), 0);
    EXPECT_EQ(record.Status(h1, "/fhir/Patient/p1"), 200);
  }
}

TEST(AccessObjectionWritesTest, AnObjectionThePolicyEnforcesIsWrittenAndCloses) {
  const std::vector<std::string> closing = {
      Consent(kP1, R"({"type":"deny"})"),
      Consent(kP1, R"({"type":"deny","actor":[)" + Actor(OdsRef("H1")) + "]}"),
      Consent(kP1, R"({"type":"deny","actor":[)" + Actor(R"({"reference":"Organization/org-h1"})") +
                       "]}"),
      // This server's own URLs, stored relative: the patient's record, this server's Organization.
      Consent(R"({"reference":"http://test/fhir/Patient/p1"})",
              R"({"type":"deny","actor":[)" +
                  Actor(R"({"reference":"http://test/fhir/Organization/org-h1"})") + "]}"),
  };
  for (const std::string& consent : closing) {
    SCOPED_TRACE(consent);
    RelationshipRecord record;
    record.Write(Items());
    auto posted = record.Send(Integration(), "POST", "/fhir/Consent", consent);
    ASSERT_EQ(posted.status, 201) << posted.body;
    EXPECT_EQ(record.Status(Staff("h", "clinician", "H1"), "/fhir/Patient/p1"), 404);
  }
  // What is no objection is not looked at: withdrawn, another scope, or a permit.
  RelationshipRecord record;
  record.Write(Items());
  const std::string nested = R"({"provision":[{"type":"deny"}]})";
  // The privacy code under another system is not the consentscope's (hostile 6b finding 2):
  // an ordinary Consent, which closes nothing, however it denies.
  for (const std::string& consent :
       {Consent(kP1, nested, "inactive"), Consent(kP1, nested, "active", "research"),
        Consent(kP1, R"({"type":"permit"})"),
        Consent(kP1, nested, "active", "patient-privacy", "http://example.org/x"),
        Consent(kP1, R"({"type":"deny"})", "active", "patient-privacy", "http://example.org/x"),
        Consent(kP1, R"({"type":"deny","purpose":[{"code":"HRESCH"}]})", "active",
                "patient-privacy", "http://example.org/x")}) {
    auto posted = record.Send(Integration(), "POST", "/fhir/Consent", consent);
    EXPECT_EQ(posted.status, 201) << posted.body;
  }
  EXPECT_EQ(record.Status(Staff("h", "clinician", "H1"), "/fhir/Patient/p1"), 200);
}

TEST(AccessObjectionWritesTest, OnlyThePatientsPracticeOrAnIntegrationClientRecordsAnObjection) {
  RelationshipRecord record;
  record.Write(Items());
  // p2's managing organisation is M1 (its GP practice GP2).
  record.Write(
      {{"Patient", "p2",
        R"({"resourceType":"Patient","generalPractitioner":[)" + OdsRef("GP2") +
            R"(],"managingOrganization":)" + OdsRef("M1") + "}"},
       {"Encounter", "enc-h1-p2",
        R"({"resourceType":"Encounter","status":"in-progress","class":{"code":"AMB"},"subject":{"reference":"Patient/p2"},"serviceProvider":)" +
            OdsRef("H1") + "}"}});
  const auto h1 = Staff("h", "clinician", "H1");  // a tie with p1 and p2 by an encounter
  const auto gp = Staff("g", "clinician", "GP1");
  const std::string deny_all = Consent(kP1, R"({"type":"deny"})");
  const std::string entry =
      R"({"request":{"method":"POST","url":"Consent"},"resource":)" + deny_all + "}";
  // A hospital with a tie may not close the record to everyone else, in any form.
  auto posted = record.Send(h1, "POST", "/fhir/Consent", deny_all);
  EXPECT_EQ(posted.status, 403) << posted.body;
  EXPECT_NE(posted.body.find("GP practice or managing organisation of Patient/p1"),
            std::string::npos)
      << posted.body;
  EXPECT_EQ(record
                .Send(h1, "POST", "/fhir",
                      R"({"resourceType":"Bundle","type":"transaction","entry":[)" + entry + "]}")
                .status,
            403);
  auto batch = record.Send(h1, "POST", "/fhir",
                           R"({"resourceType":"Bundle","type":"batch","entry":[)" + entry + "]}");
  EXPECT_NE(batch.body.find(R"("status":"403)"), std::string::npos) << batch.body;
  EXPECT_EQ(ConsentCount(record), 0);
  EXPECT_EQ(record.Status(h1, "/fhir/Patient/p1"), 200);
  // What is no objection (a permit) the hospital writes as any Consent.
  EXPECT_EQ(record.Send(h1, "POST", "/fhir/Consent", Consent(kP1, R"({"type":"permit"})")).status,
            201);
  // The GP practice records one (refusing H2 only, so H1 still opens the record) ...
  auto by_gp =
      record.Send(gp, "POST", "/fhir/Consent",
                  Consent(kP1, R"({"type":"deny","actor":[)" + Actor(OdsRef("H2")) + "]}"));
  ASSERT_EQ(by_gp.status, 201) << by_gp.body;
  json::object written = json::parse(by_gp.body).as_object();
  const std::string id(written.at("id").as_string());
  written.erase("meta");
  written["status"] = "inactive";
  const std::string withdrawn = json::serialize(written);
  // ... which the hospital may neither change, withdraw nor delete.
  auto changed = record.Send(h1, "PUT", "/fhir/Consent/" + id, withdrawn);
  EXPECT_EQ(changed.status, 403) << changed.body;
  auto deleted = record.Send(h1, "DELETE", "/fhir/Consent/" + id);
  EXPECT_EQ(deleted.status, 403) << deleted.body;
  auto kept = record.Send(Integration(), "GET", "/fhir/Consent/" + id);
  EXPECT_NE(kept.body.find(R"("status":"active")"), std::string::npos) << kept.body;
  // The GP practice withdraws it.
  auto by_gp_withdrawn = record.Send(gp, "PUT", "/fhir/Consent/" + id, withdrawn);
  EXPECT_EQ(by_gp_withdrawn.status, 200) << by_gp_withdrawn.body;
  // The managing organisation records one for p2.
  const std::string p2_deny = Consent(R"({"reference":"Patient/p2"})", R"({"type":"deny"})");
  EXPECT_EQ(record.Send(h1, "POST", "/fhir/Consent", p2_deny).status, 403);
  auto by_managing = record.Send(Staff("m", "clinician", "M1"), "POST", "/fhir/Consent", p2_deny);
  EXPECT_EQ(by_managing.status, 201) << by_managing.body;
  EXPECT_EQ(record.Status(h1, "/fhir/Patient/p2"), 404);
  EXPECT_EQ(record.Status(gp, "/fhir/Patient/p1"), 200);
}

}  // namespace
}  // namespace carerecord
