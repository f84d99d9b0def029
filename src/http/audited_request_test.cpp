#include "http/audited_request.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <tuple>
#include <vector>

namespace carerecord::http {
namespace {

HttpRequest Request(std::string method, std::string target, std::string body = {}) {
  HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.body = std::move(body);
  request.remote_address = "192.0.2.9";
  return request;
}

access::AccessContext Who() {
  access::AccessContext who;
  who.principal = "user:bob";
  who.user = "bob";
  who.organisation = "RDZ";
  who.role = "nurse";
  return who;
}

// Disclosures as a gate of the request would have handed them over.
std::unique_ptr<access::RequestDisclosures> Saw(int64_t items,
                                                std::vector<std::string> patients = {}) {
  auto seen = std::make_unique<access::RequestDisclosures>();
  access::Disclosure disclosure;
  disclosure.items = items;
  disclosure.patients.insert(patients.begin(), patients.end());
  seen->Record(disclosure);
  return seen;
}

TEST(AuditedRequest, EveryRequestOfACallerButMetadataHasAnEntry) {
  access::RequestDisclosures none;
  EXPECT_FALSE(AuditedRequestOf(Request("GET", "/fhir/metadata"), Who(), none, 200, ""));
  EXPECT_FALSE(
      AuditedRequestOf(Request("GET", "/fhir/metadata?_format=json"), Who(), none, 200, ""));
  for (const auto& [method, target, status] :
       std::vector<std::tuple<std::string, std::string, int>>{
           {"GET", "/fhir/Patient?name=x", 200},
           {"GET", "/fhir/Patient/1", 404},
           {"POST", "/fhir/Patient", 400},
           {"PUT", "/fhir/Patient/1", 409},
           {"POST", "/fhir/Patient/_search", 200}}) {
    auto entry = AuditedRequestOf(Request(method, target), Who(), none, status, "");
    ASSERT_TRUE(entry) << method << " " << target;
    EXPECT_EQ(entry->status, status);
    EXPECT_EQ(entry->outcome, status < 400 ? "success" : "failed");
  }
  // The server's own work (no caller) is recorded only when it touched data.
  EXPECT_FALSE(AuditedRequestOf(Request("GET", "/fhir/Patient?name=x"), access::AccessContext{},
                                none, 200, ""));
}

TEST(AuditedRequest, ACountOrAnEmptySearchRecordsItsTotal) {
  access::RequestDisclosures none;
  auto counted = AuditedRequestOf(Request("GET", "/fhir/Patient?_summary=count"), Who(), none, 200,
                                  "", R"({"resourceType":"Bundle","type":"searchset","total":12})");
  ASSERT_TRUE(counted);
  EXPECT_EQ(counted->action, "search");
  EXPECT_EQ(counted->detail, "total 12");
  auto empty = AuditedRequestOf(Request("GET", "/fhir/Patient?identifier=x|0"), Who(), none, 200,
                                "", R"({"resourceType":"Bundle","type":"searchset","total":0})");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->detail, "total 0");
  auto none_asked = AuditedRequestOf(Request("GET", "/fhir/Patient?identifier=x|0"), Who(), none,
                                     200, "", R"({"resourceType":"Bundle","type":"searchset"})");
  ASSERT_TRUE(none_asked);
  EXPECT_EQ(none_asked->detail, "returned 0");
}

TEST(AuditedRequest, ARequestThatMayChangeDataHasAnIntent) {
  for (const auto& [method, target, intended] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"POST", "/fhir/Observation", "create"},
           {"PUT", "/fhir/Observation/5", "update"},
           {"PUT", "/fhir/Observation?identifier=a|b", "update"},
           {"DELETE", "/fhir/Observation/5", "delete"},
           {"DELETE", "/fhir/Observation?identifier=a|b", "delete"},
           {"PATCH", "/fhir/Observation/5", "unknown"},
           {"POST", "/fhir", "bundle"},
           {"POST", "/fhir/Patient/p1/$break-glass", "break-glass"}}) {
    auto intent = WriteIntentOf(Request(method, target), Who());
    ASSERT_TRUE(intent) << method << " " << target;
    EXPECT_EQ(intent->action, "write-attempt");
    EXPECT_EQ(intent->detail, "intends " + intended);
    EXPECT_EQ(intent->outcome, "pending");
    EXPECT_EQ(intent->status, 0);
    EXPECT_EQ(intent->method, method);
    EXPECT_EQ(intent->path, target);
    EXPECT_EQ(intent->disclosure.who.principal, "user:bob");
    EXPECT_EQ(intent->disclosure.who.client_address, "192.0.2.9");
    EXPECT_TRUE(intent->changed.empty());
  }
  EXPECT_EQ(WriteIntentOf(Request("POST", "/fhir/Patient/p1/$break-glass"), Who())
                ->disclosure.purpose_of_use,
            "BTG");
  EXPECT_FALSE(WriteIntentOf(Request("GET", "/fhir/Patient/1"), Who()));
  EXPECT_FALSE(WriteIntentOf(Request("HEAD", "/fhir/Patient/1"), Who()));
  EXPECT_FALSE(WriteIntentOf(Request("POST", "/fhir/Patient/_search"), Who()));
  EXPECT_FALSE(WriteIntentOf(Request("POST", "/fhir/Patient/p1/$everything"), Who()));
}

