// The /auth/oidc/ pages against an OpenID provider in memory, a real directory and the real
// sign-in page's pending requests (PendingAuthorizations behind PendingAuthorizationSink, as
// serve wires them): the start redirect, its browser binding and cookie, the callback, the role
// choice form, the code the app gets, and the error pages.
#include "http/oidc_routes.h"

#include <gtest/gtest.h>

#include <boost/url/parse.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <random>

#include "access/authorization_codes.h"
#include "access/oidc_test_support.h"
#include "app/directory_sync.h"
#include "http/authorize_routes.h"

namespace carerecord::http {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// The sign-in cookies of two browsers: A opened the sign-in page of the request under test.
constexpr std::string_view kBrowserA = "browser-a-Qx7Lm2Vd9Rt4Kp8Zs3Wn6Yb1";
constexpr std::string_view kBrowserB = "browser-b-Hc5Jf0Ge2Tu7Np4Ma9Lr3Xs8";

std::string SignInCookie(std::string_view binding) {
  return std::string(kSignInCookie) + "=" + std::string(binding);
}

std::map<std::string, std::string> QueryParams(std::string_view url) {
  std::map<std::string, std::string> params;
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return params;
  for (const auto& param : parsed->params()) params[param.key] = param.value;
  return params;
}

class OidcRoutesTest : public ::testing::Test {
 protected:
  OidcRoutesTest()
      : clock_(1'800'000'000), idp_(clock_), pending_(clock_, PendingOptions()), sink_(pending_) {}
  static access::PendingAuthorizationOptions PendingOptions() {
    access::PendingAuthorizationOptions options;
    options.issuer = "https://record.example.org";
    options.practitioner_of = [](const store::UserRecord& user) {
      return "Practitioner/" + app::PractitionerIdFor(user);
    };
    return options;
  }
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() /
           ("carerecord-oidc-routes-" + std::to_string(random()) + std::to_string(random()));
    records_ = std::move(store::OpenSqliteIdentityRecords(dir_.string())).value();
    access::DirectoryOptions options;
    options.enabled_refresh = std::chrono::milliseconds(0);
    directory_ = std::make_unique<access::Directory>(*records_, options);
    ASSERT_TRUE(directory_->AddOrganisation({"RDZ", "Poole Hospital", "hospital"}).ok());
    ASSERT_TRUE(directory_->AddOrganisation({"J12345", "Quay Surgery", "gp"}).ok());
    idp_.claims["name"] = "Dr <Ada> Lovelace";
    SetRoles({{"RDZ", "S8000:G8000:R8000"}});
    access::OidcSettings settings;
    settings.issuer = idp_.issuer;
    settings.client_id = idp_.client_id;
    settings.client_secret = idp_.client_secret;
    settings.redirect_uri = "https://record.example.org/auth/oidc/callback";
    rp_ = std::make_unique<access::OidcRelyingParty>(settings, idp_, clock_);
    routes_ = std::make_unique<OidcRoutes>(*rp_, *directory_, sink_, true);
    request_ = Begin(kBrowserA);
  }
  void TearDown() override {
    routes_.reset();
    directory_.reset();
    records_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // An app's authorization request, as the sign-in page keeps it for the browser `binding`.
  std::string Begin(std::string_view binding) {
    access::AuthorizationRequest request;
    request.client_id = "app-1";
    request.client_name = "Ward app";
    request.client_scope = "openid fhirUser user/*.rs";
    request.redirect_uri = "https://app.example.org/cb";
    request.state = "app-state";
    request.scope = "openid fhirUser user/*.rs";
    request.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    request.nonce = "app-nonce";
    request.browser_binding = std::string(binding);
    return pending_.Begin(std::move(request));
  }
  void SetRoles(std::initializer_list<std::pair<const char*, const char*>> pairs) {
    json::array roles;
    for (auto [org, role] : pairs) {
      roles.push_back(json::object{{"org_code", org}, {"role_code", role}});
    }
    idp_.claims["nhsid_nrbac_roles"] = roles;
  }
  HttpResponse Get(std::string target, std::string cookie = {}) {
    HttpRequest request;
    request.method = "GET";
    request.target = std::move(target);
    if (!cookie.empty()) request.headers.emplace_back("cookie", "other=1; " + cookie);
    return routes_->Handle(request);
  }
  HttpResponse Start(std::string_view binding) {
    return Get("/auth/oidc/start?request=" + request_,
               binding.empty() ? std::string() : SignInCookie(binding));
  }
  // Browser A's start, the IdP's sign-in, and the callback: the callback's answer; `cookies`
  // is what browser A then holds (its sign-in cookie and the relying party's).
  HttpResponse SignIn(std::string& cookies) {
    HttpResponse start = Start(kBrowserA);
    EXPECT_EQ(start.status, 303) << start.body;
    std::string set_cookie(start.Header("Set-Cookie"));
    cookies = SignInCookie(kBrowserA) + "; " + set_cookie.substr(0, set_cookie.find(';'));
    auto authorized = idp_.Authorize(std::string(start.Header("Location")));
    return Get("/auth/oidc/callback?code=" + authorized.code + "&state=" + authorized.state,
               cookies);
  }
  // The app's end of a 303 to its redirect URI: the code's grant, which the code must carry.
  access::CodeGrant Redeem(const HttpResponse& redirect) {
    EXPECT_EQ(redirect.status, 303) << redirect.body;
    const std::string location(redirect.Header("Location"));
    EXPECT_EQ(location.rfind("https://app.example.org/cb?", 0), 0u) << location;
    auto params = QueryParams(location);
    EXPECT_EQ(params["state"], "app-state");
    EXPECT_EQ(params["iss"], "https://record.example.org");
    access::CodeRedemption redeemed = pending_.Redeem(params["code"]);
    EXPECT_EQ(redeemed.outcome, access::CodeRedemption::Outcome::kRedeemed) << location;
    return redeemed.grant;
  }
  std::string FederatedUsername() const {
    return access::FederatedUsername(idp_.issuer, idp_.subject);
  }
  static std::string FormValue(const std::string& html, const std::string& name) {
    const std::string marker = "name=\"" + name + "\" value=\"";
    size_t at = html.find(marker);
    if (at == std::string::npos) return {};
    at += marker.size();
    return html.substr(at, html.find('"', at) - at);
  }

  access::ManualWallClock clock_;
  access::testing::FakeOidcProvider idp_;
  access::PendingAuthorizations pending_;
  PendingAuthorizationSink<access::PendingAuthorizations> sink_;
  std::string request_;  // browser A's pending request
  fs::path dir_;
  std::unique_ptr<store::IdentityRecords> records_;
  std::unique_ptr<access::Directory> directory_;
  std::unique_ptr<access::OidcRelyingParty> rp_;
  std::unique_ptr<OidcRoutes> routes_;
};

TEST_F(OidcRoutesTest, StartRedirectsToTheIdpWithABrowserCookie) {
  HttpResponse start = Start(kBrowserA);
  ASSERT_EQ(start.status, 303) << start.body;
  const std::string location(start.Header("Location"));
  EXPECT_EQ(location.rfind(idp_.issuer + "/auth?", 0), 0u) << location;
  auto params = QueryParams(location);
  EXPECT_EQ(params["response_type"], "code");
  EXPECT_EQ(params["code_challenge_method"], "S256");
  EXPECT_EQ(params["redirect_uri"], "https://record.example.org/auth/oidc/callback");
  EXPECT_FALSE(params["state"].empty());
  EXPECT_FALSE(params["nonce"].empty());
  const std::string cookie(start.Header("Set-Cookie"));
  EXPECT_EQ(cookie.rfind("carerecord_oidc=", 0), 0u) << cookie;
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Lax"), std::string::npos);
  EXPECT_NE(cookie.find("Secure"), std::string::npos);
}

TEST_F(OidcRoutesTest, StartRefusesAMissingOrUnknownRequest) {
  EXPECT_EQ(Get("/auth/oidc/start", SignInCookie(kBrowserA)).status, 400);
  EXPECT_EQ(Get("/auth/oidc/start?request=%3Cscript%3E", SignInCookie(kBrowserA)).status, 400);
  EXPECT_EQ(Get("/auth/oidc/start?request=" + request_ + "x", SignInCookie(kBrowserA)).status, 400);
  EXPECT_TRUE(idp_.fetched.empty());
}

// A link another site made (or another browser followed) must not start a sign-in that ends in
// a pending request it did not open: its code would go to whoever holds that request's PKCE
// verifier.
TEST_F(OidcRoutesTest, StartIsRefusedWithoutTheSignInCookieOfTheBrowserThatOpenedTheRequest) {
  for (const std::string& cookie :
       {std::string(), SignInCookie(""), SignInCookie(kBrowserB),
        SignInCookie(std::string(kBrowserA).substr(0, kBrowserA.size() - 1)),
        SignInCookie(std::string(kBrowserA) + "0"), "carerecord_oidc=" + std::string(kBrowserA)}) {
    HttpResponse refused = Get("/auth/oidc/start?request=" + request_, cookie);
    EXPECT_EQ(refused.status, 400) << "cookie '" << cookie << "'";
    EXPECT_NE(refused.body.find("unknown or has expired"), std::string::npos) << refused.body;
    EXPECT_TRUE(refused.Header("Location").empty());
    EXPECT_TRUE(refused.Header("Set-Cookie").empty());
  }
  EXPECT_TRUE(idp_.fetched.empty());  // nothing was asked of the IdP
  // Browser B holds a request of its own: its cookie still does not open A's.
  const std::string request_b = Begin(kBrowserB);
  EXPECT_EQ(Get("/auth/oidc/start?request=" + request_, SignInCookie(kBrowserB)).status, 400);
  EXPECT_EQ(Get("/auth/oidc/start?request=" + request_b, SignInCookie(kBrowserB)).status, 303);
  // The refusals left A's request waiting: A's own browser can go on.
  ASSERT_TRUE(pending_.Find(request_).has_value());
  EXPECT_EQ(Start(kBrowserA).status, 303);
}

TEST_F(OidcRoutesTest, OneRoleSignsInAndTheAppGetsACodeForTheFederatedUser) {
  std::string cookies;
  HttpResponse done = SignIn(cookies);
  ASSERT_EQ(done.status, 303) << done.body;
  access::CodeGrant grant = Redeem(done);
  const std::string username = FederatedUsername();
  EXPECT_EQ(grant.username, username);
  EXPECT_EQ(grant.organisation, "RDZ");
  EXPECT_EQ(grant.role, "clinician");
  EXPECT_EQ(grant.client_id, "app-1");
  EXPECT_EQ(grant.nonce, "app-nonce");
  EXPECT_EQ(grant.scope, "user/*.rs openid fhirUser");
  auto user = records_->FindUser(username);
  ASSERT_TRUE(user.ok() && user.value());
  EXPECT_EQ(user.value()->federated_subject, idp_.subject);
  EXPECT_EQ(user.value()->display_name, "Dr <Ada> Lovelace");
  EXPECT_EQ(grant.fhir_user, "Practitioner/" + app::PractitionerIdFor(*user.value()));
  EXPECT_FALSE(pending_.Find(request_).has_value());  // the request is used
}

TEST_F(OidcRoutesTest, SeveralRolesArePickedOnAFormThatCarriesACsrfToken) {
  SetRoles({{"RDZ", "S8000:G8000:R8000"}, {"J12345", "S8000:G8001:R8001"}});
  std::string cookies;
  HttpResponse page = SignIn(cookies);
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_NE(page.body.find("nurse at J12345"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("Dr &lt;Ada&gt; Lovelace, you hold several roles"), std::string::npos);
  EXPECT_EQ(page.body.find("<Ada>"), std::string::npos);
  EXPECT_EQ(page.Header("X-Frame-Options"), "DENY");
  EXPECT_EQ(page.Header("Cache-Control"), "no-store");
  EXPECT_NE(page.Header("Content-Security-Policy").find("frame-ancestors 'none'"),
            std::string::npos);
  const std::string choice = FormValue(page.body, "choice"), csrf = FormValue(page.body, "csrf");
  ASSERT_FALSE(choice.empty());
  ASSERT_FALSE(csrf.empty());

  HttpRequest post;
  post.method = "POST";
  post.target = "/auth/oidc/role";
  post.headers = {{"content-type", "application/x-www-form-urlencoded"}, {"cookie", cookies}};
  post.body = "choice=" + choice + "&csrf=forged&role=1";
  EXPECT_EQ(routes_->Handle(post).status, 400);
  post.body = "choice=" + choice + "&csrf=" + csrf + "&role=1";
  HttpResponse done = routes_->Handle(post);
  access::CodeGrant grant = Redeem(done);
  EXPECT_EQ(grant.username, FederatedUsername());
  EXPECT_EQ(grant.organisation, "J12345");
  EXPECT_EQ(grant.role, "nurse");
  EXPECT_EQ(routes_->Handle(post).status, 400);  // the choice was used
}

TEST_F(OidcRoutesTest, UnknownOrganisationIsRefusedByName) {
  SetRoles({{"X99", "S8000:G8000:R8000"}});
  std::string cookies;
  HttpResponse refused = SignIn(cookies);
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body.find("does not serve your organisation: X99 (unknown)"), std::string::npos)
      << refused.body;
  EXPECT_TRUE(refused.Header("Location").empty());
  EXPECT_TRUE(records_->ListUsers()->empty());
  EXPECT_EQ(pending_.code_count(), 0u);
}

TEST_F(OidcRoutesTest, NoMappedRoleIsRefused) {
  SetRoles({{"RDZ", "S8000:G8000:R9999"}});
  std::string cookies;
  HttpResponse refused = SignIn(cookies);
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body.find("no role that carerecord maps"), std::string::npos);
  EXPECT_EQ(pending_.code_count(), 0u);
}

TEST_F(OidcRoutesTest, CallbackWithoutTheBrowserCookieIsRefused) {
  HttpResponse start = Start(kBrowserA);
  auto authorized = idp_.Authorize(std::string(start.Header("Location")));
  // The sign-in cookie alone is not the relying party's cookie.
  HttpResponse refused =
      Get("/auth/oidc/callback?code=" + authorized.code + "&state=" + authorized.state,
          SignInCookie(kBrowserA));
  EXPECT_EQ(refused.status, 400);
  EXPECT_TRUE(refused.Header("Location").empty());
  EXPECT_EQ(pending_.code_count(), 0u);
}

// The request was finished meanwhile (the password form in another tab, say): the IdP's sign-in
// gets a page, never a second code.
TEST_F(OidcRoutesTest, ARequestFinishedMeanwhileEndsOnAPage) {
  HttpResponse start = Start(kBrowserA);
  std::string set_cookie(start.Header("Set-Cookie"));
  const std::string cookies =
      SignInCookie(kBrowserA) + "; " + set_cookie.substr(0, set_cookie.find(';'));
  auto authorized = idp_.Authorize(std::string(start.Header("Location")));
  ASSERT_TRUE(pending_.Deny(request_, "access_denied", "finished elsewhere").ok());
  HttpResponse late =
      Get("/auth/oidc/callback?code=" + authorized.code + "&state=" + authorized.state, cookies);
  EXPECT_EQ(late.status, 400) << late.body;
  EXPECT_NE(late.body.find("expired or was used"), std::string::npos) << late.body;
  EXPECT_TRUE(late.Header("Location").empty());
  EXPECT_EQ(pending_.code_count(), 0u);
}

TEST_F(OidcRoutesTest, IdpRefusalFromAnotherBrowserIsAPageAndUsesTheState) {
  HttpResponse start = Start(kBrowserA);
  std::string set_cookie(start.Header("Set-Cookie"));
  const std::string cookies =
      SignInCookie(kBrowserA) + "; " + set_cookie.substr(0, set_cookie.find(';'));
  auto authorized = idp_.Authorize(std::string(start.Header("Location")));
  // Another browser with the state gets a page, not the app's redirect; the state is used up
  // (one use, whoever brings it), so the real browser's answer is a page too.
  HttpResponse elsewhere = Get("/auth/oidc/callback?error=access_denied&state=" + authorized.state,
                               SignInCookie(kBrowserB));
  EXPECT_EQ(elsewhere.status, 403);
  EXPECT_TRUE(elsewhere.Header("Location").empty());
  HttpResponse denied =
      Get("/auth/oidc/callback?error=access_denied&error_description=cancelled&state=" +
              authorized.state,
          cookies);
  EXPECT_EQ(denied.status, 403);
  EXPECT_TRUE(denied.Header("Location").empty());
  EXPECT_TRUE(pending_.Find(request_).has_value());  // the app's request still waits
}

TEST_F(OidcRoutesTest, IdpRefusalWithThisBrowsersStateTellsTheApp) {
  HttpResponse start = Start(kBrowserA);
  std::string set_cookie(start.Header("Set-Cookie"));
  const std::string cookies =
      SignInCookie(kBrowserA) + "; " + set_cookie.substr(0, set_cookie.find(';'));
  auto authorized = idp_.Authorize(std::string(start.Header("Location")));
  HttpResponse denied =
      Get("/auth/oidc/callback?error=access_denied&error_description=cancelled&state=" +
              authorized.state,
          cookies);
  ASSERT_EQ(denied.status, 303) << denied.body;
  const std::string location(denied.Header("Location"));
  EXPECT_EQ(location.rfind("https://app.example.org/cb?", 0), 0u) << location;
  auto params = QueryParams(location);
  EXPECT_EQ(params["error"], "access_denied");
  EXPECT_EQ(params["state"], "app-state");
  EXPECT_NE(params["error_description"].find("cancelled"), std::string::npos) << location;
  EXPECT_EQ(params.count("code"), 0u);
  EXPECT_FALSE(pending_.Find(request_).has_value());
  // The state is used: its code cannot follow.
  EXPECT_EQ(
      Get("/auth/oidc/callback?code=" + authorized.code + "&state=" + authorized.state, cookies)
          .status,
      400);
  EXPECT_EQ(pending_.code_count(), 0u);
}

TEST_F(OidcRoutesTest, IdpErrorWithoutAStateShowsOnlyTheCodeAndNeverRedirects) {
  HttpResponse refused =
      Get("/auth/oidc/callback?error=access_denied&error_description=%3Cscript%3Ex%3C%2Fscript%3E");
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.body.find("script"), std::string::npos);  // no state: no description shown
  EXPECT_NE(refused.body.find("refused the sign-in (access_denied)"), std::string::npos);
  HttpResponse odd = Get("/auth/oidc/callback?error=%3Cb%3Ecall%20us");
  EXPECT_NE(odd.body.find("(an unknown error)"), std::string::npos) << odd.body;
  EXPECT_TRUE(refused.Header("Location").empty());
  EXPECT_EQ(Get("/auth/oidc/callback?state=a&state=b&code=c").status, 400);  // repeated
}

