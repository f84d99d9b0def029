// The directory's rules over a real SQLite file: validation, sign-in with lockout, disabled
// users and organisations, and the enabled-state snapshot the token checks will read.
#include "access/directory.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

namespace carerecord::access {
namespace {

namespace fs = std::filesystem;
using std::chrono::minutes;

constexpr int64_t kMinute = 60 * 1000;

class DirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() /
           ("carerecord-directory-" + std::to_string(random()) + std::to_string(random()));
    records_ = std::move(store::OpenSqliteIdentityRecords(dir_.string())).value();
    DirectoryOptions options;
    options.password_hashing = PasswordHashOptions{256, 1, 1};  // fast: the tests hash a lot
    options.now_ms = [this] { return now_; };
    options.enabled_refresh = std::chrono::milliseconds(0);
    directory_ = std::make_unique<Directory>(*records_, options);
    ASSERT_TRUE(directory_->AddOrganisation({"rdz", "Poole Hospital", "hospital"}).ok());
    ASSERT_TRUE(directory_->AddUser({"Jane", "RDZ", "clinician", "Dr Jane", "", kPassword}).ok());
  }
  void TearDown() override {
    directory_.reset();
    records_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static constexpr const char* kPassword = "correct horse battery";
  fs::path dir_;
  int64_t now_ = 1'700'000'000'000;
  std::unique_ptr<store::IdentityRecords> records_;
  std::unique_ptr<Directory> directory_;
};

TEST_F(DirectoryTest, RightPasswordSignsIn) {
  auto result = directory_->Authenticate("jane", kPassword);
  EXPECT_EQ(result.outcome, SignInOutcome::kSignedIn);
  ASSERT_TRUE(result.user.has_value());
  EXPECT_EQ(result.user->username, "jane");
  EXPECT_EQ(result.user->role, "clinician");
  EXPECT_EQ(result.user->ods_code, "RDZ");
  // Usernames are not case-sensitive.
  EXPECT_EQ(directory_->Authenticate("JANE", kPassword).outcome, SignInOutcome::kSignedIn);
}

TEST_F(DirectoryTest, WrongPasswordAndUnknownUserAreTheSameAnswer) {
  auto wrong = directory_->Authenticate("jane", "not the password");
  EXPECT_EQ(wrong.outcome, SignInOutcome::kWrongCredentials);
  EXPECT_FALSE(wrong.user.has_value());
  auto unknown = directory_->Authenticate("nobody", kPassword);
  EXPECT_EQ(unknown.outcome, SignInOutcome::kWrongCredentials);
  EXPECT_FALSE(unknown.user.has_value());
  EXPECT_EQ(directory_->Authenticate("not a username!", kPassword).outcome,
            SignInOutcome::kWrongCredentials);
  // Both unknown names were counted (a write, as a known user's failure is).
  EXPECT_EQ(records_->UnknownSignIns().value(), 2);
  EXPECT_EQ(records_->FindUser("jane").value()->sign_in.failed_attempts, 1);
}

TEST_F(DirectoryTest, FiveWrongPasswordsWithinTheWindowLockTheAccount) {
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(directory_->Authenticate("jane", "wrong").outcome, SignInOutcome::kWrongCredentials);
    now_ += kMinute;
  }
  auto fifth = directory_->Authenticate("jane", "wrong");
  EXPECT_EQ(fifth.outcome, SignInOutcome::kLocked);
  EXPECT_EQ(fifth.locked_until_ms, now_ + 15 * kMinute);
  // While locked even the right password is refused.
  now_ += 14 * kMinute;
  EXPECT_EQ(directory_->Authenticate("jane", kPassword).outcome, SignInOutcome::kLocked);
  // The lock ends after 15 minutes.
  now_ += kMinute;
  EXPECT_EQ(directory_->Authenticate("jane", kPassword).outcome, SignInOutcome::kSignedIn);
}

TEST_F(DirectoryTest, AnUnknownUsernameLocksAsAKnownOneDoes) {
  // Otherwise a lock message would tell which usernames exist.
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(directory_->Authenticate("nobody", "wrong").outcome,
              SignInOutcome::kWrongCredentials);
    now_ += kMinute;
  }
  auto fifth = directory_->Authenticate("nobody", "wrong");
  EXPECT_EQ(fifth.outcome, SignInOutcome::kLocked);
  EXPECT_EQ(fifth.locked_until_ms, now_ + 15 * kMinute);
  now_ += 14 * kMinute;
  EXPECT_EQ(directory_->Authenticate("nobody", kPassword).outcome, SignInOutcome::kLocked);
  now_ += kMinute;
  EXPECT_EQ(directory_->Authenticate("nobody", kPassword).outcome,
            SignInOutcome::kWrongCredentials);
}

