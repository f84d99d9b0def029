// HTTP integration tests of how search results are paged, sorted, counted, shaped and widened:
// _count with next/previous links, _sort, _summary=count, _total, _elements, _include and
// _revinclude (with :iterate).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

json::object Bundle(TestServer& server, const std::string& target) {
  auto response = server.Get(target);
  EXPECT_EQ(response.status, 200) << target << ": " << response.body;
  return TestServer::Json(response);
}

// "Type/id" of the entries with the given search mode, in bundle order.
std::vector<std::string> Entries(const json::object& bundle, std::string_view mode) {
  std::vector<std::string> out;
  if (auto* entries = bundle.if_contains("entry")) {
    for (auto& entry : entries->as_array()) {
      auto& e = entry.as_object();
      if (e.at("search").as_object().at("mode").as_string() != mode) continue;
      auto& r = e.at("resource").as_object();
      out.push_back(std::string(r.at("resourceType").as_string()) + "/" +
                    std::string(r.at("id").as_string()));
    }
  }
  return out;
}
std::vector<std::string> Matches(const json::object& bundle) { return Entries(bundle, "match"); }
std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Follows `relation` links from `first`, collecting the matches of every page.
std::vector<std::string> Walk(TestServer& server, const std::string& first,
                              std::string_view relation = "next", size_t max_pages = 50) {
  std::vector<std::string> all;
  std::string target = first;
  for (size_t page = 0; !target.empty() && page < max_pages; ++page) {
    auto bundle = Bundle(server, target);
    auto matches = Matches(bundle);
    if (relation == "previous") {
      all.insert(all.begin(), matches.begin(), matches.end());
    } else {
      all.insert(all.end(), matches.begin(), matches.end());
    }
    target = Link(bundle, relation);
  }
  return all;
}

std::string PatientJson(const std::string& family, const std::string& given,
                        const std::string& birth) {
  return R"({"resourceType":"Patient","gender":"female","name":[{"family":")" + family +
         R"(","given":[")" + given + R"("]}])" +
         (birth.empty() ? "" : R"(,"birthDate":")" + birth + "\"") + "}";
}

std::string HeartRate(const std::string& patient, const std::string& when) {
  return R"({"resourceType":"Observation","status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
    "subject":{"reference":"Patient/)" +
         patient + R"("},"effectiveDateTime":")" + when + R"("})";
}

TEST(FhirSearchPaging, NextLinksWalkEveryMatchExactlyOnce) {
  TestServer server;
  std::vector<std::string> expected;
  for (int i = 0; i < 7; ++i) {
    std::string id = "p" + std::to_string(i);
    Put(server, "Patient", id, PatientJson("Smith", "Ann", "1970-01-0" + std::to_string(i + 1)));
    expected.push_back("Patient/" + id);
  }
  Put(server, "Patient", "other", PatientJson("Jones", "Bea", ""));
  auto first = Bundle(server, "/fhir/Patient?family=smith&_count=3");
  EXPECT_EQ(Matches(first).size(), 3u);
  EXPECT_TRUE(Link(first, "previous").empty());
  EXPECT_NE(Link(first, "self").find("_count=3"), std::string::npos);
  auto all = Walk(server, "/fhir/Patient?family=smith&_count=3");
  EXPECT_EQ(Sorted(all), expected);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), all.size());
}

// A next link once lost a top-level :missing, and its pages returned what the search excluded.
TEST(FhirSearchPaging, NextLinksKeepMissingConditions) {
  TestServer server;
  std::vector<std::string> expected;
  for (int i = 0; i < 7; ++i) {
    std::string id = "b" + std::to_string(i);
    Put(server, "Patient", id, PatientJson("Smith", "Ann", "1970-01-0" + std::to_string(i + 1)));
    expected.push_back("Patient/" + id);
    Put(server, "Patient", "n" + std::to_string(i), PatientJson("Smith", "Bea", ""));
  }
  auto first = Bundle(server, "/fhir/Patient?birthdate:missing=false&_count=3");
  EXPECT_NE(Link(first, "next").find("birthdate:missing=false"), std::string::npos)
      << Link(first, "next");
  EXPECT_EQ(Sorted(Walk(server, "/fhir/Patient?birthdate:missing=false&_count=3")), expected);
}

