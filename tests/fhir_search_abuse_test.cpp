// Hostile searches against a running server: every case is a 400 or a bounded answer, never a
// 500 or a crash, and the server answers normally afterwards.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

// A transaction of `n` male Patients, each with one Observation.
std::string PatientsWithObservations(int n) {
  std::string entries;
  for (int i = 0; i < n; ++i) {
    std::string uuid = "urn:uuid:00000000-0000-4000-8000-" + std::to_string(100000000000 + i);
    if (!entries.empty()) entries += ",";
    entries += R"({"fullUrl":")" + uuid +
               R"(","request":{"method":"POST","url":"Patient"},)"
               R"("resource":{"resourceType":"Patient","gender":"male"}},)"
               R"({"request":{"method":"POST","url":"Observation"},"resource":{)"
               R"("resourceType":"Observation","status":"final","code":{"text":"x"},)"
               R"("subject":{"reference":")" +
               uuid + R"("}}})";
  }
  return R"({"resourceType":"Bundle","type":"transaction","entry":[)" + entries + "]}";
}

class FhirSearchAbuse : public ::testing::Test {
 protected:
  void ExpectBounded(const std::string& target) {
    auto response = server_.Get(target);
    EXPECT_TRUE(response.status == 200 || response.status == 400)
        << target.substr(0, 200) << " -> " << response.status << " " << response.body;
    EXPECT_EQ(server_.Get("/fhir/metadata").status, 200) << target.substr(0, 200);
  }
  TestServer server_;
};

TEST_F(FhirSearchAbuse, ManyChainedFilterComparisonsOverManyTargetsAreAnswered) {
  // 30 comparisons over 1,200 targets each: the targets are bound as JSON arrays. (Debian's
  // SQLite allows 250,000 variables; about 9,000 targets each were a 500 when bound one by one,
  // too slow a search for a test.)
  ASSERT_EQ(server_.Send("POST", "/fhir", PatientsWithObservations(1200)).status, 200);
  std::string filter;
  for (int i = 0; i < 30; ++i) {
    if (!filter.empty()) filter += (i % 2 ? "%20or%20" : "%20and%20");
    filter += "patient.gender%20eq%20male";
  }
  auto response = server_.Get("/fhir/Observation?_filter=" + filter + "&_summary=count");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(TestServer::Json(response)["total"].as_int64(), 1200);
  auto chained = server_.Get("/fhir/Observation?patient.gender=male&_summary=count");
  EXPECT_EQ(TestServer::Json(chained)["total"].as_int64(), 1200);
}

TEST_F(FhirSearchAbuse, HostileParametersAreRefusedOrBounded) {
  ASSERT_EQ(server_.Send("POST", "/fhir", PatientsWithObservations(3)).status, 200);
  std::string many_or = "/fhir/Patient?gender=";
  for (int i = 0; i < 1000; ++i) many_or += (i ? ",male" : "male");
  std::string deep_filter = "/fhir/Patient?_filter=";
  for (int i = 0; i < 5000; ++i) deep_filter += "(";
  std::string deep_has = "/fhir/Patient?";
  for (int i = 0; i < 2800; ++i) deep_has += "_has:Patient:link:";
  for (const std::string& target : std::vector<std::string>{
           many_or, deep_filter, deep_has + "gender=male",
           "/fhir/Patient?_count=99999999999999999999", "/fhir/Patient?_count=-1",
           "/fhir/Patient?_sort=nonsense", "/fhir/Patient?_sort=,,,-",
           "/fhir/Patient?_include:iterate=*", "/fhir/Patient?_revinclude=*:*",
           "/fhir/Patient?_revinclude:iterate=*:*", "/fhir/Patient?name=" + std::string(10000, 'a'),
           "/fhir/Patient?name=%zz", "/fhir/Patient?name=%C3%28", "/fhir/Patient?%ff%fe=1",
           "/fhir/Patient?birthdate=gt99999-99-99", "/fhir/Observation?value-quantity=1e99999",
           "/fhir/Patient?_cursor=n99999999999999999999999"}) {
    ExpectBounded(target);
  }
}

