#include "access/oidc_rp.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "access/base64url.h"
#include "access/oidc_test_support.h"

namespace carerecord::access {
namespace {

namespace json = boost::json;
using testing::FakeOidcProvider;

constexpr int64_t kNow = 1'800'000'000;

json::array Roles(std::initializer_list<std::pair<const char*, const char*>> pairs) {
  json::array roles;
  for (auto [org, role] : pairs)
    roles.push_back(json::object{{"org_code", org}, {"role_code", role}});
  return roles;
}

// ---- ID token checks ----

class IdTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = std::move(JsonWebKey::Generate(JwsAlgorithm::kES256)).value();
    keys_ = JsonWebKeySet({key_});
    claims_ = {{"iss", "https://idp.example.org"},
               {"sub", "u1"},
               {"aud", "carerecord"},
               {"iat", kNow - 5},
               {"exp", kNow + 300},
               {"nonce", "n-1"}};
    expected_ = {"https://idp.example.org", "carerecord", "n-1", kNow, 60};
  }
  base::Result<json::object> Verify(const json::object& claims) {
    return VerifyIdToken(SignCompactJws(key_, claims).value(), keys_, expected_);
  }
  static std::string Unsigned(const json::object& header, const json::object& claims,
                              std::string_view signature) {
    return Base64UrlEncode(json::serialize(header)) + "." +
           Base64UrlEncode(json::serialize(claims)) + "." + Base64UrlEncode(signature);
  }
  JsonWebKey key_;
  JsonWebKeySet keys_;
  json::object claims_;
  IdTokenExpectations expected_;
};

TEST_F(IdTokenTest, GoodTokenGivesItsClaims) {
  auto claims = Verify(claims_);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ(claims->at("sub").as_string(), "u1");
}

TEST_F(IdTokenTest, Rs256TokenVerifies) {
  key_ = std::move(JsonWebKey::Generate(JwsAlgorithm::kRS256)).value();
  keys_ = JsonWebKeySet({key_});
  auto claims = Verify(claims_);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
}

TEST_F(IdTokenTest, WrongIssuerIsRefused) {
  claims_["iss"] = "https://other.example.org";
  auto claims = Verify(claims_);
  ASSERT_FALSE(claims.ok());
  EXPECT_EQ(claims.error().location, "iss");
}

TEST_F(IdTokenTest, WrongAudienceIsRefused) {
  claims_["aud"] = "someone-else";
  auto claims = Verify(claims_);
  ASSERT_FALSE(claims.ok());
  EXPECT_EQ(claims.error().location, "aud");
}

TEST_F(IdTokenTest, SeveralAudiencesNeedAzpNamingUs) {
  claims_["aud"] = json::array{"carerecord", "other"};
  EXPECT_EQ(Verify(claims_).error().location, "azp");
  claims_["azp"] = "other";
  EXPECT_EQ(Verify(claims_).error().location, "azp");
  claims_["azp"] = "carerecord";
  EXPECT_TRUE(Verify(claims_).ok());
}

TEST_F(IdTokenTest, WrongNonceIsRefused) {
  claims_["nonce"] = "n-2";
  EXPECT_EQ(Verify(claims_).error().location, "nonce");
  claims_.erase("nonce");
  EXPECT_EQ(Verify(claims_).error().location, "nonce");
}

TEST_F(IdTokenTest, ExpiredTokenIsRefusedPastTheLeeway) {
  claims_["exp"] = kNow - 30;  // within the 60 s leeway
  EXPECT_TRUE(Verify(claims_).ok());
  claims_["exp"] = kNow - 61;
  EXPECT_EQ(Verify(claims_).error().location, "exp");
  claims_.erase("exp");
  EXPECT_EQ(Verify(claims_).error().location, "exp");
}

TEST_F(IdTokenTest, TokenIssuedInTheFutureIsRefused) {
  claims_["iat"] = kNow + 120;
  EXPECT_EQ(Verify(claims_).error().location, "iat");
}

TEST_F(IdTokenTest, AlgNoneIsRefused) {
  std::string token = Unsigned({{"alg", "none"}}, claims_, "");
  token.pop_back();  // "x.y." with an empty signature
  auto claims = VerifyIdToken(token + "AA", keys_, expected_);
  ASSERT_FALSE(claims.ok());
  EXPECT_EQ(claims.error().code, base::ErrorCode::kInvalid);
}

