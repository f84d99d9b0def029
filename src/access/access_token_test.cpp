// Every check an access token must pass: signature by one of this server's keys under the alg
// the key fixes, typ, iss, aud, exp and nbf within the leeway, the claims the policy needs, and
// the principals still enabled; and the cache of verified tokens, which must not outlive any of
// them. Some tokens come from Node's crypto (testdata/make_fixtures.sh), not our signer.
#include "access/access_token.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <set>
#include <thread>

#include "access/base64url.h"
#include "access/token_test_support.h"

namespace carerecord::access {
namespace {

namespace json = boost::json;
using testing::Fixture;
using testing::Fixtures;
using testing::ReadTestData;
using testing::TemporaryDirectory;

constexpr int64_t kNow = 2'000'000'000;  // the fixtures' time
const char* const kIssuer = "https://record.example.org";
const char* const kFhirBase = "https://record.example.org/fhir";

// Enabled unless named in `disabled`; counts its calls.
class FakeDirectory final : public PrincipalStatus {
 public:
  base::Status CheckEnabled(const VerifiedToken& token) override {
    ++calls;
    std::lock_guard lock(mutex);
    if (disabled.contains(token.subject))
      return base::Invalid("user " + token.subject + " is disabled");
    if (disabled.contains(token.client_id)) {
      return base::Invalid("client " + token.client_id + " is disabled");
    }
    return base::Status::Ok();
  }
  std::atomic<int> calls{0};
  std::mutex mutex;
  std::set<std::string> disabled;
};

class AccessTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The server key is the one the openssl command line made, so Node could sign with it too.
    testing::WriteKeyFileFromPem(dir_.path(), ReadTestData("server_es256.pem"),
                                 Fixture("server_thumbprint"), kNow - 1000);
    auto ring = SigningKeyRing::Open({dir_.path(), 300, 30, 10}, clock_);
    ASSERT_TRUE(ring.ok()) << ring.error().message;
    ring_ = std::move(ring).value();
    tokens_ = std::make_unique<AccessTokens>(*ring_, clock_, AccessTokenOptions{kIssuer, kFhirBase},
                                             &directory_);
  }

  AccessTokenGrant UserGrant() {
    AccessTokenGrant grant;
    grant.kind = PrincipalKind::kUser;
    grant.subject = "clinician-1";
    grant.client_id = "portal";
    grant.organisation = "A81001";
    grant.role = "clinician";
    grant.scope = "patient/Observation.rs launch/patient openid fhirUser";
    grant.patient = "pat-9";
    grant.fhir_user = "Practitioner/p1";
    return grant;
  }

  std::string Issue() {
    auto issued = tokens_->Issue(UserGrant());
    EXPECT_TRUE(issued.ok());
    return issued.ok() ? issued->token : "";
  }

  json::object Claims() {
    return json::object{{"iss", kIssuer},        {"aud", kFhirBase},     {"sub", "clinician-1"},
                        {"client_id", "portal"}, {"scope", "user/*.rs"}, {"iat", kNow},
                        {"nbf", kNow},           {"exp", kNow + 300},    {"jti", "j1"},
                        {"principal", "user"},   {"org", "A81001"},      {"role", "clinician"}};
  }

  // Signed by the server's own key, with whatever claims the test wants.
  std::string SignWithServerKey(const json::object& claims, std::string_view typ = "at+jwt") {
    auto token = SignCompactJws(ring_->Current()->current, claims, typ);
    EXPECT_TRUE(token.ok());
    return token.ok() ? *token : "";
  }

  std::string Refusal(const std::string& token) {
    auto verified = tokens_->VerifyUncached(token);
    if (verified.ok()) return "(accepted)";
    EXPECT_EQ(verified.error().code, base::ErrorCode::kInvalid);
    return verified.error().message;
  }

  TemporaryDirectory dir_;
  ManualWallClock clock_{kNow};
  FakeDirectory directory_;
  std::unique_ptr<SigningKeyRing> ring_;
  std::unique_ptr<AccessTokens> tokens_;
};

