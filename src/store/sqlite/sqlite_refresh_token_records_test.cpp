// The refresh token rows: a rotation uses the presented token and stores its successor in one
// transaction, a used token coming back revokes its family, expired and unknown tokens are told
// apart from current ones, and a second connection sees the same state (another process).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "store/refresh_token_records.h"

namespace carerecord::store {
namespace {

namespace fs = std::filesystem;

RefreshTokenRecord Row(const std::string& hash, const std::string& family, int64_t expires_at) {
  RefreshTokenRecord row;
  row.token_hash = hash;
  row.family = family;
  row.client_id = "app";
  row.username = "dr.jones";
  row.organisation = "TEST1";
  row.role = "clinician";
  row.scope = "user/*.rs offline_access";
  row.auth_time = 100;
  row.issued_at = 100;
  row.expires_at = expires_at;
  return row;
}

class RefreshTokenRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() /
           ("carerecord-refresh-" + std::to_string(random()) + std::to_string(random()));
    records_ = std::move(OpenSqliteRefreshTokenRecords(dir_.string())).value();
  }
  void TearDown() override {
    records_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  RefreshRotation Rotate(const std::string& hash, int64_t now, const std::string& next) {
    auto rotation = records_->Rotate(hash, now, [&](const RefreshTokenRecord& old) {
      RefreshTokenRecord successor = old;
      successor.token_hash = next;
      successor.expires_at = now + 1000;
      return successor;
    });
    EXPECT_TRUE(rotation.ok()) << rotation.error().message;
    return rotation.ok() ? rotation.value() : RefreshRotation{};
  }

  fs::path dir_;
  std::unique_ptr<RefreshTokenRecords> records_;
};

TEST_F(RefreshTokenRecordsTest, ARotationUsesTheTokenAndStoresItsSuccessor) {
  ASSERT_TRUE(records_->Add(Row("h1", "f1", 1000)).ok());
  RefreshRotation first = Rotate("h1", 200, "h2");
  EXPECT_EQ(first.outcome, RefreshOutcome::kRotated);
  EXPECT_EQ(first.presented.username, "dr.jones");
  EXPECT_EQ(first.presented.scope, "user/*.rs offline_access");
  EXPECT_EQ(first.presented.family, "f1");
  EXPECT_EQ(Rotate("h2", 300, "h3").outcome, RefreshOutcome::kRotated);
}

TEST_F(RefreshTokenRecordsTest, AUsedTokenComingBackRevokesItsWholeFamily) {
  ASSERT_TRUE(records_->Add(Row("h1", "f1", 1000)).ok());
  ASSERT_TRUE(records_->Add(Row("other", "f2", 1000)).ok());
  ASSERT_EQ(Rotate("h1", 200, "h2").outcome, RefreshOutcome::kRotated);
  EXPECT_EQ(Rotate("h1", 210, "h2b").outcome, RefreshOutcome::kReused);
  EXPECT_EQ(Rotate("h2", 220, "h3").outcome, RefreshOutcome::kRevoked);
  // Another sign-in's family is untouched.
  EXPECT_EQ(Rotate("other", 230, "other2").outcome, RefreshOutcome::kRotated);
}

TEST_F(RefreshTokenRecordsTest, ExpiredUnknownAndRevokedAreRefused) {
  ASSERT_TRUE(records_->Add(Row("h1", "f1", 1000)).ok());
  ASSERT_TRUE(records_->Add(Row("g1", "g", 1000)).ok());
  EXPECT_EQ(Rotate("h1", 1000, "h2").outcome, RefreshOutcome::kExpired);
  EXPECT_EQ(Rotate("nothing", 10, "x").outcome, RefreshOutcome::kUnknown);
  ASSERT_TRUE(records_->RevokeFamily("g").ok());
  EXPECT_EQ(Rotate("g1", 10, "g2").outcome, RefreshOutcome::kRevoked);
  EXPECT_TRUE(records_->RevokeFamily("no such family").ok());
}

TEST_F(RefreshTokenRecordsTest, ADeclinedRotationLeavesTheTokenCurrent) {
  ASSERT_TRUE(records_->Add(Row("h1", "fam-1", 500)).ok());
  auto declined = records_->Rotate(
      "h1", 200, [](const RefreshTokenRecord&) { return std::optional<RefreshTokenRecord>(); });
  ASSERT_TRUE(declined.ok()) << declined.error().message;
  EXPECT_EQ(declined->outcome, RefreshOutcome::kDeclined);
  EXPECT_EQ(declined->presented.family, "fam-1");
  EXPECT_EQ(Rotate("h1", 210, "h2").outcome, RefreshOutcome::kRotated);  // not a reuse
}

TEST_F(RefreshTokenRecordsTest, DeleteExpiredKeepsCurrentTokens) {
  ASSERT_TRUE(records_->Add(Row("old", "f1", 100)).ok());
  ASSERT_TRUE(records_->Add(Row("new", "f2", 5000)).ok());
  EXPECT_EQ(records_->DeleteExpired(200).value(), 1);
  EXPECT_EQ(Rotate("old", 50, "x").outcome, RefreshOutcome::kUnknown);
  EXPECT_EQ(Rotate("new", 300, "new2").outcome, RefreshOutcome::kRotated);
}

TEST_F(RefreshTokenRecordsTest, AnotherConnectionSeesTheSameRotation) {
  auto other = std::move(OpenSqliteRefreshTokenRecords(dir_.string())).value();
  ASSERT_TRUE(records_->Add(Row("h1", "f1", 1000)).ok());
  ASSERT_EQ(Rotate("h1", 200, "h2").outcome, RefreshOutcome::kRotated);
  auto again = other->Rotate("h1", 210, [](const RefreshTokenRecord& old) { return old; });
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, RefreshOutcome::kReused);
}

}  // namespace
}  // namespace carerecord::store
