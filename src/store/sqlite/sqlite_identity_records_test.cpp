// The directory's tables: what is stored comes back, duplicates are refused, the change counter
// moves with every directory change (and only then), and two connections to the file see each
// other's writes, as the command line and a running server do.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "store/identity_records.h"
#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace carerecord::store {
namespace {

namespace fs = std::filesystem;

class IdentityRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() /
           ("carerecord-identity-" + std::to_string(random()) + std::to_string(random()));
    records_ = std::move(OpenSqliteIdentityRecords(dir_.string())).value();
  }
  void TearDown() override {
    records_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  int64_t Change() { return records_->ChangeCounter().value(); }

  OrganisationRecord Org(std::string code) {
    OrganisationRecord org;
    org.ods_code = std::move(code);
    org.name = "Poole Hospital";
    org.kind = "hospital";
    return org;
  }
  UserRecord User(std::string username, std::string code) {
    UserRecord user;
    user.username = std::move(username);
    user.ods_code = std::move(code);
    user.role = "nurse";
    user.display_name = "Nurse";
    user.password_hash = "$argon2id$stand-in";
    return user;
  }

  fs::path dir_;
  std::unique_ptr<IdentityRecords> records_;
};

TEST_F(IdentityRecordsTest, WhatIsAddedComesBack) {
  ASSERT_TRUE(records_->AddOrganisation(Org("RDZ")).ok());
  auto user = records_->AddUser(User("jane", "RDZ"));
  ASSERT_TRUE(user.ok());
  EXPECT_GT(user->key, 0);
  ClientRecord client;
  client.client_id = "abc123";
  client.name = "Portal";
  client.ods_code = "RDZ";
  client.scope = "openid launch/patient";
  client.auth_kind = "public";
  client.redirect_uris = {"https://portal.example/cb", "http://127.0.0.1:3000/cb"};
  ASSERT_TRUE(records_->AddClient(client).ok());

  auto org = records_->FindOrganisation("RDZ");
  ASSERT_TRUE(org.ok() && org->has_value());
  EXPECT_EQ((*org)->name, "Poole Hospital");
  EXPECT_EQ((*org)->kind, "hospital");
  EXPECT_TRUE((*org)->enabled);
  auto found_user = records_->FindUser("jane");
  ASSERT_TRUE(found_user.ok() && found_user->has_value());
  EXPECT_EQ((*found_user)->ods_code, "RDZ");
  EXPECT_EQ((*found_user)->password_hash, "$argon2id$stand-in");
  EXPECT_EQ((*found_user)->key, user->key);
  auto found_client = records_->FindClient("abc123");
  ASSERT_TRUE(found_client.ok() && found_client->has_value());
  EXPECT_EQ((*found_client)->redirect_uris, client.redirect_uris);
  EXPECT_EQ((*found_client)->scope, client.scope);

  EXPECT_FALSE(records_->FindUser("nobody").value().has_value());
  EXPECT_FALSE(records_->FindClient("nobody").value().has_value());
  EXPECT_EQ(records_->ListOrganisations()->size(), 1u);
  EXPECT_EQ(records_->ListUsers()->size(), 1u);
  EXPECT_EQ(records_->ListClients()->size(), 1u);
}

TEST_F(IdentityRecordsTest, DuplicatesAndUnknownOrganisationsAreRefused) {
  ASSERT_TRUE(records_->AddOrganisation(Org("RDZ")).ok());
  EXPECT_EQ(records_->AddOrganisation(Org("RDZ")).error().code, base::ErrorCode::kConflict);
  ASSERT_TRUE(records_->AddUser(User("jane", "RDZ")).ok());
  EXPECT_EQ(records_->AddUser(User("jane", "RDZ")).error().code, base::ErrorCode::kConflict);
  EXPECT_EQ(records_->AddUser(User("bob", "NOPE")).error().code, base::ErrorCode::kNotFound);
  EXPECT_EQ(records_->ListUsers()->size(), 1u);
}