// Sign-in events: every outcome of the callback and of the role form appends one entry, before
// the answer, with who (the federated username), organisation and role when known, and why;
// never the code or the state.
class RecordingAuditLog final : public access::RequestAuditLog {
 public:
  base::Status Append(const access::AuditedRequest& request) override {
    if (failing) return base::MakeError(base::ErrorCode::kUnavailable, "the disk is full");
    entries.push_back(request);
    return base::Status::Ok();
  }
  std::vector<access::AuditedRequest> entries;
  bool failing = false;
};

class OidcSignInEvents : public OidcRoutesTest {
 protected:
  void SetUp() override {
    OidcRoutesTest::SetUp();
    routes_->RecordSignInsIn(&log_);
  }
  // The one entry appended since `before`, and that no entry holds `secret`.
  access::AuditedRequest OneEntry(size_t before, const std::vector<std::string>& secrets = {}) {
    EXPECT_EQ(log_.entries.size(), before + 1);
    if (log_.entries.size() != before + 1) return {};
    const access::AuditedRequest& entry = log_.entries.back();
    EXPECT_EQ(entry.path.find('?'), std::string::npos) << entry.path;
    for (const std::string& secret : secrets) {
      for (const std::string& text : {entry.path, entry.detail, entry.disclosure.who.user}) {
        EXPECT_EQ(text.find(secret), std::string::npos) << text;
      }
    }
    return entry;
  }
  RecordingAuditLog log_;
};

