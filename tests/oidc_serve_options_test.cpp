// serve's --oidc-* options read and checked before the server starts.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "app/oidc_serving.h"
#include "carerecord_process.h"

namespace carerecord::app {
namespace {

namespace fs = std::filesystem;

class OidcServeOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() /
           ("carerecord-oidc-options-" + std::to_string(random()) + std::to_string(random()));
    fs::create_directories(dir_);
    settings_.issuer = "https://idp.example.org";
    settings_.client_id = "carerecord";
    settings_.client_secret_file = Write("secret", "s3cret\n", 0600);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    return path;
  }
  fs::path dir_;
  OidcServeSettings settings_;
};

TEST_F(OidcServeOptionsTest, SecretIsTheFileFirstLine) {
  auto loaded = LoadOidcSettings(settings_);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->client_secret, "s3cret");
  EXPECT_EQ(loaded->role_map.RoleFor("R8001"), access::Role::kNurse);  // the defaults
}

// The sign-in page says "Sign in with <label>": the label is the IdP's name, not a sentence.
TEST_F(OidcServeOptionsTest, LabelIsTheIdpsNameWithADefault) {
  auto loaded = LoadOidcSettings(settings_);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->label, "your organisation's account");
  settings_.label = "NHS CIS2";
  EXPECT_EQ(LoadOidcSettings(settings_)->label, "NHS CIS2");
}

TEST_F(OidcServeOptionsTest, WorldReadableSecretFileIsRefused) {
  settings_.client_secret_file = Write("open-secret", "s3cret\n", 0644);
  auto loaded = LoadOidcSettings(settings_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().location, "--oidc-client-secret-file");
  EXPECT_NE(loaded.error().message.find("chmod 600"), std::string::npos);
}

TEST_F(OidcServeOptionsTest, HttpIssuerOnlyOnLoopback) {
  settings_.issuer = "http://idp.example.org";
  auto loaded = LoadOidcSettings(settings_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().location, "--oidc-issuer");
  settings_.issuer = "http://127.0.0.1:9000";
  EXPECT_TRUE(LoadOidcSettings(settings_).ok());
}

TEST_F(OidcServeOptionsTest, RoleMapErrorNamesTheFileAndLine) {
  settings_.role_map_file = Write("roles", "R8000 clinician\nR8001 matron\n", 0644);
  auto loaded = LoadOidcSettings(settings_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("roles: line 2"), std::string::npos)
      << loaded.error().message;
  settings_.role_map_file = Write("roles2", "R8000 clinician\nR8001 social-worker\n", 0644);
  loaded = LoadOidcSettings(settings_);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->role_map.RoleFor("S1:G1:R8001"), access::Role::kSocialWorker);
}

TEST_F(OidcServeOptionsTest, ClientIdAndSecretAreRequired) {
  settings_.client_id.clear();
  EXPECT_EQ(LoadOidcSettings(settings_).error().location, "--oidc-client-id");
}

TEST_F(OidcServeOptionsTest, ServeRefusesABadIdpSettingBeforeStarting) {
  if (!fs::exists(CARERECORD_BINARY)) GTEST_SKIP() << "build the carerecord binary first";
  const std::string data = (dir_ / "store").string();
  auto result = carerecord::testing::RunCarerecord(
      "serve --data " + data +
      " --http 127.0.0.1:0 --oidc-issuer http://idp.example.org --oidc-client-id c "
      "--oidc-client-secret-file " +
      settings_.client_secret_file);
  EXPECT_EQ(result.status, 2);
  EXPECT_NE(result.err.find("--oidc-issuer 'http://idp.example.org' must be https"),
            std::string::npos)
      << result.err;
  result = carerecord::testing::RunCarerecord("serve --data " + data +
                                              " --http 127.0.0.1:0 --oidc-issuer "
                                              "https://idp.example.org --oidc-client-id c");
  EXPECT_EQ(result.status, 2);
  EXPECT_NE(result.err.find("needs --oidc-client-secret-file"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace carerecord::app