TEST(FhirSearchPaging, PreviousLinksWalkBackToTheFirstPage) {
  TestServer server;
  for (int i = 0; i < 7; ++i) {
    Put(server, "Patient", "p" + std::to_string(i), PatientJson("Smith", "Ann", ""));
  }
  std::string target = "/fhir/Patient?family=smith&_count=3";
  auto forward = Walk(server, target);
  // Find the last page, then go back.
  std::string last = target;
  for (;;) {
    auto bundle = Bundle(server, last);
    std::string next = Link(bundle, "next");
    if (next.empty()) break;
    last = next;
  }
  ASSERT_NE(last, target);
  auto backward = Walk(server, last, "previous");
  EXPECT_EQ(backward, forward);
  EXPECT_EQ(forward.size(), 7u);
}

TEST(FhirSearchPaging, AnExactMultipleOfCountHasNoEmptyLastPage) {
  TestServer server;
  for (int i = 0; i < 4; ++i) {
    Put(server, "Patient", "p" + std::to_string(i), PatientJson("Smith", "Ann", ""));
  }
  auto first = Bundle(server, "/fhir/Patient?_count=2");
  auto second = Bundle(server, Link(first, "next"));
  EXPECT_EQ(Matches(second).size(), 2u);
  EXPECT_TRUE(Link(second, "next").empty());
}

TEST(FhirSearchPaging, MatchCreatedBetweenPagesAppearsOnceAndNothingIsSkipped) {
  TestServer server;
  Put(server, "Patient", "p1", PatientJson("Smith", "Ann", ""));
  for (int i = 0; i < 5; ++i) {
    Put(server, "Observation", "o" + std::to_string(i),
        HeartRate("p1", "2024-01-0" + std::to_string(i + 1)));
  }
  auto page = Bundle(server, "/fhir/Observation?patient=p1&_count=2");
  std::vector<std::string> seen = Matches(page);
  Put(server, "Observation", "late", HeartRate("p1", "2024-02-01"));
  for (std::string next = Link(page, "next"); !next.empty(); next = Link(page, "next")) {
    page = Bundle(server, next);
    auto matches = Matches(page);
    seen.insert(seen.end(), matches.begin(), matches.end());
  }
  EXPECT_EQ(Sorted(seen),
            (std::vector<std::string>{"Observation/late", "Observation/o0", "Observation/o1",
                                      "Observation/o2", "Observation/o3", "Observation/o4"}));
}

TEST(FhirSearchPaging, SortedPagingSurvivesWritesBetweenPages) {
  TestServer server;
  Put(server, "Patient", "p1", PatientJson("Smith", "Ann", ""));
  for (int i = 0; i < 6; ++i) {
    Put(server, "Observation", "o" + std::to_string(i),
        HeartRate("p1", "2024-01-1" + std::to_string(i)));
  }
  auto page = Bundle(server, "/fhir/Observation?patient=p1&_sort=date&_count=2");
  std::vector<std::string> seen = Matches(page);
  EXPECT_EQ(seen, (std::vector<std::string>{"Observation/o0", "Observation/o1"}));
  // One sorts before the page already read, one after everything.
  Put(server, "Observation", "earliest", HeartRate("p1", "2023-01-01"));
  Put(server, "Observation", "latest", HeartRate("p1", "2025-01-01"));
  for (std::string next = Link(page, "next"); !next.empty(); next = Link(page, "next")) {
    page = Bundle(server, next);
    auto matches = Matches(page);
    seen.insert(seen.end(), matches.begin(), matches.end());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"Observation/o0", "Observation/o1", "Observation/o2",
                                            "Observation/o3", "Observation/o4", "Observation/o5",
                                            "Observation/latest"}));
}

TEST(FhirSearchPaging, CountZeroAndSummaryCountGiveOnlyTheTotal) {
  TestServer server;
  for (int i = 0; i < 3; ++i) {
    Put(server, "Patient", "p" + std::to_string(i), PatientJson("Smith", "Ann", ""));
  }
  Put(server, "Patient", "x", PatientJson("Jones", "Bea", ""));
  for (const char* target :
       {"/fhir/Patient?family=smith&_summary=count", "/fhir/Patient?family=smith&_count=0"}) {
    auto bundle = Bundle(server, target);
    EXPECT_EQ(bundle["total"].as_int64(), 3) << target;
    EXPECT_FALSE(bundle.contains("entry")) << target;
    EXPECT_TRUE(Link(bundle, "next").empty()) << target;
  }
}