// A Bundle's entry carries query strings of its own (request.url, ifNoneExist): they go through
// the one query decoder, with the URL's rules on percent-escapes and NUL characters.
TEST_F(FhirSearchAbuse, BundleEntryQueriesWithMalformedEscapesOrNulAreRefused) {
  Put(server_, "Patient", "a", R"({"resourceType":"Patient","name":[{"family":"Ab"}]})");
  auto transaction = [](const std::string& request) {
    return R"({"resourceType":"Bundle","type":"transaction","entry":[{"request":)" + request +
           R"(,"resource":{"resourceType":"Patient","name":[{"family":"Ab"}]}}]})";
  };
  for (const std::string& request : std::vector<std::string>{
           R"({"method":"PUT","url":"Patient?family=%zz"})",
           R"({"method":"PUT","url":"Patient?family=A%00zzzz"})",
           R"({"method":"POST","url":"Patient","ifNoneExist":"family=A%00zzzz"})",
           R"({"method":"POST","url":"Patient","ifNoneExist":"family=%zz"})",
           R"({"method":"DELETE","url":"Patient?family=%4"})"}) {
    auto response = server_.Send("POST", "/fhir", transaction(request));
    EXPECT_EQ(response.status, 400) << request << " -> " << response.body.substr(0, 300);
  }
  auto batch = server_.Send("POST", "/fhir",
                            R"({"resourceType":"Bundle","type":"batch","entry":[)"
                            R"({"request":{"method":"GET","url":"Patient?family=%zz"}},)"
                            R"({"request":{"method":"GET","url":"Patient?family=A%00zzzz"}}]})");
  ASSERT_EQ(batch.status, 200) << batch.body;
  auto batch_response = TestServer::Json(batch);
  ASSERT_TRUE(batch_response.contains("entry")) << batch.body;
  for (auto& entry : batch_response["entry"].as_array()) {
    EXPECT_EQ(entry.as_object()["response"].as_object()["status"].as_string(), "400")
        << boost::json::serialize(entry);
  }
  auto create = server_.Send("POST", "/fhir/Patient",
                             R"({"resourceType":"Patient","name":[{"family":"Ab"}]})",
                             {{"If-None-Exist", "family=A%00zzzz"}});
  EXPECT_EQ(create.status, 400) << create.body;
  // Nothing was created by any of them.
  EXPECT_EQ(Ids(server_, "/fhir/Patient?family=Ab"), std::vector<std::string>{"a"});
}

TEST_F(FhirSearchAbuse, MoreHostileSearchesAreRefusedOrBounded) {
  ASSERT_EQ(server_.Send("POST", "/fhir", PatientsWithObservations(3)).status, 200);
  std::string many_filters = "/fhir/Observation?";
  for (int i = 0; i < 30; ++i) many_filters += "_filter=patient.gender%20eq%20male&";
  std::string wide_has = "/fhir/Patient?";
  for (int i = 0; i < 150; ++i) wide_has += "_has:Observation:patient:status=final&";
  auto many_values = [](const std::string& stem) {
    std::string values;
    for (int i = 0; i < 499; ++i) values += (i ? "," : "") + stem + std::to_string(i % 10);
    return values;
  };
  std::string deep_chain = "/fhir/Observation?patient";
  for (int i = 0; i < 300; ++i) deep_chain += ".link";
  for (const std::string& target : std::vector<std::string>{
           many_filters, wide_has, deep_chain + ".gender=male",
           "/fhir/Patient?_revinclude=Observation:*&_revinclude:iterate=Observation:*",
           "/fhir/Patient?_revinclude=*:patient", "/fhir/Patient?_include=Patient:*:*",
           "/fhir/Observation?_include:iterate=Observation:*&_revinclude:iterate=Observation:*",
           "/fhir/Patient?_sort=" + std::string(5000, '-'), "/fhir/Patient?_sort=_id,-_id,_id",
           "/fhir/Patient?_count=0&_sort=gender", "/fhir/Patient?_cursor=p",
           "/fhir/Patient?_cursor=n-1&_sort=gender", "/fhir/Patient?_cursor=nzz&_sort=gender",
           "/fhir/Patient?_has:Observation:patient:_has:Observation:patient:status=final",
           "/fhir/Patient?_filter=" + std::string(10000, 'a'),
           "/fhir/Patient?name:contains=" + std::string(10000, '%'),
           "/fhir/Patient?name=%ED%A0%80",  // a UTF-16 surrogate, not UTF-8
           "/fhir/Patient?_id=" + std::string(2000, ','), "/fhir/_history?_total=accurate",
           "/fhir/Patient/_history?_cursor=h-5", "/fhir/Patient?_total=accurate&_summary=count",
           // 499 values of one parameter: SQLite's expression depth (a 500 naming it, once).
           "/fhir/Patient?family=" + many_values("v"),
           "/fhir/Observation?value-quantity=" + many_values("1"),
           "/fhir/Patient?birthdate=" + many_values("2001-01-0"),
           "/fhir/Observation?code=" + many_values("c"),
           // A 50,000-character :contains: SQLite's LIKE pattern limit (a 500, once).
           "/fhir/Patient?family:contains=" + std::string(50000, 'a')}) {
    ExpectBounded(target);
  }
}

