// Items of types outside every patient compartment that name a patient (issue 20, hostile round
// 6a finding 2): a Device, Contract, Linkage, Parameters, VerificationResult, GuidanceResponse
// or Subscription naming Patient/p1 is p1's data, read only as p1's record allows, on every read
// path (read, search, count, _include/_revinclude, history, $everything), never by roles that
// read no patient data (system admins, auditors); and its reads are audited against p1.
// Organizations and other items that name no patient stay free for staff.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "relationship_record.h"

namespace carerecord {
namespace {

using namespace relationship_testing;
namespace json = boost::json;

const std::string kP1 = R"({"reference":"Patient/p1"})";

// Items naming p1 (GP1's patient), one of each type.
std::vector<Item> Named() {
  return {
      {"Device", "dev-1",
       R"({"resourceType":"Device","patient":)" + kP1 +
           R"(,"owner":{"reference":"Organization/org-gp"},"deviceName":[{"name":"pacemaker","type":"user-friendly-name"}]})"},
      {"Contract", "con-1", R"({"resourceType":"Contract","subject":[)" + kP1 + "]}"},
      {"Linkage", "link-1",
       R"({"resourceType":"Linkage","item":[{"type":"source","resource":)" + kP1 + "}]}"},
      {"Parameters", "par-1",
       R"({"resourceType":"Parameters","parameter":[{"name":"who","valueReference":)" + kP1 +
           "}]}"},
      {"VerificationResult", "ver-1",
       R"({"resourceType":"VerificationResult","status":"validated","target":[)" + kP1 + "]}"},
      {"GuidanceResponse", "gr-1",
       R"({"resourceType":"GuidanceResponse","moduleUri":"http://example.org/m","status":"success","subject":)" +
           kP1 + "}"},
      {"Subscription", "sub-1",
       R"({"resourceType":"Subscription","status":"off","reason":"watch","criteria":"Observation?patient=p1&code=x","channel":{"type":"rest-hook","endpoint":"https://example.org/hook"}})"},
  };
}

std::vector<Item> Items() {
  std::vector<Item> items = {
      {"Organization", "org-gp", Org("org-gp", "GP1")},
      PatientWithGp("p1", "GP1"),
      PatientWithGp("p2", "GP2"),
      {"Device", "dev-free",
       R"({"resourceType":"Device","owner":{"reference":"Organization/org-gp"},"deviceName":[{"name":"scales","type":"user-friendly-name"}]})"},
  };
  for (Item& item : Named()) items.push_back(std::move(item));
  // In p2's record, referring to p1's device.
  items.push_back(
      {"Observation", "obs-p2",
       R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"},"device":{"reference":"Device/dev-1"}})"});
  return items;
}

// The ids of a Bundle's entries.
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
int64_t Total(const http::HttpResponse& response) {
  return json::parse(response.body).as_object().at("total").as_int64();
}

TEST(AccessNamedPatientsTest, AnItemOutsideTheCompartmentsIsReadAsTheRecordItNames) {
  RelationshipRecord record;
  record.Write(Items());
  const auto gp = Staff("g", "clinician", "GP1");
  struct Caller {
    std::string name;
    access::AccessContext who;
    bool reads_p1;
  };
  const std::vector<Caller> callers = {
      {"gp", gp, true},
      {"nurse of another practice", Staff("n", "nurse", "GP2"), false},
      {"stranger", Staff("x", "clinician", "X9"), false},
      {"system admin of the practice", Staff("s", "system-admin", "GP1"), false},
      {"auditor of the practice", Staff("a", "auditor", "GP1"), false},
  };
  for (const Caller& c : callers) {
    SCOPED_TRACE(c.name);
    for (const Item& item : Named()) {
      const std::string target = "/fhir/" + item.type + "/" + item.id;
      EXPECT_EQ(record.Status(c.who, target), c.reads_p1 ? 200 : 404) << target;
      EXPECT_EQ(record.Status(c.who, target + "/_history/1"), c.reads_p1 ? 200 : 404) << target;
      EXPECT_EQ(record.Status(c.who, target + "/_history"), c.reads_p1 ? 200 : 404) << target;
      auto listed = record.Send(c.who, "GET", "/fhir/" + item.type + "?_total=accurate");
      ASSERT_EQ(listed.status, 200) << listed.body;
      EXPECT_EQ(Ids(listed).find(item.id) != std::string::npos, c.reads_p1) << listed.body;
      auto history = record.Send(c.who, "GET", "/fhir/" + item.type + "/_history");
      EXPECT_EQ(Ids(history).find(item.id) != std::string::npos, c.reads_p1) << history.body;
    }
    // Free items stay free for every staff role.
    EXPECT_EQ(record.Status(c.who, "/fhir/Organization/org-gp"), 200);
    EXPECT_EQ(record.Status(c.who, "/fhir/Device/dev-free"), 200);
    auto by_patient = record.Send(c.who, "GET", "/fhir/Device?patient=p1&_total=accurate");
    EXPECT_EQ(Total(by_patient), c.reads_p1 ? 1 : 0) << by_patient.body;
    auto count = record.Send(c.who, "GET", "/fhir/Device?_summary=count");
    EXPECT_EQ(Total(count), c.reads_p1 ? 2 : 1) << count.body;
    auto revinclude =
        record.Send(c.who, "GET", "/fhir/Organization?_id=org-gp&_revinclude=Device:organization");
    EXPECT_EQ(Ids(revinclude), c.reads_p1 ? "org-gp dev-free dev-1 " : "org-gp dev-free ")
        << revinclude.body;
    auto system_history = record.Send(c.who, "GET", "/fhir/_history?_count=100");
    EXPECT_EQ(Ids(system_history).find("dev-1") != std::string::npos, c.reads_p1);
  }
  // p2's practice reads p2's record, but not p1's device that it refers to.
  const auto gp2 = Staff("g2", "clinician", "GP2");
  auto included = record.Send(gp2, "GET", "/fhir/Observation?_include=Observation:device");
  EXPECT_EQ(Ids(included), "obs-p2 ") << included.body;
  auto everything = record.Send(gp2, "GET", "/fhir/Patient/p2/$everything");
  ASSERT_EQ(everything.status, 200);
  EXPECT_EQ(Ids(everything).find("dev-1"), std::string::npos) << everything.body;
  EXPECT_NE(Ids(record.Send(Integration(), "GET", "/fhir/Observation?_include=Observation:device"))
                .find("dev-1"),
            std::string::npos);
}

TEST(AccessNamedPatientsTest, BreakGlassOpensThemAndTheAuditNamesThePatient) {
  RelationshipRecord record;
  record.Write(Items());
  const auto stranger = Staff("x", "clinician", "X9");
  ASSERT_EQ(record.Status(stranger, "/fhir/Device/dev-1"), 404);
  ASSERT_EQ(record.Send(stranger, "POST", "/fhir/Patient/p1/$break-glass", ReasonBody()).status,
            200);
  EXPECT_EQ(record.Status(stranger, "/fhir/Device/dev-1"), 200);
  auto entry = record.audit().Last();
  EXPECT_EQ(entry.disclosure.purpose_of_use, "BTG");
  EXPECT_TRUE(entry.disclosure.patients.count("p1"));
  // The practice reads as TREAT, and the entry names p1 too.
  EXPECT_EQ(record.Status(Staff("g", "clinician", "GP1"), "/fhir/Contract/con-1"), 200);
  entry = record.audit().Last();
  EXPECT_EQ(entry.disclosure.purpose_of_use, "");
  EXPECT_TRUE(entry.disclosure.patients.count("p1"));
}

}  // namespace
}  // namespace carerecord