TEST_F(AccessTokenTest, IssuedTokenCarriesWhatThePolicyNeeds) {
  auto issued = tokens_->Issue(UserGrant());
  ASSERT_TRUE(issued.ok()) << issued.error().message;
  EXPECT_EQ(issued->expires_in, 300);
  EXPECT_EQ(issued->expires_at, kNow + 300);
  auto verified = tokens_->Verify(issued->token);
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  const VerifiedToken& token = **verified;
  EXPECT_EQ(token.kind, PrincipalKind::kUser);
  EXPECT_EQ(token.subject, "clinician-1");
  EXPECT_EQ(token.client_id, "portal");
  EXPECT_EQ(token.organisation, "A81001");
  EXPECT_EQ(token.role, "clinician");
  EXPECT_EQ(token.patient, "pat-9");
  EXPECT_EQ(token.fhir_user, "Practitioner/p1");
  EXPECT_EQ(token.jti, issued->jti);
  EXPECT_EQ(token.expires_at, kNow + 300);
  EXPECT_EQ(token.key_id, Fixture("server_thumbprint"));
  EXPECT_TRUE(token.scopes.Has("launch/patient"));
  EXPECT_EQ(token.LevelForMessages(), ScopeLevel::kPatient);
  ScopeDecision decision =
      token.scopes.Covers(FhirInteraction::kCreate, "Observation", token.LevelForMessages());
  EXPECT_EQ(decision.missing_scope, "patient/Observation.c");

  auto jws = ParseCompactJws(issued->token, "t");
  ASSERT_TRUE(jws.ok());
  EXPECT_EQ(jws->algorithm, JwsAlgorithm::kES256);
  EXPECT_EQ(jws->header.at("typ"), "at+jwt");
  EXPECT_EQ(jws->payload.at("aud"), kFhirBase);
  EXPECT_EQ(jws->payload.at("iss"), kIssuer);
  EXPECT_EQ(jws->payload.at("nbf"), kNow);
}

TEST_F(AccessTokenTest, EveryTokenHasItsOwnJti) {
  std::set<std::string> jtis;
  for (int i = 0; i < 50; ++i) jtis.insert(tokens_->Issue(UserGrant())->jti);
  EXPECT_EQ(jtis.size(), 50u);
}

TEST_F(AccessTokenTest, IssueRefusesAGrantWithAMalformedScope) {
  AccessTokenGrant grant = UserGrant();
  grant.scope = "patient/Observation.xyz";
  EXPECT_FALSE(tokens_->Issue(grant).ok());
}

TEST_F(AccessTokenTest, AcceptsATokenNodeSignedWithOurKey) {
  auto verified = tokens_->VerifyUncached(Fixture("access_token"));
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ((*verified)->subject, "clinician-1");
  EXPECT_EQ((*verified)->fhir_user, "Practitioner/p1");
}

TEST_F(AccessTokenTest, ExpiredIsRefusedAfterTheLeeway) {
  std::string token = Issue();
  clock_.Set(kNow + 300 + 30);
  EXPECT_EQ(Refusal(token), "(accepted)");
  clock_.Set(kNow + 300 + 31);
  EXPECT_NE(Refusal(token).find("expired"), std::string::npos);
}

TEST_F(AccessTokenTest, NotYetValidIsRefused) {
  json::object claims = Claims();
  claims["nbf"] = kNow + 100;
  EXPECT_NE(Refusal(SignWithServerKey(claims)).find("not valid before"), std::string::npos);
  claims["nbf"] = kNow + 30;  // within the leeway
  EXPECT_EQ(Refusal(SignWithServerKey(claims)), "(accepted)");
  claims["nbf"] = kNow;
  claims["iat"] = kNow + 3600;
  EXPECT_NE(Refusal(SignWithServerKey(claims)).find("issued in the future"), std::string::npos);
}

TEST_F(AccessTokenTest, WrongAudienceIsRefused) {
  json::object claims = Claims();
  claims["aud"] = "https://other.example.org/fhir";
  EXPECT_NE(Refusal(SignWithServerKey(claims)).find("audience"), std::string::npos);
  claims["aud"] = json::array{"https://other.example.org/fhir", kFhirBase};
  EXPECT_EQ(Refusal(SignWithServerKey(claims)), "(accepted)");
  claims.erase("aud");
  EXPECT_NE(Refusal(SignWithServerKey(claims)).find("audience"), std::string::npos);
}

TEST_F(AccessTokenTest, WrongIssuerIsRefused) {
  json::object claims = Claims();
  claims["iss"] = "https://evil.example.org";
  EXPECT_NE(Refusal(SignWithServerKey(claims)).find("issuer"), std::string::npos);
  claims.erase("iss");
  EXPECT_NE(Refusal(SignWithServerKey(claims)).find("issuer"), std::string::npos);
}

TEST_F(AccessTokenTest, AlgNoneIsRefused) {
  EXPECT_NE(Refusal(Fixture("access_token_alg_none")).find("unsigned"), std::string::npos);
  EXPECT_NE(Refusal(Fixture("access_token_alg_none_signed")).find("'none'"), std::string::npos);
}

TEST_F(AccessTokenTest, HmacKeyedWithOurPublicKeyIsRefused) {
  EXPECT_NE(Refusal(Fixture("access_token_hs256_public_key")).find("HS256"), std::string::npos);
}

