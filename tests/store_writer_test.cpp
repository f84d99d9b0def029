// The single writer under stress: a full disk, failing dictionary storage, concurrent writers'
// timestamps, and conditions (If-None-Exist) that must hold at commit without the writer
// running client searches.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fhir/fhir_date.h"
#include "interactions/search_request.h"
#include "interactions/write_preparation.h"
#include "tests/store_writer_support.h"
#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

// A connection of the test's own to the server's database file, for what HTTP cannot show
// (the order of versions, how bodies are encoded) and for injecting failures with triggers.
class SideDatabase {
 public:
  explicit SideDatabase(const TestServer& server) {
    std::string path = (server.data_dir() / "carerecord.db").string();
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 10000);
  }
  ~SideDatabase() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* message = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK)
        << sql << ": " << (message ? message : "");
    sqlite3_free(message);
  }
  std::vector<int64_t> Column(const std::string& sql) {
    std::vector<int64_t> out;
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    while (stmt && sqlite3_step(stmt) == SQLITE_ROW) out.push_back(sqlite3_column_int64(stmt, 0));
    sqlite3_finalize(stmt);
    return out;
  }
  int64_t Scalar(const std::string& sql) {
    auto column = Column(sql);
    return column.empty() ? -1 : column.front();
  }

 private:
  sqlite3* db_ = nullptr;
};

// Text that does not compress, so that bodies take pages.
std::string Letters(uint64_t& state, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    out.push_back(static_cast<char>('a' + (state >> 59) % 26));
  }
  return out;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

TEST(StoreWriter, AFullDiskIs503WithRetryAfterNamingNoInternalComponentAndWritesResume) {
  auto page_limit = std::make_shared<std::atomic<int64_t>>(0);
  TestServer server([page_limit](store::SqliteOptions& o) { o.max_page_count = page_limit; });
  std::mutex mutex;
  std::vector<std::string> acknowledged;
  uint64_t seed = 7;
  for (int i = 0; i < 20; ++i) {
    auto created = server.Send("POST", "/fhir/Patient", PatientBody("Before" + std::to_string(i)));
    ASSERT_EQ(created.status, 201) << created.body;
    acknowledged.emplace_back(TestServer::Json(created)["id"].as_string());
  }
  {
    SideDatabase db(server);
    page_limit->store(db.Scalar("PRAGMA page_count") + 40);
  }

  // Eight writers at once, so that a full disk fails transactions that share a commit group.
  std::map<int, int> statuses;
  http::HttpResponse refused;
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      AuthorizedClient client(server);
      uint64_t state = 1000 + t;
      for (int i = 0; i < 400; ++i) {
        auto response =
            client.Send("POST", "/fhir/Patient", {{"Content-Type", "application/fhir+json"}},
                        PatientBody("Writer" + std::to_string(t), Letters(state, 3000)));
        ASSERT_TRUE(response.ok());
        std::lock_guard lock(mutex);
        ++statuses[response->status];
        if (response->status == 201) {
          acknowledged.emplace_back(TestServer::Json(*response)["id"].as_string());
        } else if (refused.status != 503) {
          refused = *response;
        }
        if (response->status == 503 && statuses[503] > 20) return;
      }
    });
  }
  for (auto& writer : writers) writer.join();
  std::string seen;
  for (auto [status, n] : statuses) seen += std::to_string(status) + ":" + std::to_string(n) + " ";
  EXPECT_GT(statuses[503], 0) << seen;
  for (auto [status, n] : statuses) EXPECT_TRUE(status == 201 || status == 503) << seen;
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_FALSE(refused.Header("Retry-After").empty());
  auto outcome = TestServer::Json(refused);
  EXPECT_EQ(outcome["resourceType"], "OperationOutcome") << refused.body;
  for (const char* internal : {"database", "sqlite", "disk is full", "sql"}) {
    EXPECT_EQ(Lower(refused.body).find(internal), std::string::npos) << refused.body;
  }

  // Reads go on while the disk is full.
  EXPECT_EQ(server.Get("/fhir/Patient/" + acknowledged.front()).status, 200);
  EXPECT_EQ(server.Get("/fhir/Patient?family=Before3").status, 200);

  // Space returns: writes resume, and everything acknowledged is there, nothing else.
  page_limit->store(0);
  auto after = server.Send("POST", "/fhir/Patient", PatientBody("After", Letters(seed, 3000)));
  ASSERT_EQ(after.status, 201) << after.body;
  acknowledged.emplace_back(TestServer::Json(after)["id"].as_string());
  auto count = TestServer::Json(server.Get("/fhir/Patient?_summary=count"));
  EXPECT_EQ(count["total"].as_int64(), static_cast<int64_t>(acknowledged.size()));
  server.Restart();
  count = TestServer::Json(server.Get("/fhir/Patient?_summary=count"));
  EXPECT_EQ(count["total"].as_int64(), static_cast<int64_t>(acknowledged.size()));
  for (const std::string& id : acknowledged) {
    ASSERT_EQ(server.Get("/fhir/Patient/" + id).status, 200) << id;
  }
}