TEST_F(IdTokenTest, HmacKeyedWithThePublicKeyIsRefused) {
  std::string token = Unsigned({{"alg", "HS256"}, {"kid", key_.kid()}}, claims_, "signature");
  auto claims = VerifyIdToken(token, keys_, expected_);
  ASSERT_FALSE(claims.ok());
  EXPECT_EQ(claims.error().code, base::ErrorCode::kInvalid);
  EXPECT_NE(claims.error().message.find("HS256"), std::string::npos) << claims.error().message;
}

TEST_F(IdTokenTest, UnknownKidIsNotFoundSoTheCallerMayRefetch) {
  auto other = std::move(JsonWebKey::Generate(JwsAlgorithm::kES256)).value();
  auto claims = VerifyIdToken(SignCompactJws(other, claims_).value(), keys_, expected_);
  ASSERT_FALSE(claims.ok());
  EXPECT_EQ(claims.error().code, base::ErrorCode::kNotFound);
}

TEST_F(IdTokenTest, TamperedPayloadOrSignatureIsRefused) {
  std::string token = SignCompactJws(key_, claims_).value();
  const size_t first = token.find('.'), second = token.find('.', first + 1);
  json::object changed = claims_;
  changed["sub"] = "someone-else";
  std::string tampered =
      token.substr(0, first + 1) + Base64UrlEncode(json::serialize(changed)) + token.substr(second);
  EXPECT_FALSE(VerifyIdToken(tampered, keys_, expected_).ok());
  std::string signature = Base64UrlDecode(token.substr(second + 1), "sig").value();
  signature[5] ^= 1;
  EXPECT_FALSE(
      VerifyIdToken(token.substr(0, second + 1) + Base64UrlEncode(signature), keys_, expected_)
          .ok());
  EXPECT_TRUE(VerifyIdToken(token, keys_, expected_).ok());
}

// ---- URLs and discovery ----

TEST(OidcUrlTest, HttpOnlyOnLoopback) {
  EXPECT_TRUE(CheckIdpUrl("https://idp.example.org/", "u").ok());
  EXPECT_TRUE(CheckIdpUrl("http://127.0.0.1:9000/", "u").ok());
  EXPECT_TRUE(CheckIdpUrl("http://localhost:9000", "u").ok());
  EXPECT_TRUE(CheckIdpUrl("http://[::1]:9000/oidc", "u").ok());
  EXPECT_FALSE(CheckIdpUrl("http://idp.example.org/", "u").ok());
  EXPECT_FALSE(CheckIdpUrl("http://10.0.0.1/", "u").ok());
  EXPECT_FALSE(CheckIdpUrl("http://127.0.0.1.evil.example/", "u").ok());
  EXPECT_FALSE(CheckIdpUrl("https://user:pw@idp.example.org/", "u").ok());
  EXPECT_FALSE(CheckIdpUrl("ftp://idp.example.org/", "u").ok());
  EXPECT_FALSE(CheckIdpUrl("idp.example.org", "u").ok());
}

TEST(OidcDiscoveryTest, IssuerMustBeTheConfiguredOne) {
  json::object doc{{"issuer", "https://evil.example.org"},
                   {"authorization_endpoint", "https://idp.example.org/auth"},
                   {"token_endpoint", "https://idp.example.org/token"},
                   {"jwks_uri", "https://idp.example.org/jwks"}};
  auto parsed = ParseOidcDiscovery(json::serialize(doc), "https://idp.example.org");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().location, "issuer");
  doc["issuer"] = "https://idp.example.org";
  ASSERT_TRUE(ParseOidcDiscovery(json::serialize(doc), "https://idp.example.org").ok());
  doc["token_endpoint"] = "http://idp.example.org/token";  // not loopback
  EXPECT_EQ(ParseOidcDiscovery(json::serialize(doc), "https://idp.example.org").error().location,
            "token_endpoint");
}

// ---- the flow, against an IdP in memory ----

