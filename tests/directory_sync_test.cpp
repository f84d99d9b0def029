// The directory in the record: each organisation an Organization, each staff user a
// Practitioner with a PractitionerRole, written by the process that holds the store and
// readable over the FHIR API; a running server's loop picks up changes made through another
// connection (as the command line makes them).
#include "app/directory_sync.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "access/directory.h"
#include "tests/carerecord_process.h"
#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

class DirectorySyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    records_ = std::move(store::OpenSqliteIdentityRecords(server_.data_dir().string())).value();
    access::DirectoryOptions options;
    options.password_hashing = access::PasswordHashOptions{256, 1, 1};
    directory_ = std::make_unique<access::Directory>(*records_, options);
  }
  void Sync() {
    auto synced = app::SyncDirectoryToRecord(*records_, server_.store());
    ASSERT_TRUE(synced.ok()) << synced.error().message;
  }
  json::object Read(const std::string& path) {
    auto response = server_.Get("/fhir/" + path);
    EXPECT_EQ(response.status, 200) << path << ": " << response.body;
    return TestServer::Json(response);
  }
  // The provenance source of the current version of `id`, read from the database.
  std::string SourceOf(const std::string& id) {
    sqlite3* db = nullptr;
    sqlite3_open((server_.data_dir() / "carerecord.db").c_str(), &db);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT f.name FROM resource r JOIN version v ON v.vid = r.vid JOIN "
                       "feed_source f ON f.id = v.source_id WHERE r.id = ?",
                       -1, &stmt, nullptr);
    sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    std::string source;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      source = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return source;
  }

  TestServer server_;
  std::unique_ptr<store::IdentityRecords> records_;
  std::unique_ptr<access::Directory> directory_;
};

TEST_F(DirectorySyncTest, OrganisationAndStaffUserBecomeFhirResources) {
  ASSERT_TRUE(directory_->AddOrganisation({"RDZ", "Poole Hospital", "hospital"}).ok());
  auto user = directory_->AddUser(
      {"jane", "RDZ", "clinician", "Dr Jane Smith", "", "correct horse battery"});
  ASSERT_TRUE(user.ok());
  Sync();

  auto org = Read("Organization/ods-RDZ");
  EXPECT_EQ(org["name"], "Poole Hospital");
  EXPECT_EQ(org["active"], true);
  EXPECT_EQ(org["identifier"].as_array()[0].as_object()["system"],
            "https://fhir.nhs.uk/Id/ods-organization-code");
  EXPECT_EQ(org["identifier"].as_array()[0].as_object()["value"], "RDZ");
  // Found by its ODS code, as other systems will look for it.
  EXPECT_EQ(Ids(server_,
                "/fhir/Organization?identifier=https://fhir.nhs.uk/Id/"
                "ods-organization-code|RDZ"),
            std::vector<std::string>{"ods-RDZ"});

  const std::string practitioner_id = app::PractitionerIdFor(*user);
  auto practitioner = Read("Practitioner/" + practitioner_id);
  EXPECT_EQ(practitioner["identifier"].as_array()[0].as_object()["value"], "jane");
  EXPECT_EQ(practitioner["name"].as_array()[0].as_object()["text"], "Dr Jane Smith");
  auto role = Read("PractitionerRole/" + app::PractitionerRoleIdFor(*user));
  EXPECT_EQ(role["active"], true);
  EXPECT_EQ(role["practitioner"].as_object()["reference"],
            json::value("Practitioner/" + practitioner_id));
  EXPECT_EQ(role["organization"].as_object()["reference"], "Organization/ods-RDZ");
  auto coding = role["code"].as_array()[0].as_object()["coding"].as_array()[0].as_object();
  EXPECT_EQ(coding["code"], "clinician");
  EXPECT_EQ(Ids(server_, "/fhir/PractitionerRole?organization=Organization/ods-RDZ"),
            std::vector<std::string>{app::PractitionerRoleIdFor(*user)});
  EXPECT_EQ(SourceOf("ods-RDZ"), app::kDirectorySource);
  EXPECT_EQ(SourceOf(practitioner_id), app::kDirectorySource);
}

// A name stored before names were checked as UTF-8 (written straight to the records here, as the
// command line no longer can) must not stop the sync: its bytes become U+FFFD, and every
// organisation after it still reaches the record.
TEST_F(DirectorySyncTest, AnInvalidUtf8NameDoesNotStopTheSync) {
  store::OrganisationRecord bad;
  bad.ods_code = "BADU8";
  bad.name = "ok\xc3";
  bad.kind = "hospital";
  ASSERT_TRUE(records_->AddOrganisation(bad).ok());
  ASSERT_TRUE(directory_->AddOrganisation({"SYNC2", "Sync Two", "hospital"}).ok());
  EXPECT_FALSE(directory_->AddOrganisation({"BAD2", "ok\xc3", "hospital"}).ok());
  Sync();
  EXPECT_EQ(Read("Organization/ods-BADU8")["name"], "ok\xef\xbf\xbd");
  EXPECT_EQ(Read("Organization/ods-SYNC2")["name"], "Sync Two");
}

