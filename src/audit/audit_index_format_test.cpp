// The search index's format 2 (audit_search.h): key rows for the keys that narrow a search, one
// tags row per entry for those nearly every entry carries (IsKeyRow). Every search parameter
// finds what reading every entry finds; an index of format 1 is not read and is rebuilt at Open;
// tags rows are counted, verified and re-checked like key rows.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "audit/audit_event.h"
#include "audit/audit_indexer.h"
#include "audit/audit_log.h"
#include "audit/audit_search.h"
#include "audit/audit_test_support.h"
#include "audit/audit_verify.h"

namespace carerecord::audit {
namespace {

using testing::TempDir;

constexpr int kEntries = 60;

// Entry n of a varied log: reads, searches, creates, intents, sign-ins; refusals and failures;
// several resource types; users and clients; one or two patients.
AuditRecord Varied(int n) {
  AuditRecord record;
  record.time_ms = 1765000000000 + (n / 2) * 1000;  // pairs share a time: seq breaks the tie
  record.address = "127.0.0.1";
  if (n % 10 == 9) {
    record.principal = "client:feed" + std::to_string(n % 2);
    record.client = "feed" + std::to_string(n % 2);
    record.action = n % 20 == 9 ? "sign-in" : "sign-in-failed";
    record.outcome = n % 20 == 9 ? "success" : "refused";
    return record;
  }
  record.principal = "user:user" + std::to_string(n % 4);
  record.user = "user" + std::to_string(n % 4);
  record.client = n % 3 == 0 ? "portal" : "";
  record.organisation = "A81001";
  record.role = "clinician";
  record.patients = {"p" + std::to_string(n % 7)};
  if (n % 11 == 0) record.patients.push_back("p" + std::to_string(100 + n));
  const int kind = n % 5;
  record.action = kind == 0   ? "read"
                  : kind == 1 ? "search"
                  : kind == 2 ? "create"
                  : kind == 3 ? "write-attempt"
                              : "read";
  if (kind == 3) record.detail = "intends create";
  record.method = kind == 2 || kind == 3 ? "POST" : "GET";
  record.path = kind == 1 ? "/fhir/Observation" : kind == 0 ? "/fhir/Patient/x" : "/fhir/Condition";
  if (kind == 0) record.resources = {"Patient/p" + std::to_string(n % 7)};
  if (kind == 1) {
    record.resources = {"Observation/o" + std::to_string(n),
                        "Observation/o" + std::to_string(n + 1)};
  }
  if (kind == 2) record.resources = {"Condition/c" + std::to_string(n)};
  record.items = static_cast<int64_t>(record.resources.size());
  record.outcome = n % 13 == 0 ? "refused" : n % 17 == 0 ? "failed" : "success";
  record.status = n % 13 == 0 ? 403 : n % 17 == 0 ? 500 : 200;
  return record;
}

void WriteVariedLog(const std::filesystem::path& dir) {
  AuditLogOptions options;
  options.directory = dir;
  options.durable = false;
  auto log = AuditLog::Open(options);
  ASSERT_TRUE(log.ok()) << log.error().message;
  for (int n = 1; n <= kEntries; ++n) ASSERT_TRUE((*log)->Append(Varied(n)).ok());
  (*log)->Close();
}

void RemoveIndex(const std::filesystem::path& dir) {
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(dir / (std::string(kAuditSearchDatabaseFile) + suffix));
  }
}

void IndexSql(const std::filesystem::path& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / kAuditSearchDatabaseFile).c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
}

std::vector<int64_t> Seqs(const std::filesystem::path& dir, const AuditQuery& query) {
  AuditSearch search(dir);
  auto hits = search.Find(query);
  EXPECT_TRUE(hits.ok()) << hits.error().message;
  std::vector<int64_t> seqs;
  if (hits.ok()) {
    for (const AuditHit& hit : hits.value()) seqs.push_back(hit.seq);
  }
  return seqs;
}

// Every page of `query`, followed by its cursors, as seqs.
std::vector<int64_t> AllPages(const std::filesystem::path& dir, AuditQuery query) {
  AuditSearch search(dir);
  std::vector<int64_t> seqs;
  for (int pages = 0; pages < 100; ++pages) {
    auto hits = search.Find(query);
    EXPECT_TRUE(hits.ok()) << hits.error().message;
    if (!hits.ok() || hits->empty()) break;
    const bool more = static_cast<int64_t>(hits->size()) > query.count;
    if (more) hits->pop_back();
    for (const AuditHit& hit : hits.value()) seqs.push_back(hit.seq);
    query.before_time_ms = hits->back().record.time_ms;
    query.before_seq = hits->back().seq;
    if (!more) break;
  }
  return seqs;
}