class RelyingPartyTest : public ::testing::Test {
 protected:
  RelyingPartyTest() : clock_(kNow), idp_(clock_) {
    idp_.claims["name"] = "Dr Ada Lovelace";
    idp_.claims["nhsid_nrbac_roles"] = Roles({{"RDZ", "S8000:G8000:R8000"}});
    settings_.issuer = idp_.issuer;
    settings_.client_id = idp_.client_id;
    settings_.client_secret = idp_.client_secret;
    settings_.redirect_uri = "https://record.example.org/auth/oidc/callback";
    rp_ = std::make_unique<OidcRelyingParty>(settings_, idp_, clock_);
  }
  base::Result<OidcIdentity> SignIn() {
    auto start = rp_->Start("req-1");
    if (!start.ok()) return start.error();
    auto authorized = idp_.Authorize(start->authorization_url);
    return rp_->Callback(authorized.state, authorized.code, start->browser_binding);
  }
  ManualWallClock clock_;
  FakeOidcProvider idp_;
  OidcSettings settings_;
  std::unique_ptr<OidcRelyingParty> rp_;
};

TEST_F(RelyingPartyTest, CodeFlowWithPkceSignsIn) {
  auto identity = SignIn();
  ASSERT_TRUE(identity.ok()) << identity.error().message;
  EXPECT_EQ(identity->subject, idp_.subject);
  EXPECT_EQ(identity->display_name, "Dr Ada Lovelace");
  EXPECT_EQ(identity->pending_request, "req-1");
  ASSERT_EQ(identity->choices.size(), 1u);
  EXPECT_EQ(identity->choices[0].ods_code, "RDZ");
  EXPECT_EQ(identity->choices[0].role, Role::kClinician);
  EXPECT_EQ(idp_.last_scope, "openid profile nhsid_nrbac_roles");
  EXPECT_EQ(idp_.last_authorization.rfind("Basic ", 0), 0u);  // client_secret_basic
  // Only the three URLs of the issuer: discovery, token endpoint, JWKS.
  EXPECT_EQ(idp_.fetched,
            (std::vector<std::string>{idp_.issuer + "/.well-known/openid-configuration",
                                      idp_.issuer + "/token", idp_.issuer + "/jwks"}));
}

TEST_F(RelyingPartyTest, ClientSecretPostWhenTheIdpTakesOnlyThat) {
  idp_.secret_post_only = true;
  auto identity = SignIn();
  ASSERT_TRUE(identity.ok()) << identity.error().message;
  EXPECT_TRUE(idp_.last_authorization.empty());
  EXPECT_NE(idp_.last_token_body.find("client_secret="), std::string::npos);
}

TEST_F(RelyingPartyTest, StateIsOneUse) {
  auto start = rp_->Start("req-1");
  ASSERT_TRUE(start.ok());
  auto authorized = idp_.Authorize(start->authorization_url);
  ASSERT_TRUE(rp_->Callback(authorized.state, authorized.code, start->browser_binding).ok());
  auto again = rp_->Callback(authorized.state, authorized.code, start->browser_binding);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().location, "state");
}

TEST_F(RelyingPartyTest, StateExpires) {
  auto start = rp_->Start("req-1");
  ASSERT_TRUE(start.ok());
  auto authorized = idp_.Authorize(start->authorization_url);
  clock_.Advance(settings_.state_ttl_seconds + 1);
  auto late = rp_->Callback(authorized.state, authorized.code, start->browser_binding);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().location, "state");
}

TEST_F(RelyingPartyTest, StateIsBoundToTheBrowserThatStarted) {
  auto start = rp_->Start("req-1");
  ASSERT_TRUE(start.ok());
  auto authorized = idp_.Authorize(start->authorization_url);
  auto other = rp_->Callback(authorized.state, authorized.code, "another-browser");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("another browser"), std::string::npos);
}

TEST_F(RelyingPartyTest, UnknownStateIsRefused) {
  EXPECT_EQ(rp_->Callback("made-up", "code", "b").error().location, "state");
}

TEST_F(RelyingPartyTest, PendingStatesAreBounded) {
  settings_.max_pending = 2;
  rp_ = std::make_unique<OidcRelyingParty>(settings_, idp_, clock_);
  ASSERT_TRUE(rp_->Start("a").ok());
  ASSERT_TRUE(rp_->Start("b").ok());
  auto full = rp_->Start("c");
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, base::ErrorCode::kTooLarge);
  clock_.Advance(settings_.state_ttl_seconds + 1);  // the expired ones make room
  EXPECT_TRUE(rp_->Start("d").ok());
}