TEST(FhirSearchPaging, TotalAccurateCountsAllPagesNotJustThisOne) {
  TestServer server;
  for (int i = 0; i < 5; ++i) {
    Put(server, "Patient", "p" + std::to_string(i), PatientJson("Smith", "Ann", ""));
  }
  auto first = Bundle(server, "/fhir/Patient?family=smith&_total=accurate&_count=2");
  EXPECT_EQ(first["total"].as_int64(), 5);
  EXPECT_EQ(Matches(first).size(), 2u);
  auto second = Bundle(server, Link(first, "next"));
  EXPECT_EQ(second["total"].as_int64(), 5);
  auto none = Bundle(server, "/fhir/Patient?family=nobody&_total=accurate");
  EXPECT_EQ(none["total"].as_int64(), 0);
}

TEST(FhirSearchSort, ByDateAscendingAndDescending) {
  TestServer server;
  Put(server, "Patient", "p1", PatientJson("Smith", "Ann", ""));
  Put(server, "Observation", "mid", HeartRate("p1", "2024-03-01"));
  Put(server, "Observation", "old", HeartRate("p1", "2020-01-01"));
  Put(server, "Observation", "new", HeartRate("p1", "2025-07-01T10:00:00Z"));
  Put(server, "Observation", "undated", R"({"resourceType":"Observation","status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
    "subject":{"reference":"Patient/p1"}})");
  EXPECT_EQ(Matches(Bundle(server, "/fhir/Observation?patient=p1&_sort=date")),
            (std::vector<std::string>{"Observation/old", "Observation/mid", "Observation/new",
                                      "Observation/undated"}));
  EXPECT_EQ(Matches(Bundle(server, "/fhir/Observation?patient=p1&_sort=-date")),
            (std::vector<std::string>{"Observation/new", "Observation/mid", "Observation/old",
                                      "Observation/undated"}));
}

// Sort keys once held whole strings: 1 MB names made a sort take gigabytes, and a next link
// longer than the server accepts. A text key orders by its first bytes, then by creation.
TEST(FhirSearchSort, LongTextKeysKeepCursorsSmallAndPagingWhole) {
  TestServer server(4 << 20);
  std::vector<std::string> expected;
  for (int i = 0; i < 3; ++i) {
    std::string id = "long" + std::to_string(i);
    Put(server, "Patient", id,
        PatientJson(std::string(200000, static_cast<char>('c' - i)), "X", ""));
    expected.push_back("Patient/" + id);
  }
  auto first = Bundle(server, "/fhir/Patient?_sort=family&_count=1");
  EXPECT_LT(Link(first, "next").size(), 4000u);
  auto all = Walk(server, "/fhir/Patient?_sort=family&_count=1");
  EXPECT_EQ(all, (std::vector<std::string>{"Patient/long2", "Patient/long1", "Patient/long0"}));
  EXPECT_EQ(
      server.Get("/fhir/Patient?_sort=family,given,name,family,given,name,birthdate,gender,_id")
          .status,
      400);
}