// The entries that answer `query`, newest first, by their keys alone (SearchKeysOf of the
// records written): the oracle.
std::vector<int64_t> Expected(const AuditQuery& query) {
  std::vector<std::pair<int64_t, int64_t>> found;  // time_ms, seq
  for (int n = 1; n <= kEntries; ++n) {
    const AuditRecord record = Varied(n);
    if (record.time_ms < query.from_ms || record.time_ms >= query.to_ms) continue;
    const std::vector<std::string> keys = SearchKeysOf(record);
    auto has = [&](const std::string& key) {
      return std::find(keys.begin(), keys.end(), key) != keys.end();
    };
    bool match = true;
    for (const auto& group : query.all_of)
      match = match && std::any_of(group.begin(), group.end(), has);
    match = match && std::none_of(query.none_of.begin(), query.none_of.end(), has);
    if (match) found.emplace_back(record.time_ms, n);
  }
  std::sort(found.rbegin(), found.rend());
  std::vector<int64_t> seqs;
  for (const auto& [time, seq] : found) seqs.push_back(seq);
  return seqs;
}

std::vector<AuditQuery> Queries() {
  std::vector<AuditQuery> queries;
  auto add = [&](std::vector<std::vector<std::string>> all_of,
                 std::vector<std::string> none_of = {}) {
    AuditQuery query;
    query.all_of = std::move(all_of);
    query.none_of = std::move(none_of);
    query.count = 4;
    queries.push_back(query);
  };
  add({{"p|p3"}});                                      // patient
  add({{"p|p3", "p|p111"}});                            // patient, two values
  add({{"a|user:user1"}});                              // agent
  add({{"l|portal"}});                                  // altid, a client
  add({{"l|user2"}, {"s|read"}});                       // altid and subtype
  add({{"s|search-type"}});                             // a tag alone: the time index drives
  add({{"s|create"}});                                  // an interaction and an intent's
  add({{"s|write-attempt"}});                           // an action
  add({{"s|110122"}});                                  // sign-ins
  add({{"o|4"}});                                       // outcome
  add({{"o|8"}});                                       // a 5xx
  add({{"o|0", "o|8"}});                                // a tag or a key row, one group
  add({{"o|0"}});                                       // a tag alone: the time index drives
  add({{"s|read"}, {"e|1"}});                           // tags alone, two groups
  add({{"s|read", "s|create"}, {"p|p2", "p|p3"}});      // a group of both kinds, not driving
  add({{"e|1"}});                                       // entity-type: a patient
  add({{"e|2"}, {"o|0"}});                              // data, succeeded
  add({{"e|Observation"}});                             // a resource type
  add({{"e|Patient", "e|Condition"}, {"o|4", "o|0"}});  // two groups of tags, two values each
  add({{"p|p2"}, {"s|read", "s|search-type"}, {"o|0"}});
  add({{"a|user:user3"}, {"l|user3"}, {"e|Condition"}});
  add({{"p|p4"}}, {"s|write-attempt"});              // a patient's own view
  add({}, {"s|write-attempt", "o|4"});               // none_of key rows alone
  add({{"a|user:user2"}}, {"s|read", "o|4"});        // none_of a tag and a key row
  add({{"l|user1"}}, {"p|p1"});                      // none_of a key row
  add({{"s|"}});                                     // no value: matches nothing
  add({{std::string("s|read") + kTagEnd + "o|0"}});  // a value holding the separator
  add({{"o|4", "p|p5"}});                            // key rows of two kinds, one group
  add({{"e|2", "p|p5"}}, {"o|0"});                   // both kinds, and none_of a tag
  AuditQuery dated;
  dated.from_ms = Varied(10).time_ms;
  dated.to_ms = Varied(41).time_ms;
  dated.count = 4;
  queries.push_back(dated);  // date alone
  dated.all_of = {{"o|0"}, {"e|Observation"}};
  queries.push_back(dated);  // date and tags
  return queries;
}

std::string Describe(const AuditQuery& query) {
  std::string text;
  for (const auto& group : query.all_of) {
    text += "[";
    for (const auto& key : group) text += key + " ";
    text += "] ";
  }
  text += "none_of [";
  for (const auto& key : query.none_of) text += key + " ";
  return text + "] from " + std::to_string(query.from_ms);
}