TEST(StoreWriter, AnInternalErrorIsA500ThatNamesNothingOfTheServersInsides) {
  TestServer server;
  auto created = server.Send("POST", "/fhir/Patient", PatientBody("Damaged", "x"));
  ASSERT_EQ(created.status, 201);
  std::string id(TestServer::Json(created)["id"].as_string());
  {
    SideDatabase db(server);
    db.Exec("UPDATE version SET body = X'5A00' WHERE pk = (SELECT pk FROM resource WHERE id = '" +
            id + "')");
  }
  auto read = server.Get("/fhir/Patient/" + id);
  EXPECT_EQ(read.status, 500);
  EXPECT_EQ(TestServer::Json(read)["resourceType"], "OperationOutcome") << read.body;
  for (const char* internal : {"database", "sqlite", "corrupt", "body", "zstd"}) {
    EXPECT_EQ(Lower(read.body).find(internal), std::string::npos) << read.body;
  }
  EXPECT_EQ(server.Get("/fhir/Patient?family=Damaged&_count=1").status, 500);
  EXPECT_EQ(server.Send("POST", "/fhir/Patient", PatientBody("Next")).status, 201);
}

// Posts Patients until the store has a dictionary for them, or fails the test after a deadline
// (a bound on a background retry, not a speed test).
void WriteUntilDictionary(TestServer& server, const std::string& family) {
  uint64_t state = 99;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!server.store().Codec().HasDictionary("Patient") &&
         std::chrono::steady_clock::now() < deadline) {
    auto created =
        server.Send("POST", "/fhir/Patient", PatientBody(family + Letters(state, 6), "x"));
    ASSERT_EQ(created.status, 201) << created.body;
  }
  EXPECT_TRUE(server.store().Codec().HasDictionary("Patient"));
}

// Bodies written before their type had a dictionary, still plainly compressed.
int64_t PlainPatientBodies(SideDatabase& db) {
  return db.Scalar(
      "SELECT count(*) FROM version v JOIN resource r ON r.pk = v.pk JOIN res_type t "
      "ON t.id = r.type_id WHERE t.name = 'Patient' AND substr(v.body, 1, 1) IN (X'5A', X'7A')");
}

TEST(StoreWriter, AFailureToStoreADictionaryFailsNoUserCommitAndIsRetried) {
  TestServer server;
  SideDatabase db(server);
  db.Exec(
      "CREATE TRIGGER refuse_dictionary BEFORE INSERT ON body_dictionary "
      "BEGIN SELECT RAISE(FAIL, 'injected failure'); END");
  uint64_t state = 5;
  // Enough bodies to train on (400), and groups after the training to store it in.
  for (int i = 0; i < 700; ++i) {
    auto created = server.Send("POST", "/fhir/Patient",
                               PatientBody("Family" + Letters(state, 8), Letters(state, 40)));
    ASSERT_EQ(created.status, 201) << i << ": " << created.body;
  }
  EXPECT_FALSE(server.store().Codec().HasDictionary("Patient"));
  db.Exec("DROP TRIGGER refuse_dictionary");
  WriteUntilDictionary(server, "Later");
}

