// SqliteConnection::Reusable: statements kept by SQL text and handed out again, never one that
// answers for another text, other values, a stale schema or another user of the connection.
#include "store/sqlite/sqlite_db.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

namespace carerecord::store {
namespace {

std::unique_ptr<SqliteConnection> Memory() {
  auto db = SqliteConnection::Open(":memory:", false);
  EXPECT_TRUE(db.ok());
  return std::move(db).value();
}

TEST(SqliteReusable, ADroppedStatementIsHandedOutAgainForItsTextOnly) {
  auto db = Memory();
  sqlite3_stmt* first = nullptr;
  {
    auto stmt = db->Reusable("SELECT ?1 + 1");
    ASSERT_TRUE(stmt.ok());
    first = stmt->raw();
    stmt->Bind(1, int64_t{41});
    ASSERT_TRUE(stmt->Step().value());
    EXPECT_EQ(stmt->Int(0), 42);
  }
  EXPECT_EQ(db->reusable_count(), 1u);
  {
    auto other = db->Reusable("SELECT ?1 + 2");  // another text: another statement
    ASSERT_TRUE(other.ok());
    EXPECT_NE(other->raw(), first);
  }
  auto again = db->Reusable("SELECT ?1 + 1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->raw(), first);  // prepared once
  again->Bind(1, int64_t{1});
  ASSERT_TRUE(again->Step().value());
  EXPECT_EQ(again->Int(0), 2);
}

TEST(SqliteReusable, AReusedStatementKeepsNoValueBoundBefore) {
  auto db = Memory();
  {
    auto stmt = db->Reusable("SELECT ?1, ?2");
    ASSERT_TRUE(stmt.ok());
    stmt->Bind(1, int64_t{7}).Bind(2, std::string_view("secret"));
    ASSERT_TRUE(stmt->Step().value());
    EXPECT_EQ(stmt->Text(1), "secret");
  }
  auto stmt = db->Reusable("SELECT ?1, ?2");
  ASSERT_TRUE(stmt.ok());
  stmt->Bind(1, int64_t{8});  // the second left unbound: NULL, not last use's value
  ASSERT_TRUE(stmt->Step().value());
  EXPECT_EQ(stmt->Int(0), 8);
  EXPECT_TRUE(stmt->IsNull(1));
}

TEST(SqliteReusable, TextsWithOtherParameterCountsNeverShareAStatement) {
  auto db = Memory();
  for (int round = 0; round < 3; ++round) {
    for (int n = 1; n <= 5; ++n) {
      std::string sql = "SELECT 0";
      for (int i = 1; i <= n; ++i) sql += " + ?" + std::to_string(i);
      auto stmt = db->Reusable(sql);
      ASSERT_TRUE(stmt.ok());
      ASSERT_EQ(sqlite3_bind_parameter_count(stmt->raw()), n);
      for (int i = 1; i <= n; ++i) stmt->Bind(i, int64_t{i});
      ASSERT_TRUE(stmt->Step().value());
      EXPECT_EQ(stmt->Int(0), n * (n + 1) / 2);
    }
  }
  EXPECT_EQ(db->reusable_count(), 5u);
}

TEST(SqliteReusable, OneTextInUseTwiceAtOnceGetsTwoStatements) {
  // A search run inside another (a chain, _has) or the gate reading while a search steps may
  // ask for the text the outer one is stepping: it must not reset the outer one's rows.
  auto db = Memory();
  const std::string sql =
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) SELECT x FROM "
      "c";
  auto outer = db->Reusable(sql);
  ASSERT_TRUE(outer.ok());
  outer->Bind(1, int64_t{5});
  ASSERT_TRUE(outer->Step().value());
  EXPECT_EQ(outer->Int(0), 1);
  {
    auto inner = db->Reusable(sql);
    ASSERT_TRUE(inner.ok());
    EXPECT_NE(inner->raw(), outer->raw());
    inner->Bind(1, int64_t{2});
    int rows = 0;
    while (inner->Step().value()) ++rows;
    EXPECT_EQ(rows, 2);
  }
  int64_t last = 1;
  while (outer->Step().value()) {
    EXPECT_EQ(outer->Int(0), last + 1);
    last = outer->Int(0);
  }
  EXPECT_EQ(last, 5);  // the outer statement went on where it was
}

TEST(SqliteReusable, KeepsAtMostItsLimitAndTheMostRecentlyUsed) {
  auto db = Memory();
  const size_t limit = SqliteConnection::kReusableStatements;
  sqlite3_stmt* kept = nullptr;
  for (size_t i = 0; i < limit + 10; ++i) {
    auto stmt = db->Reusable("SELECT " + std::to_string(i));
    ASSERT_TRUE(stmt.ok());
    if (i == 0) kept = stmt->raw();
    if (i > 0) {  // the first text used again each time: never the least recently used
      auto first = db->Reusable("SELECT 0");
      ASSERT_TRUE(first.ok());
      EXPECT_EQ(first->raw(), kept);
    }
  }
  EXPECT_EQ(db->reusable_count(), limit);
}

TEST(SqliteReusable, AStatementKeptAcrossASchemaChangeReadsTheNewSchema) {
  std::random_device random;
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() /
      ("carerecord-reusable-" + std::to_string(random()) + std::to_string(random()) + ".db");
  {
    auto db = SqliteConnection::Open(file.string(), false);
    ASSERT_TRUE(db.ok());
    auto other = SqliteConnection::Open(file.string(), false);
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE((*db)->Exec("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1)").ok());
    const std::string sql = "SELECT * FROM t WHERE a >= ?1";
    {
      auto stmt = (*db)->Reusable(sql);
      ASSERT_TRUE(stmt.ok());
      stmt->Bind(1, int64_t{0});
      ASSERT_TRUE(stmt->Step().value());
      EXPECT_EQ(sqlite3_column_count(stmt->raw()), 1);
    }
    // Another connection replaces the table: other columns, another row.
    ASSERT_TRUE((*other)
                    ->Exec("DROP TABLE t; CREATE TABLE t (a INTEGER, b TEXT); "
                           "INSERT INTO t VALUES (5, 'new')")
                    .ok());
    auto stmt = (*db)->Reusable(sql);
    ASSERT_TRUE(stmt.ok());
    stmt->Bind(1, int64_t{0});
    auto row = stmt->Step();
    ASSERT_TRUE(row.ok()) << row.error().message;
    ASSERT_TRUE(row.value());
    EXPECT_EQ(sqlite3_column_count(stmt->raw()), 2);
    EXPECT_EQ(stmt->Int(0), 5);
    EXPECT_EQ(stmt->Text(1), "new");
    EXPECT_FALSE(stmt->Step().value());
  }
  std::error_code ec;
  std::filesystem::remove(file, ec);
}

TEST(SqliteReusable, AMovedStatementGoesBackOnce) {
  auto db = Memory();
  {
    auto stmt = db->Reusable("SELECT 1");
    ASSERT_TRUE(stmt.ok());
    SqliteStatement moved = std::move(stmt).value();
    SqliteStatement assigned;
    assigned = std::move(moved);
    ASSERT_TRUE(assigned.Step().value());
  }
  EXPECT_EQ(db->reusable_count(), 1u);
  auto a = db->Reusable("SELECT 1");
  auto b = db->Reusable("SELECT 1");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->raw(), b->raw());
}

}  // namespace
}  // namespace carerecord::store

