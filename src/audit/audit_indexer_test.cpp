#include "audit/audit_indexer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <vector>

#include "audit/audit_log.h"
#include "audit/audit_search.h"
#include "audit/audit_test_support.h"
#include "audit/audit_verify.h"

namespace carerecord::audit {
namespace {

using testing::SampleRecord;
using testing::TempDir;
using testing::WriteSampleLog;

std::vector<int64_t> Seqs(AuditSearch& search, AuditQuery query) {
  auto hits = search.Find(query);
  EXPECT_TRUE(hits.ok()) << hits.error().message;
  std::vector<int64_t> seqs;
  if (hits.ok()) {
    for (const AuditHit& hit : hits.value()) seqs.push_back(hit.seq);
  }
  return seqs;
}

void RemoveIndex(const std::filesystem::path& dir) {
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(dir / (std::string(kAuditSearchDatabaseFile) + suffix));
  }
}

// SampleRecord(n): user "user(n%3)", patient "pN", organisation by parity, one second apart.
AuditQuery ByUser(const std::string& user, int64_t count = 50) {
  AuditQuery query;
  query.all_of = {{"l|" + user}};
  query.count = count;
  return query;
}

TEST(AuditIndex, FollowsTheWriterOffTheAppendPathAndOpenCatchesItUp) {
  TempDir dir;
  AuditLogOptions options;
  options.directory = dir.path();
  options.durable = false;
  {
    auto log = AuditLog::Open(options);
    ASSERT_TRUE(log.ok()) << log.error().message;
    for (int i = 1; i <= 30; ++i) ASSERT_TRUE((*log)->Append(SampleRecord(i)).ok());
    // The index reaches the head on its own thread (a generous bound, not a timing figure).
    EXPECT_TRUE((*log)->WaitIndexed(30, std::chrono::seconds(60)));
    EXPECT_EQ((*log)->indexed_seq(), 30);
    (*log)->Close();
  }
  AuditSearch search(dir.path());
  EXPECT_EQ(Seqs(search, ByUser("user1")),
            (std::vector<int64_t>{28, 25, 22, 19, 16, 13, 10, 7, 4, 1}));
  // Without its index (deleted, or lost), a search still finds every entry: it reads them.
  RemoveIndex(dir.path());
  AuditSearch unindexed(dir.path());
  EXPECT_EQ(Seqs(unindexed, ByUser("user1")),
            (std::vector<int64_t>{28, 25, 22, 19, 16, 13, 10, 7, 4, 1}));
  AuditQuery page = ByUser("user2", 2);
  page.before_time_ms = SampleRecord(20).time_ms;
  page.before_seq = 20;
  EXPECT_EQ(Seqs(unindexed, page), (std::vector<int64_t>{17, 14, 11}));  // count + 1
  // Open indexes what its index has not reached before it answers.
  auto reopened = AuditLog::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  EXPECT_EQ((*reopened)->indexed_seq(), 30);
  AuditSearch indexed(dir.path());
  EXPECT_EQ(Seqs(indexed, page), (std::vector<int64_t>{17, 14, 11}));
  (*reopened)->Close();
}

TEST(AuditIndex, EntriesNotYetIndexedAreFoundBesideIndexedOnesNewestFirst) {
  TempDir dir;
  WriteSampleLog(dir.path(), 10);  // indexed by the next Open
  {
    auto indexer = AuditIndexer::Open(dir.path());
    ASSERT_TRUE(indexer.ok()) << indexer.error().message;
    EXPECT_EQ((*indexer)->indexed_seq(), 10);
  }
  // Ten more entries, then the index as it was at 10: as if it had not caught up yet.
  std::filesystem::copy_file(dir.path() / kAuditSearchDatabaseFile, dir.path() / "index-at-10");
  WriteSampleLog(dir.path(), 10, 11);
  RemoveIndex(dir.path());
  std::filesystem::rename(dir.path() / "index-at-10", dir.path() / kAuditSearchDatabaseFile);
  AuditSearch search(dir.path());
  // user0: 3, 6, 9 indexed; 12, 15, 18 only in the entries.
  EXPECT_EQ(Seqs(search, ByUser("user0")), (std::vector<int64_t>{18, 15, 12, 9, 6, 3}));
  EXPECT_EQ(Seqs(search, ByUser("user0", 3)), (std::vector<int64_t>{18, 15, 12, 9}));
  AuditQuery patient;
  patient.all_of = {{"p|p4", "p|p14"}};
  EXPECT_EQ(Seqs(search, patient), (std::vector<int64_t>{14, 4}));
}

TEST(AuditIndex, AnIndexAheadOfTheLogIsRebuiltFromTheEntries) {
  TempDir longer, shorter;
  WriteSampleLog(longer.path(), 10);
  { ASSERT_TRUE(AuditIndexer::Open(longer.path()).ok()); }
  WriteSampleLog(shorter.path(), 5, 101);
  RemoveIndex(shorter.path());
  std::filesystem::copy_file(longer.path() / kAuditSearchDatabaseFile,
                             shorter.path() / kAuditSearchDatabaseFile);
  auto indexer = AuditIndexer::Open(shorter.path());
  ASSERT_TRUE(indexer.ok()) << indexer.error().message;
  EXPECT_EQ((*indexer)->indexed_seq(), 5);
  AuditSearch search(shorter.path());
  AuditQuery patient;
  patient.all_of = {{"p|p103"}};
  EXPECT_EQ(Seqs(search, patient), (std::vector<int64_t>{3}));
  patient.all_of = {{"p|p3"}};  // the longer log's entry 3: not in this log
  EXPECT_TRUE(Seqs(search, patient).empty());
}

TEST(AuditIndex, AnEditedIndexNeverShowsAnEntryThatDoesNotMatch) {
  TempDir dir;
  WriteSampleLog(dir.path(), 6);
  { ASSERT_TRUE(AuditIndexer::Open(dir.path()).ok()); }
  // Entry 2 (user2) filed under user1 by someone with write access to the index file.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() / kAuditSearchDatabaseFile).c_str(), &db), SQLITE_OK);
  const std::string forge = "INSERT INTO audit_search(key, time_ms, seq) VALUES('l|user1', " +
                            std::to_string(SampleRecord(2).time_ms) + ", 2)";
  EXPECT_EQ(sqlite3_exec(db, forge.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  AuditSearch search(dir.path());
  EXPECT_EQ(Seqs(search, ByUser("user1")), (std::vector<int64_t>{4, 1}));
}

void IndexSql(const std::filesystem::path& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / kAuditSearchDatabaseFile).c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
}

// Rows removed from the index behind the indexer's back hid their entries from searches until
// the index was rebuilt, which nothing did (hostile 5b finding 11). Open counts the rows against
// the number written and rebuilds the index from the entries when they differ; verify then
// finds it whole.
TEST(AuditIndex, OpenRebuildsAnIndexWhoseRowCountDiffersFromWhatWasWritten) {
  TempDir dir;
  WriteSampleLog(dir.path(), 12);
  { ASSERT_TRUE(AuditIndexer::Open(dir.path()).ok()); }
  auto whole = VerifyAuditSearchIndex(dir.path());
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_TRUE(whole->ok) << whole->Summary();
  EXPECT_EQ(whole->indexed, 12);
  AuditQuery patient;
  patient.all_of = {{"p|p5"}};
  for (const char* edit : {"DELETE FROM audit_search WHERE key = 'p|p5' AND seq = 5",
                           "INSERT INTO audit_search(key, time_ms, seq) VALUES('p|p5', 1, 7)"}) {
    SCOPED_TRACE(edit);
    IndexSql(dir.path(), edit);
    auto edited = VerifyAuditSearchIndex(dir.path());
    ASSERT_TRUE(edited.ok());
    EXPECT_FALSE(edited->ok);
    EXPECT_EQ(edited->first_bad_seq, std::string(edit).find("DELETE") == 0 ? 5 : 7)
        << edited->Summary();
    {
      auto reopened = AuditIndexer::Open(dir.path());
      ASSERT_TRUE(reopened.ok()) << reopened.error().message;
      EXPECT_EQ((*reopened)->indexed_seq(), 12);
    }
    auto rebuilt = VerifyAuditSearchIndex(dir.path());
    ASSERT_TRUE(rebuilt.ok());
    EXPECT_TRUE(rebuilt->ok) << rebuilt->Summary();
    EXPECT_EQ(rebuilt->rows, whole->rows);
    AuditSearch search(dir.path());
    EXPECT_EQ(Seqs(search, patient), (std::vector<int64_t>{5}));
  }
  // A row changed for another keeps the count: Open cannot see it, verify does.
  IndexSql(dir.path(), "UPDATE audit_search SET key = 'p|p6' WHERE key = 'p|p5' AND seq = 5");
  { ASSERT_TRUE(AuditIndexer::Open(dir.path()).ok()); }
  auto swapped = VerifyAuditSearchIndex(dir.path());
  ASSERT_TRUE(swapped.ok());
  EXPECT_FALSE(swapped->ok);
  EXPECT_EQ(swapped->first_bad_seq, 5);
  EXPECT_NE(swapped->why.find("'p|p5'"), std::string::npos) << swapped->why;
}

// An index made before the count was kept is of format 1 and is rebuilt as a whole
// (audit_index_format_test); so a count removed from a current index (NULL: once "not known",
// counted as it stood) no longer lets rows removed with it go unseen: the index is rebuilt.
TEST(AuditIndex, AnIndexWhoseCountIsRemovedIsRebuilt) {
  TempDir dir;
  WriteSampleLog(dir.path(), 10);
  { ASSERT_TRUE(AuditIndexer::Open(dir.path()).ok()); }
  auto whole = VerifyAuditSearchIndex(dir.path());
  ASSERT_TRUE(whole.ok());
  ASSERT_TRUE(whole->ok) << whole->Summary();
  IndexSql(dir.path(),
           "DELETE FROM audit_search WHERE seq = 9; UPDATE audit_search_state SET keys = NULL");
  AuditQuery patient;
  patient.all_of = {{"p|p9"}};
  {
    AuditSearch search(dir.path());
    EXPECT_TRUE(Seqs(search, patient).empty());  // hidden until the next start
  }
  {
    auto reopened = AuditIndexer::Open(dir.path());
    ASSERT_TRUE(reopened.ok()) << reopened.error().message;
    EXPECT_EQ((*reopened)->indexed_seq(), 10);
  }
  auto rebuilt = VerifyAuditSearchIndex(dir.path());
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_TRUE(rebuilt->ok) << rebuilt->Summary();
  EXPECT_EQ(rebuilt->rows, whole->rows);
  AuditSearch search(dir.path());
  EXPECT_EQ(Seqs(search, patient), (std::vector<int64_t>{9}));
}

}  // namespace
}  // namespace carerecord::audit