TEST(FhirSearchSort, ByLastUpdated) {
  TestServer server;
  for (const char* id : {"b", "c", "a"}) {
    Put(server, "Patient", id, PatientJson("Smith", "Ann", ""));
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  EXPECT_EQ(Matches(Bundle(server, "/fhir/Patient?_sort=_lastUpdated")),
            (std::vector<std::string>{"Patient/b", "Patient/c", "Patient/a"}));
  EXPECT_EQ(Matches(Bundle(server, "/fhir/Patient?_sort=-_lastUpdated")),
            (std::vector<std::string>{"Patient/a", "Patient/c", "Patient/b"}));
  EXPECT_EQ(Matches(Bundle(server, "/fhir/Patient?_sort=_id")),
            (std::vector<std::string>{"Patient/a", "Patient/b", "Patient/c"}));
}

TEST(FhirSearchSort, ByFamilyThenGivenWithMixedDirections) {
  TestServer server;
  Put(server, "Patient", "smith-bob", PatientJson("Smith", "Bob", "1980"));
  Put(server, "Patient", "adams", PatientJson("Adams", "Zed", "1990"));
  Put(server, "Patient", "smith-anna", PatientJson("SMITH", "Anna", "1970"));
  Put(server, "Patient", "jones", PatientJson("Jones", "Carl", "1980"));
  Put(server, "Patient", "smithson", PatientJson("Smithson", "Al", "1960"));
  using V = std::vector<std::string>;
  EXPECT_EQ(Matches(Bundle(server, "/fhir/Patient?_sort=family,given")),
            (V{"Patient/adams", "Patient/jones", "Patient/smith-anna", "Patient/smith-bob",
               "Patient/smithson"}));
  EXPECT_EQ(Matches(Bundle(server, "/fhir/Patient?_sort=family,-given")),
            (V{"Patient/adams", "Patient/jones", "Patient/smith-bob", "Patient/smith-anna",
               "Patient/smithson"}));
  EXPECT_EQ(Matches(Bundle(server, "/fhir/Patient?_sort=-family,given")),
            (V{"Patient/smithson", "Patient/smith-anna", "Patient/smith-bob", "Patient/jones",
               "Patient/adams"}));
  EXPECT_EQ(Matches(Bundle(server, "/fhir/Patient?_sort=-birthdate,family")),
            (V{"Patient/adams", "Patient/jones", "Patient/smith-bob", "Patient/smith-anna",
               "Patient/smithson"}));
}

TEST(FhirSearchSort, PagingUnderSortKeepsTheOrderBothWays) {
  TestServer server;
  std::vector<std::string> expected;
  for (int i = 0; i < 7; ++i) {
    // Created in the reverse of birth order, so pk order is not the sort order.
    std::string id = "p" + std::to_string(i);
    Put(server, "Patient", id, PatientJson("Smith", "Ann", std::to_string(1990 - i)));
    expected.insert(expected.begin(), "Patient/" + id);
  }
  std::string first = "/fhir/Patient?_sort=birthdate&_count=3";
  auto forward = Walk(server, first);
  EXPECT_EQ(forward, expected);
  std::string last = first;
  for (;;) {
    std::string next = Link(Bundle(server, last), "next");
    if (next.empty()) break;
    last = next;
  }
  EXPECT_EQ(Walk(server, last, "previous"), expected);
}

TEST(FhirSearchElements, OnlyTheListedElementsAndASubsettedTag) {
  TestServer server;
  Put(server, "Patient", "p1", R"({"resourceType":"Patient",
    "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],
    "name":[{"family":"Smith"}],"gender":"female","birthDate":"1970-05-01"})");
  auto bundle = Bundle(server, "/fhir/Patient?_id=p1&_elements=identifier,gender");
  auto& resource = bundle["entry"].as_array()[0].as_object()["resource"].as_object();
  EXPECT_TRUE(resource.contains("identifier"));
  EXPECT_TRUE(resource.contains("gender"));
  EXPECT_EQ(resource["id"].as_string(), "p1");
  EXPECT_FALSE(resource.contains("name"));
  EXPECT_FALSE(resource.contains("birthDate"));
  bool subsetted = false;
  for (auto& tag : resource["meta"].as_object()["tag"].as_array()) {
    subsetted = subsetted || tag.as_object()["code"].as_string() == "SUBSETTED";
  }
  EXPECT_TRUE(subsetted);
  // Without _elements the stored resource is returned whole and untagged.
  auto whole = Bundle(server, "/fhir/Patient?_id=p1");
  auto& full = whole["entry"].as_array()[0].as_object()["resource"].as_object();
  EXPECT_TRUE(full.contains("name"));
  EXPECT_FALSE(full["meta"].as_object().contains("tag"));
}

