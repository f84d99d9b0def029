// A statement a caller is still stepping is never reset by another use of the same SQL text on
// the same connection (SqliteConnection::Cached once handed every caller of a text one shared
// statement). Here the nesting is made on purpose: a gate that, asked about an item, runs a
// search on the very session asking it, whose own gating reads item facts with the same text.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "interactions/search_request.h"
#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

store::SearchSpec Parse(const std::string& type, const interactions::QueryParams& params) {
  auto parsed = interactions::ParseSearch(type, params, /*strict=*/true);
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  return parsed.ok() ? parsed->spec : store::SearchSpec{};
}

// Refuses every Observation, but first searches the session it gates (once, not again from
// within that search); records the facts each refusal is counted with.
class ReentrantGate final : public store::ReadGate {
 public:
  bool Admit(const store::ItemFacts& item) override {
    if (nested) return true;  // the inner search's Patients
    refused.push_back(std::string(item.type) + "/" + std::string(item.id));
    return false;
  }
  bool Permits(const store::ItemFacts& item) override {
    if (item.type != "Observation") return true;
    if (session && !nested) {
      nested = true;
      auto inner = session->Search(Parse("Patient", {{"gender", "male"}}));
      EXPECT_TRUE(inner.ok()) << (inner.ok() ? "" : inner.error().message);
      nested = false;
    }
    return false;
  }
  store::ReadSession* session = nullptr;
  bool nested = false;
  std::vector<std::string> refused;
};

TEST(StoreStatementNesting, AGateSearchingItsOwnSessionLeavesTheOuterRowAlone) {
  TestServer server;
  std::vector<std::string> observations;
  for (int i = 0; i < 3; ++i) {
    std::string patient = "p" + std::to_string(i);
    ASSERT_EQ(server
                  .Send("PUT", "/fhir/Patient/" + patient,
                        R"({"resourceType":"Patient","id":")" + patient + R"(","gender":"male"})")
                  .status,
              201);
    auto made = server.Send("POST", "/fhir/Observation",
                            R"({"resourceType":"Observation","status":"final","code":{"text":"x"},)"
                            R"("subject":{"reference":"Patient/)" +
                                patient + R"("}})");
    ASSERT_EQ(made.status, 201) << made.body;
    observations.push_back("Observation/" + std::string(TestServer::Json(made)["id"].as_string()));
  }
  ReentrantGate gate;
  auto session = server.store().OpenRead(gate);
  gate.session = session.get();
  // A counted search asks the gate about each match while the match's facts row is current, and
  // counts each refusal withheld with that row's facts: they must be the match's own.
  auto page = session->Search(Parse("Observation", {{"_summary", "count"}}));
  ASSERT_TRUE(page.ok()) << page.error().message;
  EXPECT_EQ(page->total, 0);
  EXPECT_EQ(gate.refused, observations);
}

}  // namespace
}  // namespace carerecord::testing