TEST_F(OidcSignInEvents, ASuccessfulCallbackIsRecordedWithTheUserOrganisationAndRole) {
  HttpResponse start = Start(kBrowserA);
  std::string set_cookie(start.Header("Set-Cookie"));
  const std::string cookies =
      SignInCookie(kBrowserA) + "; " + set_cookie.substr(0, set_cookie.find(';'));
  auto authorized = idp_.Authorize(std::string(start.Header("Location")));
  EXPECT_TRUE(log_.entries.empty());  // starting is not signing in
  HttpResponse done =
      Get("/auth/oidc/callback?code=" + authorized.code + "&state=" + authorized.state, cookies);
  ASSERT_EQ(done.status, 303) << done.body;
  const access::AuditedRequest entry = OneEntry(0, {authorized.code, authorized.state});
  EXPECT_EQ(entry.action, "sign-in");
  EXPECT_EQ(entry.outcome, "success");
  EXPECT_EQ(entry.disclosure.who.user, FederatedUsername());
  EXPECT_EQ(entry.disclosure.who.organisation, "RDZ");
  EXPECT_EQ(entry.disclosure.who.role, "clinician");
  EXPECT_EQ(entry.path, "/auth/oidc/callback");
  EXPECT_EQ(entry.status, 303);
}

TEST_F(OidcSignInEvents, EveryFailedCallbackIsRecordedWithItsReason) {
  struct Case {
    std::string what;
    std::function<HttpResponse()> send;
    int status;
    std::string reason;
  };
  std::string cookies;
  const std::vector<Case> cases = {
      {"idp error, no state", [&] { return Get("/auth/oidc/callback?error=access_denied"); }, 403,
       "refused the sign-in (access_denied)"},
      {"malformed", [&] { return Get("/auth/oidc/callback?state=a&state=b&code=c"); }, 400,
       "malformed"},
      {"no code", [&] { return Get("/auth/oidc/callback?state=a"); }, 400, "no state or no code"},
      {"unknown organisation",
       [&] {
         SetRoles({{"X99", "S8000:G8000:R8000"}});
         return SignIn(cookies);
       },
       403, "does not serve your organisation: X99 (unknown)"},
      {"no mapped role",
       [&] {
         SetRoles({{"RDZ", "S8000:G8000:R9999"}});
         return SignIn(cookies);
       },
       403, "no role that carerecord maps"},
  };
  for (const Case& c : cases) {
    const size_t before = log_.entries.size();
    HttpResponse response = c.send();
    EXPECT_EQ(response.status, c.status) << c.what << " " << response.body;
    const access::AuditedRequest entry = OneEntry(before);
    EXPECT_EQ(entry.action, "sign-in-failed") << c.what;
    EXPECT_EQ(entry.outcome, "refused") << c.what;
    EXPECT_EQ(entry.status, c.status) << c.what;
    EXPECT_NE(entry.detail.find(c.reason), std::string::npos) << c.what << ": " << entry.detail;
  }
  // Without this browser's cookie (the state is then used up): refused, recorded.
  request_ = Begin(kBrowserA);
  SetRoles({{"RDZ", "S8000:G8000:R8000"}});
  HttpResponse start = Start(kBrowserA);
  auto authorized = idp_.Authorize(std::string(start.Header("Location")));
  const size_t before = log_.entries.size();
  HttpResponse refused =
      Get("/auth/oidc/callback?code=" + authorized.code + "&state=" + authorized.state,
          SignInCookie(kBrowserA));
  EXPECT_EQ(refused.status, 400);
  const access::AuditedRequest entry = OneEntry(before, {authorized.code, authorized.state});
  EXPECT_EQ(entry.action, "sign-in-failed");
  EXPECT_EQ(pending_.code_count(), 0u);
}