namespace carerecord::store {
namespace {

// Cached is Reusable behind a pointer: it once handed every caller of a text one shared
// statement (a nested use reset the outer caller's rows) and kept every text without limit.
TEST(SqliteCached, OneTextInUseTwiceAtOnceGetsTwoStatementsAndTheOuterStepsOn) {
  auto db = Memory();
  const std::string sql =
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) SELECT x FROM "
      "c";
  auto outer = db->Cached(sql);
  ASSERT_TRUE(outer.ok());
  (*outer)->Bind(1, int64_t{5});
  ASSERT_TRUE((*outer)->Step().value());
  {
    auto inner = db->Cached(sql);
    ASSERT_TRUE(inner.ok());
    EXPECT_NE((*inner)->raw(), (*outer)->raw());
    (*inner)->Bind(1, int64_t{2});
    while ((*inner)->Step().value()) {
    }
  }
  int64_t last = (*outer)->Int(0);
  while ((*outer)->Step().value()) last = (*outer)->Int(0);
  EXPECT_EQ(last, 5);
}

TEST(SqliteCached, KeepsAtMostTheLimitAndAnEvictedTextIsPreparedAgain) {
  auto db = Memory();
  const size_t limit = SqliteConnection::kReusableStatements;
  for (size_t i = 0; i < 3 * limit; ++i) {
    auto stmt = db->Cached("SELECT " + std::to_string(i));
    ASSERT_TRUE(stmt.ok());
    ASSERT_TRUE((*stmt)->Step().value());
    EXPECT_EQ((*stmt)->Int(0), static_cast<int64_t>(i));
  }
  EXPECT_EQ(db->reusable_count(), limit);
  auto again = db->Cached("SELECT 0");  // long evicted
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Step().value());
  EXPECT_EQ((*again)->Int(0), 0);
}

}  // namespace
}  // namespace carerecord::store
