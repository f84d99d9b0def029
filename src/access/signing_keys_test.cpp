// The signing key file: created owner-only on first start, refused when others may read it,
// rotated into a running server's keys within its refresh interval, and retired keys kept in the
// JWKS only while tokens they signed may live.
#include "access/signing_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/access_token.h"
#include "access/token_test_support.h"

namespace carerecord::access {
namespace {

namespace fs = std::filesystem;
using testing::TemporaryDirectory;

constexpr int64_t kStart = 2'000'000'000;

unsigned ModeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st.st_mode & 07777;
}

std::vector<std::string> JwksKids(SigningKeyRing& ring) {
  std::vector<std::string> kids;
  const boost::json::object jwks = ring.JwksDocument();
  for (const auto& key : jwks.at("keys").as_array()) {
    kids.emplace_back(key.at("kid").as_string());
  }
  return kids;
}

TEST(SigningKeys, FirstStartCreatesAnOwnerOnlyFile) {
  TemporaryDirectory dir;
  mode_t old_umask = ::umask(0);  // even with nothing masked, the file is 0600
  auto keys = LoadOrCreateSigningKeys(dir.path() / "data", kStart);
  ::umask(old_umask);
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(ModeOf(dir.path() / "data" / kSigningKeyFileName), 0600u);
  EXPECT_EQ(keys->front().created, kStart);
  EXPECT_EQ(keys->front().key.kid(), keys->front().key.Thumbprint());

  auto again = LoadOrCreateSigningKeys(dir.path() / "data", kStart + 5);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->front().key.kid(), keys->front().key.kid());  // read, not made anew
}

TEST(SigningKeys, RefusesAFileOtherUsersCanRead) {
  TemporaryDirectory dir;
  ASSERT_TRUE(LoadOrCreateSigningKeys(dir.path(), kStart).ok());
  const fs::path file = dir.path() / kSigningKeyFileName;
  for (mode_t mode : {0644, 0640, 0604, 0620, 0660}) {
    ::chmod(file.c_str(), mode);
    auto read = ReadSigningKeyFile(file);
    ASSERT_FALSE(read.ok()) << std::oct << mode;
    EXPECT_NE(read.error().message.find("chmod 600"), std::string::npos);
    ManualWallClock clock(kStart);
    EXPECT_FALSE(SigningKeyRing::Open({dir.path()}, clock).ok());
    EXPECT_FALSE(RotateSigningKey(dir.path(), kStart).ok());  // nor rewritten over
  }
  ::chmod(file.c_str(), 0600);
  EXPECT_TRUE(ReadSigningKeyFile(file).ok());
  ::chmod(file.c_str(), 0400);
  EXPECT_TRUE(ReadSigningKeyFile(file).ok());
}

TEST(SigningKeys, RefusesASymbolicLink) {
  TemporaryDirectory dir;
  ASSERT_TRUE(LoadOrCreateSigningKeys(dir.path() / "real", kStart).ok());
  fs::create_directories(dir.path() / "linked");
  fs::create_symlink(dir.path() / "real" / kSigningKeyFileName,
                     dir.path() / "linked" / kSigningKeyFileName);
  auto read = ReadSigningKeyFile(dir.path() / "linked" / kSigningKeyFileName);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.error().message.find("symbolic link"), std::string::npos);
}

TEST(SigningKeys, RefusesAFileThatIsNotAKeyFile) {
  TemporaryDirectory dir;
  const fs::path file = dir.path() / kSigningKeyFileName;
  for (const char* text : {"", "{}", "{\"format\":\"carerecord-signing-keys-1\",\"keys\":[]}",
                           "{\"format\":\"carerecord-signing-keys-1\",\"keys\":[{\"kid\":\"a\","
                           "\"created\":1,\"private_key_pem\":\"nope\"}]}"}) {
    std::ofstream(file) << text;
    ::chmod(file.c_str(), 0600);
    EXPECT_FALSE(ReadSigningKeyFile(file).ok()) << text;
  }
}

TEST(SigningKeys, RotationAddsACurrentKeyAndRetiresTheOld) {
  TemporaryDirectory dir;
  auto first = LoadOrCreateSigningKeys(dir.path(), kStart);
  ASSERT_TRUE(first.ok());
  auto rotated = RotateSigningKey(dir.path(), kStart + 100);
  ASSERT_TRUE(rotated.ok());
  ASSERT_EQ(rotated->size(), 2u);
  EXPECT_EQ((*rotated)[0].key.kid(), first->front().key.kid());
  EXPECT_EQ((*rotated)[0].retired, kStart + 100);
  EXPECT_NE(CurrentSigningKey(*rotated)->key.kid(), first->front().key.kid());
  EXPECT_EQ(ModeOf(dir.path() / kSigningKeyFileName), 0600u);

  // A day and more later, the first key can sign no live token: rotation drops it.
  auto later = RotateSigningKey(dir.path(), kStart + 100 + kMaxTokenTtlSeconds + 61);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->size(), 2u);
  EXPECT_EQ((*later)[0].key.kid(), CurrentSigningKey(*rotated)->key.kid());
}

TEST(SigningKeys, RotationWithoutAFileCreatesOne) {
  TemporaryDirectory dir;
  auto rotated = RotateSigningKey(dir.path() / "new", kStart);
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(rotated->size(), 1u);
  EXPECT_TRUE(ReadSigningKeyFile(dir.path() / "new" / kSigningKeyFileName).ok());
}