TEST_F(FhirSearchAbuse, NumbersThatAreNotFhirDecimalsAre400) {
  for (const std::string value : {"NaN", "nan", "inf", "-inf", "Infinity", "neNaN", "gtinf",
                                  "1e400", "0x10", "+5", "5.", ".5", "1,2e"}) {
    for (const std::string param : {"Observation?value-quantity=", "RiskAssessment?probability="}) {
      auto response = server_.Get("/fhir/" + param + value);
      EXPECT_EQ(response.status, 400) << param << value << ": " << response.body.substr(0, 200);
    }
  }
  for (const std::string value : {"1e400", "-1e400", "gt1e400"}) {
    auto response = server_.Get("/fhir/Observation?value-quantity=" + value);
    EXPECT_NE(response.body.find("out of range"), std::string::npos)
        << value << ": " << response.body;
    EXPECT_EQ(response.body.find("not a number"), std::string::npos) << response.body;
  }
  EXPECT_EQ(server_.Get("/fhir/Observation?value-quantity=5.4").status, 200);
  EXPECT_EQ(server_.Get("/fhir/Observation?value-quantity=ge1e2").status, 200);
}

// A modifier the server lacks changes what a parameter means (link:below=x once returned every
// Patient): it is refused, also without Prefer: handling=strict.
TEST_F(FhirSearchAbuse, AModifierTheServerLacksIsRefusedNotDropped) {
  for (const char* target :
       {"/fhir/Patient?link:below=x", "/fhir/Patient?_id:above=x",
        "/fhir/Patient?_lastUpdated:missing=true", "/fhir/Patient?_id:missing=true",
        "/fhir/Observation?subject:in=x", "/fhir/Patient?family:iterate=x"}) {
    auto response = server_.Get(target);
    EXPECT_EQ(response.status, 400) << target << ": " << response.body.substr(0, 200);
  }
}

// A cursor is the server's own: one with trailing characters was once read as its number.
TEST_F(FhirSearchAbuse, CursorsWithTrailingCharactersAre400) {
  for (const char* target : {"/fhir/Patient/_history?_cursor=h12abc", "/fhir/Patient?_cursor=n5x",
                             "/fhir/Patient?_cursor=p+5", "/fhir/_history?_cursor=h"}) {
    auto response = server_.Get(target);
    EXPECT_EQ(response.status, 400) << target << ": " << response.body.substr(0, 200);
  }
}