TEST(AuditedRequest, TheActionComesFromThePath) {
  struct Case {
    const char* method;
    const char* target;
    const char* action;
  } cases[] = {
      {"GET", "/fhir/Patient/1", "read"},
      {"HEAD", "/fhir/Patient/1", "read"},
      {"GET", "/fhir/Patient/1/_history/2", "vread"},
      {"GET", "/fhir/Patient/1/_history", "history"},
      {"GET", "/fhir/Patient/_history", "history"},
      {"GET", "/fhir/_history", "history"},
      {"GET", "/fhir/Observation?patient=1", "search"},
      {"POST", "/fhir/Observation/_search", "search"},
      {"GET", "/fhir/Patient/1/Observation", "search"},
      {"GET", "/fhir/Patient/1/$everything", "everything"},
      {"POST", "/fhir/Patient/1/$break-glass", "break-glass"},
      {"POST", "/fhir/Patient/1/$declare-relationship", "declare-relationship"},
      {"POST", "/fhir", "bundle"},
      {"POST", "/fhir/", "bundle"},
      {"POST", "/fhir/Observation", "create"},
      {"PUT", "/fhir/Observation/5", "update"},
      {"PUT", "/fhir/Observation?identifier=a|b", "update"},
      {"DELETE", "/fhir/Observation/5", "delete"},
  };
  for (const Case& c : cases) {
    auto entry = AuditedRequestOf(Request(c.method, c.target), Who(), *Saw(1), 200, "");
    ASSERT_TRUE(entry) << c.target;
    EXPECT_EQ(entry->action, c.action) << c.method << " " << c.target;
    EXPECT_EQ(entry->path, c.target);
    EXPECT_EQ(entry->method, c.method);
  }
}

TEST(AuditedRequest, WhoAndWhatAndWhoseAreRecorded) {
  auto entry = AuditedRequestOf(Request("GET", "/fhir/Patient/p1/Observation?code=x"), Who(),
                                *Saw(3, {"p1", "p2"}), 200, "");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->disclosure.who.user, "bob");
  EXPECT_EQ(entry->disclosure.who.client_address, "192.0.2.9");
  EXPECT_EQ(entry->disclosure.who.request_audit, nullptr);
  EXPECT_EQ(entry->disclosure.items, 3);
  EXPECT_EQ(entry->disclosure.patients, (std::set<std::string>{"p1", "p2"}));
  EXPECT_EQ(entry->outcome, "success");
  EXPECT_EQ(entry->status, 200);
}

TEST(AuditedRequest, ARefusalIsRecordedWithThePatientItNamed) {
  access::RequestDisclosures none;
  auto entry = AuditedRequestOf(Request("GET", "/fhir/Patient/p9"), Who(), none, 403, "");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->outcome, "refused");
  EXPECT_EQ(entry->disclosure.patients, std::set<std::string>{"p9"});
}

TEST(AuditedRequest, WritesNameWhatTheyChanged) {
  access::RequestDisclosures none;
  auto created = AuditedRequestOf(Request("POST", "/fhir/Observation"), Who(), none, 201,
                                  "http://x/fhir/Observation/o1/_history/1");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->changed, std::vector<std::string>{"Observation/o1"});
  auto updated = AuditedRequestOf(Request("PUT", "/fhir/Patient/p1"), Who(), none, 200,
                                  "http://x/fhir/Patient/p1/_history/4");
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->changed, std::vector<std::string>{"Patient/p1"});
  EXPECT_EQ(updated->disclosure.patients, std::set<std::string>{"p1"});
}

TEST(AuditedRequest, TheReasonOfABreakGlassIsKeptAsWritten) {
  const std::string body =
      R"({"resourceType":"Parameters","parameter":[{"name":"reason","valueString":"collapsed\nin clinic"}]})";
  access::RequestDisclosures none;
  auto entry = AuditedRequestOf(Request("POST", "/fhir/Patient/p1/$break-glass", body), Who(), none,
                                200, "");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->reason, "collapsed\nin clinic");
  EXPECT_EQ(entry->disclosure.patients, std::set<std::string>{"p1"});
  // A body that is not Parameters: no reason, still an entry.
  auto odd = AuditedRequestOf(Request("POST", "/fhir/Patient/p1/$break-glass", "{not json"), Who(),
                              none, 200, "");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->reason, "");
}

TEST(AuditedRequest, AnOverlongReasonIsKeptCutAtACharacterBoundary) {
  std::string reason = "a";
  for (int i = 0; i < 100000; ++i) reason += "\u00e9";  // 200,001 bytes
  const std::string body =
      R"({"resourceType":"Parameters","parameter":[{"name":"reason","valueString":")" + reason +
      R"("}]})";
  access::RequestDisclosures none;
  auto entry = AuditedRequestOf(Request("POST", "/fhir/Patient/p1/$break-glass", body), Who(), none,
                                400, "");
  ASSERT_TRUE(entry);
  EXPECT_LT(entry->reason.size(), 4100u);
  EXPECT_EQ(entry->reason.substr(0, 3999), reason.substr(0, 3999));
  EXPECT_NE(entry->reason.find("[cut: 200001 bytes]"), std::string::npos);
  // Still whole UTF-8: the cut fell between characters.
  EXPECT_NO_THROW(boost::json::parse("\"" + entry->reason + "\""));
}

}  // namespace
}  // namespace carerecord::http