TEST_F(IdentityRecordsTest, ChangeCounterMovesWithDirectoryChangesOnly) {
  const int64_t start = Change();
  ASSERT_TRUE(records_->AddOrganisation(Org("RDZ")).ok());
  ASSERT_TRUE(records_->AddUser(User("jane", "RDZ")).ok());
  EXPECT_EQ(Change(), start + 2);
  ASSERT_TRUE(records_->SetUserEnabled("jane", false).ok());
  EXPECT_EQ(Change(), start + 3);
  ASSERT_TRUE(records_->SetUserEnabled("jane", false).ok());  // already disabled: no change
  EXPECT_EQ(Change(), start + 3);
  ASSERT_TRUE(
      records_->UpdateSignInState("jane", [](SignInState& s) { s.failed_attempts = 3; }).ok());
  ASSERT_TRUE(records_->SetUserPassword("jane", "$argon2id$other").ok());
  EXPECT_EQ(Change(), start + 3);  // sign-ins and passwords are no directory change
  EXPECT_EQ(records_->AddUser(User("jane", "RDZ")).error().code, base::ErrorCode::kConflict);
  EXPECT_EQ(Change(), start + 3);  // a refused add changed nothing
  EXPECT_EQ(records_->SetUserEnabled("nobody", true).error().code, base::ErrorCode::kNotFound);
}

TEST_F(IdentityRecordsTest, SignInStateIsReadAndWrittenTogether) {
  ASSERT_TRUE(records_->AddOrganisation(Org("RDZ")).ok());
  ASSERT_TRUE(records_->AddUser(User("jane", "RDZ")).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(records_
                    ->UpdateSignInState("jane",
                                        [](SignInState& s) {
                                          ++s.failed_attempts;
                                          s.locked_until_ms = 42;
                                        })
                    .ok());
  }
  auto user = records_->FindUser("jane").value().value();
  EXPECT_EQ(user.sign_in.failed_attempts, 3);
  EXPECT_EQ(user.sign_in.locked_until_ms, 42);
  ASSERT_TRUE(records_->SetUserPassword("jane", "$argon2id$other").ok());
  user = records_->FindUser("jane").value().value();
  EXPECT_EQ(user.sign_in.failed_attempts, 0);
  EXPECT_EQ(user.sign_in.locked_until_ms, 0);
  EXPECT_EQ(user.password_hash, "$argon2id$other");
  EXPECT_FALSE(records_->UpdateSignInState("nobody", [](SignInState&) {}).ok());
}

TEST_F(IdentityRecordsTest, SyncBookkeepingKeepsALaterChangePending) {
  ASSERT_TRUE(records_->AddOrganisation(Org("RDZ")).ok());
  auto user = records_->AddUser(User("jane", "RDZ")).value();
  EXPECT_GT(user.revision, user.synced_revision);
  const int64_t read_revision = user.revision;
  // A change lands between the sync's read and its mark.
  ASSERT_TRUE(records_->SetUserEnabled("jane", false).ok());
  ASSERT_TRUE(records_->MarkUserSynced(user.key, read_revision).ok());
  user = records_->FindUser("jane").value().value();
  EXPECT_GT(user.revision, user.synced_revision);
  ASSERT_TRUE(records_->MarkUserSynced(user.key, user.revision).ok());
  user = records_->FindUser("jane").value().value();
  EXPECT_EQ(user.revision, user.synced_revision);

  auto org = records_->FindOrganisation("RDZ").value().value();
  ASSERT_TRUE(records_->MarkOrganisationSynced(org.key, org.revision, "org-1").ok());
  org = records_->FindOrganisation("RDZ").value().value();
  EXPECT_EQ(org.organization_id, "org-1");
  EXPECT_EQ(org.synced_revision, org.revision);
}

