// SMART's search-style scope restrictions over HTTP: a token with
// `system/Observation.rs?category=...|laboratory` sees lab Observations and never a vital sign,
// on every read path (read, vread, search pages and totals, includes, history, $everything,
// batch, conditional operations); writes under a restricted scope must match it; a restriction
// the server cannot enforce grants nothing and is never issued.
#include <boost/json.hpp>

#include "test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kCategories = "http://terminology.hl7.org/CodeSystem/observation-category";
const std::string kLabsOnly =
    std::string("system/Observation.rs?category=") + kCategories + "|laboratory";
const std::string kLabReader = kLabsOnly + " system/Patient.rs system/DiagnosticReport.rs";

std::string ObservationJson(const std::string& category, const std::string& extra = "") {
  return std::string(R"({"resourceType":"Observation","status":"final",)") +
         R"("category":[{"coding":[{"system":")" + kCategories + R"(","code":")" + category +
         R"("}]}],"code":{"text":"x"},"subject":{"reference":"Patient/p1"})" + extra + "}";
}

std::vector<std::string> EntryIds(const json::object& bundle, std::string_view mode,
                                  std::string_view type = "Observation") {
  std::vector<std::string> ids;
  if (auto* entries = bundle.if_contains("entry")) {
    for (auto& entry : entries->as_array()) {
      auto& e = entry.as_object();
      auto& resource = e.at("resource").as_object();
      if (resource.at("resourceType").as_string() != type) continue;
      if (e.contains("search") && e.at("search").as_object().at("mode").as_string() != mode) {
        continue;
      }
      ids.emplace_back(resource.at("id").as_string());
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

using Names = std::vector<std::string>;

// Six lab results and six vital signs of p1, in turns; lab-member only reachable through
// vit-1's hasMember; a report whose result is vit-1.
class ScopeRestrictions : public ::testing::Test {
 protected:
  void SetUp() override {
    Put(server_, "Patient", "p1", R"({"resourceType":"Patient"})");
    Put(server_, "Observation", "lab-member", ObservationJson("laboratory"));
    for (int i = 1; i <= 6; ++i) {
      Put(server_, "Observation", "lab-" + std::to_string(i), ObservationJson("laboratory"));
      Put(server_, "Observation", "vit-" + std::to_string(i),
          ObservationJson("vital-signs", i == 1 ? R"(,"hasMember":[{"reference":)"
                                                  R"("Observation/lab-member"}])"
                                                : ""));
    }
    Put(server_, "DiagnosticReport", "dr1",
        R"({"resourceType":"DiagnosticReport","status":"final","code":{"text":"r"},)"
        R"("subject":{"reference":"Patient/p1"},"result":[{"reference":"Observation/vit-1"}]})");
    labs_ = server_.Bearer(server_.MintToken(kLabReader));
  }
  json::object GetJson(const std::string& target, const Headers& headers) {
    auto response = server_.Send("GET", target, "", headers);
    EXPECT_EQ(response.status, 200) << target << ": " << response.body;
    return TestServer::Json(response);
  }
  // Every page's match ids from `target` on; fails on an empty page that links to another.
  Names Paged(std::string target, const Headers& headers) {
    Names ids;
    for (int page = 0; !target.empty() && page < 50; ++page) {
      auto bundle = GetJson(target, headers);
      Names on_page = EntryIds(bundle, "match");
      target = Link(bundle, "next");
      EXPECT_TRUE(!on_page.empty() || target.empty()) << "an empty page with a next link";
      ids.insert(ids.end(), on_page.begin(), on_page.end());
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  const Names all_labs_{"lab-1", "lab-2", "lab-3", "lab-4", "lab-5", "lab-6", "lab-member"};
  TestServer server_;
  Headers labs_;
};

TEST_F(ScopeRestrictions, ReadAndVreadSeeOnlyMatchingItems) {
  EXPECT_EQ(server_.Send("GET", "/fhir/Observation/lab-1", "", labs_).status, 200);
  EXPECT_EQ(server_.Send("GET", "/fhir/Observation/lab-1/_history/1", "", labs_).status, 200);
  auto vital = server_.Send("GET", "/fhir/Observation/vit-1", "", labs_);
  EXPECT_EQ(vital.status, 404) << vital.body;
  EXPECT_EQ(server_.Send("GET", "/fhir/Observation/vit-1/_history/1", "", labs_).status, 404);
  EXPECT_EQ(vital.body.find("vital-signs"), std::string::npos);
}

TEST_F(ScopeRestrictions, SearchPagesAndTotalsCountOnlyMatchingItems) {
  EXPECT_EQ(Paged("/fhir/Observation?_count=2", labs_), all_labs_);
  EXPECT_EQ(Paged("/fhir/Observation?_count=3&_total=accurate", labs_), all_labs_);
  EXPECT_EQ(GetJson("/fhir/Observation?_count=3&_total=accurate", labs_)["total"], 7);
  EXPECT_EQ(GetJson("/fhir/Observation?_summary=count", labs_)["total"], 7);
  EXPECT_EQ(GetJson("/fhir/Observation?_count=0", labs_)["total"], 7);
  // A search for what the scope excludes finds nothing, and says so in its count.
  auto vitals = GetJson("/fhir/Observation?category=vital-signs&_total=accurate", labs_);
  EXPECT_EQ(vitals["total"], 0);
  EXPECT_TRUE(EntryIds(vitals, "match").empty());
  EXPECT_EQ(GetJson("/fhir/Observation?category=vital-signs&_summary=count", labs_)["total"], 0);
  // The same searches with an unrestricted token see all 13 (the control).
  auto everyone = server_.Bearer(server_.MintToken("system/*.rs"));
  EXPECT_EQ(GetJson("/fhir/Observation?_summary=count", everyone)["total"], 13);
}

TEST_F(ScopeRestrictions, IncludesAndRevincludesCarryOnlyMatchingItems) {
  const std::string include =
      "/fhir/DiagnosticReport?_include=DiagnosticReport:result"
      "&_include:iterate=Observation:has-member";
  // vit-1 is withheld, and lends none of its links: lab-member is not reached through it.
  EXPECT_EQ(EntryIds(GetJson(include, labs_), "include"), Names{});
  auto everyone = server_.Bearer(server_.MintToken("system/*.rs"));
  EXPECT_EQ(EntryIds(GetJson(include, everyone), "include"), (Names{"lab-member", "vit-1"}));
  auto revinclude = GetJson("/fhir/Patient?_id=p1&_revinclude=Observation:subject", labs_);
  EXPECT_EQ(EntryIds(revinclude, "include"), all_labs_);
}

TEST_F(ScopeRestrictions, HistoryAndItsCountsHoldOnlyMatchingVersions) {
  Put(server_, "Observation", "lab-1",
      ObservationJson("laboratory", R"(,"issued":"2020-01-01T00:00:00Z")"));
  EXPECT_EQ(server_.Send("GET", "/fhir/Observation/vit-2/_history", "", labs_).status, 404);
  auto instance = GetJson("/fhir/Observation/lab-1/_history", labs_);
  EXPECT_EQ(instance["total"], 2);
  Names versions;
  std::string target = "/fhir/Observation/_history?_count=3&_total=accurate";
  auto first = GetJson(target, labs_);
  EXPECT_EQ(first["total"], 8);  // seven labs, one of them twice
  for (int page = 0; !target.empty() && page < 20; ++page) {
    auto bundle = GetJson(target, labs_);
    for (auto& entry : bundle["entry"].as_array()) {
      versions.emplace_back(entry.as_object().at("resource").as_object().at("id").as_string());
    }
    target = Link(bundle, "next");
  }
  EXPECT_EQ(versions.size(), 8u);
  for (const std::string& id : versions) EXPECT_EQ(id.rfind("lab-", 0), 0u) << id;
}

TEST_F(ScopeRestrictions, EverythingAndBatchReadsHoldOnlyMatchingItems) {
  auto everything = GetJson("/fhir/Patient/p1/$everything", labs_);
  EXPECT_EQ(EntryIds(everything, "match"), all_labs_);
  EXPECT_EQ(EntryIds(everything, "match", "DiagnosticReport"), Names{"dr1"});

  const std::string batch =
      R"({"resourceType":"Bundle","type":"batch","entry":[)"
      R"({"request":{"method":"GET","url":"Observation/vit-1"}},)"
      R"({"request":{"method":"GET","url":"Observation/lab-1"}},)"
      R"({"request":{"method":"GET","url":"Observation?category=vital-signs&_total=accurate"}}]})";
  auto response = server_.Send("POST", "/fhir", batch, labs_);
  ASSERT_EQ(response.status, 200) << response.body;
  auto entries = TestServer::Json(response)["entry"].as_array();
  ASSERT_EQ(entries.size(), 3u);
  auto status = [&](size_t i) {
    return std::string(entries[i].as_object().at("response").as_object().at("status").as_string())
        .substr(0, 3);
  };
  EXPECT_EQ(status(0), "404");
  EXPECT_EQ(status(1), "200");
  EXPECT_EQ(entries[2].as_object().at("resource").as_object().at("total"), 0);
}

TEST_F(ScopeRestrictions, TwoScopesOfATypeCombineByOr) {
  auto both = server_.Bearer(server_.MintToken(
      kLabsOnly + " system/Observation.rs?category=" + kCategories + "|vital-signs"));
  EXPECT_EQ(GetJson("/fhir/Observation?_summary=count", both)["total"], 13);
  EXPECT_EQ(server_.Send("GET", "/fhir/Observation/vit-1", "", both).status, 200);
  auto wide = server_.Bearer(server_.MintToken(kLabsOnly + " system/Observation.rs"));
  EXPECT_EQ(GetJson("/fhir/Observation?_summary=count", wide)["total"], 13);
}

TEST_F(ScopeRestrictions, ARestrictionTheServerCannotEnforceAllowsNothing) {
  auto dated = server_.Bearer(server_.MintToken("system/Observation.rs?date=ge2020"));
  auto response = server_.Send("GET", "/fhir/Observation", "", dated);
  EXPECT_EQ(response.status, 403) << response.body;
  EXPECT_NE(response.body.find("date"), std::string::npos) << response.body;
  EXPECT_EQ(response.body.find("lab-1"), std::string::npos);
  EXPECT_EQ(server_.Send("GET", "/fhir/Observation/lab-1", "", dated).status, 403);
}

TEST_F(ScopeRestrictions, TheTokenEndpointNeverGrantsAnUnenforceableRestriction) {
  auto response = server_.Send(
      "POST", "/auth/token",
      "grant_type=client_credentials&client_id=" + server_.client_id() +
          "&client_secret=" + server_.client_secret() +
          "&scope=system%2FObservation.rs%3Fdate%3Dge2020+system%2FObservation.rs%3Fcategory%3D"
          "laboratory",
      {{"Content-Type", "application/x-www-form-urlencoded"}, {"Authorization", ""}});
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(TestServer::Json(response)["scope"], "system/Observation.rs?category=laboratory");
}

TEST_F(ScopeRestrictions, WritesMustMatchTheScopeBeforeAndAfter) {
  const std::string labs_writer =
      std::string("system/Observation.cruds?category=") + kCategories + "|laboratory";
  // Patient.rs too: a write may refer only to items the writer may read (its subject).
  auto writer = server_.Bearer(server_.MintToken(labs_writer + " system/Patient.rs"));
  auto created = server_.Send("POST", "/fhir/Observation", ObservationJson("laboratory"), writer);
  EXPECT_EQ(created.status, 201) << created.body;
  auto refused = server_.Send("POST", "/fhir/Observation", ObservationJson("vital-signs"), writer);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find(labs_writer), std::string::npos) << refused.body;
  // A lab result may not be turned into a vital sign.
  json::object changed = json::parse(ObservationJson("vital-signs")).as_object();
  changed["id"] = "lab-2";
  auto turned = server_.Send("PUT", "/fhir/Observation/lab-2", json::serialize(changed), writer);
  EXPECT_EQ(turned.status, 403) << turned.body;
  // A vital sign is not the writer's to change or delete: the update is refused as one of an id
  // that is not there (405: this writer does not read everything, so may not choose an id), the
  // delete deletes nothing (as of an id that is not there), and it is unchanged.
  changed["id"] = "vit-2";
  changed["category"] = json::parse(R"([{"coding":[{"system":")" + std::string(kCategories) +
                                    R"(","code":"laboratory"}]}])");
  auto hidden = server_.Send("PUT", "/fhir/Observation/vit-2", json::serialize(changed), writer);
  EXPECT_EQ(hidden.status, 405) << hidden.body;
  changed["id"] = "vit-free";
  auto free = server_.Send("PUT", "/fhir/Observation/vit-free", json::serialize(changed), writer);
  EXPECT_EQ(free.status, 405) << free.body;
  EXPECT_EQ(hidden.body.replace(hidden.body.find("vit-2"), 5, "vit-free"), free.body);
  EXPECT_EQ(server_.Send("DELETE", "/fhir/Observation/vit-2", "", writer).status, 200);
  auto vital = server_.Send("GET", "/fhir/Observation/vit-2");
  EXPECT_EQ(vital.status, 200);
  EXPECT_NE(vital.body.find("vital-signs"), std::string::npos);
  EXPECT_EQ(server_.Send("DELETE", "/fhir/Observation/lab-3", "", writer).status, 200);
  EXPECT_EQ(server_.Send("GET", "/fhir/Observation/lab-3").status, 410);
}

