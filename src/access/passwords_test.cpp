#include "access/passwords.h"

#include <gtest/gtest.h>

#include <set>

namespace carerecord::access {
namespace {

PasswordHashOptions Cheap() { return PasswordHashOptions{256, 1, 1}; }

TEST(Passwords, HashRecordsItsParametersAndSalt) {
  auto hash = HashPassword("correct horse battery", PasswordHashOptions{512, 3, 1});
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(hash->rfind("$argon2id$v=19$m=512,t=3,p=1$", 0), 0u) << *hash;
  // The same password hashes differently each time: the salt is random.
  auto again = HashPassword("correct horse battery", PasswordHashOptions{512, 3, 1});
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*hash, *again);
  EXPECT_EQ(hash->find("correct"), std::string::npos);
}

TEST(Passwords, VerifyAcceptsOnlyTheRightPassword) {
  auto hash = HashPassword("correct horse battery", Cheap());
  ASSERT_TRUE(hash.ok());
  EXPECT_TRUE(VerifyPassword(*hash, "correct horse battery"));
  EXPECT_FALSE(VerifyPassword(*hash, "correct horse batterY"));
  EXPECT_FALSE(VerifyPassword(*hash, "correct horse battery "));
  EXPECT_FALSE(VerifyPassword(*hash, ""));
}

TEST(Passwords, VerifyReadsTheParametersFromTheHashNotFromTheOptions) {
  // A hash made with other parameters than today's defaults still verifies.
  auto hash = HashPassword("correct horse battery", PasswordHashOptions{1024, 2, 2});
  ASSERT_TRUE(hash.ok());
  EXPECT_TRUE(VerifyPassword(*hash, "correct horse battery"));
}

TEST(Passwords, MalformedOrForeignHashesNeverMatch) {
  EXPECT_FALSE(VerifyPassword("", ""));
  EXPECT_FALSE(VerifyPassword("correct horse battery", "correct horse battery"));
  auto argon2i = std::string("$argon2i$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g");
  EXPECT_FALSE(VerifyPassword(argon2i, "anything"));
  EXPECT_FALSE(VerifyPassword("$argon2id$v=19$m=256,t=1,p=1$garbage", "anything"));
}

TEST(Passwords, StrengthRule) {
  EXPECT_FALSE(CheckPasswordStrength("short").ok());
  EXPECT_FALSE(CheckPasswordStrength("twelve chars\nnewline").ok());
  EXPECT_FALSE(CheckPasswordStrength(std::string(1025, 'a')).ok());
  EXPECT_TRUE(CheckPasswordStrength("twelve chars").ok());
}

TEST(Passwords, GeneratedPasswordsAreStrongAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    std::string password = GeneratePassword();
    EXPECT_EQ(password.size(), 20u);
    EXPECT_TRUE(CheckPasswordStrength(password).ok());
    EXPECT_EQ(password.find_first_of("0O1lI"), std::string::npos) << password;
    seen.insert(password);
  }
  EXPECT_EQ(seen.size(), 50u);
}

TEST(Passwords, RandomValuesHaveTheirAlphabets) {
  std::string token = RandomToken(32);
  EXPECT_EQ(token.size(), 43u);  // 256 bits, unpadded base64url
  EXPECT_EQ(
      token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
      std::string::npos);
  std::string hex = RandomHex(16);
  EXPECT_EQ(hex.size(), 32u);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(RandomHex(16), hex);
}

TEST(Passwords, ClientSecretHashVerifies) {
  std::string secret = RandomToken(32);
  std::string hash = HashClientSecret(secret);
  EXPECT_EQ(hash.rfind("sha256:", 0), 0u);
  EXPECT_EQ(hash.find(secret), std::string::npos);
  EXPECT_TRUE(VerifyClientSecret(hash, secret));
  EXPECT_FALSE(VerifyClientSecret(hash, secret + "x"));
  EXPECT_FALSE(VerifyClientSecret(hash, ""));
  EXPECT_FALSE(VerifyClientSecret("", secret));
  EXPECT_FALSE(VerifyClientSecret("sha256:", ""));
  EXPECT_FALSE(VerifyClientSecret(secret, secret));  // a stored plain secret is not a hash
}

}  // namespace
}  // namespace carerecord::access
