// HTTP integration tests of the token modifiers backed by terminology stored in the server:
// :in and :not-in (ValueSet concept lists, whole systems, is-a / descendent-of filters on a
// stored CodeSystem, nested ValueSets, exclude, stored expansions, versions), :above and :below
// (a stored CodeSystem's hierarchy), with paging, _has and conditional create, every error that
// refuses what cannot be expanded here, and uri :above/:below alongside.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

using Names = std::vector<std::string>;

constexpr const char* kCs = "http://example.org/fhir/CodeSystem/problems";
constexpr const char* kVs = "http://example.org/fhir/ValueSet/";
constexpr const char* kSnomed = "http://snomed.info/sct";

std::string ConditionJson(const std::string& patient, const std::string& system,
                          const std::string& code) {
  std::string coded = code.empty() ? ""
                                   : R"(,"code":{"coding":[{"system":")" + system +
                                         R"(","code":")" + code + R"("}]})";
  return R"({"resourceType":"Condition","subject":{"reference":"Patient/)" + patient + "\"}" +
         coded + "}";
}

// A ValueSet with `url` (kVs + name) and the given members ("compose":{...} etc.).
std::string ValueSetJson(const std::string& name, const std::string& members,
                         const std::string& version = "") {
  return R"({"resourceType":"ValueSet","status":"active","url":")" + std::string(kVs) + name +
         "\"" + (version.empty() ? "" : R"(,"version":")" + version + "\"") + "," + members + "}";
}

std::string Include(const std::string& system, const std::string& body) {
  return R"({"system":")" + system + "\"" + (body.empty() ? "" : "," + body) + "}";
}

std::string Concepts(const Names& codes) {
  std::string out = R"("concept":[)";
  for (size_t i = 0; i < codes.size(); ++i) {
    out += (i ? "," : "") + std::string(R"({"code":")") + codes[i] + "\"}";
  }
  return out + "]";
}

std::string IsA(const std::string& op, const std::string& code) {
  return R"("filter":[{"property":"concept","op":")" + op + R"(","value":")" + code + "\"}]";
}

// CodeSystem problems: disease > (diabetes > (t1dm, t2dm), heart > hf); other.
// Conditions: c1 t1dm, c2 t2dm (p1); c3 hf, c4 other (p2); c5 SNOMED 44054006, c6 no code,
// c7 diabetes (p3).
class FhirSearchTerminology : public ::testing::Test {
 protected:
  void SetUp() override {
    Put(server_, "CodeSystem", "problems",
        std::string(R"({"resourceType":"CodeSystem",
      "status":"active","content":"complete","url":")") +
            kCs + R"(","concept":[
        {"code":"disease","concept":[
          {"code":"diabetes","concept":[{"code":"t1dm"},{"code":"t2dm"}]},
          {"code":"heart","concept":[{"code":"hf"}]}]},
        {"code":"other"}]})");
    for (const char* id : {"p1", "p2", "p3"}) {
      Put(server_, "Patient", id, R"({"resourceType":"Patient"})");
    }
    Put(server_, "Condition", "c1", ConditionJson("p1", kCs, "t1dm"));
    Put(server_, "Condition", "c2", ConditionJson("p1", kCs, "t2dm"));
    Put(server_, "Condition", "c3", ConditionJson("p2", kCs, "hf"));
    Put(server_, "Condition", "c4", ConditionJson("p2", kCs, "other"));
    Put(server_, "Condition", "c5", ConditionJson("p3", kSnomed, "44054006"));
    Put(server_, "Condition", "c6", ConditionJson("p3", "", ""));
    Put(server_, "Condition", "c7", ConditionJson("p3", kCs, "diabetes"));
    PutValueSets();
  }

  void PutValueSets() {
    Put(server_, "ValueSet", "diabetes-listed",
        ValueSetJson("diabetes-listed", R"("compose":{"include":[)" +
                                            Include(kCs, Concepts({"t1dm", "t2dm"})) + "," +
                                            Include(kSnomed, Concepts({"44054006"})) + "]}"));
    Put(server_, "ValueSet", "diabetes-is-a",
        ValueSetJson("diabetes-is-a",
                     R"("compose":{"include":[)" + Include(kCs, IsA("is-a", "diabetes")) + "]}"));
    Put(server_, "ValueSet", "diabetes-below-but-t1",
        ValueSetJson("diabetes-below-but-t1",
                     R"("compose":{"include":[)" + Include(kCs, IsA("descendent-of", "diabetes")) +
                         R"(],"exclude":[)" + Include(kCs, Concepts({"t1dm"})) + "]}"));
    // The stored expansion wins over the compose (which would give "other").
    Put(server_, "ValueSet", "heart",
        ValueSetJson("heart", R"("compose":{"include":[)" + Include(kCs, Concepts({"other"})) +
                                  R"(]},"expansion":{"timestamp":"2024-01-01T00:00:00Z",
                                  "contains":[{"system":")" +
                                  kCs + R"(","code":"heart","contains":[{"system":")" + kCs +
                                  R"(","code":"hf"}]}]})"));
    Put(server_, "ValueSet", "problems-but-other",
        ValueSetJson("problems-but-other", R"("compose":{"include":[)" + Include(kCs, "") +
                                               R"(],"exclude":[)" +
                                               Include(kCs, Concepts({"other"})) + "]}"));
    Put(server_, "ValueSet", "nested",
        ValueSetJson("nested", std::string(R"("compose":{"include":[{"valueSet":[")") + kVs +
                                   R"(diabetes-listed"]},{"valueSet":[")" + kVs + R"(heart"]}]})"));
    // Loaded newest first: the highest version must win, not the last written.
    Put(server_, "ValueSet", "versioned-10",
        ValueSetJson("versioned",
                     R"("compose":{"include":[)" + Include(kCs, Concepts({"t1dm"})) + "]}",
                     "1.10"));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // distinct lastUpdated
    Put(server_, "ValueSet", "versioned-9",
        ValueSetJson("versioned",
                     R"("compose":{"include":[)" + Include(kCs, Concepts({"hf"})) + "]}", "1.9"));
  }

  Names Search(const std::string& query) { return Ids(server_, "/fhir/" + query); }

  // The response to a search that must be refused; checks it is a 400 OperationOutcome whose
  // text contains `says`.
  void ExpectRefused(const std::string& query, const std::string& says) {
    auto response = server_.Get("/fhir/" + query);
    EXPECT_EQ(response.status, 400) << query << ": " << response.body;
    EXPECT_EQ(TestServer::Json(response)["resourceType"].as_string(), "OperationOutcome");
    EXPECT_NE(response.body.find(says), std::string::npos) << query << ": " << response.body;
  }

  TestServer server_;
};