TEST_F(AccessTokenTest, KeyNotInOurJwksIsRefused) {
  auto stranger = JsonWebKey::GenerateEs256();
  ASSERT_TRUE(stranger.ok());
  auto token = SignCompactJws(*stranger, Claims(), "at+jwt");
  ASSERT_TRUE(token.ok());
  EXPECT_NE(Refusal(*token).find("not one of this server's signing keys"), std::string::npos);

  // The same stranger claiming our kid: found, but the signature is not ours.
  const std::string our_kid = Fixture("server_thumbprint");
  json::object header{{"alg", "ES256"}, {"kid", our_kid}, {"typ", "at+jwt"}};
  std::string input =
      Base64UrlEncode(json::serialize(header)) + "." + Base64UrlEncode(json::serialize(Claims()));
  auto signature = stranger->Sign(input);
  ASSERT_TRUE(signature.ok());
  EXPECT_NE(Refusal(input + "." + Base64UrlEncode(*signature)).find("signature does not verify"),
            std::string::npos);

  // A token naming no kid at all.
  header.erase("kid");
  input =
      Base64UrlEncode(json::serialize(header)) + "." + Base64UrlEncode(json::serialize(Claims()));
  EXPECT_NE(Refusal(input + "." + Base64UrlEncode(*signature)).find("'kid' absent"),
            std::string::npos);
}

TEST_F(AccessTokenTest, TamperedPayloadIsRefused) {
  std::string token = Issue();
  size_t first = token.find('.'), second = token.rfind('.');
  json::object claims =
      json::parse(*Base64UrlDecode(token.substr(first + 1, second - first - 1), "p")).as_object();
  claims["role"] = "system-admin";
  std::string tampered =
      token.substr(0, first + 1) + Base64UrlEncode(json::serialize(claims)) + token.substr(second);
  EXPECT_NE(Refusal(tampered).find("signature does not verify"), std::string::npos);
}

TEST_F(AccessTokenTest, TamperedSignatureIsRefused) {
  std::string token = Issue();
  std::string signature = *Base64UrlDecode(token.substr(token.rfind('.') + 1), "s");
  signature[40] ^= 0x01;
  std::string tampered = token.substr(0, token.rfind('.') + 1) + Base64UrlEncode(signature);
  EXPECT_NE(Refusal(tampered).find("signature does not verify"), std::string::npos);
  EXPECT_FALSE(tokens_->Verify(tampered).ok());
}

TEST_F(AccessTokenTest, AnIdTokenOrOtherJwtIsNotAnAccessToken) {
  EXPECT_NE(Refusal(SignWithServerKey(Claims(), "JWT")).find("typ"), std::string::npos);
  EXPECT_NE(Refusal(SignWithServerKey(Claims(), "")).find("typ"), std::string::npos);
}

TEST_F(AccessTokenTest, ClaimsThePolicyNeedsAreRequired) {
  for (const char* claim :
       {"sub", "client_id", "org", "role", "jti", "principal", "scope", "exp"}) {
    json::object claims = Claims();
    claims.erase(claim);
    EXPECT_NE(Refusal(SignWithServerKey(claims)).find(claim), std::string::npos) << claim;
  }
  json::object claims = Claims();
  claims["principal"] = "robot";
  EXPECT_NE(Refusal(SignWithServerKey(claims)).find("neither user nor client"), std::string::npos);
  claims = Claims();
  claims["scope"] = "user/Nothing.rs";
  EXPECT_NE(Refusal(SignWithServerKey(claims)).find("scope"), std::string::npos);
}

TEST_F(AccessTokenTest, DisabledUserOrClientIsRefused) {
  std::string token = Issue();
  ASSERT_TRUE(tokens_->Verify(token).ok());
  {
    std::lock_guard lock(directory_.mutex);
    directory_.disabled.insert("clinician-1");
  }
  EXPECT_NE(Refusal(token).find("user clinician-1 is disabled"), std::string::npos);
  // The cached verification asks again once its answer is 30 s old.
  clock_.Advance(29);
  EXPECT_TRUE(tokens_->Verify(token).ok());
  clock_.Advance(1);
  auto refused = tokens_->Verify(token);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("disabled"), std::string::npos);
  {
    std::lock_guard lock(directory_.mutex);
    directory_.disabled = {"portal"};
  }
  EXPECT_NE(Refusal(token).find("client portal is disabled"), std::string::npos);
}