TEST(StoreWriter, AFailureToReencodeBodiesFailsNoUserCommitAndIsRetried) {
  TestServer server;
  SideDatabase db(server);
  db.Exec(
      "CREATE TRIGGER refuse_reencoding BEFORE UPDATE OF body ON version "
      "BEGIN SELECT RAISE(FAIL, 'injected failure'); END");
  uint64_t state = 6;
  for (int i = 0; i < 500; ++i) {
    auto created = server.Send("POST", "/fhir/Patient",
                               PatientBody("Family" + Letters(state, 8), Letters(state, 40)));
    ASSERT_EQ(created.status, 201) << i << ": " << created.body;
  }
  WriteUntilDictionary(server, "Later");
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(server.Send("POST", "/fhir/Patient", PatientBody("More")).status, 201);
  }
  EXPECT_GT(PlainPatientBodies(db), 0);
  db.Exec("DROP TRIGGER refuse_reencoding");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (PlainPatientBodies(db) > 0 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_EQ(server.Send("POST", "/fhir/Patient", PatientBody("Again")).status, 201);
  }
  EXPECT_EQ(PlainPatientBodies(db), 0);
}

TEST(StoreWriter, LastUpdatedNeverDecreasesInCommitOrderUnderConcurrentWriters) {
  TestServer server;
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 16; ++t) {
    writers.emplace_back([&, t] {
      AuthorizedClient client(server);
      for (int i = 0; i < 40; ++i) {
        std::string body;
        if (i % 8 == t % 8) {  // now and then a transaction that takes longer to prepare
          json::array entries;
          for (int e = 0; e < 40; ++e) {
            entries.push_back(
                json::object{{"resource", json::parse(PatientBody("Bundle" + std::to_string(e)))},
                             {"request", json::object{{"method", "POST"}, {"url", "Patient"}}}});
          }
          body = json::serialize(json::object{
              {"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}});
        }
        auto response =
            body.empty()
                ? client.Send("POST", "/fhir/Patient", {{"Content-Type", "application/fhir+json"}},
                              PatientBody("Single" + std::to_string(t)))
                : client.Send("POST", "/fhir", {{"Content-Type", "application/fhir+json"}}, body);
        if (!response.ok() || response->status >= 300) failures.fetch_add(1);
      }
    });
  }
  for (auto& writer : writers) writer.join();
  EXPECT_EQ(failures.load(), 0);
  SideDatabase db(server);
  auto stamps = db.Column("SELECT last_updated FROM version ORDER BY vid");
  ASSERT_GT(stamps.size(), 16u * 40u);
  int decreases = 0;
  for (size_t i = 1; i < stamps.size(); ++i) decreases += stamps[i] < stamps[i - 1];
  EXPECT_EQ(decreases, 0) << "of " << stamps.size() << " versions";
  // The body says the same as the row.
  auto bundle = TestServer::Json(server.Get("/fhir/Patient?_count=5"));
  for (auto& entry : bundle["entry"].as_array()) {
    auto& resource = entry.at("resource").as_object();
    auto read = server.Get("/fhir/Patient/" + std::string(resource.at("id").as_string()));
    EXPECT_EQ(TestServer::Json(read)["meta"].at("lastUpdated"),
              resource.at("meta").at("lastUpdated"));
  }
}

// The writer takes lastUpdated as it applies a write, after the body was compressed: every
// way of reading a version shows the time its row holds, as the write's response did.
TEST(StoreWriter, EveryReadShowsTheLastUpdatedTheCommitGave) {
  TestServer server;
  auto created = server.Send("POST", "/fhir/Patient", PatientBody("Stamped"));
  ASSERT_EQ(created.status, 201);
  auto patient = TestServer::Json(created);
  std::string id(patient["id"].as_string());
  auto updated = server.Send("PUT", "/fhir/Patient/" + id,
                             R"({"resourceType":"Patient","id":")" + id + R"(","gender":"other"})");
  ASSERT_EQ(updated.status, 200);
  auto bundle = server.Send("POST", "/fhir",
                            R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":)"
                            R"({"resourceType":"Observation","status":"final","code":{"text":"x"},)"
                            R"("subject":{"reference":"Patient/)" +
                                id + R"("}},"request":{"method":"POST","url":"Observation"}}]})",
                            {{"Prefer", "return=representation"}});
  ASSERT_EQ(bundle.status, 200) << bundle.body;
  auto observation = TestServer::Json(bundle)["entry"].at(0);
  ASSERT_TRUE(observation.as_object().contains("resource")) << bundle.body;
  observation = observation.at("resource");

  SideDatabase db(server);
  auto stamps = db.Column("SELECT last_updated FROM version ORDER BY vid");
  ASSERT_EQ(stamps.size(), 3u);
  auto instant = [](int64_t ms) { return json::value(fhir::FormatInstant(ms)); };
  auto stamp_of = [](const json::value& resource) { return resource.at("meta").at("lastUpdated"); };
  // Each body in the database was compressed before its stamp existed.
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM version WHERE unicode(body) BETWEEN 97 AND 122"), 3);

  EXPECT_EQ(stamp_of(patient), instant(stamps[0]));
  EXPECT_EQ(stamp_of(TestServer::Json(updated)), instant(stamps[1]));
  EXPECT_EQ(stamp_of(observation), instant(stamps[2]));
  EXPECT_EQ(stamp_of(TestServer::Json(server.Get("/fhir/Patient/" + id + "/_history/1"))),
            instant(stamps[0]));
  EXPECT_EQ(stamp_of(TestServer::Json(server.Get("/fhir/Patient/" + id))), instant(stamps[1]));
  auto history = TestServer::Json(server.Get("/fhir/Patient/" + id + "/_history"));
  EXPECT_EQ(stamp_of(history["entry"].at(0).at("resource")), instant(stamps[1]));
  EXPECT_EQ(stamp_of(history["entry"].at(1).at("resource")), instant(stamps[0]));
  auto everything = TestServer::Json(server.Get("/fhir/Patient/" + id + "/$everything"));
  for (auto& entry : everything["entry"].as_array()) {
    bool is_patient = entry.at("resource").at("resourceType") == "Patient";
    EXPECT_EQ(stamp_of(entry.at("resource")), instant(stamps[is_patient ? 1 : 2]));
  }
  auto search = TestServer::Json(server.Get("/fhir/Observation?subject=Patient/" + id));
  EXPECT_EQ(stamp_of(search["entry"].at(0).at("resource")), instant(stamps[2]));
}

