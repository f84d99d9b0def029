// Items outside every patient compartment that name a patient in a way no record can be found
// from (issue 20, hostile round 6b findings 1 and 3): a Device whose patient is given by NHS
// number, by an identifier typed Patient, or through a contained Patient, and a Subscription
// whose criteria select a patient by identifier or through `_filter`, are read by integration
// clients only, as compartment items naming their patient by identifier only are, on every read
// path (read, vread, search, _include/_revinclude, history). Criteria naming a patient by bare
// id (`subject=ID`, `Patient?_id=ID`, `subject:Patient=ID`, chains) are read as that record
// allows. References by an organisation's identifier still name no patient.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "relationship_record.h"

namespace carerecord {
namespace {

using namespace relationship_testing;
namespace json = boost::json;

const std::string kNhs =
    R"({"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}})";

std::string DeviceWith(const std::string& members) {
  return R"({"resourceType":"Device","owner":{"reference":"Organization/org-gp"},)" + members +
         R"(,"deviceName":[{"name":"pump","type":"user-friendly-name"}]})";
}
std::string SubscriptionFor(const std::string& criteria) {
  return R"({"resourceType":"Subscription","status":"off","reason":"watch","criteria":")" +
         criteria + R"(","channel":{"type":"rest-hook","endpoint":"https://example.org/hook"}})";
}

// Items that name a patient no record can be found from.
std::vector<Item> Unresolved() {
  return {
      {"Device", "dev-nhs", DeviceWith(R"("patient":)" + kNhs)},
      {"Device", "dev-nhs-typed-org",
       DeviceWith(
           R"("patient":{"type":"Organization","identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}})")},
      {"Device", "dev-mrn",
       DeviceWith(
           R"("patient":{"identifier":{"system":"https://trust.example/mrn","value":"M1"}})")},
      {"Device", "dev-typed",
       DeviceWith(
           R"("patient":{"type":"Patient","identifier":{"system":"https://trust.example/mrn","value":"M1"}})")},
      {"Device", "dev-contained",
       DeviceWith(
           R"("contained":[{"resourceType":"Patient","id":"p","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}]}],"patient":{"reference":"#p"})")},
      {"Contract", "con-ext",
       R"({"resourceType":"Contract","extension":[{"url":"http://example.org/who","valueReference":)" +
           kNhs + "}]}"},
      {"Subscription", "sub-ident",
       SubscriptionFor(
           "Observation?subject.identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919")},
      {"Subscription", "sub-ident-mod",
       SubscriptionFor(
           "Observation?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919")},
      {"Subscription", "sub-patient-ident",
       SubscriptionFor("Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919")},
      {"Subscription", "sub-name", SubscriptionFor("Observation?performer.name=Smith")},
      {"Subscription", "sub-filter", SubscriptionFor("Observation?_filter=patient%20eq%20p1")},
      {"Subscription", "sub-unknown", SubscriptionFor("Observation?not-a-param=p1")},
  };
}

// Subscriptions naming p1 by bare id (or a chain ending in its id): p1's record decides.
std::vector<Item> ByBareId() {
  std::vector<Item> items;
  int n = 0;
  for (const char* criteria :
       {"Observation?subject=p1", "Observation?patient=p1&code=x", "Patient?_id=p1",
        "Observation?subject:Patient=p1", "Observation?patient:Patient=p1",
        "Observation?subject._id=p1", "Observation?subject:Patient._id=p1",
        "Observation?encounter.subject=p1", "Encounter?_has:Observation:encounter:subject=p1",
        "http://test/fhir/Observation?subject=p1"}) {
    items.push_back({"Subscription", "sub-" + std::to_string(++n), SubscriptionFor(criteria)});
  }
  return items;
}

std::vector<Item> Items() {
  std::vector<Item> items = {
      {"Organization", "org-gp", Org("org-gp", "GP1")},
      PatientWithGp("p1", "GP1"),
      PatientWithGp("p2", "GP2"),
      {"Device", "dev-free",
       DeviceWith(R"("udiCarrier":[{"deviceIdentifier":"x"}],"location":)" + OdsRef("GP1"))},
      {"Device", "dev-owned-by-ods",
       R"({"resourceType":"Device","owner":)" + OdsRef("GP1") +
           R"(,"deviceName":[{"name":"scales","type":"user-friendly-name"}]})"},
      // Both p1 and p2 must open.
      {"Subscription", "sub-two", SubscriptionFor("Patient?_id=p1,p2")},
      {"Subscription", "sub-code", SubscriptionFor("Observation?code=http://loinc.org|8867-4")},
  };
  for (auto group : {Unresolved(), ByBareId()}) {
    for (Item& item : group) items.push_back(std::move(item));
  }
  items.push_back(
      {"Observation", "obs-p1",
       R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"},"device":{"reference":"Device/dev-nhs"}})"});
  return items;
}

std::string Ids(const http::HttpResponse& response) {
  std::string out;
  json::value body = json::parse(response.body);
  if (const json::value* entries = body.as_object().if_contains("entry")) {
    for (const json::value& entry : entries->as_array()) {
      const json::object& resource = entry.as_object().at("resource").as_object();
      if (resource.at("resourceType") == "OperationOutcome") continue;
      out += std::string(resource.at("id").as_string()) + " ";
    }
  }
  return out;
}
bool Lists(const http::HttpResponse& response, const std::string& id) {
  return (" " + Ids(response)).find(" " + id + " ") != std::string::npos;
}