TEST_F(AccessTokenTest, CacheAnswersRepeatsWithoutVerifyingAgain) {
  std::string token = Issue();
  auto first = tokens_->Verify(token);
  ASSERT_TRUE(first.ok());
  const int calls = directory_.calls;
  auto second = tokens_->Verify(token);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->get(), second->get());  // the same verified token, not a new one
  EXPECT_EQ(directory_.calls, calls);
  EXPECT_EQ(tokens_->cached_tokens(), 1u);
}

TEST_F(AccessTokenTest, CachedTokenStillExpires) {
  std::string token = Issue();
  ASSERT_TRUE(tokens_->Verify(token).ok());
  clock_.Set(kNow + 331);
  auto refused = tokens_->Verify(token);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("expired"), std::string::npos);
  EXPECT_EQ(tokens_->cached_tokens(), 0u);
}

TEST_F(AccessTokenTest, CachedTokenIsCheckedAgainWhenTheKeysChange) {
  std::string token = Issue();
  ASSERT_TRUE(tokens_->Verify(token).ok());
  // The operator replaces the key file with one that no longer holds the key (a compromise).
  auto fresh = JsonWebKey::GenerateEs256();
  ASSERT_TRUE(fresh.ok());
  testing::WriteKeyFileFromPem(dir_.path(), *fresh->PrivateKeyPem(), fresh->kid(), kNow);
  clock_.Advance(11);
  auto refused = tokens_->Verify(token);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("not one of this server's signing keys"),
            std::string::npos);
}

TEST_F(AccessTokenTest, ConnectionMemoAnswersTheSameTokenAndOnlyIt) {
  VerifiedTokenMemo memo;
  std::string token = Issue();
  auto first = tokens_->Verify(token, memo);
  ASSERT_TRUE(first.ok());
  const int calls = directory_.calls;
  auto again = tokens_->Verify(token, memo);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(first->get(), again->get());
  EXPECT_EQ(directory_.calls, calls);

  // Another token on the same connection is verified for itself, never taken for the last.
  std::string tampered = token;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(tokens_->Verify(tampered, memo).ok());
  AccessTokenGrant other = UserGrant();
  other.subject = "nurse-2";
  std::string second = tokens_->Issue(other)->token;
  auto verified = tokens_->Verify(second, memo);
  ASSERT_TRUE(verified.ok());
  EXPECT_EQ((*verified)->subject, "nurse-2");
}

TEST_F(AccessTokenTest, ConnectionMemoStillExpiresAndAsksTheDirectory) {
  VerifiedTokenMemo memo;
  std::string token = Issue();
  ASSERT_TRUE(tokens_->Verify(token, memo).ok());
  {
    std::lock_guard lock(directory_.mutex);
    directory_.disabled.insert("clinician-1");
  }
  clock_.Advance(29);
  EXPECT_TRUE(tokens_->Verify(token, memo).ok());
  clock_.Advance(1);
  EXPECT_FALSE(tokens_->Verify(token, memo).ok());
  {
    std::lock_guard lock(directory_.mutex);
    directory_.disabled.clear();
  }
  ASSERT_TRUE(tokens_->Verify(token, memo).ok());
  clock_.Set(kNow + 331);
  auto refused = tokens_->Verify(token, memo);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("expired"), std::string::npos);
}

TEST_F(AccessTokenTest, CacheIsBounded) {
  tokens_ = std::make_unique<AccessTokens>(
      *ring_, clock_, AccessTokenOptions{kIssuer, kFhirBase, /*cache_capacity=*/32}, &directory_);
  std::vector<std::string> issued;
  for (int i = 0; i < 200; ++i) {
    issued.push_back(Issue());
    ASSERT_TRUE(tokens_->Verify(issued.back()).ok());
  }
  EXPECT_LE(tokens_->cached_tokens(), 32u);
  for (const std::string& token : issued) EXPECT_TRUE(tokens_->Verify(token).ok());
}

TEST_F(AccessTokenTest, VerifiesFromManyThreadsAtOnce) {
  std::vector<std::string> issued;
  for (int i = 0; i < 8; ++i) issued.push_back(Issue());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 200; ++round) {
        if (!tokens_->Verify(issued[round % issued.size()]).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
}

TEST_F(AccessTokenTest, GarbageIsRefusedWithAReason) {
  for (const char* garbage : {"", "abc", "a.b.c", "eyJhbGciOiJFUzI1NiJ9..sig", "a.b.c.d.e"}) {
    auto refused = tokens_->Verify(garbage);
    ASSERT_FALSE(refused.ok()) << garbage;
    EXPECT_FALSE(refused.error().message.empty());
  }
  EXPECT_FALSE(tokens_->Verify(std::string(100'000, 'a')).ok());
}

}  // namespace
}  // namespace carerecord::access
