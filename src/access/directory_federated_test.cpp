// The directory's federated users: made on their first sign-in through a regional IdP, never
// signed in with a password, updated at each sign-in, disabled like anyone else.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "access/directory.h"

namespace carerecord::access {
namespace {

namespace fs = std::filesystem;

class FederatedUserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() /
           ("carerecord-federated-" + std::to_string(random()) + std::to_string(random()));
    records_ = std::move(store::OpenSqliteIdentityRecords(dir_.string())).value();
    DirectoryOptions options;
    options.password_hashing = PasswordHashOptions{256, 1, 1};
    options.enabled_refresh = std::chrono::milliseconds(0);
    directory_ = std::make_unique<Directory>(*records_, options);
    ASSERT_TRUE(directory_->AddOrganisation({"RDZ", "Poole Hospital", "hospital"}).ok());
    ASSERT_TRUE(directory_->AddOrganisation({"J12345", "Quay Surgery", "gp"}).ok());
  }
  void TearDown() override {
    directory_.reset();
    records_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  FederatedSignIn Ada(std::string ods = "RDZ", std::string role = "clinician") {
    return {"https://idp.example.org", "555000111222", "Dr Ada Lovelace", ods, role};
  }

  fs::path dir_;
  std::unique_ptr<store::IdentityRecords> records_;
  std::unique_ptr<Directory> directory_;
};

TEST_F(FederatedUserTest, FirstSignInMakesAFederatedUser) {
  auto user = directory_->SignInFederated(Ada());
  ASSERT_TRUE(user.ok()) << user.error().message;
  EXPECT_EQ(user->username, FederatedUsername("https://idp.example.org", "555000111222"));
  EXPECT_EQ(user->username.rfind("fed-", 0), 0u);
  EXPECT_EQ(user->ods_code, "RDZ");
  EXPECT_EQ(user->role, "clinician");
  EXPECT_EQ(user->display_name, "Dr Ada Lovelace");
  EXPECT_EQ(user->federated_issuer, "https://idp.example.org");
  EXPECT_EQ(user->federated_subject, "555000111222");
  EXPECT_TRUE(user->password_hash.empty());
  EXPECT_TRUE(directory_->UserEnabled(user->username));
}

TEST_F(FederatedUserTest, NeverSignsInWithAPassword) {
  auto user = directory_->SignInFederated(Ada());
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(directory_->Authenticate(user->username, "").outcome, SignInOutcome::kWrongCredentials);
  EXPECT_EQ(directory_->Authenticate(user->username, "anything at all").outcome,
            SignInOutcome::kWrongCredentials);
  EXPECT_FALSE(directory_->ResetPassword(user->username, "correct horse battery").ok());
}

TEST_F(FederatedUserTest, LaterSignInUpdatesOrganisationRoleAndNameAsOneUser) {
  auto first = directory_->SignInFederated(Ada());
  ASSERT_TRUE(first.ok());
  FederatedSignIn later = Ada("J12345", "nurse");
  later.display_name = "Ada King";
  auto second = directory_->SignInFederated(later);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->key, first->key);
  EXPECT_EQ(second->ods_code, "J12345");
  EXPECT_EQ(second->role, "nurse");
  EXPECT_EQ(second->display_name, "Ada King");
  EXPECT_GT(second->revision, first->revision);  // the sync rewrites its PractitionerRole
  auto same = directory_->SignInFederated(later);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->revision, second->revision);  // nothing changed: no directory change
  EXPECT_EQ(records_->ListUsers()->size(), 1u);
}

TEST_F(FederatedUserTest, AnotherSubjectIsAnotherUser) {
  auto ada = directory_->SignInFederated(Ada());
  FederatedSignIn grace = Ada();
  grace.subject = "555000333444";
  auto other = directory_->SignInFederated(grace);
  ASSERT_TRUE(ada.ok() && other.ok());
  EXPECT_NE(ada->key, other->key);
}

TEST_F(FederatedUserTest, DisabledUserOrOrganisationIsRefused) {
  auto user = directory_->SignInFederated(Ada());
  ASSERT_TRUE(user.ok());
  ASSERT_TRUE(directory_->SetUserEnabled(user->username, false).ok());
  auto refused = directory_->SignInFederated(Ada());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, base::ErrorCode::kForbidden);
  EXPECT_FALSE(directory_->UserEnabled(user->username));
  ASSERT_TRUE(directory_->SetOrganisationEnabled("J12345", false).ok());
  EXPECT_EQ(directory_->SignInFederated(Ada("J12345")).error().code, base::ErrorCode::kForbidden);
}

TEST_F(FederatedUserTest, UnknownOrganisationIsRefusedByName) {
  auto refused = directory_->SignInFederated(Ada("X99"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, base::ErrorCode::kNotFound);
  EXPECT_NE(refused.error().message.find("X99"), std::string::npos);
  EXPECT_TRUE(records_->ListUsers()->empty());
}

TEST_F(FederatedUserTest, OnlyStaffRoles) {
  EXPECT_FALSE(directory_->SignInFederated(Ada("RDZ", "patient")).ok());
  EXPECT_FALSE(directory_->SignInFederated(Ada("RDZ", "integration")).ok());
}

TEST_F(FederatedUserTest, ControlCharactersInTheNameAreNotStored) {
  FederatedSignIn odd = Ada();
  odd.display_name = "Ada\n<b>" + std::string(300, 'x');
  auto user = directory_->SignInFederated(odd);
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->display_name.substr(0, 7), "Ada <b>");
  EXPECT_EQ(user->display_name.size(), 200u);
}

}  // namespace
}  // namespace carerecord::access