TEST(StoreWriter, AnIfNoneExistIsNotSearchedAgainOnTheWriterWhenNothingItDependsOnChanged) {
  TestServer server;
  uint64_t state = 11;
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(
        server.Send("POST", "/fhir/Patient", PatientBody("Crowd", Letters(state, 200))).status,
        201);
  }
  // A costly condition: every male Patient's body is read for the word.
  for (int i = 0; i < 10; ++i) {
    std::string word = "word" + std::to_string(i);
    auto created = server.Send("POST", "/fhir/Patient", PatientBody("Unique", word),
                               {{"If-None-Exist", "gender=male&_content=" + word}});
    ASSERT_EQ(created.status, 201) << created.body;
    auto again = server.Send("POST", "/fhir/Patient", PatientBody("Unique", word),
                             {{"If-None-Exist", "gender=male&_content=" + word}});
    ASSERT_EQ(again.status, 200) << again.body;
  }
  auto stats = server.store().Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->checks_searched_by_writer, 0);
}

TEST(StoreWriter, ConcurrentConditionalCreatesMakeExactlyOneEvenWhileTheTypeIsWritten) {
  TestServer server;
  for (int round = 0; round < 20; ++round) {
    std::string mrn = "mrn-" + std::to_string(round);
    std::atomic<int> created{0}, found{0}, other{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&, t] {
        AuthorizedClient client(server);
        if (t >= 4) {  // plain writes of the same type, so the writer must check again
          for (int i = 0; i < 5; ++i) {
            auto r = client.Send("POST", "/fhir/Patient",
                                 {{"Content-Type", "application/fhir+json"}}, PatientBody("Noise"));
            if (!r.ok() || r->status != 201) other.fetch_add(1);
          }
          return;
        }
        auto r = client.Send("POST", "/fhir/Patient",
                             {{"Content-Type", "application/fhir+json"},
                              {"If-None-Exist", "identifier=urn:test:mrn|" + mrn}},
                             PatientBody("Racer", "", mrn));
        if (r.ok() && r->status == 201) {
          created.fetch_add(1);
        } else if (r.ok() && r->status == 200) {
          found.fetch_add(1);
        } else {
          other.fetch_add(1);
        }
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(created.load(), 1) << "round " << round;
    EXPECT_EQ(found.load(), 3) << "round " << round;
    EXPECT_EQ(other.load(), 0) << "round " << round;
    auto count =
        TestServer::Json(server.Get("/fhir/Patient?_summary=count&identifier=urn:test:mrn|" + mrn));
    EXPECT_EQ(count["total"].as_int64(), 1) << "round " << round;
  }
}

TEST(StoreWriter, ACostlyConditionBesideConstantWritesOfItsTypeCreatesOnceOrAsksToRetry) {
  TestServer server;
  uint64_t state = 3;
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(
        server.Send("POST", "/fhir/Patient", PatientBody("Crowd", Letters(state, 100))).status,
        201);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> plain_failures{0};
  std::thread plain([&] {
    AuthorizedClient client(server);
    while (!stop.load()) {
      auto r = client.Send("POST", "/fhir/Patient", {{"Content-Type", "application/fhir+json"}},
                           PatientBody("Plain"));
      if (!r.ok() || r->status != 201) plain_failures.fetch_add(1);
    }
  });
  std::map<int, int> statuses;
  for (int i = 0; i < 6; ++i) {
    std::string condition = "gender=male&_content=rare" + std::to_string(i) + "&link:missing=true";
    auto r = server.Send("POST", "/fhir/Patient", PatientBody("Rare", "rare" + std::to_string(i)),
                         {{"If-None-Exist", condition}});
    ++statuses[r.status];
    EXPECT_TRUE(r.status == 201 || r.status == 503) << r.status << " " << r.body;
    if (r.status == 503) {
      EXPECT_FALSE(r.Header("Retry-After").empty());
      EXPECT_EQ(TestServer::Json(r)["resourceType"], "OperationOutcome");
    }
    auto count = TestServer::Json(server.Get("/fhir/Patient?_summary=count&" + condition));
    EXPECT_EQ(count["total"].as_int64(), r.status == 201 ? 1 : 0) << condition;
  }
  stop = true;
  plain.join();
  EXPECT_EQ(plain_failures.load(), 0);
}

TEST(StoreWriter, ACheckWhoseTypesWereNotWrittenSinceItsSnapshotHoldsWithoutASearch) {
  TestServer server;
  ASSERT_EQ(server.Send("POST", "/fhir/Patient", PatientBody("Existing", "", "mrn-1")).status, 201);
  int64_t position = Position(server);
  ASSERT_GT(position, 0);
  // A write of another type after the snapshot does not make the writer search.
  ASSERT_EQ(server.Send("POST", "/fhir/Organization", R"({"resourceType":"Organization"})").status,
            201);
  // The snapshot is taken at its word (here it did not really see the match): the writer ran no
  // search, or it would have found it.
  auto committed = CreateChecked(server, {{"identifier", "urn:test:mrn|mrn-1"}}, position);
  EXPECT_TRUE(committed.ok()) << committed.error().message;
  EXPECT_EQ(server.store().Stats()->checks_searched_by_writer, 0);
}

TEST(StoreWriter, ACheckWhoseTypeWasWrittenSinceItsSnapshotIsSearchedAndCatchesTheMatch) {
  TestServer server;
  int64_t position = Position(server);
  ASSERT_EQ(server.Send("POST", "/fhir/Patient", PatientBody("Racer", "", "mrn-2")).status, 201);
  auto committed = CreateChecked(server, {{"identifier", "urn:test:mrn|mrn-2"}}, position);
  ASSERT_FALSE(committed.ok());
  EXPECT_EQ(committed.error().code, base::ErrorCode::kConflict);
  EXPECT_EQ(committed.error().message, "a matching Patient was created concurrently");
  EXPECT_EQ(server.store().Stats()->checks_searched_by_writer, 1);
  // With nothing matching, the same search lets the create through.
  auto other = CreateChecked(server, {{"identifier", "urn:test:mrn|mrn-3"}}, position);
  EXPECT_TRUE(other.ok()) << other.error().message;
}

// A store of 8,000 Patients, each with a narrative, posted as transactions.
void LoadCrowd(TestServer& server) {
  for (int first = 0; first < 8000; first += 1000) {
    json::array entries;
    for (int i = first; i < first + 1000; ++i) {
      entries.push_back(json::object{
          {"resource", json::parse(PatientBody("Crowd" + std::to_string(i), "routine visit"))},
          {"request", json::object{{"method", "POST"}, {"url", "Patient"}}}});
    }
    auto response =
        server.Send("POST", "/fhir",
                    json::serialize(json::object{
                        {"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}}));
    ASSERT_EQ(response.status, 200) << response.body.substr(0, 300);
  }
}

// A costly check the writer cannot narrow to what was written since the snapshot (here the
// snapshot is unknown; a chain or _has does the same) is handed back, not run on the writer.
TEST(StoreWriter, ACostlyCheckTheWriterCannotNarrowIsHandedBackNotRunOnTheWriter) {
  TestServer server;
  LoadCrowd(server);
  ASSERT_EQ(server.Send("POST", "/fhir/Patient", PatientBody("Later")).status, 201);
  // Every male Patient's body would be read: 8,000, far past the writer's budget.
  const interactions::QueryParams costly = {{"gender", "male"}, {"_content", "nowhere"}};
  auto committed = CreateChecked(server, costly, /*position=*/0);
  ASSERT_FALSE(committed.ok());
  EXPECT_EQ(committed.error().code, base::ErrorCode::kConflict);
  EXPECT_EQ(committed.error().location, store::kCommitCheckHandedBack);
  EXPECT_EQ(server.store().Stats()->checks_handed_back, 1);
  // Through the API the request is prepared again on a newer snapshot, and creates.
  auto created = server.Send("POST", "/fhir/Patient", PatientBody("Unique", "nowhere"),
                             {{"If-None-Exist", "gender=male&_content=nowhere"}});
  EXPECT_EQ(created.status, 201) << created.body;
}

// A condition on its own type's resources alone matched nothing at the snapshot, so only what was
// written since can match: the writer reads just that, however costly the full search, and
// still catches a match written in between.
TEST(StoreWriter, ACostlyCheckOnItsOwnTypeReadsOnlyWhatWasWrittenSinceItsSnapshot) {
  TestServer server;
  LoadCrowd(server);
  int64_t position = Position(server);
  ASSERT_EQ(server.Send("POST", "/fhir/Patient", PatientBody("Later")).status, 201);
  const interactions::QueryParams costly = {{"gender", "male"}, {"_content", "nowhere"}};
  auto committed = CreateChecked(server, costly, position);
  EXPECT_TRUE(committed.ok()) << committed.error().message;
  EXPECT_EQ(server.store().Stats()->checks_searched_by_writer, 1);
  EXPECT_EQ(server.store().Stats()->checks_handed_back, 0);

  position = Position(server);
  ASSERT_EQ(server.Send("POST", "/fhir/Patient", PatientBody("Racer", "somewhere")).status, 201);
  auto caught = CreateChecked(server, {{"gender", "male"}, {"_content", "somewhere"}}, position);
  ASSERT_FALSE(caught.ok());
  EXPECT_EQ(caught.error().message, "a matching Patient was created concurrently");
  EXPECT_EQ(server.store().Stats()->checks_handed_back, 0);
}

}  // namespace
}  // namespace carerecord::testing
