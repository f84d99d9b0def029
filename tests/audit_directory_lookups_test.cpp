// What the audit reads from the directory: the AuditEvent `agent` search reads the one user it
// names (not the directory's user list), and the unknown-name labels of sign-in entries read
// their key once (not at every failed sign-in).

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <regex>
#include <thread>

#include "access/directory.h"
#include "app/audit_agents.h"
#include "app/directory_sync.h"
#include "counting_identity_records.h"
#include "http/sign_in_audit.h"

namespace carerecord {
namespace {

namespace fs = std::filesystem;

class AuditDirectoryLookups : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() /
           ("carerecord-audit-lookups-" + std::to_string(random()) + std::to_string(random()));
    inner_ = std::move(store::OpenSqliteIdentityRecords(dir_.string())).value();
    records_ = std::make_unique<testing::CountingIdentityRecords>(*inner_);
    ASSERT_TRUE(records_->AddOrganisation({0, "RDZ", "Poole Hospital", "hospital"}).ok());
    for (int i = 0; i < 20; ++i) {
      store::UserRecord user;
      user.username = "user" + std::to_string(i);
      user.ods_code = "RDZ";
      user.role = i % 2 ? "patient" : "clinician";
      user.patient_id = i % 2 ? "pat-" + std::to_string(i) : "";
      user.display_name = user.username;
      auto added = records_->AddUser(user);
      ASSERT_TRUE(added.ok()) << added.error().message;
      users_.push_back(added.value());
    }
  }
  void TearDown() override {
    records_.reset();
    inner_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path dir_;
  std::unique_ptr<store::IdentityRecords> inner_;
  std::unique_ptr<testing::CountingIdentityRecords> records_;
  std::vector<store::UserRecord> users_;
};

TEST_F(AuditDirectoryLookups, AnAgentSearchReadsOnlyTheUserItNames) {
  app::DirectoryAuditAgents agents(*records_);
  const store::UserRecord& staff = users_[4];
  const store::UserRecord& patient = users_[7];
  EXPECT_EQ(agents.UserOfReference("Practitioner/" + app::PractitionerIdFor(staff)),
            staff.username);
  EXPECT_EQ(agents.UserOfReference("Patient/pat-7"), patient.username);
  // A reference that is no user's, or not the user's own kind, names no one.
  for (const std::string reference :
       {"Practitioner/" + app::PractitionerIdFor(patient), std::string("Patient/pat-4"),
        std::string("Practitioner/carerecord-user-999"),
        std::string("Practitioner/carerecord-user-"),
        std::string("Practitioner/carerecord-user-04"),
        std::string("Practitioner/carerecord-user-4x"), std::string("Practitioner/other"),
        std::string("Patient/"), std::string("Device/x")}) {
    EXPECT_EQ(agents.UserOfReference(reference), std::nullopt) << reference;
  }
  // The user list was never read: each lookup read the one user asked for.
  EXPECT_EQ(records_->Calls("ListUsers"), 0);
  EXPECT_EQ(records_->Calls("FindUserByKey"), 3);
  EXPECT_EQ(records_->Calls("FindUserOfPatient"), 3);
}

TEST_F(AuditDirectoryLookups, UnknownNameLabelsReadTheirKeyOnce) {
  access::Directory directory(*records_);
  const std::regex user_label("unknown user [0-9a-f]{12}");
  const std::regex client_label("unknown client [0-9a-f]{12}");
  const std::string first = http::UnknownUserLabel(directory, "HUNTER5PASSWORD");
  EXPECT_TRUE(std::regex_match(first, user_label)) << first;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        EXPECT_EQ(http::UnknownUserLabel(directory, "HUNTER5PASSWORD"), first);
        EXPECT_TRUE(
            std::regex_match(http::UnknownClientLabel(directory, "pasted-secret"), client_label));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(records_->Calls("KeepSecret"), 1);
  // Another directory over the same database (another process, a restart) gives the same label.
  access::Directory again(*inner_);
  EXPECT_EQ(http::UnknownUserLabel(again, "HUNTER5PASSWORD"), first);
  EXPECT_NE(http::UnknownUserLabel(again, "OtherName"), first);
  // The user and client labels of one text differ only in their words.
  const std::string as_client = http::UnknownClientLabel(directory, "HUNTER5PASSWORD");
  EXPECT_EQ(as_client.substr(as_client.size() - 12), first.substr(first.size() - 12));
}

}  // namespace
}  // namespace carerecord
