// The one search budget (store::SearchBudget): depth, inner matches, bound values, included
// resources and database work, each refused with a 400 naming it; conditions as matching steps
// that result parameters cannot change; history pages that do not count every version.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <tuple>
#include <vector>

#include "interactions/search_request.h"
#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

class AdmitAll final : public store::ReadGate {
 public:
  bool Admit(const store::ItemFacts&) override { return true; }
  bool Permits(const store::ItemFacts&) override { return true; }
};

// A transaction of one Patient (id `patient`) with `n` Observations about it.
std::string PatientWithObservations(const std::string& patient, int n) {
  std::string entries = R"({"request":{"method":"PUT","url":"Patient/)" + patient +
                        R"("},"resource":{"resourceType":"Patient","id":")" + patient +
                        R"(","gender":"male"}})";
  for (int i = 0; i < n; ++i) {
    entries += R"(,{"request":{"method":"POST","url":"Observation"},"resource":{)"
               R"("resourceType":"Observation","status":"final","code":{"text":"x"},)"
               R"("subject":{"reference":"Patient/)" +
               patient + R"("}}})";
  }
  return R"({"resourceType":"Bundle","type":"transaction","entry":[)" + entries + "]}";
}

// A transaction of `n` male Patients, each with one Observation.
std::string PatientsWithAnObservationEach(int n) {
  std::string entries;
  for (int i = 0; i < n; ++i) {
    std::string id = "p" + std::to_string(i);
    if (!entries.empty()) entries += ",";
    entries += R"({"request":{"method":"PUT","url":"Patient/)" + id +
               R"("},"resource":{"resourceType":"Patient","id":")" + id +
               R"(","gender":"male"}},{"request":{"method":"POST","url":"Observation"},)"
               R"("resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},)"
               R"("subject":{"reference":"Patient/)" +
               id + R"("}}})";
  }
  return R"({"resourceType":"Bundle","type":"transaction","entry":[)" + entries + "]}";
}

store::SearchSpec Parse(const std::string& type, const interactions::QueryParams& params) {
  auto parsed = interactions::ParseSearch(type, params, /*strict=*/true);
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  return parsed.ok() ? parsed->spec : store::SearchSpec{};
}

std::string Diagnostics(const http::HttpResponse& response) {
  auto outcome = TestServer::Json(response);
  auto* issues = outcome.if_contains("issue");
  if (!issues || issues->as_array().empty()) return "";
  auto* text = issues->as_array()[0].as_object().if_contains("diagnostics");
  return text ? std::string(text->as_string()) : "";
}

TEST(FhirSearchBudget, RevincludeOverTheIncludeLimitIsRefusedNamingIt) {
  TestServer server;
  const int over = static_cast<int>(store::SearchBudget{}.max_included) + 1;
  auto loaded = server.Send("POST", "/fhir", PatientWithObservations("many", over));
  ASSERT_EQ(loaded.status, 200) << loaded.body.substr(0, 300);
  for (const char* target : {"/fhir/Patient?_id=many&_revinclude=Observation:subject",
                             "/fhir/Patient?_id=many&_revinclude=Observation:*"}) {
    auto response = server.Get(target);
    EXPECT_EQ(response.status, 400) << target << ": " << response.body.substr(0, 300);
    EXPECT_NE(Diagnostics(response).find("more than 5000"), std::string::npos)
        << Diagnostics(response);
  }
  // Within the limit the includes are all there.
  ASSERT_EQ(server.Send("POST", "/fhir", PatientWithObservations("few", 3)).status, 200);
  auto few = TestServer::Json(server.Get(
      "/fhir/Patient?_id=few&_revinclude=Observation:*&_include:iterate=Observation:subject"));
  ASSERT_TRUE(few.contains("entry")) << boost::json::serialize(few).substr(0, 400);
  EXPECT_EQ(few["entry"].as_array().size(), 4u);
  EXPECT_EQ(server.Get("/fhir/metadata").status, 200);
}