TEST(AccessUnresolvedPatientsTest, AnItemNamingAPatientByIdentifierIsReadByIntegrationOnly) {
  RelationshipRecord record;
  record.Write(Items());
  struct Caller {
    std::string name;
    access::AccessContext who;
    bool reads;
  };
  const std::vector<Caller> callers = {
      {"integration", Integration(), true},
      {"gp of p1", Staff("g", "clinician", "GP1"), false},
      {"nurse of another practice", Staff("n", "nurse", "GP2"), false},
      {"auditor", Staff("a", "auditor", "GP1"), false},
  };
  for (const Caller& c : callers) {
    SCOPED_TRACE(c.name);
    for (const Item& item : Unresolved()) {
      SCOPED_TRACE(item.id);
      const std::string target = "/fhir/" + item.type + "/" + item.id;
      EXPECT_EQ(record.Status(c.who, target), c.reads ? 200 : 404);
      EXPECT_EQ(record.Status(c.who, target + "/_history/1"), c.reads ? 200 : 404);
      EXPECT_EQ(record.Status(c.who, target + "/_history"), c.reads ? 200 : 404);
      auto search = record.Send(c.who, "GET", "/fhir/" + item.type + "?_id=" + item.id);
      ASSERT_EQ(search.status, 200) << search.body;
      EXPECT_EQ(Lists(search, item.id), c.reads) << search.body;
      auto listed = record.Send(c.who, "GET", "/fhir/" + item.type + "?_count=100");
      EXPECT_EQ(Lists(listed, item.id), c.reads) << listed.body;
      auto history = record.Send(c.who, "GET", "/fhir/" + item.type + "/_history?_count=100");
      EXPECT_EQ(Lists(history, item.id), c.reads) << history.body;
      auto system_history = record.Send(c.who, "GET", "/fhir/_history?_count=200");
      EXPECT_EQ(Lists(system_history, item.id), c.reads);
    }
    auto revinclude =
        record.Send(c.who, "GET", "/fhir/Organization?_id=org-gp&_revinclude=Device:organization");
    EXPECT_EQ(Lists(revinclude, "dev-nhs"), c.reads) << revinclude.body;
    EXPECT_EQ(Lists(revinclude, "dev-contained"), c.reads) << revinclude.body;
    EXPECT_TRUE(Lists(revinclude, "dev-free")) << revinclude.body;
    // p1's own Observation is open to the GP; the Device it names by NHS number is not.
    auto include = record.Send(c.who, "GET", "/fhir/Observation?_include=Observation:device");
    EXPECT_EQ(Lists(include, "dev-nhs"), c.reads) << include.body;
    // A Device owned by an organisation named by its ODS code names no patient: every staff
    // role reads it, as any item outside the compartments that names none.
    EXPECT_EQ(record.Status(c.who, "/fhir/Device/dev-owned-by-ods"), 200);
    EXPECT_EQ(record.Status(c.who, "/fhir/Device/dev-free"), 200);
    EXPECT_EQ(record.Status(c.who, "/fhir/Subscription/sub-code"), 200);
  }
  // The GP of p1 reads p1's Observation (the include above was not refused as a whole).
  auto gp_include = record.Send(Staff("g", "clinician", "GP1"), "GET",
                                "/fhir/Observation?_include=Observation:device");
  EXPECT_TRUE(Lists(gp_include, "obs-p1")) << gp_include.body;
}

TEST(AccessUnresolvedPatientsTest, CriteriaNamingAPatientByBareIdAreReadAsThatRecordAllows) {
  RelationshipRecord record;
  record.Write(Items());
  const auto gp1 = Staff("g", "clinician", "GP1");
  const auto gp2 = Staff("h", "clinician", "GP2");
  const auto auditor = Staff("a", "auditor", "GP1");
  for (const Item& item : ByBareId()) {
    SCOPED_TRACE(item.body);
    const std::string target = "/fhir/Subscription/" + item.id;
    EXPECT_EQ(record.Status(gp1, target), 200);
    EXPECT_EQ(record.Status(gp2, target), 404);
    EXPECT_EQ(record.Status(auditor, target), 404);
    EXPECT_EQ(record.Status(Integration(), target), 200);
    auto search = record.Send(gp2, "GET", "/fhir/Subscription?_id=" + item.id);
    EXPECT_FALSE(Lists(search, item.id)) << search.body;
  }
  // Two patients: both records must open.
  EXPECT_EQ(record.Status(gp1, "/fhir/Subscription/sub-two"), 404);
  EXPECT_EQ(record.Status(gp2, "/fhir/Subscription/sub-two"), 404);
  EXPECT_EQ(record.Status(Integration(), "/fhir/Subscription/sub-two"), 200);
  // The audit names the patient the criteria search by.
  ASSERT_EQ(record.Status(gp1, "/fhir/Subscription/sub-1"), 200);
  EXPECT_TRUE(record.audit().Last().disclosure.patients.count("p1"));
}

}  // namespace
}  // namespace carerecord