std::string In(const std::string& value_set) {
  return "Condition?code:in=" + std::string(kVs) + value_set;
}

TEST_F(FhirSearchTerminology, InMatchesListedConceptsAcrossSystems) {
  EXPECT_EQ(Search(In("diabetes-listed")), (Names{"c1", "c2", "c5"}));
  EXPECT_EQ(Search("Condition?code:in=ValueSet/diabetes-listed"), (Names{"c1", "c2", "c5"}));
}

TEST_F(FhirSearchTerminology, IsAAndDescendentOfFiltersWalkTheStoredCodeSystem) {
  EXPECT_EQ(Search(In("diabetes-is-a")), (Names{"c1", "c2", "c7"}));
  // descendent-of leaves out diabetes itself; the exclude takes t1dm away.
  EXPECT_EQ(Search(In("diabetes-below-but-t1")), Names{"c2"});
}

TEST_F(FhirSearchTerminology, StoredExpansionIsUsedBeforeTheCompose) {
  EXPECT_EQ(Search(In("heart")), Names{"c3"});
}

TEST_F(FhirSearchTerminology, IncludeOfAWholeSystemMatchesItsCodesButTheExcluded) {
  EXPECT_EQ(Search(In("problems-but-other")), (Names{"c1", "c2", "c3", "c7"}));
}

TEST_F(FhirSearchTerminology, NestedValueSetsAreExpandedRecursively) {
  EXPECT_EQ(Search(In("nested")), (Names{"c1", "c2", "c3", "c5"}));
}

TEST_F(FhirSearchTerminology, HighestVersionIsUsedUnlessOneIsNamed) {
  EXPECT_EQ(Search(In("versioned")), Names{"c1"});
  EXPECT_EQ(Search(In("versioned") + "%7C1.9"), Names{"c3"});
  ExpectRefused(In("versioned") + "%7C2.0", "is not stored on this server");
}

TEST_F(FhirSearchTerminology, VersionsThatAreNotNumbersFallBackToTheLastUpdated) {
  Put(server_, "ValueSet", "named-b",
      ValueSetJson("named", R"("compose":{"include":[)" + Include(kCs, Concepts({"hf"})) + "]}",
                   "beta"));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Put(server_, "ValueSet", "named-a",
      ValueSetJson("named", R"("compose":{"include":[)" + Include(kCs, Concepts({"other"})) + "]}",
                   "alpha"));
  EXPECT_EQ(Search(In("named")), Names{"c4"});
}