TEST_F(IdentityRecordsTest, TwoConnectionsSeeEachOthersWrites) {
  auto other = std::move(OpenSqliteIdentityRecords(dir_.string())).value();
  ASSERT_TRUE(other->AddOrganisation(Org("RDZ")).ok());
  ASSERT_TRUE(records_->AddUser(User("jane", "RDZ")).ok());
  EXPECT_TRUE(other->FindUser("jane").value().has_value());
  EXPECT_EQ(other->ChangeCounter().value(), Change());
}

TEST_F(IdentityRecordsTest, RecordHoldsPatientReadsTheRecordStore) {
  EXPECT_FALSE(records_->RecordHoldsPatient("p1").value());  // no record tables yet
  SqliteOptions options;
  options.directory = dir_.string();
  options.durable = false;
  auto store = std::move(OpenSqliteStore(options)).value();
  EXPECT_FALSE(records_->RecordHoldsPatient("p1").value());
  PreparedWrite write;
  write.type = "Patient";
  write.id = "p1";
  write.method = "PUT";
  write.json = R"({"resourceType":"Patient","id":"p1","meta":{"versionId":"1"}})";
  write.compartment_patients = {"p1"};
  WriteTransaction transaction;
  transaction.writes.push_back(write);
  ASSERT_TRUE(store->Commit(std::move(transaction)).ok());
  EXPECT_TRUE(records_->RecordHoldsPatient("p1").value());
  EXPECT_FALSE(records_->RecordHoldsPatient("p2").value());
  store->Close();
}

// An unknown name's lockout state is kept under its key until it expires; expired states are
// forgotten a few per later failure, so a spray of names leaves only what has not expired.
TEST_F(IdentityRecordsTest, UnknownNameStatesAreKeptUntilTheyExpireThenForgotten) {
  auto rows = [&] {
    auto db = SqliteConnection::OpenSide((dir_ / "carerecord.db").string(), false);
    EXPECT_TRUE(db.ok());
    auto stmt = (*db)->Prepare("SELECT count(*) FROM identity_unknown_sign_in");
    EXPECT_TRUE(stmt.ok());
    EXPECT_TRUE(stmt->Step().ok());
    return stmt->Int(0);
  };
  const int64_t now = 1'000'000;
  auto fail = [&](const std::string& key, int64_t at, int64_t expires) {
    int seen = -1;
    EXPECT_TRUE(records_
                    ->CountUnknownSignIn(key, at,
                                         [&](SignInState& state) {
                                           seen = state.failed_attempts++;
                                           return expires;
                                         })
                    .ok());
    return seen;
  };
  for (int i = 0; i < 40; ++i) fail("sprayed-" + std::to_string(i), now, now + 100);
  EXPECT_EQ(fail("kept", now, now + 1000), 0);
  EXPECT_EQ(fail("kept", now + 50, now + 1000), 1);  // the state is read back
  EXPECT_EQ(rows(), 41);
  EXPECT_EQ(records_->UnknownSignIns().value(), 42);
  // Past their expiry the sprayed states are forgotten, eight per failure, and read as new.
  EXPECT_EQ(fail("sprayed-0", now + 200, now + 300), 0);
  for (int i = 0; i < 5; ++i) fail("later-" + std::to_string(i), now + 200, now + 300);
  EXPECT_EQ(rows(), 1 + 1 + 5);  // "kept", "sprayed-0" anew, the five later ones
  EXPECT_EQ(fail("kept", now + 200, now + 1000), 2);
}

TEST_F(IdentityRecordsTest, ASecretIsKeptOnceAndSurvivesAReopen) {
  EXPECT_EQ(records_->KeepSecret("k", std::string("first\0bytes", 11)).value(),
            std::string("first\0bytes", 11));
  EXPECT_EQ(records_->KeepSecret("k", "second").value(), std::string("first\0bytes", 11));
  records_ = std::move(OpenSqliteIdentityRecords(dir_.string())).value();
  EXPECT_EQ(records_->KeepSecret("k", "third").value(), std::string("first\0bytes", 11));
}

}  // namespace
}  // namespace carerecord::store