class FhirSearchInclude : public ::testing::Test {
 protected:
  void SetUp() override {
    Put(server_, "Patient", "p1", PatientJson("Smith", "Jane", "1970-05-01"));
    Put(server_, "Patient", "p2", PatientJson("Brontë", "Zoë", "1970-11-30"));
    Put(server_, "Organization", "gp", R"({"resourceType":"Organization","name":"Leeds GP"})");
    Put(server_, "Encounter", "e1", R"({"resourceType":"Encounter","status":"finished",
      "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
      "subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/gp"}})");
    Put(server_, "Observation", "o1", R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
      "subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"}})");
    Put(server_, "Observation", "o2", R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
      "subject":{"reference":"Patient/p1"}})");
    Put(server_, "Observation", "o3", R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"2339-0"}]},
      "subject":{"reference":"Patient/p2"}})");
    Put(server_, "Medication", "m1", R"({"resourceType":"Medication",
      "code":{"coding":[{"system":"https://dmd.nhs.uk","code":"39720311000001101"}]},
      "manufacturer":{"reference":"Organization/gp"}})");
    Put(server_, "MedicationRequest", "mr1", R"({"resourceType":"MedicationRequest",
      "status":"active","intent":"order","medicationReference":{"reference":"Medication/m1"},
      "subject":{"reference":"Patient/p2"}})");
    Put(server_, "Condition", "c1", R"({"resourceType":"Condition",
      "code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006"}]},
      "subject":{"reference":"Patient/p2"}})");
  }
  std::vector<std::string> Included(const std::string& target) {
    return Sorted(Entries(Bundle(server_, target), "include"));
  }
  TestServer server_;
};

using V = std::vector<std::string>;

TEST_F(FhirSearchInclude, IncludePatientAddsEachPatientOnce) {
  auto bundle =
      Bundle(server_, "/fhir/Observation?code=8867-4,2339-0&_include=Observation:patient");
  EXPECT_EQ(Sorted(Matches(bundle)), (V{"Observation/o1", "Observation/o2", "Observation/o3"}));
  EXPECT_EQ(Sorted(Entries(bundle, "include")), (V{"Patient/p1", "Patient/p2"}));
}

TEST_F(FhirSearchInclude, IncludeSubjectRestrictedToPatient) {
  EXPECT_EQ(Included("/fhir/Observation?_id=o3&_include=Observation:subject:Patient"),
            V{"Patient/p2"});
  EXPECT_EQ(Included("/fhir/Observation?_id=o3&_include=Observation:subject:Group"), V{});
  EXPECT_EQ(Included("/fhir/Observation?_id=o3&_include=Observation:subject"), V{"Patient/p2"});
}

TEST_F(FhirSearchInclude, IncludeStarFollowsEveryReference) {
  EXPECT_EQ(Included("/fhir/Observation?_id=o1&_include=Observation:*"),
            (V{"Encounter/e1", "Patient/p1"}));
}

TEST_F(FhirSearchInclude, IncludeIsNotCountedInTotalAndNotPaged) {
  auto bundle = Bundle(server_,
                       "/fhir/Observation?patient=p1&_include=Observation:encounter"
                       "&_total=accurate");
  EXPECT_EQ(bundle["total"].as_int64(), 2);
  EXPECT_EQ(Sorted(Entries(bundle, "include")), V{"Encounter/e1"});
}

TEST_F(FhirSearchInclude, RevincludeAddsResourcesThatReferToTheMatches) {
  auto bundle = Bundle(server_, "/fhir/Patient?_id=p1&_revinclude=Observation:subject");
  EXPECT_EQ(Matches(bundle), V{"Patient/p1"});
  EXPECT_EQ(Sorted(Entries(bundle, "include")), (V{"Observation/o1", "Observation/o2"}));
  EXPECT_EQ(Included("/fhir/Patient?_id=p2&_revinclude=Observation:patient"
                     "&_revinclude=Condition:patient"),
            (V{"Condition/c1", "Observation/o3"}));
}

TEST_F(FhirSearchInclude, IncludeIterateFollowsIncludedResources) {
  EXPECT_EQ(Included("/fhir/Observation?_id=o1&_include=Observation:encounter"), V{"Encounter/e1"});
  EXPECT_EQ(Included("/fhir/Observation?_id=o1&_include=Observation:encounter"
                     "&_include:iterate=Encounter:service-provider"),
            (V{"Encounter/e1", "Organization/gp"}));
  EXPECT_EQ(Included("/fhir/MedicationRequest?_id=mr1&_include=MedicationRequest:medication"
                     "&_include:iterate=Medication:manufacturer"),
            (V{"Medication/m1", "Organization/gp"}));
}