// Every search parameter, alone and together, through the index (format 2), through no index
// (every entry read and matched), and the oracle agree, page by page.
TEST(AuditIndexFormat, EverySearchParameterFindsWhatReadingEveryEntryFinds) {
  TempDir dir;
  WriteVariedLog(dir.path());
  { ASSERT_TRUE(AuditIndexer::Open(dir.path()).ok()); }
  auto verified = VerifyAuditSearchIndex(dir.path());
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  ASSERT_TRUE(verified->ok) << verified->Summary();
  ASSERT_EQ(verified->indexed, kEntries);
  TempDir unindexed;
  std::filesystem::copy_file(dir.path() / kAuditDatabaseFile,
                             unindexed.path() / kAuditDatabaseFile);
  for (const AuditQuery& query : Queries()) {
    SCOPED_TRACE(Describe(query));
    const std::vector<int64_t> expected = Expected(query);
    EXPECT_EQ(AllPages(dir.path(), query), expected);
    EXPECT_EQ(AllPages(unindexed.path(), query), expected);
    std::vector<int64_t> first(expected.begin(),
                               expected.begin() + std::min<size_t>(expected.size(), 5));
    EXPECT_EQ(Seqs(dir.path(), query), first);  // count + 1: the one more says a next page
  }
  // The parameters that matter found something (the oracle is not vacuous).
  AuditQuery sign_ins;
  sign_ins.all_of = {{"s|110122"}};
  EXPECT_EQ(Expected(sign_ins).size(), 6u);  // sign-ins and failed ones
  AuditQuery failed;
  failed.all_of = {{"o|8"}};
  EXPECT_FALSE(Expected(failed).empty());
}

// The keys nearly every entry carries have no key rows: one tags row per entry holds them.
TEST(AuditIndexFormat, TagsHaveNoKeyRowsAndEveryEntryOneTagsRow) {
  TempDir dir;
  WriteVariedLog(dir.path());
  { ASSERT_TRUE(AuditIndexer::Open(dir.path()).ok()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() / kAuditSearchDatabaseFile).c_str(), &db), SQLITE_OK);
  auto number = [&](const char* sql) {
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &statement, nullptr), SQLITE_OK) << sql;
    int64_t value = -1;
    if (sqlite3_step(statement) == SQLITE_ROW) value = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    return value;
  };
  EXPECT_EQ(number("SELECT COUNT(*) FROM audit_search WHERE key IN "
                   "('s|read', 's|search', 's|search-type', 'o|0', 'e|1', 'e|2')"),
            0);
  // The rarer values of the same parameters are key rows (a search by them drives from them).
  EXPECT_GT(number("SELECT COUNT(*) FROM audit_search WHERE key = 'o|4'"), 0);
  EXPECT_GT(number("SELECT COUNT(*) FROM audit_search WHERE key = 's|110122'"), 0);
  EXPECT_GT(number("SELECT COUNT(*) FROM audit_search WHERE key = 'e|Observation'"), 0);
  EXPECT_EQ(number("SELECT COUNT(*) FROM audit_search_entry"), kEntries);
  AuditQuery succeeded;
  succeeded.all_of = {{"o|0"}};
  EXPECT_EQ(number("SELECT COUNT(*) FROM audit_search_entry WHERE instr(tags, char(31) || 'o|0' "
                   "|| char(31)) > 0"),
            static_cast<int64_t>(Expected(succeeded).size()));
  EXPECT_EQ(number("SELECT format FROM audit_search_state"), kAuditSearchFormat);
  EXPECT_EQ(number("SELECT keys FROM audit_search_state"),
            number("SELECT (SELECT COUNT(*) FROM audit_search) + "
                   "(SELECT COUNT(*) FROM audit_search_entry)"));
  sqlite3_close(db);
}

// Writes DIR/audit-search.db as format 1 made it: a key row for every key, no tags rows, no
// format column; and, with_count, the row count of the builds that kept one.
void WriteFormat1Index(const std::filesystem::path& dir, bool with_count) {
  RemoveIndex(dir);
  std::string sql =
      "CREATE TABLE audit_search(key TEXT NOT NULL, time_ms INTEGER NOT NULL, seq INTEGER NOT "
      "NULL, PRIMARY KEY(key, time_ms, seq)) WITHOUT ROWID;"
      "CREATE TABLE audit_search_state(id INTEGER PRIMARY KEY CHECK(id = 1), indexed_seq INTEGER "
      "NOT NULL" +
      std::string(with_count ? ", keys INTEGER" : "") + ");";
  int64_t rows = 0;
  for (int n = 1; n <= kEntries; ++n) {
    const AuditRecord record = Varied(n);
    for (const std::string& key : SearchKeysOf(record)) {
      sql += "INSERT INTO audit_search VALUES('" + key + "', " + std::to_string(record.time_ms) +
             ", " + std::to_string(n) + ");";
      ++rows;
    }
  }
  sql += "INSERT INTO audit_search_state VALUES(1, " + std::to_string(kEntries) +
         (with_count ? ", " + std::to_string(rows) : std::string()) + ");";
  IndexSql(dir, sql);
}