// An unknown name's lock is kept where a known user's is, so a restart keeps both locked (it
// used to forget the unknown one's, which told that the name did not exist).
TEST_F(DirectoryTest, AnUnknownUsernamesLockSurvivesARestartAsAKnownOnesDoes) {
  for (int i = 0; i < 5; ++i) {
    directory_->Authenticate("nobody", "wrong");
    directory_->Authenticate("jane", "wrong");
  }
  DirectoryOptions options;
  options.password_hashing = PasswordHashOptions{256, 1, 1};
  options.now_ms = [this] { return now_; };
  directory_.reset();
  records_ = std::move(store::OpenSqliteIdentityRecords(dir_.string())).value();
  directory_ = std::make_unique<Directory>(*records_, options);
  now_ += kMinute;
  auto unknown = directory_->Authenticate("nobody", kPassword);
  auto known = directory_->Authenticate("jane", kPassword);
  EXPECT_EQ(unknown.outcome, SignInOutcome::kLocked);
  EXPECT_EQ(known.outcome, SignInOutcome::kLocked);
  EXPECT_EQ(unknown.locked_until_ms, known.locked_until_ms);
  // The database holds no name that was tried, only keyed hashes.
  for (const char* name : {"carerecord.db", "carerecord.db-wal"}) {
    std::ifstream file(dir_ / name, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find("nobody"), std::string::npos) << name;
  }
}

// Failures of many other names neither clear nor crowd out a name's lock (they used to, once
// an in-memory table of names was full), and the counts of a spray expire like any other.
TEST_F(DirectoryTest, ASprayOfOtherNamesLeavesALockInPlace) {
  DirectoryOptions options;
  options.password_hashing = PasswordHashOptions{8, 1, 1};  // argon2's least: a spray is long
  options.now_ms = [this] { return now_; };
  Directory fast(*records_, options);
  for (int i = 0; i < 5; ++i) fast.Authenticate("nobody", "wrong");
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(fast.Authenticate("sprayed-" + std::to_string(i), "wrong").outcome,
              SignInOutcome::kWrongCredentials);
  }
  EXPECT_EQ(fast.Authenticate("nobody", kPassword).outcome, SignInOutcome::kLocked);
  // Four more failures of a sprayed name lock it; past the window they are forgotten.
  for (int i = 0; i < 3; ++i) fast.Authenticate("sprayed-7", "wrong");
  EXPECT_EQ(fast.Authenticate("sprayed-7", "wrong").outcome, SignInOutcome::kLocked);
  now_ += 31 * kMinute;
  EXPECT_EQ(fast.Authenticate("sprayed-7", "wrong").outcome, SignInOutcome::kWrongCredentials);
  EXPECT_EQ(fast.Authenticate("nobody", "wrong").outcome, SignInOutcome::kWrongCredentials);
}

TEST_F(DirectoryTest, FailuresSpreadBeyondTheWindowDoNotLock) {
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(directory_->Authenticate("jane", "wrong").outcome, SignInOutcome::kWrongCredentials)
        << i;
    now_ += 4 * kMinute;  // the fifth failure of any run of five is 16 minutes after the first
  }
  EXPECT_EQ(directory_->Authenticate("jane", kPassword).outcome, SignInOutcome::kSignedIn);
}

TEST_F(DirectoryTest, SuccessClearsTheFailures) {
  for (int i = 0; i < 4; ++i) directory_->Authenticate("jane", "wrong");
  EXPECT_EQ(directory_->Authenticate("jane", kPassword).outcome, SignInOutcome::kSignedIn);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(directory_->Authenticate("jane", "wrong").outcome, SignInOutcome::kWrongCredentials);
  }
  EXPECT_EQ(directory_->Authenticate("jane", "wrong").outcome, SignInOutcome::kLocked);
}

TEST_F(DirectoryTest, LockoutIsConfigurable) {
  DirectoryOptions options;
  options.password_hashing = PasswordHashOptions{256, 1, 1};
  options.now_ms = [this] { return now_; };
  options.max_failed_sign_ins = 2;
  options.lock_duration = minutes(1);
  Directory strict(*records_, options);
  EXPECT_EQ(strict.Authenticate("jane", "wrong").outcome, SignInOutcome::kWrongCredentials);
  EXPECT_EQ(strict.Authenticate("jane", "wrong").outcome, SignInOutcome::kLocked);
  now_ += kMinute;
  EXPECT_EQ(strict.Authenticate("jane", kPassword).outcome, SignInOutcome::kSignedIn);
}

