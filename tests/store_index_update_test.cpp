// An update writes only the index rows that differ from the replaced version's
// (ReplaceIndexRows): whatever it keeps, drops or adds, and whichever compartment it moves to,
// the resource must end indexed under exactly the rows a fresh create of the same body gets.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

constexpr const char* kIndexTables[] = {"idx_token",         "idx_string",   "idx_date",
                                        "idx_number",        "idx_quantity", "idx_reference",
                                        "idx_reference_url", "idx_uri",      "idx_composite"};

// Every index row of resource `type`/`id`, its own pk left out, as sorted text.
std::vector<std::string> IndexRows(TestServer& server, const std::string& type,
                                   const std::string& id) {
  sqlite3* db = nullptr;
  const std::string path = (server.data_dir() / "carerecord.db").string();
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  int64_t pk = 0;
  sqlite3_stmt* find = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db,
                               "SELECT r.pk FROM resource r JOIN res_type t ON t.id = r.type_id "
                               "WHERE t.name = ? AND r.id = ?",
                               -1, &find, nullptr),
            SQLITE_OK);
  sqlite3_bind_text(find, 1, type.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(find, 2, id.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(find) == SQLITE_ROW) pk = sqlite3_column_int64(find, 0);
  sqlite3_finalize(find);
  EXPECT_NE(pk, 0) << type << "/" << id;
  std::vector<std::string> rows;
  for (const char* table : kIndexTables) {
    sqlite3_stmt* stmt = nullptr;
    const std::string sql = std::string("SELECT * FROM ") + table + " WHERE pk = ?";
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    sqlite3_bind_int64(stmt, 1, pk);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::string row = table;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        if (std::string(sqlite3_column_name(stmt, c)) == "pk") continue;
        const unsigned char* text = sqlite3_column_text(stmt, c);
        row += "|" + std::string(text ? reinterpret_cast<const char*>(text) : "");
      }
      rows.push_back(row);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  std::sort(rows.begin(), rows.end());
  return rows;
}

json::object Patient(const std::string& family, const std::vector<std::string>& mrns,
                     const std::string& gender) {
  json::array identifiers;
  for (const std::string& mrn : mrns) {
    identifiers.push_back(json::object{{"system", "urn:test:mrn"}, {"value", mrn}});
  }
  return json::object{{"resourceType", "Patient"},
                      {"identifier", identifiers},
                      {"name", json::array{json::object{{"family", family},
                                                        {"given", json::array{"Ann", "Marie"}}}}},
                      {"gender", gender},
                      {"birthDate", "1970-03-04"}};
}

std::string Create(TestServer& server, const json::object& body) {
  const std::string type(body.at("resourceType").as_string());
  auto created = server.Send("POST", "/fhir/" + type, json::serialize(body));
  EXPECT_EQ(created.status, 201) << created.body;
  return std::string(TestServer::Json(created).at("id").as_string());
}

void Update(TestServer& server, const std::string& id, json::object body) {
  const std::string type(body.at("resourceType").as_string());
  body["id"] = id;
  auto updated = server.Send("PUT", "/fhir/" + type + "/" + id, json::serialize(body));
  ASSERT_EQ(updated.status, 200) << updated.body;
}

size_t Found(TestServer& server, const std::string& query) {
  auto found = server.Get("/fhir/" + query);
  EXPECT_EQ(found.status, 200) << query << ": " << found.body;
  const json::value bundle = TestServer::Json(found);
  auto* entries = bundle.as_object().if_contains("entry");
  return entries ? entries->as_array().size() : 0;
}

TEST(StoreIndexUpdate, AnUpdateEndsWithTheRowsOfAFreshCreate) {
  TestServer server;
  const std::string id = Create(server, Patient("Alpha", {"M1"}, "female"));
  // Keeps the given names, gender and birth date; changes the family; adds an identifier.
  const json::object second = Patient("Beta", {"M1", "M2"}, "female");
  Update(server, id, second);
  EXPECT_EQ(Found(server, "Patient?family=Alpha"), 0u);
  EXPECT_EQ(Found(server, "Patient?family=Beta&identifier=urn:test:mrn%7CM2"), 1u);
  EXPECT_EQ(IndexRows(server, "Patient", id), IndexRows(server, "Patient", Create(server, second)));
  // Drops an identifier and changes the gender; the rest stays.
  const json::object third = Patient("Beta", {"M2"}, "male");
  Update(server, id, third);
  EXPECT_EQ(Found(server, "Patient?gender=male&identifier=urn:test:mrn%7CM1"), 0u);
  EXPECT_EQ(Found(server, "Patient?gender=female&identifier=urn:test:mrn%7CM2"), 1u);  // `second`
  EXPECT_EQ(Found(server, "Patient?gender=male&identifier=urn:test:mrn%7CM2"), 1u);
  EXPECT_EQ(IndexRows(server, "Patient", id), IndexRows(server, "Patient", Create(server, third)));
}

TEST(StoreIndexUpdate, AResourceMovedToAnotherPatientIsIndexedInItsNewCompartmentOnly) {
  TestServer server;
  const std::string first = Create(server, Patient("First", {"P1"}, "female"));
  const std::string second = Create(server, Patient("Second", {"P2"}, "male"));
  auto observation = [](const std::string& patient, double value) {
    return json::object{
        {"resourceType", "Observation"},
        {"status", "final"},
        {"code", json::object{{"coding", json::array{json::object{{"system", "http://loinc.org"},
                                                                  {"code", "2345-7"}}}}}},
        {"subject", json::object{{"reference", "Patient/" + patient}}},
        {"effectiveDateTime", "2026-01-02T10:00:00Z"},
        {"valueQuantity", json::object{{"value", value},
                                       {"unit", "mmol/L"},
                                       {"system", "http://unitsofmeasure.org"},
                                       {"code", "mmol/L"}}}};
  };
  const std::string id = Create(server, observation(first, 5.1));
  // The same code and time, another patient (the compartment, so every row's partition,
  // changes) and another value.
  const json::object on_second = observation(second, 6.2);
  Update(server, id, on_second);
  EXPECT_EQ(IndexRows(server, "Observation", id),
            IndexRows(server, "Observation", Create(server, on_second)));
  EXPECT_EQ(Found(server, "Patient/" + first + "/Observation?code=http://loinc.org%7C2345-7"), 0u);
  EXPECT_EQ(Found(server, "Observation?subject=Patient/" + first), 0u);
  EXPECT_EQ(Found(server, "Observation?subject=Patient/" + second + "&value-quantity=6.2"), 2u);
  EXPECT_EQ(Found(server, "Observation?value-quantity=5.1"), 0u);
}

}  // namespace
}  // namespace carerecord::testing