// The string index keeps the first 1,024 bytes of a value: a 1 MB name once made one
// name:contains search read every byte of it. Searches see that prefix: a prefix or exact match
// of a long name still finds it; :contains finds text within the first 1,024 bytes only.
TEST_F(FhirSearchAbuse, LongStringsAreIndexedByTheirFirstKilobyte) {
  std::string given = "Start";
  for (int i = 0; given.size() < 5000; ++i) given += "x" + std::to_string(i);
  given += "Tailword";
  auto created = server_.Send(
      "PUT", "/fhir/Patient/long",
      R"({"resourceType":"Patient","id":"long","name":[{"given":[")" + given + R"("]}]})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto ids = [&](const std::string& query) {
    auto bundle = TestServer::Json(server_.Get("/fhir/Patient?" + query));
    std::vector<std::string> out;
    if (auto* entries = bundle.if_contains("entry")) {
      for (auto& e : entries->as_array()) {
        out.emplace_back(e.at("resource").at("id").as_string());
      }
    }
    return out;
  };
  const std::vector<std::string> found{"long"}, none;
  EXPECT_EQ(ids("given=" + given.substr(0, 2000)), found);
  EXPECT_EQ(ids("given:exact=" + given), found);
  EXPECT_EQ(ids("given:contains=x12x13"), found);
  EXPECT_EQ(ids("given:contains=tailword"), none);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((server_.data_dir() / "carerecord.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "SELECT max(length(CAST(value AS BLOB))) FROM idx_string", -1, &stmt,
                     nullptr);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_LE(sqlite3_column_int64(stmt, 0), 1024);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

// Bytes that are not UTF-8 once decoded were searched as U+FFFD: refused by the one decoder,
// in the URL, a POST _search body, a condition and a Bundle entry's URL alike.
TEST_F(FhirSearchAbuse, SearchValuesThatAreNotUtf8Are400) {
  Put(server_, "Patient", "a", R"({"resourceType":"Patient","name":[{"family":"Ab"}]})");
  for (const std::string target :
       {"/fhir/Patient?name=%ff%fe", "/fhir/Patient?identifier=%ff|%fe",
        "/fhir/Patient?_filter=name%20eq%20%22%ff%22", "/fhir/Patient?family=A%C3"}) {
    auto response = server_.Get(target);
    EXPECT_EQ(response.status, 400) << target << ": " << response.body.substr(0, 200);
    EXPECT_NE(response.body.find("not UTF-8"), std::string::npos) << response.body;
  }
  EXPECT_EQ(server_.Get("/fhir/Patient?name=\xff\xfe").status, 400);  // raw bytes
  auto form = server_.Send("POST", "/fhir/Patient/_search", "name=%ff%fe",
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(form.status, 400) << form.body.substr(0, 200);
  auto create = server_.Send("POST", "/fhir/Patient",
                             R"({"resourceType":"Patient","name":[{"family":"Ab"}]})",
                             {{"If-None-Exist", "family=%ff"}});
  EXPECT_EQ(create.status, 400) << create.body.substr(0, 200);
  // Escaped bytes in a Bundle entry's URL (raw ones are not JSON), in a batch (each entry a 400)
  // and in a transaction (the whole a 400).
  auto batch =
      server_.Send("POST", "/fhir",
                   "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":["
                   "{\"request\":{\"method\":\"GET\",\"url\":\"Patient?family=%ff\"}},"
                   "{\"request\":{\"method\":\"GET\",\"url\":\"Patient?identifier=%ff|%fe\"}}]}");
  ASSERT_EQ(batch.status, 200) << batch.body;
  auto batch_response = TestServer::Json(batch);
  for (auto& entry : batch_response["entry"].as_array()) {
    EXPECT_EQ(entry.as_object()["response"].as_object()["status"].as_string(), "400")
        << boost::json::serialize(entry);
  }
  auto transaction =
      server_.Send("POST", "/fhir",
                   R"({"resourceType":"Bundle","type":"transaction","entry":[{"request":)"
                   R"({"method":"PUT","url":"Patient?family=%fe"},)"
                   R"("resource":{"resourceType":"Patient","name":[{"family":"Ab"}]}}]})");
  EXPECT_EQ(transaction.status, 400) << transaction.body.substr(0, 300);
  EXPECT_EQ(Ids(server_, "/fhir/Patient?family=Ab"), std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace carerecord::testing
