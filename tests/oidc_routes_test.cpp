// The /auth/oidc/ pages against an OpenID provider in memory and a real directory: the start
// redirect and its cookie, the callback, the role choice form, and the error pages.
#include "http/oidc_routes.h"

#include <gtest/gtest.h>

#include <boost/url/parse.hpp>
#include <filesystem>
#include <random>
#include <set>

#include "access/oidc_test_support.h"

namespace carerecord::http {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// The shape of the sign-in page's pending authorization requests (PendingAuthorizations): what
// PendingAuthorizationSink is written against.
class FakePendingAuthorizations {
 public:
  std::optional<std::string> Find(std::string_view id) {
    if (waiting.count(std::string(id)) == 0) return std::nullopt;
    return std::string(id);
  }
  base::Result<std::string> Complete(std::string_view id, const store::UserRecord& user,
                                     std::string_view organisation, std::string_view role) {
    if (waiting.erase(std::string(id)) == 0) {
      return base::MakeError(base::ErrorCode::kNotFound, "no such request");
    }
    return "https://app.example.org/cb?code=c-" + user.username + "-" + std::string(organisation) +
           "-" + std::string(role) + "&state=app-state";
  }
  base::Result<std::string> Deny(std::string_view id, std::string_view error,
                                 std::string_view description) {
    if (waiting.erase(std::string(id)) == 0) {
      return base::MakeError(base::ErrorCode::kNotFound, "no such request");
    }
    last_description = std::string(description);
    return "https://app.example.org/cb?error=" + std::string(error) + "&state=app-state";
  }
  std::set<std::string> waiting{"req-42"};
  std::string last_description;
};

class OidcRoutesTest : public ::testing::Test {
 protected:
  OidcRoutesTest() : clock_(1'800'000'000), idp_(clock_) {}
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
  }
  void TearDown() override {
    routes_.reset();
    directory_.reset();
    records_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
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
  // Start, the IdP's sign-in, and the callback: the callback's answer; `cookie` set.
  HttpResponse SignIn(std::string& cookie) {
    HttpResponse start = Get("/auth/oidc/start?request=req-42");
    EXPECT_EQ(start.status, 303);
    std::string set_cookie(start.Header("Set-Cookie"));
    cookie = set_cookie.substr(0, set_cookie.find(';'));
    auto authorized = idp_.Authorize(std::string(start.Header("Location")));
    return Get("/auth/oidc/callback?code=" + authorized.code + "&state=" + authorized.state,
               cookie);
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
  fs::path dir_;
  std::unique_ptr<store::IdentityRecords> records_;
  std::unique_ptr<access::Directory> directory_;
  std::unique_ptr<access::OidcRelyingParty> rp_;
  SignedInPageSink sink_;
  std::unique_ptr<OidcRoutes> routes_;
};

TEST_F(OidcRoutesTest, StartRedirectsToTheIdpWithABrowserCookie) {
  HttpResponse start = Get("/auth/oidc/start?request=req-42");
  ASSERT_EQ(start.status, 303) << start.body;
  const std::string location(start.Header("Location"));
  EXPECT_EQ(location.rfind(idp_.issuer + "/auth?", 0), 0u) << location;
  auto url = boost::urls::parse_absolute_uri(location);
  std::map<std::string, std::string> params;
  for (const auto& param : url->params()) params[param.key] = param.value;
  EXPECT_EQ(params["response_type"], "code");
  EXPECT_EQ(params["code_challenge_method"], "S256");
  EXPECT_EQ(params["redirect_uri"], "https://record.example.org/auth/oidc/callback");
  EXPECT_FALSE(params["state"].empty());
  EXPECT_FALSE(params["nonce"].empty());
  const std::string cookie(start.Header("Set-Cookie"));
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Lax"), std::string::npos);
  EXPECT_NE(cookie.find("Secure"), std::string::npos);
}

TEST_F(OidcRoutesTest, StartRefusesAMalformedRequestId) {
  EXPECT_EQ(Get("/auth/oidc/start").status, 400);
  EXPECT_EQ(Get("/auth/oidc/start?request=%3Cscript%3E").status, 400);
  EXPECT_TRUE(idp_.fetched.empty());
}

TEST_F(OidcRoutesTest, OneRoleSignsInAndHandsTheUserToTheSink) {
  std::string cookie;
  HttpResponse done = SignIn(cookie);
  ASSERT_EQ(done.status, 200) << done.body;
  const std::string username = access::FederatedUsername(idp_.issuer, idp_.subject);
  EXPECT_NE(done.body.find("signed in as Dr &lt;Ada&gt; Lovelace (" + username +
                           ") organisation RDZ role clinician request req-42"),
            std::string::npos)
      << done.body;
  auto user = records_->FindUser(username);
  ASSERT_TRUE(user.ok() && user.value());
  EXPECT_EQ(user.value()->federated_subject, idp_.subject);
}

TEST_F(OidcRoutesTest, SeveralRolesArePickedOnAFormThatCarriesACsrfToken) {
  SetRoles({{"RDZ", "S8000:G8000:R8000"}, {"J12345", "S8000:G8001:R8001"}});
  std::string cookie;
  HttpResponse page = SignIn(cookie);
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_NE(page.body.find("nurse at J12345"), std::string::npos) << page.body;
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
  post.headers = {{"content-type", "application/x-www-form-urlencoded"}, {"cookie", cookie}};
  post.body = "choice=" + choice + "&csrf=forged&role=1";
  EXPECT_EQ(routes_->Handle(post).status, 400);
  post.body = "choice=" + choice + "&csrf=" + csrf + "&role=1";
  HttpResponse done = routes_->Handle(post);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_NE(done.body.find("organisation J12345 role nurse"), std::string::npos) << done.body;
  EXPECT_EQ(routes_->Handle(post).status, 400);  // the choice was used
}

TEST_F(OidcRoutesTest, UnknownOrganisationIsRefusedByName) {
  SetRoles({{"X99", "S8000:G8000:R8000"}});
  std::string cookie;
  HttpResponse refused = SignIn(cookie);
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body.find("does not serve your organisation: X99 (unknown)"), std::string::npos)
      << refused.body;
  EXPECT_TRUE(records_->ListUsers()->empty());
}

TEST_F(OidcRoutesTest, NoMappedRoleIsRefused) {
  SetRoles({{"RDZ", "S8000:G8000:R9999"}});
  std::string cookie;
  HttpResponse refused = SignIn(cookie);
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body.find("no role that carerecord maps"), std::string::npos);
}

TEST_F(OidcRoutesTest, CallbackWithoutTheBrowserCookieIsRefused) {
  HttpResponse start = Get("/auth/oidc/start?request=req-42");
  auto authorized = idp_.Authorize(std::string(start.Header("Location")));
  HttpResponse refused =
      Get("/auth/oidc/callback?code=" + authorized.code + "&state=" + authorized.state);
  EXPECT_EQ(refused.status, 400);
  EXPECT_TRUE(refused.Header("Location").empty());
}

TEST_F(OidcRoutesTest, PendingAuthorizationSinkRedirectsToTheApp) {
  FakePendingAuthorizations pending;
  PendingAuthorizationSink sink(pending);
  routes_ = std::make_unique<OidcRoutes>(*rp_, *directory_, sink, true);
  EXPECT_EQ(Get("/auth/oidc/start?request=req-unknown").status, 400);
  std::string cookie;
  HttpResponse done = SignIn(cookie);
  ASSERT_EQ(done.status, 303) << done.body;
  EXPECT_EQ(done.Header("Location"), "https://app.example.org/cb?code=c-" +
                                         access::FederatedUsername(idp_.issuer, idp_.subject) +
                                         "-RDZ-clinician&state=app-state");
  EXPECT_TRUE(pending.waiting.empty());
}

TEST_F(OidcRoutesTest, IdpRefusalFromAnotherBrowserIsAPageAndUsesTheState) {
  FakePendingAuthorizations pending;
  PendingAuthorizationSink sink(pending);
  routes_ = std::make_unique<OidcRoutes>(*rp_, *directory_, sink, true);
  HttpResponse start = Get("/auth/oidc/start?request=req-42");
  std::string set_cookie(start.Header("Set-Cookie"));
  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  auto authorized = idp_.Authorize(std::string(start.Header("Location")));
  // Another browser with the state gets a page, not the app's redirect; the state is used up
  // (one use, whoever brings it), so the real browser's answer is a page too.
  HttpResponse elsewhere = Get("/auth/oidc/callback?error=access_denied&state=" + authorized.state);
  EXPECT_EQ(elsewhere.status, 403);
  HttpResponse denied =
      Get("/auth/oidc/callback?error=access_denied&error_description=cancelled&state=" +
              authorized.state,
          cookie);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(pending.waiting.size(), 1u);
}

TEST_F(OidcRoutesTest, IdpRefusalWithThisBrowsersStateTellsTheApp) {
  FakePendingAuthorizations pending;
  PendingAuthorizationSink sink(pending);
  routes_ = std::make_unique<OidcRoutes>(*rp_, *directory_, sink, true);
  HttpResponse start = Get("/auth/oidc/start?request=req-42");
  std::string set_cookie(start.Header("Set-Cookie"));
  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  auto authorized = idp_.Authorize(std::string(start.Header("Location")));
  HttpResponse denied =
      Get("/auth/oidc/callback?error=access_denied&error_description=cancelled&state=" +
              authorized.state,
          cookie);
  ASSERT_EQ(denied.status, 303) << denied.body;
  EXPECT_EQ(denied.Header("Location"),
            "https://app.example.org/cb?error=access_denied&state=app-state");
  EXPECT_NE(pending.last_description.find("cancelled"), std::string::npos);
  // The state is used: its code cannot follow.
  EXPECT_EQ(
      Get("/auth/oidc/callback?code=" + authorized.code + "&state=" + authorized.state, cookie)
          .status,
      400);
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

}  // namespace
}  // namespace carerecord::http