TEST_F(OidcSignInEvents, AnIdpRefusalTheAppIsToldOfIsRecorded) {
  HttpResponse start = Start(kBrowserA);
  std::string set_cookie(start.Header("Set-Cookie"));
  const std::string cookies =
      SignInCookie(kBrowserA) + "; " + set_cookie.substr(0, set_cookie.find(';'));
  auto authorized = idp_.Authorize(std::string(start.Header("Location")));
  HttpResponse denied =
      Get("/auth/oidc/callback?error=access_denied&error_description=cancelled&state=" +
              authorized.state,
          cookies);
  ASSERT_EQ(denied.status, 303) << denied.body;
  const access::AuditedRequest entry = OneEntry(0, {authorized.state});
  EXPECT_EQ(entry.action, "sign-in-failed");
  EXPECT_EQ(entry.outcome, "refused");
  EXPECT_NE(entry.detail.find("access_denied: cancelled"), std::string::npos) << entry.detail;
}

TEST_F(OidcSignInEvents, TheRoleFormEndsTheSignInAndIsRecordedNotTheChoicePage) {
  SetRoles({{"RDZ", "S8000:G8000:R8000"}, {"J12345", "S8000:G8001:R8001"}});
  std::string cookies;
  HttpResponse page = SignIn(cookies);
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_TRUE(log_.entries.empty());  // a choice to make is no outcome yet
  const std::string choice = FormValue(page.body, "choice"), csrf = FormValue(page.body, "csrf");
  HttpRequest post;
  post.method = "POST";
  post.target = "/auth/oidc/role";
  post.headers = {{"content-type", "application/x-www-form-urlencoded"}, {"cookie", cookies}};
  post.body = "choice=" + choice + "&csrf=forged&role=1";
  EXPECT_EQ(routes_->Handle(post).status, 400);
  access::AuditedRequest entry = OneEntry(0, {csrf, choice});
  EXPECT_EQ(entry.action, "sign-in-failed");
  EXPECT_NE(entry.detail.find("role form"), std::string::npos) << entry.detail;
  post.body = "choice=" + choice + "&csrf=" + csrf + "&role=1";
  ASSERT_EQ(routes_->Handle(post).status, 303);
  entry = OneEntry(1, {csrf, choice});
  EXPECT_EQ(entry.action, "sign-in");
  EXPECT_EQ(entry.disclosure.who.user, FederatedUsername());
  EXPECT_EQ(entry.disclosure.who.organisation, "J12345");
  EXPECT_EQ(entry.disclosure.who.role, "nurse");
}

TEST_F(OidcSignInEvents, ASignInThatCannotBeRecordedIsNotAnsweredAsSignedIn) {
  log_.failing = true;
  std::string cookies;
  HttpResponse refused = SignIn(cookies);
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_TRUE(refused.Header("Location").empty());
  EXPECT_NE(refused.body.find("could not be recorded"), std::string::npos) << refused.body;
}

}  // namespace
}  // namespace carerecord::http