TEST_F(FhirSearchTerminology, NotInKeepsResourcesWithoutTheParameterLikeNot) {
  EXPECT_EQ(Search("Condition?code:not-in=" + std::string(kVs) + "diabetes-listed"),
            (Names{"c3", "c4", "c6", "c7"}));
  EXPECT_EQ(Search("Condition?patient=p1&code:not-in=" + std::string(kVs) + "diabetes-is-a"),
            Names{});
}

TEST_F(FhirSearchTerminology, CommaIsOrRepeatIsAndAndOtherConditionsNarrow) {
  EXPECT_EQ(Search(In("heart") + "," + kVs + "diabetes-below-but-t1"), (Names{"c2", "c3"}));
  EXPECT_EQ(Search(In("diabetes-is-a") + "&code:in=" + kVs + "diabetes-listed"),
            (Names{"c1", "c2"}));
  EXPECT_EQ(Search(In("nested") + "&patient=p3"), Names{"c5"});
  EXPECT_EQ(Search(In("heart") + "&patient=p1"), Names{});
}

TEST_F(FhirSearchTerminology, BelowAndAboveFollowTheStoredHierarchy) {
  std::string below = "Condition?code:below=" + std::string(kCs) + "%7C";
  std::string above = "Condition?code:above=" + std::string(kCs) + "%7C";
  EXPECT_EQ(Search(below + "diabetes"), (Names{"c1", "c2", "c7"}));
  EXPECT_EQ(Search(below + "disease"), (Names{"c1", "c2", "c3", "c7"}));
  EXPECT_EQ(Search(below + "t1dm"), Names{"c1"});
  EXPECT_EQ(Search(above + "t1dm"), (Names{"c1", "c7"}));
  EXPECT_EQ(Search(above + "hf&patient=p2"), Names{"c3"});
}

TEST_F(FhirSearchTerminology, ReverseChainCarriesTheExpansion) {
  EXPECT_EQ(
      Search("Patient?_has:Condition:patient:code:in=" + std::string(kVs) + "diabetes-listed"),
      (Names{"p1", "p3"}));
  EXPECT_EQ(Search("Patient?_has:Condition:patient:code:below=" + std::string(kCs) + "%7Cheart"),
            Names{"p2"});
}

TEST(FhirSearchTerminologyPaging, PagesOfAnInSearchWalkEveryMatchOnce) {
  TestServer server;
  Put(server, "Patient", "p", R"({"resourceType":"Patient"})");
  Names expected;
  for (int i = 0; i < 5; ++i) {
    std::string id = "in" + std::to_string(i);
    Put(server, "Condition", id, ConditionJson("p", kCs, i % 2 ? "a" : "b"));
    expected.push_back(id);
  }
  Put(server, "Condition", "out", ConditionJson("p", kCs, "c"));
  Put(server, "ValueSet", "ab",
      ValueSetJson("ab", R"("compose":{"include":[)" + Include(kCs, Concepts({"a", "b"})) + "]}"));
  std::string query = "/fhir/" + In("ab") + "&_count=2";
  EXPECT_EQ(PagedIds(server, query), expected);
  auto first = TestServer::Json(server.Get(query + "&_total=accurate"));
  EXPECT_EQ(first.at("total").as_int64(), 5);
  EXPECT_EQ(PagedIds(server, "/fhir/Condition?code:not-in=" + std::string(kVs) + "ab&_count=1"),
            Names{"out"});
}

TEST_F(FhirSearchTerminology, ConditionalCreateMatchesThroughTheValueSet) {
  std::string condition = "code:in=" + std::string(kVs) + "diabetes-listed&patient=p3";
  auto existing = server_.Send("POST", "/fhir/Condition", ConditionJson("p3", kSnomed, "44054006"),
                               {{"If-None-Exist", condition}});
  EXPECT_EQ(existing.status, 200) << existing.body;
  EXPECT_EQ(Search("Condition?patient=p3"), (Names{"c5", "c6", "c7"}));
  auto unknown = server_.Send("POST", "/fhir/Condition", ConditionJson("p3", kSnomed, "1"),
                              {{"If-None-Exist", "code:in=" + std::string(kVs) + "nowhere"}});
  EXPECT_EQ(unknown.status, 400) << unknown.body;
}

TEST_F(FhirSearchTerminology, UnknownValueSetIs400NotAnEmptyResult) {
  ExpectRefused(In("nowhere"), "ValueSet http://example.org/fhir/ValueSet/nowhere is not stored");
  ExpectRefused("Condition?code:not-in=ValueSet/nowhere", "is not stored on this server");
}