TEST_F(DirectorySyncTest, DisableAndEnableKeepTheRoleInStep) {
  ASSERT_TRUE(directory_->AddOrganisation({"RDZ", "Poole Hospital", "hospital"}).ok());
  auto user = directory_->AddUser({"jane", "RDZ", "nurse", "", "", "correct horse battery"});
  ASSERT_TRUE(user.ok());
  Sync();
  const std::string role_path = "PractitionerRole/" + app::PractitionerRoleIdFor(*user);
  ASSERT_TRUE(directory_->SetUserEnabled("jane", false).ok());
  Sync();
  EXPECT_EQ(Read(role_path)["active"], false);
  EXPECT_EQ(Read("Practitioner/" + app::PractitionerIdFor(*user))["active"], false);
  ASSERT_TRUE(directory_->SetUserEnabled("jane", true).ok());
  Sync();
  auto role = Read(role_path);
  EXPECT_EQ(role["active"], true);
  EXPECT_EQ(role["meta"].as_object()["versionId"], "3");
  // Nothing changed: nothing is written again.
  Sync();
  EXPECT_EQ(Read(role_path)["meta"].as_object()["versionId"], "3");
  ASSERT_TRUE(directory_->SetOrganisationEnabled("RDZ", false).ok());
  Sync();
  EXPECT_EQ(Read("Organization/ods-RDZ")["active"], false);
}

TEST_F(DirectorySyncTest, AnOrganizationTheRecordHoldsIsUsedNotDuplicated) {
  Put(server_, "Organization", "org-trust",
      R"({"resourceType":"Organization","name":"Casterbridge NHS Trust","telecom":[{"system":
      "phone","value":"01305 000000"}],"identifier":[{"system":
      "https://fhir.nhs.uk/Id/ods-organization-code","value":"Y99001"}]})");
  ASSERT_TRUE(directory_->AddOrganisation({"Y99001", "Trust", "hospital"}).ok());
  auto user = directory_->AddUser({"jane", "Y99001", "nurse", "", "", "correct horse battery"});
  ASSERT_TRUE(user.ok());
  Sync();
  EXPECT_EQ(Ids(server_,
                "/fhir/Organization?identifier=https://fhir.nhs.uk/Id/"
                "ods-organization-code|Y99001"),
            std::vector<std::string>{"org-trust"});
  auto org = Read("Organization/org-trust");
  EXPECT_EQ(org["meta"].as_object()["versionId"], "1");  // its source's, not rewritten
  EXPECT_EQ(org["name"], "Casterbridge NHS Trust");
  auto role = Read("PractitionerRole/" + app::PractitionerRoleIdFor(*user));
  EXPECT_EQ(role["organization"].as_object()["reference"], "Organization/org-trust");
  EXPECT_EQ(records_->FindOrganisation("Y99001").value()->organization_id, "org-trust");
}

TEST_F(DirectorySyncTest, PatientUsersAreTheirPatientNotAPractitioner) {
  Put(server_, "Patient", "p1", R"({"resourceType":"Patient"})");
  ASSERT_TRUE(directory_->AddOrganisation({"RDZ", "Poole Hospital", "hospital"}).ok());
  auto user = directory_->AddUser({"pat", "RDZ", "patient", "", "p1", "correct horse battery"});
  ASSERT_TRUE(user.ok()) << user.error().message;
  Sync();
  EXPECT_EQ(server_.Get("/fhir/Practitioner/" + app::PractitionerIdFor(*user)).status, 404);
  EXPECT_TRUE(Ids(server_, "/fhir/Practitioner").empty());
  auto stored = records_->FindUser("pat").value().value();
  EXPECT_EQ(stored.synced_revision, stored.revision);
}

TEST_F(DirectorySyncTest, RunningLoopSeesAChangeMadeThroughAnotherConnection) {
  app::DirectorySyncLoop loop(server_.data_dir().string(), server_.store(),
                              std::chrono::milliseconds(20));
  ASSERT_TRUE(loop.Start().ok());
  // Another connection, as the command line's while this server holds the store.
  auto other = std::move(store::OpenSqliteIdentityRecords(server_.data_dir().string())).value();
  access::DirectoryOptions options;
  options.password_hashing = access::PasswordHashOptions{256, 1, 1};
  access::Directory command_line(*other, options);
  ASSERT_TRUE(command_line.AddOrganisation({"RDZ", "Poole Hospital", "hospital"}).ok());
  auto user = command_line.AddUser({"jane", "RDZ", "nurse", "", "", "correct horse battery"});
  ASSERT_TRUE(user.ok());
  const std::string role_path = "/fhir/PractitionerRole/" + app::PractitionerRoleIdFor(*user);
  EXPECT_TRUE(Eventually([&] { return server_.Get(role_path).status == 200; }));
  ASSERT_TRUE(command_line.SetUserEnabled("jane", false).ok());
  EXPECT_TRUE(Eventually([&] {
    auto role = TestServer::Json(server_.Get(role_path));
    return role.contains("active") && role["active"] == false;
  }));
  loop.Stop();
}

}  // namespace
}  // namespace carerecord::testing
