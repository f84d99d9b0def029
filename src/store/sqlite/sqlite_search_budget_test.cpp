#include "store/sqlite/sqlite_search_budget.h"

#include <gtest/gtest.h>

#include <new>

namespace carerecord::store {
namespace {

// About a million SQLite VM steps.
constexpr const char* kBusyStatement =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) "
    "SELECT count(*) FROM c";

base::Result<bool> RunBusyStatement(SqliteConnection& db) {
  auto stmt = db.Prepare(kBusyStatement);
  if (!stmt.ok()) return stmt.error();
  return stmt->Step();
}

TEST(SearchRun, WorkBudgetInterruptsAndIsExplainedAsA400) {
  auto db = SqliteConnection::Open(":memory:", false);
  ASSERT_TRUE(db.ok());
  SearchBudget budget;
  budget.max_work = SearchRun::kStepsPerCheck;
  SearchRun run(**db, budget);
  auto stepped = RunBusyStatement(**db);
  ASSERT_FALSE(stepped.ok());
  base::Error explained = run.Explain(stepped.error());
  EXPECT_EQ(explained.code, base::ErrorCode::kInvalid);
  EXPECT_EQ(explained.location, "search budget");
  EXPECT_NE(explained.message.find("work budget"), std::string::npos) << explained.message;
}

TEST(SearchRun, EndingTheRunRemovesItsHandlerFromTheConnection) {
  auto db = SqliteConnection::Open(":memory:", false);
  ASSERT_TRUE(db.ok());
  SearchBudget budget;
  budget.max_work = SearchRun::kStepsPerCheck;
  // The run lives in storage that outlasts it, so a handler left behind would still find a
  // spent budget (rather than freed memory) and interrupt the next statement.
  alignas(SearchRun) unsigned char storage[sizeof(SearchRun)];
  auto* run = new (storage) SearchRun(**db, budget);
  EXPECT_FALSE(RunBusyStatement(**db).ok());
  run->~SearchRun();
  auto stepped = RunBusyStatement(**db);
  ASSERT_TRUE(stepped.ok()) << stepped.error().message;
  EXPECT_TRUE(stepped.value());
}

TEST(SearchRun, OtherFailuresPassThroughUnexplained) {
  auto db = SqliteConnection::Open(":memory:", false);
  ASSERT_TRUE(db.ok());
  SearchRun run(**db, SearchBudget{});
  ASSERT_TRUE(RunBusyStatement(**db).ok());
  base::Error other = base::MakeError(base::ErrorCode::kInternal, "disk I/O error");
  EXPECT_EQ(run.Explain(other).code, base::ErrorCode::kInternal);
  EXPECT_TRUE(run.EnterInner("patient").ok());
  run.LeaveInner();
  EXPECT_FALSE(
      run.ChargeInnerMatches(SearchBudget{}.max_inner_matches + 1, "Patient", "patient").ok());
}

}  // namespace
}  // namespace carerecord::store