TEST_F(DirectoryTest, ResetPasswordReplacesItAndClearsALock) {
  for (int i = 0; i < 5; ++i) directory_->Authenticate("jane", "wrong");
  ASSERT_EQ(directory_->Authenticate("jane", kPassword).outcome, SignInOutcome::kLocked);
  ASSERT_TRUE(directory_->ResetPassword("jane", "a brand new password").ok());
  EXPECT_EQ(directory_->Authenticate("jane", kPassword).outcome, SignInOutcome::kWrongCredentials);
  EXPECT_EQ(directory_->Authenticate("jane", "a brand new password").outcome,
            SignInOutcome::kSignedIn);
  EXPECT_EQ(directory_->ResetPassword("nobody", "a brand new password").error().code,
            base::ErrorCode::kNotFound);
  EXPECT_EQ(directory_->ResetPassword("jane", "short").error().code, base::ErrorCode::kInvalid);
}

TEST_F(DirectoryTest, DisabledUserNeverAuthenticates) {
  ASSERT_TRUE(directory_->SetUserEnabled("jane", false).ok());
  EXPECT_EQ(directory_->Authenticate("jane", kPassword).outcome, SignInOutcome::kDisabled);
  EXPECT_FALSE(directory_->UserEnabled("jane"));
  ASSERT_TRUE(directory_->SetUserEnabled("jane", true).ok());
  EXPECT_EQ(directory_->Authenticate("jane", kPassword).outcome, SignInOutcome::kSignedIn);
  EXPECT_TRUE(directory_->UserEnabled("jane"));
}

TEST_F(DirectoryTest, DisabledOrganisationDisablesItsUsersAndClients) {
  auto client =
      directory_->AddClient({"Feed", "RDZ", "integration", "system/*.rs", "secret", "", {}});
  ASSERT_TRUE(client.ok());
  const std::string client_id = client->client.client_id;
  EXPECT_TRUE(directory_->ClientEnabled(client_id));
  ASSERT_TRUE(directory_->SetOrganisationEnabled("RDZ", false).ok());
  EXPECT_EQ(directory_->Authenticate("jane", kPassword).outcome, SignInOutcome::kDisabled);
  EXPECT_FALSE(directory_->UserEnabled("jane"));
  EXPECT_FALSE(directory_->ClientEnabled(client_id));
}

TEST_F(DirectoryTest, EnabledStateSeesAChangeMadeThroughAnotherConnection) {
  // As the command line does while a server runs: its own connection to the same file.
  auto other = std::move(store::OpenSqliteIdentityRecords(dir_.string())).value();
  EXPECT_TRUE(directory_->UserEnabled("jane"));
  EXPECT_FALSE(directory_->UserEnabled("nobody"));
  ASSERT_TRUE(other->SetUserEnabled("jane", false).ok());
  EXPECT_FALSE(directory_->UserEnabled("jane"));
}

TEST_F(DirectoryTest, ClientSecretIsShownOnceAndStoredAsAHash) {
  auto added =
      directory_->AddClient({"Feed", "rdz", "integration", "system/*.rs", "secret", "", {}});
  ASSERT_TRUE(added.ok()) << added.error().message;
  EXPECT_EQ(added->client.client_id.size(), 32u);
  EXPECT_EQ(added->secret.size(), 43u);
  auto found = directory_->FindClient(added->client.client_id);
  ASSERT_TRUE(found.ok() && found->has_value());
  const store::ClientRecord& client = **found;
  EXPECT_EQ(client.secret_hash.find(added->secret), std::string::npos);
  EXPECT_TRUE(Directory::VerifyClientSecret(client, added->secret));
  EXPECT_FALSE(Directory::VerifyClientSecret(client, added->secret.substr(1)));
  EXPECT_EQ(client.role, "integration");
  EXPECT_EQ(client.ods_code, "RDZ");
  ASSERT_TRUE(directory_->SetClientEnabled(client.client_id, false).ok());
  EXPECT_FALSE(directory_->ClientEnabled(client.client_id));
}