TEST_F(RelyingPartyTest, RotatedKeyIsFetchedOnceItsKidAppears) {
  ASSERT_TRUE(SignIn().ok());
  idp_.key = std::move(JsonWebKey::Generate(JwsAlgorithm::kRS256)).value();
  clock_.Advance(settings_.jwks_min_refetch_seconds);
  idp_.fetched.clear();
  auto identity = SignIn();
  ASSERT_TRUE(identity.ok()) << identity.error().message;
  EXPECT_EQ(std::count(idp_.fetched.begin(), idp_.fetched.end(), idp_.issuer + "/jwks"), 1);
}

TEST_F(RelyingPartyTest, UnknownKidRefetchesAtMostOncePerInterval) {
  ASSERT_TRUE(SignIn().ok());
  idp_.key = std::move(JsonWebKey::Generate(JwsAlgorithm::kES256)).value();
  idp_.published = {std::move(JsonWebKey::Generate(JwsAlgorithm::kES256)).value()};
  clock_.Advance(settings_.jwks_min_refetch_seconds);
  idp_.fetched.clear();
  EXPECT_FALSE(SignIn().ok());  // refetched: still unknown
  EXPECT_FALSE(SignIn().ok());  // within the interval: not refetched
  EXPECT_EQ(std::count(idp_.fetched.begin(), idp_.fetched.end(), idp_.issuer + "/jwks"), 1);
}

TEST_F(RelyingPartyTest, IdTokenWithoutTheRoleClaimIsRefused) {
  idp_.claims.erase("nhsid_nrbac_roles");
  auto identity = SignIn();
  ASSERT_FALSE(identity.ok());
  EXPECT_EQ(identity.error().location, "nhsid_nrbac_roles");
}

TEST_F(RelyingPartyTest, SeveralRolesAreHeldForAChoiceWithACsrfToken) {
  idp_.claims["nhsid_nrbac_roles"] =
      Roles({{"RDZ", "S8000:G8000:R8000"}, {"J12345", "S8000:G8001:R8001"}});
  auto identity = SignIn();
  ASSERT_TRUE(identity.ok());
  ASSERT_EQ(identity->choices.size(), 2u);
  auto held = rp_->HoldChoice(*identity, "browser");
  ASSERT_TRUE(held.ok());
  EXPECT_FALSE(rp_->TakeChoice(held->choice, "forged", "browser", 1).ok());
  EXPECT_FALSE(rp_->TakeChoice(held->choice, held->csrf, "other-browser", 1).ok());
  auto picked = rp_->TakeChoice(held->choice, held->csrf, "browser", 1);
  ASSERT_TRUE(picked.ok()) << picked.error().message;
  ASSERT_EQ(picked->choices.size(), 1u);
  EXPECT_EQ(picked->choices[0].ods_code, "J12345");
  EXPECT_EQ(picked->choices[0].role, Role::kNurse);
  EXPECT_FALSE(rp_->TakeChoice(held->choice, held->csrf, "browser", 1).ok());  // one use
}

TEST_F(RelyingPartyTest, IdpRefusingTheCodeIsAnError) {
  auto start = rp_->Start("req-1");
  ASSERT_TRUE(start.ok());
  auto authorized = idp_.Authorize(start->authorization_url);
  auto identity = rp_->Callback(authorized.state, "not-the-code", start->browser_binding);
  ASSERT_FALSE(identity.ok());
  EXPECT_NE(identity.error().message.find("invalid_grant"), std::string::npos);
}

TEST_F(RelyingPartyTest, DiscoveryNamingAnotherIssuerStopsTheStart) {
  settings_.issuer = "https://idp.example.org/other";
  idp_.issuer = "https://idp.example.org/other";
  rp_ = std::make_unique<OidcRelyingParty>(settings_, idp_, clock_);
  ASSERT_TRUE(rp_->Start("r").ok());
  settings_.issuer = "https://idp.example.org/tenant";  // the IdP still names .../other
  FakeOidcProvider liar(clock_);
  liar.issuer = "https://idp.example.org/other";
  // The document at .../tenant is not served: the start fails, unreachable.
  rp_ = std::make_unique<OidcRelyingParty>(settings_, liar, clock_);
  auto start = rp_->Start("r");
  ASSERT_FALSE(start.ok());
  EXPECT_EQ(start.error().code, base::ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace carerecord::access