// An index of format 1 (every key a row) is not read by searches (they read the log until it is
// rebuilt), `audit verify` says it is of an older format, and Open rebuilds it as format 2.
TEST(AuditIndexFormat, AnIndexOfFormat1IsRebuiltAtOpenAndNotReadBefore) {
  TempDir dir;
  WriteVariedLog(dir.path());
  WriteFormat1Index(dir.path(), /*with_count=*/true);
  // Format 1's rows, were they read as format 2's, would find nothing by a tag (no tags rows)
  // and this forged row would be a candidate: neither matters, they are not read.
  IndexSql(dir.path(), "DELETE FROM audit_search WHERE key = 'p|p3'");
  for (const AuditQuery& query : Queries()) {
    SCOPED_TRACE(Describe(query));
    EXPECT_EQ(AllPages(dir.path(), query), Expected(query));
  }
  auto old = VerifyAuditSearchIndex(dir.path());
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_TRUE(old->present);
  EXPECT_FALSE(old->ok);
  EXPECT_TRUE(old->other_format);
  EXPECT_EQ(old->first_bad_seq, 0);
  EXPECT_NE(old->Summary().find("format 1"), std::string::npos) << old->Summary();
  EXPECT_NE(old->Summary().find("rebuilt"), std::string::npos) << old->Summary();
  {
    auto indexer = AuditIndexer::Open(dir.path());
    ASSERT_TRUE(indexer.ok()) << indexer.error().message;
    EXPECT_EQ((*indexer)->indexed_seq(), kEntries);
  }
  auto rebuilt = VerifyAuditSearchIndex(dir.path());
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  EXPECT_TRUE(rebuilt->ok) << rebuilt->Summary();
  EXPECT_EQ(rebuilt->indexed, kEntries);
  for (const AuditQuery& query : Queries()) {
    SCOPED_TRACE(Describe(query));
    EXPECT_EQ(AllPages(dir.path(), query), Expected(query));
  }
  // The log's own Open (the server's) does the same: a format-1 index again, of the first
  // builds (no row count either), then AuditLog.
  WriteFormat1Index(dir.path(), /*with_count=*/false);
  AuditLogOptions options;
  options.directory = dir.path();
  options.durable = false;
  {
    auto log = AuditLog::Open(options);
    ASSERT_TRUE(log.ok()) << log.error().message;
    (*log)->Close();
  }
  auto reopened = VerifyAuditSearchIndex(dir.path());
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE(reopened->ok) << reopened->Summary();
}

// A tags row removed, added or edited behind the indexer's back: counted at Open (rebuilt),
// named by verify, and an edited one neither shows an entry that does not match nor shortens a
// page (every candidate re-checked, rows read until the page is full).
TEST(AuditIndexFormat, TagsRowsAreCountedVerifiedAndReChecked) {
  TempDir dir;
  WriteVariedLog(dir.path());
  { ASSERT_TRUE(AuditIndexer::Open(dir.path()).ok()); }
  AuditQuery searches;  // a tag: found through the tags rows
  searches.all_of = {{"s|search"}};
  searches.count = 1;
  const std::vector<int64_t> expected = Expected(searches);
  ASSERT_GE(expected.size(), 3u);
  for (const char* edit : {"DELETE FROM audit_search_entry WHERE seq = 13",
                           "INSERT INTO audit_search_entry VALUES(1000, 1, 'x')"}) {
    SCOPED_TRACE(edit);
    IndexSql(dir.path(), edit);
    auto edited = VerifyAuditSearchIndex(dir.path());
    ASSERT_TRUE(edited.ok());
    EXPECT_FALSE(edited->ok);
    EXPECT_EQ(edited->first_bad_seq, std::string(edit).find("DELETE") == 0 ? 13 : 1000)
        << edited->Summary();
    {
      auto reopened = AuditIndexer::Open(dir.path());
      ASSERT_TRUE(reopened.ok()) << reopened.error().message;
    }
    auto rebuilt = VerifyAuditSearchIndex(dir.path());
    ASSERT_TRUE(rebuilt.ok());
    EXPECT_TRUE(rebuilt->ok) << rebuilt->Summary();
    EXPECT_EQ(AllPages(dir.path(), searches), expected);
  }
  // Every entry after the newest search tagged as one: the first candidates are all wrong, and
  // the page still holds the two newest searches (count 1, and one more).
  IndexSql(dir.path(),
           "UPDATE audit_search_entry SET tags = tags || 's|search' || char(31) WHERE seq > " +
               std::to_string(expected.front()));
  auto edited = VerifyAuditSearchIndex(dir.path());
  ASSERT_TRUE(edited.ok());
  EXPECT_FALSE(edited->ok);
  EXPECT_EQ(edited->first_bad_seq, expected.front() + 1);
  EXPECT_NE(edited->why.find("tags row"), std::string::npos) << edited->why;
  EXPECT_EQ(Seqs(dir.path(), searches), (std::vector<int64_t>{expected[0], expected[1]}));
  EXPECT_EQ(AllPages(dir.path(), searches), expected);
}

}  // namespace
}  // namespace carerecord::audit