TEST_F(DirectoryTest, UserValidation) {
  auto code = [&](NewUser user) {
    auto added = directory_->AddUser(user);
    return added.ok() ? std::optional<base::ErrorCode>() : added.error().code;
  };
  using base::ErrorCode;
  EXPECT_EQ(code({"bob", "RDZ", "wizard", "", "", kPassword}), ErrorCode::kInvalid);
  EXPECT_EQ(code({"bob", "RDZ", "integration", "", "", kPassword}), ErrorCode::kInvalid);
  EXPECT_EQ(code({"bob", "XYZ99", "nurse", "", "", kPassword}), ErrorCode::kNotFound);
  EXPECT_EQ(code({"bob", "R!", "nurse", "", "", kPassword}), ErrorCode::kInvalid);
  EXPECT_EQ(code({"bob smith", "RDZ", "nurse", "", "", kPassword}), ErrorCode::kInvalid);
  EXPECT_EQ(code({"-bob", "RDZ", "nurse", "", "", kPassword}), ErrorCode::kInvalid);
  EXPECT_EQ(code({"bob", "RDZ", "nurse", "", "", "short"}), ErrorCode::kInvalid);
  EXPECT_EQ(code({"bob", "RDZ", "nurse", "", "p1", kPassword}), ErrorCode::kInvalid);
  EXPECT_EQ(code({"bob", "RDZ", "patient", "", "", kPassword}), ErrorCode::kInvalid);
  EXPECT_EQ(code({"bob", "RDZ", "patient", "", "not/an id", kPassword}), ErrorCode::kInvalid);
  // The record holds no Patient/p1.
  EXPECT_EQ(code({"bob", "RDZ", "patient", "", "p1", kPassword}), ErrorCode::kNotFound);
  EXPECT_EQ(code({"jane", "RDZ", "nurse", "", "", kPassword}), ErrorCode::kConflict);
  EXPECT_EQ(code({"bob", "RDZ", "nurse", "Bob", "", kPassword}), std::nullopt);
}

TEST_F(DirectoryTest, OrganisationValidation) {
  using base::ErrorCode;
  EXPECT_EQ(directory_->AddOrganisation({"RDZ", "Again", "hospital"}).error().code,
            ErrorCode::kConflict);
  EXPECT_EQ(directory_->AddOrganisation({"J81001", "Practice", "surgery"}).error().code,
            ErrorCode::kInvalid);
  EXPECT_EQ(directory_->AddOrganisation({"J81001", "", "gp"}).error().code, ErrorCode::kInvalid);
  EXPECT_EQ(directory_->AddOrganisation({"J8 1001", "Practice", "gp"}).error().code,
            ErrorCode::kInvalid);
  auto added = directory_->AddOrganisation({"j81001", "Practice", "gp"});
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->ods_code, "J81001");
}

TEST_F(DirectoryTest, ClientValidation) {
  using base::ErrorCode;
  auto code = [&](NewClient client) {
    auto added = directory_->AddClient(client);
    return added.ok() ? std::optional<ErrorCode>() : added.error().code;
  };
  EXPECT_EQ(code({"App", "RDZ", "", "launch openid", "public", "", {}}), ErrorCode::kInvalid);
  EXPECT_EQ(code({"App", "RDZ", "", "launch openid", "public", "", {"http://app.example/cb"}}),
            ErrorCode::kInvalid);
  EXPECT_EQ(
      code({"App", "RDZ", "integration", "user/*.rs", "public", "", {"https://app.example/cb"}}),
      ErrorCode::kInvalid);
  EXPECT_EQ(code({"App", "RDZ", "patient", "user/*.rs", "secret", "", {}}), ErrorCode::kInvalid);
  EXPECT_EQ(code({"App", "RDZ", "", "   ", "secret", "", {}}), ErrorCode::kInvalid);
  EXPECT_EQ(code({"App", "RDZ", "", "bad\"scope", "secret", "", {}}), ErrorCode::kInvalid);
  EXPECT_EQ(code({"App", "RDZ", "", "user/*.rs", "password", "", {}}), ErrorCode::kInvalid);
  EXPECT_EQ(code({"App", "NOPE1", "", "user/*.rs", "secret", "", {}}), ErrorCode::kNotFound);
  EXPECT_EQ(code({"App", "RDZ", "", "user/*.rs", "jwks", R"({"keys":[]})", {}}),
            ErrorCode::kInvalid);
  EXPECT_EQ(code({"App",
                  "RDZ",
                  "",
                  "launch openid",
                  "public",
                  "",
                  {"https://app.example/cb", "http://127.0.0.1:8000/cb"}}),
            std::nullopt);
  auto added = directory_->AddClient({"App", "RDZ", "", " user/*.rs   openid ", "secret", "", {}});
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->client.scope, "user/*.rs openid");
}

