// HTTP integration tests of _text (the narrative) and _content (all of a resource's text): every
// word of a value must appear, case- and accent-insensitively; comma is OR; they filter what
// other conditions find and are refused alone.
#include <gtest/gtest.h>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

using Names = std::vector<std::string>;

std::string Condition(const std::string& patient, const std::string& text,
                      const std::string& narrative) {
  return R"({"resourceType":"Condition","subject":{"reference":"Patient/)" + patient +
         R"("},"code":{"text":")" + text +
         R"("},"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">)" +
         narrative + R"(</div>"}})";
}

void PutRecords(TestServer& server) {
  Put(server, "Patient", "p1", R"({"resourceType":"Patient"})");
  Put(server, "Patient", "p2", R"({"resourceType":"Patient"})");
  Put(server, "Condition", "diabetes",
      Condition("p1", "Type 2 diabetes mellitus", "<p>Diet &amp; <b>Metformin</b></p>"));
  Put(server, "Condition", "asthma", Condition("p1", "Asthma", "Inhaler at night"));
  Put(server, "Condition", "other-diabetes",
      Condition("p2", "Diabetes mellitus", "Café visit advised"));
}

TEST(FhirSearchText, ContentMatchesEveryWordInAnyTextOfTheResource) {
  TestServer server;
  PutRecords(server);
  EXPECT_EQ(Ids(server, "/fhir/Condition?patient=p1&_content=diabetes"), Names{"diabetes"});
  EXPECT_EQ(Ids(server, "/fhir/Condition?patient=p1&_content=MELL%20diab"), Names{"diabetes"});
  EXPECT_EQ(Ids(server, "/fhir/Condition?patient=p1&_content=diabetes%20asthma"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Condition?patient=p1&_content=diabetes,inhaler"),
            (Names{"asthma", "diabetes"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient/p2/Condition?_content=diabetes"), Names{"other-diabetes"});
}

TEST(FhirSearchText, TextMatchesTheNarrativeWithoutMarkup) {
  TestServer server;
  PutRecords(server);
  EXPECT_EQ(Ids(server, "/fhir/Condition?patient=p1&_text=diet%20metformin"), Names{"diabetes"});
  EXPECT_EQ(Ids(server, "/fhir/Condition?patient=p1&_text=diet%20%26%20metformin"),
            Names{"diabetes"});
  EXPECT_EQ(Ids(server, "/fhir/Condition?patient=p1&_text=mellitus"), Names{});  // not narrative
  EXPECT_EQ(Ids(server, "/fhir/Condition?patient=p1&_text=%3Cb%3E"), Names{});   // no markup
  EXPECT_EQ(Ids(server, "/fhir/Condition?patient=p2&_text=cafe"), Names{"other-diabetes"});
}

TEST(FhirSearchText, AloneIsRefusedAndModifiersAreBad) {
  TestServer server;
  PutRecords(server);
  auto alone = server.Get("/fhir/Condition?_content=diabetes");
  EXPECT_EQ(alone.status, 400);
  EXPECT_NE(alone.body.find("_text and _content search within"), std::string::npos);
  // Conditions that do not narrow the search do not make it allowed.
  for (const char* query : {"_id:not=zzz&_content=diabetes", "code:not=x&_content=diabetes",
                            "code:missing=true&_text=diet", "_lastUpdated=gt1900&_content=x"}) {
    EXPECT_EQ(server.Get(std::string("/fhir/Condition?") + query).status, 400) << query;
  }
  EXPECT_EQ(Ids(server, "/fhir/Condition?_id=asthma,diabetes&_content=inhaler"), Names{"asthma"});
  EXPECT_EQ(server.Get("/fhir/Condition?patient=p1&_content:exact=diabetes").status, 400);
  EXPECT_EQ(server.Get("/fhir/Condition?patient=p1&_content=").status, 400);
}

TEST(FhirSearchText, PagesThroughMatchesOnly) {
  TestServer server;
  Put(server, "Patient", "p1", R"({"resourceType":"Patient"})");
  for (int i = 0; i < 7; ++i) {
    Put(server, "Condition", "c" + std::to_string(i),
        Condition("p1", i % 2 ? "Hypertension" : "Asthma", "x"));
  }
  auto page = TestServer::Json(server.Get("/fhir/Condition?patient=p1&_content=asthma&_count=2"));
  EXPECT_EQ(page["entry"].as_array().size(), 2u);
  EXPECT_EQ(Ids(server, "/fhir/Condition?patient=p1&_content=asthma&_count=10"),
            (Names{"c0", "c2", "c4", "c6"}));
  auto counted = TestServer::Json(
      server.Get("/fhir/Condition?patient=p1&_content=hypertension&_summary=count"));
  EXPECT_EQ(counted["total"].as_int64(), 3);
}

TEST(FhirSearchTextLimits, MoreBodiesThanTheCapIs400NotASlowScan) {
  TestServer server(8 << 20);
  Put(server, "Patient", "p1", R"({"resourceType":"Patient"})");
  for (int half = 0; half < 2; ++half) {  // 20,001 Observations, in two Bundles of the most
    std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
    for (int i = 0; i < 10000 + half; ++i) {
      bundle += (i ? "," : "") + std::string(R"({"resource":{"resourceType":"Observation",)") +
                R"("status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}},)" +
                R"("request":{"method":"POST","url":"Observation"}})";
    }
    bundle += "]}";
    ASSERT_EQ(server.Send("POST", "/fhir", bundle).status, 200);
  }
  auto response = server.Get("/fhir/Observation?patient=p1&_content=nothing");
  EXPECT_EQ(response.status, 400) << response.body.substr(0, 300);
  EXPECT_NE(response.body.find("narrow the search"), std::string::npos);
}

}  // namespace
}  // namespace carerecord::testing