TEST_F(FhirSearchTerminology, FilterThatCannotBeExpandedHereIs400) {
  Put(server_, "ValueSet", "regex",
      ValueSetJson("regex", R"("compose":{"include":[)" +
                                Include(kCs, R"("filter":[{"property":"concept","op":"regex",
                                  "value":"t.*"}])") +
                                "]}"));
  ExpectRefused(In("regex"), "the filter 'concept regex t.*' on " + std::string(kCs) +
                                 " in ValueSet " + kVs + "regex cannot be expanded here");
  Put(server_, "ValueSet", "foreign",
      ValueSetJson("foreign",
                   R"("compose":{"include":[)" + Include(kSnomed, IsA("is-a", "73211009")) + "]}"));
  ExpectRefused(In("foreign"), "no CodeSystem http://snomed.info/sct is stored on this server");
  Put(server_, "ValueSet", "unknown-code",
      ValueSetJson("unknown-code",
                   R"("compose":{"include":[)" + Include(kCs, IsA("is-a", "nope")) + "]}"));
  ExpectRefused(In("unknown-code"), "names a code that CodeSystem");
}

TEST_F(FhirSearchTerminology, ValueSetsIncludingEachOtherAre400) {
  Put(server_, "ValueSet", "loop-a",
      ValueSetJson("loop-a", std::string(R"("compose":{"include":[{"valueSet":[")") + kVs +
                                 R"(loop-b"]}]})"));
  Put(server_, "ValueSet", "loop-b",
      ValueSetJson("loop-b", std::string(R"("compose":{"include":[{"valueSet":[")") + kVs +
                                 R"(loop-a"]}]})"));
  ExpectRefused(In("loop-a"), "includes itself");
}

// Each ValueSet of a chain of 30 names the next twice: expanded once each, not 2^30 times.
TEST_F(FhirSearchTerminology, AValueSetNamedManyTimesIsExpandedOnce) {
  for (int i = 0; i < 30; ++i) {
    const std::string next = std::string(kVs) + "twice-" + std::to_string(i + 1);
    Put(server_, "ValueSet", "twice-" + std::to_string(i),
        ValueSetJson("twice-" + std::to_string(i), R"("compose":{"include":[{"valueSet":[")" +
                                                       next + R"("]},{"valueSet":[")" + next +
                                                       R"("]}]})"));
  }
  Put(server_, "ValueSet", "twice-30",
      ValueSetJson("twice-30",
                   R"("compose":{"include":[)" + Include(kCs, Concepts({"hf"})) + "]}"));
  EXPECT_EQ(Search(In("twice-0")), Names{"c3"});
  EXPECT_EQ(Search(In("twice-0") + "," + kVs + "twice-0," + kVs + "twice-1"), Names{"c3"});
}

TEST_F(FhirSearchTerminology, PartialExpansionWithoutComposeIs400) {
  Put(server_, "ValueSet", "paged",
      ValueSetJson("paged", std::string(R"("expansion":{"timestamp":"2024-01-01T00:00:00Z",
        "total":40,"contains":[{"system":")") +
                                kCs + R"(","code":"hf"}]})"));
  ExpectRefused(In("paged"), "lists 1 of its 40 codes");
}

TEST(FhirSearchTerminologyLimits, ExpansionOverTheCapIs400TooLarge) {
  Names codes;
  for (int i = 0; i <= 10000; ++i) codes.push_back("k" + std::to_string(i));
  TestServer big(4 << 20);
  Put(big, "ValueSet", "huge",
      ValueSetJson("huge", R"("compose":{"include":[)" + Include(kCs, Concepts(codes)) + "]}"));
  auto response = big.Get("/fhir/" + In("huge"));
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.body.find("more than 10000 codes: too large"), std::string::npos)
      << response.body.substr(0, 300);
}

TEST_F(FhirSearchTerminology, AboveAndBelowNeedAStoredCodeSystemAndSystemAndCode) {
  ExpectRefused("Condition?code:below=http://snomed.info/sct%7C73211009",
                "no CodeSystem http://snomed.info/sct is stored on this server, so :below");
  ExpectRefused("Condition?code:below=diabetes", ":above and :below on a token take system|code");
  ExpectRefused("Condition?code:above=" + std::string(kCs) + "%7Cnope", "does not define nope");
}

TEST_F(FhirSearchTerminology, UriAboveAndBelowStillMatchByPrefix) {
  EXPECT_EQ(Search("ValueSet?url:below=" + std::string(kVs) + "diabetes"),
            (Names{"diabetes-below-but-t1", "diabetes-is-a", "diabetes-listed"}));
  EXPECT_EQ(Search("ValueSet?url:above=" + std::string(kVs) + "heart/part"), Names{"heart"});
  EXPECT_EQ(Search("CodeSystem?url:below=http://example.org/fhir/CodeSystem"), Names{"problems"});
}

}  // namespace
}  // namespace carerecord::testing