TEST(FhirSearchBudget, WorkBudgetStopsTheSearchAndLaterSearchesRunInFull) {
  TestServer server;
  ASSERT_EQ(server.Send("POST", "/fhir", PatientsWithAnObservationEach(1200)).status, 200);
  store::SearchSpec spec = Parse("Observation", {{"patient.gender", "male"}, {"_count", "1000"}});
  spec.budget.max_work = 20000;  // two looks of the progress handler
  AdmitAll gate;
  {
    auto session = server.store().OpenRead(gate);
    auto page = session->Search(spec);
    ASSERT_FALSE(page.ok());
    EXPECT_EQ(page.error().code, base::ErrorCode::kInvalid);
    EXPECT_NE(page.error().message.find("work budget"), std::string::npos) << page.error().message;
    EXPECT_EQ(page.error().location, "search budget");
  }
  // Later sessions (on the same pooled connection) run with their own budget.
  spec.budget = store::SearchBudget{};
  for (int i = 0; i < 3; ++i) {
    auto session = server.store().OpenRead(gate);
    auto page = session->Search(spec);
    ASSERT_TRUE(page.ok()) << page.error().message;
    EXPECT_EQ(page->matches.size(), 1000u);
  }
  auto response = server.Get("/fhir/Observation?patient.gender=male&_summary=count");
  EXPECT_EQ(TestServer::Json(response)["total"].as_int64(), 1200) << response.body;
}

TEST(FhirSearchBudget, TimeBudgetStopsTheSearchNamingIt) {
  TestServer server;
  ASSERT_EQ(server.Send("POST", "/fhir", PatientsWithAnObservationEach(1200)).status, 200);
  store::SearchSpec spec = Parse("Observation", {{"patient.gender", "male"}});
  spec.budget.max_milliseconds = 0;  // spent at the handler's first look
  AdmitAll gate;
  auto session = server.store().OpenRead(gate);
  auto page = session->Search(spec);
  ASSERT_FALSE(page.ok());
  EXPECT_NE(page.error().message.find("time budget"), std::string::npos) << page.error().message;
}

// A Bundle may run thousands of searches, each with its own budget: together they get only what
// is left of the request's time, so a search after the deadline stops at once.
TEST(FhirSearchBudget, SearchesGetOnlyWhatIsLeftOfTheRequestsTime) {
  TestServer server;
  ASSERT_EQ(server.Send("POST", "/fhir", PatientsWithAnObservationEach(1200)).status, 200);
  interactions::RequestContext ctx;
  ctx.base_url = server.base();
  ctx.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  auto late = server.service().Search(ctx, "Observation", {{"patient.gender", "male"}});
  EXPECT_EQ(late.status, 400) << late.body.substr(0, 300);
  EXPECT_NE(late.body.find("time budget"), std::string::npos) << late.body.substr(0, 300);
  ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto in_time = server.service().Search(ctx, "Observation", {{"patient.gender", "male"}});
  EXPECT_EQ(in_time.status, 200) << in_time.body.substr(0, 300);
}

// $everything reads a whole record's bodies on some pages: it spends a budget like a search.
TEST(FhirSearchBudget, EverythingStopsAtItsTimeBudget) {
  TestServer server;
  ASSERT_EQ(server.Send("POST", "/fhir", PatientWithObservations("big", 3000)).status, 200);
  store::EverythingQuery query;
  query.patient_id = "big";
  query.count = 5000;
  query.budget.max_milliseconds = 0;  // spent at the handler's first look
  AdmitAll gate;
  auto session = server.store().OpenRead(gate);
  auto page = session->Everything(query);
  ASSERT_FALSE(page.ok());
  EXPECT_NE(page.error().message.find("time budget"), std::string::npos) << page.error().message;
  query.budget = store::SearchBudget{};
  auto whole = server.store().OpenRead(gate)->Everything(query);
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_EQ(whole->matches.size(), 3001u);
}

TEST(FhirSearchBudget, InnerSearchesNestedPastTheDepthAreRefused) {
  TestServer server;
  Put(server, "Patient", "a", R"({"resourceType":"Patient","gender":"male"})");
  // Patient?link.link.link...gender=male, built directly: the parser already stops chains at 4.
  store::SearchSpec spec;
  spec.type = "Patient";
  store::SearchSpec* at = &spec;
  for (int depth = 0; depth <= static_cast<int>(store::SearchBudget{}.max_depth); ++depth) {
    store::Condition link;
    link.param = fhir::FindSearchParam("Patient", "link");
    store::SearchValue value;
    value.chain = std::make_shared<store::SearchSpec>();
    value.chain->type = "Patient";
    store::SearchSpec* inner = value.chain.get();
    link.values.push_back(std::move(value));
    at->conditions.push_back(std::move(link));
    at = inner;
  }
  store::Condition gender;
  gender.param = fhir::FindSearchParam("Patient", "gender");
  store::SearchValue male;
  male.code = "male";
  gender.values.push_back(male);
  at->conditions.push_back(gender);
  AdmitAll gate;
  auto session = server.store().OpenRead(gate);
  auto page = session->Search(spec);
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.error().code, base::ErrorCode::kInvalid);
  EXPECT_NE(page.error().message.find("nests more than"), std::string::npos)
      << page.error().message;
}

