// The store rebuilds its search indexes when they were written by another index format or other
// generated tables (as after an upgrade), and only then.
#include <gtest/gtest.h>

#include "store/sqlite/sqlite_db.h"
#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

using Names = std::vector<std::string>;

void Exec(const std::filesystem::path& dir, const std::string& sql) {
  auto db = store::SqliteConnection::Open((dir / "carerecord.db").string(), false);
  ASSERT_TRUE(db.ok()) << db.error().message;
  auto status = (*db)->Exec(sql);
  ASSERT_TRUE(status.ok()) << status.error().message;
}

void PutRecord(TestServer& server) {
  Put(server, "Patient", "p1", R"({"resourceType":"Patient","name":[{"family":"Hardy"}],
    "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}]})");
  Put(server, "Observation", "bp", R"({"resourceType":"Observation","status":"final",
    "subject":{"reference":"Patient/p1"},
    "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
    "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
      "valueQuantity":{"value":150,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]})");
  Put(server, "Observation", "gone", R"({"resourceType":"Observation","status":"final",
    "subject":{"reference":"Patient/p1"},"code":{"coding":[{"code":"x"}]}})");
  ASSERT_EQ(server.Send("DELETE", "/fhir/Observation/gone").status, 200);
}

void ExpectSearchesWork(TestServer& server) {
  EXPECT_EQ(Ids(server, "/fhir/Observation?component-code-value-quantity=8480-6$gt140"),
            Names{"bp"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient.identifier=9000000009"), Names{"bp"});
  EXPECT_EQ(Ids(server, "/fhir/Patient?family=hardy"), Names{"p1"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?code=x"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p1&code=http://loinc.org%7C85354-9"),
            Names{"bp"});
}

TEST(StoreReindex, IndexesWrittenByAnotherFormatAreRebuiltOnOpen) {
  TestServer server;
  PutRecord(server);
  ExpectSearchesWork(server);
  // As a store written by an older build: no composite rows, a stray row, no format recorded.
  server.Restart([](const std::filesystem::path& dir) {
    Exec(dir,
         "DELETE FROM idx_composite; DELETE FROM idx_string; "
         "INSERT INTO idx_token SELECT param, 'x', part, system_id, pk FROM idx_token LIMIT 1; "
         "DELETE FROM store_meta WHERE key = 'index_format'");
  });
  ExpectSearchesWork(server);
}

TEST(StoreReindex, IndexesOfTheCurrentFormatAreLeftAsTheyAre) {
  TestServer server;
  PutRecord(server);
  server.Restart([](const std::filesystem::path& dir) { Exec(dir, "DELETE FROM idx_composite"); });
  // The format matches, so nothing is rebuilt (and the deliberately removed rows stay gone).
  EXPECT_EQ(Ids(server, "/fhir/Observation?component-code-value-quantity=8480-6$gt140"), Names{});
  server.Restart([](const std::filesystem::path& dir) {
    Exec(dir, "UPDATE store_meta SET value = '1:0000' WHERE key = 'index_format'");
  });
  ExpectSearchesWork(server);
}

}  // namespace
}  // namespace carerecord::testing
