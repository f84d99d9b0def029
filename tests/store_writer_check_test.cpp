// The writer's commit check of a conditional create by identifier (If-None-Exist:
// identifier=s|v, as every feed message's creates carry) after many writes since its snapshot:
// it is driven by the identifier's key and probes each candidate's versions for one written
// since (the plan; its cost is the profile's to show), and must answer as the walk over every
// version written since did: a match written or updated since is a conflict, several values
// find the one that matches, and no match lets the create through.
#include <gtest/gtest.h>

#include <string>

#include "fhir/fhir_date.h"
#include "interactions/search_request.h"
#include "interactions/write_preparation.h"
#include "tests/store_writer_support.h"
#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

TEST(StoreWriterCheck, AnIdentifierCheckAfterManyWritesSinceItsSnapshotIsAnswered) {
  TestServer server;
  const int64_t position = Position(server);
  // 8,000 Patients written after the snapshot (other identifiers), then the match.
  constexpr int kCrowd = 8000;
  for (int first = 0; first < kCrowd; first += 1000) {
    json::array entries;
    for (int i = first; i < first + 1000; ++i) {
      entries.push_back(json::object{
          {"resource", json::parse(PatientBody("Crowd", "", "crowd-" + std::to_string(i)))},
          {"request", json::object{{"method", "POST"}, {"url", "Patient"}}}});
    }
    auto response =
        server.Send("POST", "/fhir",
                    json::serialize(json::object{
                        {"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}}));
    ASSERT_EQ(response.status, 200) << response.body.substr(0, 300);
  }
  ASSERT_EQ(server.Send("POST", "/fhir/Patient", PatientBody("Racer", "", "mrn-2")).status, 201);

  auto committed = CreateChecked(server, {{"identifier", "urn:test:mrn|mrn-2"}}, position);
  ASSERT_FALSE(committed.ok());
  EXPECT_EQ(committed.error().message, "a matching Patient was created concurrently");
  EXPECT_NE(committed.error().location, store::kCommitCheckHandedBack);
  // Several identifiers, one of them written since: the match is caught.
  auto several = CreateChecked(
      server, {{"identifier", "urn:test:mrn|mrn-9,urn:test:mrn|crowd-7777"}}, position);
  ASSERT_FALSE(several.ok());
  EXPECT_EQ(several.error().message, "a matching Patient was created concurrently");
  // Nothing matching: the create goes through, answered by the writer, not handed back.
  auto other = CreateChecked(server, {{"identifier", "urn:test:mrn|mrn-3"}}, position);
  EXPECT_TRUE(other.ok()) << other.error().message;
  EXPECT_EQ(server.store().Stats()->checks_handed_back, 0);
  // One that matches but was written before the snapshot is not a candidate (it would have
  // matched on the snapshot); updated since, it is one again.
  const int64_t later = Position(server);
  auto unchanged = CreateChecked(server, {{"identifier", "urn:test:mrn|crowd-5"}}, later);
  EXPECT_TRUE(unchanged.ok()) << unchanged.error().message;
  auto found = server.Get("/fhir/Patient?identifier=urn:test:mrn%7Ccrowd-5");
  ASSERT_EQ(found.status, 200);
  json::object crowd5 = TestServer::Json(found).at("entry").at(0).at("resource").as_object();
  crowd5["name"] = json::array{json::object{{"family", "Renamed"}}};
  const std::string id(crowd5.at("id").as_string());
  ASSERT_EQ(server.Send("PUT", "/fhir/Patient/" + id, json::serialize(crowd5)).status, 200);
  auto updated = CreateChecked(server, {{"identifier", "urn:test:mrn|crowd-5"}}, later);
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.error().message, "a matching Patient was created concurrently");
}

}  // namespace
}  // namespace carerecord::testing