// An inner search with one match more than the limit is refused: it once stopped at the limit
// and answered with what it had found, silently leaving out the rest.
TEST(FhirSearchBudget, AnInnerSearchOneMatchPastItsLimitIsRefusedNotCutShort) {
  TestServer server;
  ASSERT_EQ(server.Send("POST", "/fhir", PatientsWithAnObservationEach(7)).status, 200);
  AdmitAll gate;
  for (const auto& [type, param, value] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"Patient", "_has:Observation:patient:status", "final"},
           {"Observation", "patient.gender", "male"}}) {
    store::SearchSpec spec = Parse(type, {{param, value}});
    spec.budget.max_inner_matches = 6;  // seven match
    auto session = server.store().OpenRead(gate);
    auto page = session->Search(spec);
    ASSERT_FALSE(page.ok()) << param << " answered " << page->matches.size();
    EXPECT_NE(page.error().message.find("more than 6"), std::string::npos) << page.error().message;
    spec.budget.max_inner_matches = 7;  // exactly the limit: all of them
    auto all = session->Search(spec);
    ASSERT_TRUE(all.ok()) << all.error().message;
    EXPECT_EQ(all->matches.size(), 7u) << param;
  }
}

TEST(FhirSearchBudget, TooManyBoundValuesAreRefusedNamingTheLimit) {
  TestServer server;
  Put(server, "Patient", "a", R"({"resourceType":"Patient","gender":"male"})");
  // 60 parameters of 200 values each: 12,000 values, past the 10,000 one statement may bind.
  std::string body;
  for (int p = 0; p < 60; ++p) {
    body += (p ? "&" : "") + std::string("family=");
    for (int v = 0; v < 200; ++v) body += (v ? ",n" : "n") + std::to_string(v);
  }
  auto response = server.Send("POST", "/fhir/Patient/_search", body,
                              {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(response.status, 400) << response.body.substr(0, 300);
  EXPECT_NE(Diagnostics(response).find("more than 10000 values"), std::string::npos)
      << Diagnostics(response);
  EXPECT_EQ(server.Get("/fhir/Patient?gender=male").status, 200);
}

TEST(FhirSearchBudget, ResultParametersNeverChangeWhatAConditionMatches) {
  TestServer server;
  Put(server, "Patient", "a", R"({"resourceType":"Patient","gender":"male"})");
  auto reader = server.store().OpenTransactionReader(store::TransactionReaderKeyForTests::Make());
  store::SearchSpec spec = Parse("Patient", {{"gender", "male"}});
  std::vector<store::SearchSpec> hiding(4, spec);
  hiding[0].count_only = true;  // _summary=count
  hiding[0].count = 0;          // _count=0
  hiding[1].cursor = "n999999999";
  hiding[2].total = store::TotalMode::kAccurate;
  hiding[2].sort.push_back(store::SortKey{nullptr, store::SortKey::Special::kId, true});
  hiding[3].includes.push_back(store::IncludeSpec{"Patient", nullptr, "", true, true});
  for (size_t i = 0; i < hiding.size(); ++i) {
    auto ids = reader->MatchIds(hiding[i], 2);
    ASSERT_TRUE(ids.ok()) << i << ": " << ids.error().message;
    EXPECT_EQ(ids.value(), std::vector<std::string>{"a"}) << i;
  }
}

TEST(FhirSearchBudget, HistoryCountsOnTheFirstPageOnlyUnlessAskedForTotal) {
  TestServer server;
  for (int v = 0; v < 5; ++v) {
    Put(server, "Patient", "h", R"({"resourceType":"Patient","gender":"male"})");
  }
  auto first = TestServer::Json(server.Get("/fhir/Patient/h/_history?_count=2"));
  EXPECT_EQ(first["total"].as_int64(), 5);
  std::string next = Link(first, "next");
  ASSERT_FALSE(next.empty());
  auto second = TestServer::Json(server.Get(next));
  EXPECT_FALSE(second.contains("total")) << boost::json::serialize(second).substr(0, 300);
  ASSERT_TRUE(second.contains("entry"));
  EXPECT_EQ(second["entry"].as_array().size(), 2u);
  auto asked = TestServer::Json(server.Get(next + "&_total=accurate"));
  EXPECT_EQ(asked["total"].as_int64(), 5);
  auto system = TestServer::Json(server.Get("/fhir/_history?_total=accurate&_count=1"));
  EXPECT_EQ(system["total"].as_int64(), 5);
  EXPECT_EQ(server.Get("/fhir/_history?_total=sometimes").status, 400);
}

}  // namespace
}  // namespace carerecord::testing
