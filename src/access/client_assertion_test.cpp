// SMART Backend Services client assertions: what Node signed (ES384, RS384) is accepted once, and
// each check refuses what it must: replayed jti, exp too far ahead or missing, wrong aud, iss !=
// sub, a kid of another alg, a key not registered, a registered JWKS holding a private key.
#include "access/client_assertion.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include "access/token_test_support.h"

namespace carerecord::access {
namespace {

namespace json = boost::json;
using testing::Fixture;
using testing::Fixtures;
using testing::ReadTestData;

constexpr int64_t kNow = 2'000'000'000;

class ClientAssertionTest : public ::testing::Test {
 protected:
  ClientAssertionExpectation Expected() {
    return {Fixture("client_id"), json::serialize(Fixtures().at("client_jwks")),
            Fixture("token_endpoint")};
  }

  json::object Claims(const std::string& jti) {
    return json::object{{"iss", Fixture("client_id")},
                        {"sub", Fixture("client_id")},
                        {"aud", Fixture("token_endpoint")},
                        {"exp", kNow + 240},
                        {"iat", kNow},
                        {"jti", jti}};
  }

  // Signed by our signer with the client's ES384 key (the one Node signed the fixtures with).
  std::string Sign(const json::object& claims, const char* pem = "client_es384.pem",
                   const char* kid = "client-es384", JwsAlgorithm alg = JwsAlgorithm::kES384) {
    auto key = JsonWebKey::FromPem(ReadTestData(pem), kid, alg);
    EXPECT_TRUE(key.ok());
    auto token = SignCompactJws(*key, claims);
    EXPECT_TRUE(token.ok());
    return token.ok() ? *token : "";
  }

  std::string Refusal(const std::string& assertion) {
    auto verified = verifier_.Verify(assertion, Expected());
    return verified.ok() ? "(accepted)" : verified.error().message;
  }

  ManualWallClock clock_{kNow};
  ClientAssertionVerifier verifier_{clock_};
};

TEST_F(ClientAssertionTest, AcceptsWhatNodeSignedWithEs384AndRs384) {
  for (const char* name : {"assertion_es384", "assertion_rs384"}) {
    auto verified = verifier_.Verify(Fixture(name), Expected());
    ASSERT_TRUE(verified.ok()) << name << ": " << verified.error().message;
    EXPECT_EQ(verified->client_id, Fixture("client_id"));
    EXPECT_EQ(verified->expires_at, kNow + 240);
  }
  EXPECT_EQ(verifier_.remembered_jtis(), 2u);
}

TEST_F(ClientAssertionTest, ReplayedJtiIsRefused) {
  ASSERT_EQ(Refusal(Fixture("assertion_es384")), "(accepted)");
  EXPECT_NE(Refusal(Fixture("assertion_es384")).find("replay"), std::string::npos);
  // A new assertion reusing the jti is a replay too, until the first one has expired.
  std::string again = Sign(Claims("a-es384"));
  EXPECT_NE(Refusal(again).find("replay"), std::string::npos);
  clock_.Set(kNow + 240 + 31);
  json::object later = Claims("a-es384");
  later["exp"] = clock_.NowSeconds() + 60;
  EXPECT_EQ(Refusal(Sign(later)), "(accepted)");
}

TEST_F(ClientAssertionTest, SameJtiFromAnotherClientIsItsOwn) {
  ASSERT_EQ(Refusal(Sign(Claims("shared-jti"))), "(accepted)");
  ClientAssertionExpectation other = Expected();
  other.client_id = "backend-client-2";
  json::object claims = Claims("shared-jti");
  claims["iss"] = claims["sub"] = "backend-client-2";
  auto verified = verifier_.Verify(Sign(claims), other);
  EXPECT_TRUE(verified.ok()) << verified.error().message;
}

TEST_F(ClientAssertionTest, ExpTooFarAheadIsRefused) {
  json::object claims = Claims("far");
  claims["exp"] = kNow + 600;
  EXPECT_NE(Refusal(Sign(claims)).find("600 seconds ahead"), std::string::npos);
  claims["exp"] = kNow + 300 + 10 + 1;  // beyond five minutes and the allowed clock skew
  EXPECT_NE(Refusal(Sign(claims)).find("ahead"), std::string::npos);
  claims["exp"] = kNow + 300;
  EXPECT_EQ(Refusal(Sign(claims)), "(accepted)");
}

TEST_F(ClientAssertionTest, MissingOrPastExpIsRefused) {
  json::object claims = Claims("no-exp");
  claims.erase("exp");
  EXPECT_NE(Refusal(Sign(claims)).find("no 'exp'"), std::string::npos);
  claims = Claims("past");
  claims["exp"] = kNow - 31;
  EXPECT_NE(Refusal(Sign(claims)).find("expired"), std::string::npos);
  claims = Claims("not-yet");
  claims["nbf"] = kNow + 120;
  EXPECT_NE(Refusal(Sign(claims)).find("not valid yet"), std::string::npos);
}

TEST_F(ClientAssertionTest, WrongAudienceIsRefused) {
  json::object claims = Claims("aud");
  claims["aud"] = "https://record.example.org/fhir";
  EXPECT_NE(Refusal(Sign(claims)).find("aud"), std::string::npos);
  claims["aud"] = json::array{"https://elsewhere", Fixture("token_endpoint")};
  EXPECT_EQ(Refusal(Sign(claims)), "(accepted)");
}

TEST_F(ClientAssertionTest, IssMustEqualSubMustEqualClientId) {
  json::object claims = Claims("iss-sub");
  claims["sub"] = "someone-else";
  EXPECT_NE(Refusal(Sign(claims)).find("sub is not the client_id"), std::string::npos);
  claims = Claims("iss");
  claims["iss"] = "someone-else";
  EXPECT_NE(Refusal(Sign(claims)).find("iss is not the client_id"), std::string::npos);
  claims = Claims("both");
  claims["iss"] = claims["sub"] = "backend-client-2";  // consistent, but not the client asking
  EXPECT_NE(Refusal(Sign(claims)).find("not the client_id"), std::string::npos);
}

TEST_F(ClientAssertionTest, JtiIsRequired) {
  json::object claims = Claims("x");
  claims.erase("jti");
  EXPECT_NE(Refusal(Sign(claims)).find("no 'jti'"), std::string::npos);
  claims["jti"] = std::string(300, 'j');
  EXPECT_NE(Refusal(Sign(claims)).find("longer"), std::string::npos);
}

TEST_F(ClientAssertionTest, KidMustNameAKeyOfTheHeadersAlg) {
  EXPECT_NE(Refusal(Fixture("assertion_kid_of_other_alg")).find("names no ES384 key"),
            std::string::npos);
  EXPECT_NE(Refusal(Sign(Claims("unknown"), "client_es384.pem", "unregistered"))
                .find("names no ES384 key"),
            std::string::npos);
  EXPECT_NE(Refusal(Sign(Claims("no-kid"), "client_es384.pem", "")).find("kid"), std::string::npos);
  // An ES256 assertion under the kid of the client's ES384 key.
  EXPECT_NE(
      Refusal(Sign(Claims("stranger"), "server_es256.pem", "client-es384", JwsAlgorithm::kES256))
          .find("names no ES256 key"),
      std::string::npos);
}

TEST_F(ClientAssertionTest, KeyNotInTheClientsJwksFailsTheSignature) {
  // The registered kid now names another P-384 key (made by the openssl command line): the
  // assertion signed with the old key no longer verifies.
  testing::TemporaryDirectory dir;
  const std::string pem = (dir.path() / "other.pem").string();
  ASSERT_EQ(std::system(("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out " +
                         pem + " 2>/dev/null")
                            .c_str()),
            0);
  std::ifstream in(pem);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto other = JsonWebKey::FromPem(text, "client-es384");
  ASSERT_TRUE(other.ok()) << other.error().message;
  ClientAssertionExpectation expected = Expected();
  expected.jwks_json = json::serialize(json::object{{"keys", json::array{other->PublicJwk()}}});
  auto refused = verifier_.Verify(Sign(Claims("wrong-key")), expected);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("signature does not verify"), std::string::npos);
}

TEST_F(ClientAssertionTest, RegisteredJwksWithAPrivateKeyIsRefused) {
  auto key = JsonWebKey::FromPem(ReadTestData("client_es384.pem"), "client-es384");
  ASSERT_TRUE(key.ok());
  json::object jwk = key->PublicJwk();
  jwk["d"] = "AAAA";
  ClientAssertionExpectation expected = Expected();
  expected.jwks_json = json::serialize(json::object{{"keys", json::array{jwk}}});
  auto refused = verifier_.Verify(Sign(Claims("leaked")), expected);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("private"), std::string::npos);
}

