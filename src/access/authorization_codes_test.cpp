// The pending sign-ins, codes and launches in memory: one use each, expiry by the clock, a
// bound on how many are kept, PKCE's S256 check, and the scopes a user may be granted.
#include "access/authorization_codes.h"

#include <gtest/gtest.h>

#include <boost/url/parse.hpp>

namespace carerecord::access {
namespace {

std::string QueryParam(const std::string& location, std::string_view name) {
  auto url = boost::urls::parse_uri(location);
  auto params = url->params();
  auto it = params.find(name);
  return it == params.end() ? std::string() : std::string((*it).value);
}

AuthorizationRequest Request(const std::string& scope = "user/*.rs") {
  AuthorizationRequest request;
  request.client_id = "app";
  request.client_scope = "user/*.cruds patient/*.rs openid offline_access launch/patient";
  request.redirect_uri = "https://app.example/cb?keep=1";
  request.state = "s t";
  request.scope = scope;
  request.code_challenge = "-lTipkk1dJLjNw5kKLi9U6OttbLY3I9yeoyyWTXtOCE";
  return request;
}

store::UserRecord Staff() {
  store::UserRecord user;
  user.key = 7;
  user.username = "dr.jones";
  user.ods_code = "TEST1";
  user.role = "clinician";
  return user;
}

class PendingAuthorizationsTest : public ::testing::Test {
 protected:
  PendingAuthorizationsTest() : clock_(1000), pending_(clock_, Options()) {}
  static PendingAuthorizationOptions Options() {
    PendingAuthorizationOptions options;
    options.issuer = "https://record.example";
    options.max_pending = 3;
    options.practitioner_of = [](const store::UserRecord& user) {
      return "Practitioner/user-" + std::to_string(user.key);
    };
    return options;
  }
  ManualWallClock clock_;
  PendingAuthorizations pending_;
};

TEST_F(PendingAuthorizationsTest, CompletingRedirectsWithACodeThatRedeemsOnce) {
  std::string id = pending_.Begin(Request());
  ASSERT_TRUE(pending_.Find(id).has_value());
  auto location = pending_.Complete(id, Staff(), "TEST1", "clinician");
  ASSERT_TRUE(location.ok()) << location.error().message;
  EXPECT_TRUE(location->starts_with("https://app.example/cb?keep=1&code=")) << *location;
  EXPECT_EQ(QueryParam(*location, "state"), "s t");
  EXPECT_EQ(QueryParam(*location, "iss"), "https://record.example");
  EXPECT_FALSE(pending_.Find(id).has_value());
  EXPECT_EQ(pending_.Complete(id, Staff(), "TEST1", "clinician").error().code,
            base::ErrorCode::kNotFound);

  const std::string code = QueryParam(*location, "code");
  CodeRedemption first = pending_.Redeem(code);
  ASSERT_EQ(first.outcome, CodeRedemption::Outcome::kRedeemed);
  EXPECT_EQ(first.grant.username, "dr.jones");
  EXPECT_EQ(first.grant.scope, "user/*.rs");
  EXPECT_EQ(first.grant.fhir_user, "Practitioner/user-7");
  EXPECT_EQ(first.grant.redirect_uri, "https://app.example/cb?keep=1");
  CodeRedemption second = pending_.Redeem(code);
  EXPECT_EQ(second.outcome, CodeRedemption::Outcome::kReplayed);
  EXPECT_EQ(second.grant.family, first.grant.family);
  EXPECT_EQ(pending_.Redeem("other").outcome, CodeRedemption::Outcome::kUnknownOrExpired);
}

TEST_F(PendingAuthorizationsTest, CodesAndPendingRequestsExpire) {
  std::string id = pending_.Begin(Request());
  auto location = pending_.Complete(id, Staff(), "TEST1", "clinician");
  clock_.Advance(60);
  EXPECT_EQ(pending_.Redeem(QueryParam(*location, "code")).outcome,
            CodeRedemption::Outcome::kUnknownOrExpired);
  std::string late = pending_.Begin(Request());
  clock_.Advance(600);
  EXPECT_FALSE(pending_.Find(late).has_value());
  EXPECT_FALSE(pending_.Complete(late, Staff(), "TEST1", "clinician").ok());
}

TEST_F(PendingAuthorizationsTest, TheOldestPendingRequestGivesWayWhenFull) {
  std::string first = pending_.Begin(Request());
  clock_.Advance(1);
  std::string second = pending_.Begin(Request());
  pending_.Begin(Request());
  pending_.Begin(Request());
  EXPECT_EQ(pending_.pending_count(), 3u);
  EXPECT_FALSE(pending_.Find(first).has_value());
  EXPECT_TRUE(pending_.Find(second).has_value());
}

TEST_F(PendingAuthorizationsTest, DenyAndRolesThatCannotSignInGoBackAsErrors) {
  auto denied = pending_.Deny(pending_.Begin(Request()), "access_denied", "cancelled");
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(QueryParam(*denied, "error"), "access_denied");
  EXPECT_EQ(QueryParam(*denied, "code"), "");
  auto integration = pending_.Complete(pending_.Begin(Request()), Staff(), "TEST1", "integration");
  ASSERT_TRUE(integration.ok());
  EXPECT_EQ(QueryParam(*integration, "error"), "access_denied");
}

TEST(GrantedUserScopes, NarrowToClientAndRoleAndDropPatientScopesWithoutAContext) {
  auto scopes = [](const char* text) { return ScopeSet::Parse(text).value(); };
  const ScopeSet client = scopes("user/*.cruds patient/*.rs openid launch/patient system/*.rs");
  EXPECT_EQ(GrantedUserScopes(scopes("user/*.cruds system/*.rs patient/*.rs launch/patient openid"),
                              client, Role::kAuditor, false)
                .ToString(),
            "user/*.rs openid");
  EXPECT_EQ(GrantedUserScopes(scopes("user/*.rs patient/*.rs launch/patient"), client,
                              Role::kClinician, true)
                .ToString(),
            "user/*.rs patient/*.rs launch/patient");
  EXPECT_EQ(GrantedUserScopes(scopes("user/*.rs patient/*.cruds launch/patient"), client,
                              Role::kPatient, true)
                .ToString(),
            "patient/*.rs launch/patient");
  EXPECT_TRUE(GrantedUserScopes(scopes("system/*.rs"), client, Role::kSystemAdmin, false)
                  .clinical()
                  .empty());
}

TEST(Pkce, S256MatchesOnlyTheRightVerifier) {
  // The challenge computed apart from this code (Python's hashlib).
  const char* challenge = "-lTipkk1dJLjNw5kKLi9U6OttbLY3I9yeoyyWTXtOCE";
  EXPECT_TRUE(IsS256Challenge(challenge));
  EXPECT_TRUE(PkceVerifierMatches("dBjftJeZ4CVP-mJ92K9mdy-vVPQw0XS5zY1ySRTiHDQ", challenge));
  EXPECT_FALSE(PkceVerifierMatches("dBjftJeZ4CVP-mJ92K9mdy-vVPQw0XS5zY1ySRTiHDR", challenge));
  EXPECT_FALSE(PkceVerifierMatches("short", challenge));
  EXPECT_FALSE(PkceVerifierMatches(std::string(43, ' '), challenge));
  EXPECT_FALSE(IsS256Challenge("plain-verifier-is-not-a-challenge"));
}

TEST(LaunchContexts, ALaunchIsTakenOnceAndExpires) {
  ManualWallClock clock(1000);
  LaunchContexts launches(clock, {300, 2});
  std::string launch = launches.Mint("p1", "ehr").value();
  EXPECT_EQ(launches.Take(launch), "p1");
  EXPECT_FALSE(launches.Take(launch).has_value());
  std::string late = launches.Mint("p2", "ehr").value();
  launches.Mint("p3", "ehr").value();
  EXPECT_EQ(launches.Mint("p4", "ehr").error().code, base::ErrorCode::kUnavailable);
  clock.Advance(300);
  EXPECT_FALSE(launches.Take(late).has_value());
  EXPECT_TRUE(launches.Mint("p5", "ehr").ok());
}

}  // namespace
}  // namespace carerecord::access