TEST_F(ScopeRestrictions, ConditionalOperationsSeeOnlyMatchingItems) {
  Put(server_, "Observation", "vit-id",
      ObservationJson("vital-signs", R"(,"identifier":[{"system":"urn:x","value":"v1"}])"));
  const std::string labs_writer =
      std::string("system/Observation.cruds?category=") + kCategories + "|laboratory";
  // Patient.rs too: a write may refer only to items the writer may read (its subject).
  auto writer = server_.Bearer(server_.MintToken(labs_writer + " system/Patient.rs"));
  // The vital sign does not match the writer's condition: the conditional delete deletes
  // nothing, and a conditional create makes a new lab result beside it.
  EXPECT_EQ(server_.Send("DELETE", "/fhir/Observation?identifier=urn:x|v1", "", writer).status,
            200);
  EXPECT_EQ(server_.Send("GET", "/fhir/Observation/vit-id").status, 200);
  Headers if_none_exist = writer;
  if_none_exist.emplace_back("If-None-Exist", "identifier=urn:x|v1");
  auto created = server_.Send(
      "POST", "/fhir/Observation",
      ObservationJson("laboratory", R"(,"identifier":[{"system":"urn:x","value":"v1"}])"),
      if_none_exist);
  EXPECT_EQ(created.status, 201) << created.body;
}

}  // namespace
}  // namespace carerecord::testing