TEST_F(ClientAssertionTest, Sha256AlgorithmsCanBeTurnedOff) {
  json::object jwks{
      {"keys",
       json::array{JsonWebKey::FromPem(ReadTestData("server_es256.pem"), "k256")->PublicJwk()}}};
  ClientAssertionExpectation expected = Expected();
  expected.jwks_json = json::serialize(jwks);
  std::string token = Sign(Claims("es256"), "server_es256.pem", "k256", JwsAlgorithm::kES256);
  EXPECT_TRUE(verifier_.Verify(token, expected).ok());
  ClientAssertionOptions strict;
  strict.accept_sha256 = false;
  ClientAssertionVerifier strict_verifier(clock_, strict);
  auto refused = strict_verifier.Verify(
      Sign(Claims("es256-b"), "server_es256.pem", "k256", JwsAlgorithm::kES256), expected);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("ES256"), std::string::npos);
}

TEST_F(ClientAssertionTest, AFullReplayCacheRefusesRatherThanForgets) {
  ClientAssertionOptions small;
  small.replay_capacity = 16;  // one per shard
  ClientAssertionVerifier verifier(clock_, small);
  int accepted = 0, unavailable = 0;
  for (int i = 0; i < 200; ++i) {
    auto verified = verifier.Verify(Sign(Claims("j" + std::to_string(i))), Expected());
    if (verified.ok()) {
      ++accepted;
    } else {
      EXPECT_EQ(verified.error().code, base::ErrorCode::kUnavailable) << verified.error().message;
      ++unavailable;
    }
  }
  EXPECT_LE(accepted, 16);
  EXPECT_GT(unavailable, 0);
  // Once they expire, room is made again.
  clock_.Set(kNow + 240 + 31);
  json::object claims = Claims("after");
  claims["exp"] = clock_.NowSeconds() + 60;
  EXPECT_TRUE(verifier.Verify(Sign(claims), Expected()).ok());
}

TEST_F(ClientAssertionTest, ConcurrentReplaysAcceptExactlyOne) {
  const std::string assertion = Sign(Claims("raced"));
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      if (verifier_.Verify(assertion, Expected()).ok()) ++accepted;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(accepted, 1);
}

TEST_F(ClientAssertionTest, UnverifiedIssuerNamesTheClient) {
  auto issuer = ClientAssertionVerifier::UnverifiedIssuer(Fixture("assertion_rs384"));
  ASSERT_TRUE(issuer.ok());
  EXPECT_EQ(*issuer, Fixture("client_id"));
  EXPECT_FALSE(ClientAssertionVerifier::UnverifiedIssuer("x.y").ok());
}

}  // namespace
}  // namespace carerecord::access