TEST_F(DirectoryTest, AClientIsNotRegisteredWithScopesNoTokenCouldCarry) {
  for (const char* scope :
       {"system/Observation.rs?foo=bar", "system/Observaton.rs", "system/Patient.rs bogus",
        "system/Observation.rs?", "system/Observation.rs?subject.name=x",
        "system/Observation.rs?date=ge2020"}) {
    auto added = directory_->AddClient({"Feed", "RDZ", "integration", scope, "secret", "", {}});
    ASSERT_FALSE(added.ok()) << scope;
    EXPECT_EQ(added.error().location, "--scope") << scope;
    EXPECT_NE(added.error().message.find("--scope: "), std::string::npos) << added.error().message;
  }
}

TEST(DirectoryChecks, JwksMustHoldPublicKeysOnly) {
  const std::string ec =
      R"({"kty":"EC","crv":"P-384","x":"AAAA","y":"BBBB","kid":"k1","alg":"ES384"})";
  const std::string rsa = R"({"kty":"RSA","n":"0vx7agoebG","e":"AQAB","alg":"RS384"})";
  EXPECT_TRUE(CheckPublicJwks(R"({"keys":[)" + ec + "]}").ok());
  EXPECT_TRUE(CheckPublicJwks(R"({"keys":[)" + ec + "," + rsa + "]}").ok());
  EXPECT_FALSE(CheckPublicJwks("not json").ok());
  EXPECT_FALSE(CheckPublicJwks(R"({"keys":[]})").ok());
  EXPECT_FALSE(CheckPublicJwks("[" + ec + "]").ok());
  EXPECT_FALSE(CheckPublicJwks(ec).ok());  // a key, not a key set
  // Private keys are refused, whichever kind.
  EXPECT_FALSE(CheckPublicJwks(R"({"keys":[{"kty":"EC","crv":"P-384","x":"AAAA","y":"BBBB",)"
                               R"("d":"CCCC"}]})")
                   .ok());
  EXPECT_FALSE(
      CheckPublicJwks(R"({"keys":[{"kty":"RSA","n":"0vx7","e":"AQAB","d":"X","p":"Y"}]})").ok());
  EXPECT_FALSE(CheckPublicJwks(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})").ok());
  // One private key among public ones is refused too.
  EXPECT_FALSE(CheckPublicJwks(R"({"keys":[)" + ec +
                               R"(,{"kty":"EC","crv":"P-256","x":"A","y":"B","d":"C"}]})")
                   .ok());
  EXPECT_FALSE(CheckPublicJwks(R"({"keys":[{"kty":"EC","crv":"P-192","x":"A","y":"B"}]})").ok());
  EXPECT_FALSE(CheckPublicJwks(R"({"keys":[{"kty":"RSA","n":"a b","e":"AQAB"}]})").ok());
}

TEST(DirectoryChecks, RedirectUris) {
  EXPECT_TRUE(CheckRedirectUri("https://app.example.org/callback").ok());
  EXPECT_TRUE(CheckRedirectUri("https://app.example.org:8443/cb?x=1").ok());
  EXPECT_TRUE(CheckRedirectUri("http://127.0.0.1:3000/cb").ok());
  EXPECT_TRUE(CheckRedirectUri("http://localhost/cb").ok());
  EXPECT_TRUE(CheckRedirectUri("http://[::1]:8080/cb").ok());
  EXPECT_FALSE(CheckRedirectUri("http://app.example.org/cb").ok());
  EXPECT_FALSE(CheckRedirectUri("https://app.example.org/cb#fragment").ok());
  EXPECT_FALSE(CheckRedirectUri("/callback").ok());
  EXPECT_FALSE(CheckRedirectUri("app.example.org/cb").ok());
  EXPECT_FALSE(CheckRedirectUri("javascript:alert(1)").ok());
  EXPECT_FALSE(CheckRedirectUri("https:///cb").ok());
  EXPECT_FALSE(CheckRedirectUri("http://127.0.0.1.evil.example/cb").ok());
  EXPECT_FALSE(CheckRedirectUri("http://localhost.evil.example/cb").ok());
  EXPECT_FALSE(CheckRedirectUri("https://user:pass@app.example.org/cb").ok());
}

TEST(DirectoryChecks, Roles) {
  for (Role role : AllRoles()) EXPECT_EQ(ParseRole(RoleName(role)), role);
  EXPECT_EQ(AllRoles().size(), 9u);
  EXPECT_FALSE(ParseRole("Clinician").has_value());
  EXPECT_TRUE(IsStaffRole(Role::kSocialWorker));
  EXPECT_FALSE(IsStaffRole(Role::kPatient));
  EXPECT_FALSE(IsUserRole(Role::kIntegration));
  EXPECT_FALSE(IsClientRole(Role::kPatient));
}

}  // namespace
}  // namespace carerecord::access