TEST(SigningKeyRing, TakesUpARotatedKeyAtItsNextCheck) {
  TemporaryDirectory dir;
  ManualWallClock clock(kStart);
  auto ring = SigningKeyRing::Open({dir.path(), 300, 30, 10}, clock);
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  const std::string first = (*ring)->Current()->current.kid();
  const uint64_t generation = (*ring)->CurrentGeneration();

  ASSERT_TRUE(RotateSigningKey(dir.path(), kStart + 1).ok());
  clock.Advance(5);
  EXPECT_EQ((*ring)->Current()->current.kid(), first);  // not checked yet
  clock.Advance(6);
  EXPECT_NE((*ring)->Current()->current.kid(), first);
  EXPECT_NE((*ring)->CurrentGeneration(), generation);
  EXPECT_EQ(JwksKids(**ring).size(), 2u);
  EXPECT_TRUE((*ring)->last_error().empty());
}

TEST(SigningKeyRing, KeepsItsKeysWhenTheFileBecomesUnsafe) {
  TemporaryDirectory dir;
  ManualWallClock clock(kStart);
  auto ring = SigningKeyRing::Open({dir.path(), 300, 30, 10}, clock);
  ASSERT_TRUE(ring.ok());
  const std::string first = (*ring)->Current()->current.kid();
  ASSERT_TRUE(RotateSigningKey(dir.path(), kStart + 1).ok());
  ::chmod((dir.path() / kSigningKeyFileName).c_str(), 0644);
  clock.Advance(11);
  EXPECT_EQ((*ring)->Current()->current.kid(), first);
  EXPECT_NE((*ring)->last_error().find("chmod 600"), std::string::npos);
}

TEST(SigningKeyRing, JwksHoldsPublicKeysOnly) {
  TemporaryDirectory dir;
  ManualWallClock clock(kStart);
  auto ring = SigningKeyRing::Open({dir.path()}, clock);
  ASSERT_TRUE(ring.ok());
  boost::json::object jwks = (*ring)->JwksDocument();
  ASSERT_EQ(jwks.at("keys").as_array().size(), 1u);
  const boost::json::object& key = jwks.at("keys").at(0).as_object();
  EXPECT_EQ(key.at("alg"), "ES256");
  EXPECT_EQ(key.at("use"), "sig");
  EXPECT_EQ(key.at("kty"), "EC");
  EXPECT_FALSE(key.contains("d"));
  // Whoever fetches it can read it as a public key set.
  EXPECT_TRUE(JsonWebKeySet::FromJson(jwks, {}).ok());
}

TEST(SigningKeyRing, RetiredKeyVerifiesUntilItsTokensExpireThenNot) {
  TemporaryDirectory dir;
  ManualWallClock clock(kStart);
  auto ring = SigningKeyRing::Open({dir.path(), 300, 30, 10}, clock);
  ASSERT_TRUE(ring.ok());
  AccessTokens tokens(**ring, clock, {"https://issuer", "https://issuer/fhir"});
  AccessTokenGrant grant;
  grant.subject = grant.client_id = "c1";
  grant.organisation = "A81001";
  grant.role = "integration";
  grant.scope = "system/*.rs";
  auto old_token = tokens.Issue(grant);
  ASSERT_TRUE(old_token.ok());
  const std::string old_kid = (*ring)->Current()->current.kid();

  clock.Advance(100);  // the token has 200 s left
  ASSERT_TRUE(RotateSigningKey(dir.path(), clock.NowSeconds()).ok());
  clock.Advance(10);
  auto new_token = tokens.Issue(grant);
  ASSERT_TRUE(new_token.ok());
  EXPECT_NE(ParseCompactJws(new_token->token, "t")->kid, old_kid);  // signs with the new key
  EXPECT_TRUE(tokens.VerifyUncached(old_token->token).ok());
  EXPECT_EQ(JwksKids(**ring).size(), 2u);

  // Retired at kStart+100: in the JWKS until kStart+100+300+30.
  clock.Set(kStart + 100 + 300 + 29);
  EXPECT_EQ(JwksKids(**ring).size(), 2u);
  clock.Set(kStart + 100 + 300 + 30);
  EXPECT_EQ(JwksKids(**ring).size(), 1u);
  EXPECT_NE(JwksKids(**ring)[0], old_kid);

  // A token the old key signed after all (say, with a long lifetime) is no longer accepted.
  auto keys = ReadSigningKeyFile(dir.path() / kSigningKeyFileName);
  ASSERT_TRUE(keys.ok());
  boost::json::object claims{{"iss", "https://issuer"},
                             {"aud", "https://issuer/fhir"},
                             {"sub", "c1"},
                             {"client_id", "c1"},
                             {"scope", "system/*.rs"},
                             {"iat", kStart},
                             {"exp", kStart + 10'000},
                             {"jti", "j"},
                             {"principal", "client"},
                             {"org", "A81001"},
                             {"role", "integration"}};
  auto late = SignCompactJws((*keys)[0].key, claims, "at+jwt");
  ASSERT_TRUE(late.ok());
  auto refused = tokens.VerifyUncached(*late);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("not one of this server's signing keys"),
            std::string::npos);
  EXPECT_TRUE(tokens.VerifyUncached(new_token->token).ok());
}

TEST(SigningKeyRing, ConfigurationIsBounded) {
  TemporaryDirectory dir;
  ManualWallClock clock(kStart);
  EXPECT_FALSE(SigningKeyRing::Open({dir.path(), 0}, clock).ok());
  EXPECT_FALSE(SigningKeyRing::Open({dir.path(), kMaxTokenTtlSeconds + 1}, clock).ok());
  EXPECT_FALSE(SigningKeyRing::Open({dir.path(), 300, 61}, clock).ok());
}

}  // namespace
}  // namespace carerecord::access