TEST_F(FhirSearchInclude, RevincludeIterateFromAnIncludedPatient) {
  EXPECT_EQ(Included("/fhir/MedicationRequest?_id=mr1&_include=MedicationRequest:patient"
                     "&_revinclude:iterate=Condition:patient"),
            (V{"Condition/c1", "Patient/p2"}));
}

TEST_F(FhirSearchInclude, IncludeOfAnotherTypeNeedsIterate) {
  EXPECT_EQ(server_.Get("/fhir/Observation?_include=Encounter:subject").status, 400);
  EXPECT_EQ(server_.Get("/fhir/Observation?_include=Observation:code").status, 400);
}

TEST_F(FhirSearchInclude, DeletedTargetIsNotIncluded) {
  Put(server_, "Observation", "o2", R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
      "subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"}})");
  ASSERT_EQ(server_.Send("DELETE", "/fhir/Observation/o1").status, 200);
  ASSERT_EQ(server_.Send("DELETE", "/fhir/Encounter/e1").status, 200);
  EXPECT_EQ(Included("/fhir/Observation?_id=o2&_include=Observation:encounter"), V{});
  EXPECT_EQ(Included("/fhir/Patient?_id=p1&_revinclude=Observation:subject"), V{"Observation/o2"});
}

// A page holds at most 8 MB of resources: with four 3 MB Observations, a page stops once it
// passes 8 MB, whatever _count says, and its next link goes on from there. Every kind of page:
// search in pk order and sorted, history (newest first), $everything.
TEST(SearchPaging, APageStopsAtItsBytesAndTheNextLinkGoesOn) {
  TestServer server(16 << 20);
  ASSERT_EQ(
      server.Send("PUT", "/fhir/Patient/big", R"({"resourceType":"Patient","id":"big"})").status,
      201);
  std::string megabyte((1 << 20) - 64, 'x');
  json::array notes;
  for (int i = 0; i < 3; ++i) notes.push_back(json::object{{"text", megabyte}});
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    json::object observation{{"resourceType", "Observation"},
                             {"status", "final"},
                             {"code", json::object{{"text", "size"}}},
                             {"subject", json::object{{"reference", "Patient/big"}}}};
    if (i != 3) observation["note"] = notes;
    auto created = server.Send("POST", "/fhir/Observation", json::serialize(observation),
                               {{"Prefer", "return=minimal"}});
    ASSERT_EQ(created.status, 201);
    std::string location(created.Header("Location"));
    ids.insert("Observation/" +
               location.substr(location.find("Observation/") + 12,
                               location.find("/_history") - location.find("Observation/") - 12));
  }
  auto walk = [&](const std::string& first, size_t& first_page) {
    std::vector<std::string> all;
    std::string target = first;
    for (int page = 0; !target.empty() && page < 10; ++page) {
      auto bundle = Bundle(server, target);
      size_t entries = 0;
      if (auto* list = bundle.if_contains("entry")) {
        for (auto& entry : list->as_array()) {
          auto& r = entry.at("resource").as_object();
          if (r.at("resourceType") != "Observation") continue;
          all.push_back("Observation/" + std::string(r.at("id").as_string()));
          ++entries;
        }
      }
      if (page == 0) first_page = entries;
      target = Link(bundle, "next");
    }
    return all;
  };
  for (std::string first :
       {"/fhir/Observation?subject=Patient/big&_count=10",
        "/fhir/Observation?subject=Patient/big&_count=10&_sort=_lastUpdated,_id",
        "/fhir/Observation/_history?_count=10", "/fhir/Patient/big/$everything?_count=10"}) {
    size_t first_page = 0;
    auto all = walk(first, first_page);
    EXPECT_GE(first_page, 3u) << first;
    EXPECT_LE(first_page, 4u) << first;
    EXPECT_EQ(all.size(), 5u) << first;
    EXPECT_EQ(std::set<std::string>(all.begin(), all.end()), ids) << first;
  }
  // Included resources cannot be cut short: past the page's bytes they are a 400 naming it.
  auto included = server.Get("/fhir/Patient?_id=big&_revinclude=Observation:subject");
  EXPECT_EQ(included.status, 400);
  EXPECT_NE(included.body.find("8 MB"), std::string::npos) << included.body;
}

}  // namespace
}  // namespace carerecord::testing
