// Signing users in to SMART apps over HTTP: the authorize endpoint and its sign-in form, PKCE
// codes, the authorization_code and refresh_token grants, EHR launch, patient context, ID
// tokens, and every refusal on the way (RFC 6749 4.1, RFC 7636, SMART App Launch 2).
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <regex>

#include "access/base64url.h"
#include "access/jwt.h"
#include "test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kForm = "application/x-www-form-urlencoded";
constexpr const char* kRedirect = "http://127.0.0.1:9/callback";
constexpr const char* kAppScope =
    "patient/*.rs user/*.cruds openid fhirUser launch launch/patient offline_access online_access";
constexpr const char* kPassword = "correct horse battery staple";
constexpr const char* kVerifier = "dBjftJeZ4CVP-mJ92K9mdy-vVPQw0XS5zY1ySRTiHDQ";
// base64url(SHA-256(kVerifier)), computed with Python's hashlib.
constexpr const char* kChallenge = "-lTipkk1dJLjNw5kKLi9U6OttbLY3I9yeoyyWTXtOCE";

std::string Encode(std::string_view text) {
  boost::urls::url url("http://x/");
  url.params().append({"v", text});
  return std::string(url.encoded_query().substr(2));
}

std::string Query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += name + "=" + Encode(value);
  }
  return out;
}

std::string QueryParam(std::string_view location, std::string_view name) {
  auto url = boost::urls::parse_uri(location);
  if (!url) return {};
  auto params = url->params();
  auto it = params.find(name);
  return it == params.end() ? std::string() : std::string((*it).value);
}

json::object JwtPayload(std::string_view token) {
  size_t first = token.find('.');
  size_t second = token.find('.', first + 1);
  auto payload =
      access::Base64UrlDecode(token.substr(first + 1, second - first - 1), "payload").value();
  return json::parse(payload).as_object();
}

class Authorize : public ::testing::Test {
 protected:
  explicit Authorize(TestAuthOptions options = {}) : server_(options) {}

  void SetUp() override {
    Put(server_, "Patient", "p1", R"({"resourceType":"Patient"})");
    Put(server_, "Patient", "p2", R"({"resourceType":"Patient"})");
    client_id_ = AddPublicClient("Ward app", kAppScope);
    AddUser("dr.jones", "clinician", "");
    AddUser("pat.smith", "patient", "p1");
  }

  std::string AddPublicClient(const std::string& name, const std::string& scope) {
    access::NewClient client;
    client.name = name;
    client.ods_code = kTestOrganisation;
    client.scope = scope;
    client.auth_kind = "public";
    client.redirect_uris = {kRedirect};
    auto added = server_.auth().directory().AddClient(client);
    EXPECT_TRUE(added.ok()) << added.error().message;
    return added.ok() ? added->client.client_id : "";
  }

  void AddUser(const std::string& username, const std::string& role, const std::string& patient) {
    access::NewUser user;
    user.username = username;
    user.ods_code = kTestOrganisation;
    user.role = role;
    user.display_name = username;
    user.patient_id = patient;
    user.password = kPassword;
    auto added = server_.auth().directory().AddUser(user);
    ASSERT_TRUE(added.ok()) << added.error().message;
  }

  std::vector<std::pair<std::string, std::string>> Params(const std::string& scope) {
    return {{"response_type", "code"},      {"client_id", client_id_},
            {"redirect_uri", kRedirect},    {"scope", scope},
            {"state", "st<ate>"},           {"aud", server_.base()},
            {"code_challenge", kChallenge}, {"code_challenge_method", "S256"},
            {"nonce", "n-0S6_WzA2Mj"}};
  }

  http::HttpResponse GetAuthorize(const std::vector<std::pair<std::string, std::string>>& params,
                                  Headers headers = {}) {
    headers.emplace_back("Authorization", "");
    return server_.Send("GET", "/auth/authorize?" + Query(params), "", headers);
  }

  struct Page {
    std::string pending;
    std::string cookie;  // "carerecord_signin=..."
  };
  Page OpenPage(const std::vector<std::pair<std::string, std::string>>& params,
                Headers headers = {}) {
    auto response = GetAuthorize(params, headers);
    EXPECT_EQ(response.status, 200) << response.body;
    Page page;
    std::smatch match;
    if (std::regex_search(response.body, match,
                          std::regex(R"re(name="pending" value="([A-Za-z0-9_-]+)")re"))) {
      page.pending = match[1];
    }
    std::string cookie(response.Header("set-cookie"));
    page.cookie = cookie.substr(0, cookie.find(';'));
    return page;
  }

  http::HttpResponse PostSignIn(const Page& page, const std::string& username,
                                const std::string& password) {
    return server_.Send(
        "POST", "/auth/authorize",
        Query({{"pending", page.pending}, {"username", username}, {"password", password}}),
        {{"Content-Type", kForm}, {"Cookie", page.cookie}, {"Authorization", ""}});
  }

  // Signs `username` in through the form and answers the code (empty when there is none).
  std::string SignIn(const std::string& username, const std::string& scope,
                     std::vector<std::pair<std::string, std::string>> extra = {}) {
    auto params = Params(scope);
    params.insert(params.end(), extra.begin(), extra.end());
    Page page = OpenPage(params);
    auto response = PostSignIn(page, username, kPassword);
    EXPECT_EQ(response.status, 302) << response.body;
    std::string location(response.Header("location"));
    EXPECT_TRUE(location.starts_with(std::string(kRedirect) + "?")) << location;
    EXPECT_EQ(QueryParam(location, "state"), "st<ate>");
    last_location_ = location;
    return QueryParam(location, "code");
  }

  http::HttpResponse PostToken(const std::string& form) {
    return server_.Send("POST", "/auth/token", form,
                        {{"Content-Type", kForm}, {"Authorization", ""}});
  }
  http::HttpResponse Exchange(const std::string& code, const std::string& client_id = "",
                              const std::string& verifier = kVerifier,
                              const std::string& redirect = kRedirect) {
    return PostToken(Query({{"grant_type", "authorization_code"},
                            {"code", code},
                            {"redirect_uri", redirect},
                            {"code_verifier", verifier},
                            {"client_id", client_id.empty() ? client_id_ : client_id}}));
  }
  http::HttpResponse RefreshWith(const std::string& refresh_token, const std::string& extra = "") {
    return PostToken(Query({{"grant_type", "refresh_token"},
                            {"refresh_token", refresh_token},
                            {"client_id", client_id_}}) +
                     extra);
  }

  static std::string ErrorOf(const http::HttpResponse& response) {
    auto body = TestServer::Json(response);
    return body.contains("error") ? std::string(body["error"].as_string()) : "";
  }
  static std::string Str(const json::object& object, const char* name) {
    auto* value = object.if_contains(name);
    return value && value->is_string() ? std::string(value->as_string()) : "";
  }

  TestServer server_;
  std::string client_id_;
  std::string last_location_;
};

TEST_F(Authorize, ABadClientOrRedirectUriShowsAPageAndNeverRedirects) {
  auto disabled_id = AddPublicClient("Disabled app", kAppScope);
  ASSERT_TRUE(server_.auth().directory().SetClientEnabled(disabled_id, false).ok());
  struct Case {
    std::string name;
    std::vector<std::pair<std::string, std::string>> params;
  };
  auto with = [&](const char* name, const std::string& value) {
    auto params = Params("user/*.rs");
    std::erase_if(params, [&](const auto& p) { return p.first == name; });
    if (!value.empty()) params.emplace_back(name, value);
    return params;
  };
  Case cases[] = {
      {"unknown client", with("client_id", "nobody")},
      {"no client", with("client_id", "")},
      {"disabled client", with("client_id", disabled_id)},
      {"unregistered redirect", with("redirect_uri", "http://127.0.0.1:9/other")},
      {"redirect with extra query", with("redirect_uri", std::string(kRedirect) + "?x=1")},
      {"no redirect", with("redirect_uri", "")},
  };
  for (const Case& c : cases) {
    auto response = GetAuthorize(c.params);
    EXPECT_EQ(response.status, 400) << c.name << ": " << response.body;
    EXPECT_EQ(response.Header("location"), "") << c.name;
    EXPECT_TRUE(response.Header("content-type").starts_with("text/html")) << c.name;
    EXPECT_EQ(response.Header("x-frame-options"), "DENY") << c.name;
  }
  // The unregistered URI is shown escaped, never as markup.
  auto evil = GetAuthorize(with("redirect_uri", "http://127.0.0.1:9/<script>alert(1)</script>"));
  EXPECT_EQ(evil.body.find("<script>"), std::string::npos);
  EXPECT_NE(evil.body.find("&lt;script&gt;"), std::string::npos);
}

TEST_F(Authorize, ErrorsAfterTheRedirectUriIsTrustedGoBackToItWithState) {
  auto without = [&](const char* name) {
    auto params = Params("user/*.rs");
    std::erase_if(params, [&](const auto& p) { return p.first == name; });
    return params;
  };
  auto replaced = [&](const char* name, const std::string& value) {
    auto params = without(name);
    params.emplace_back(name, value);
    return params;
  };
  struct Case {
    std::string name;
    std::vector<std::pair<std::string, std::string>> params;
    std::string error;
  } cases[] = {
      {"no PKCE", without("code_challenge"), "invalid_request"},
      {"no method (plain)", without("code_challenge_method"), "invalid_request"},
      {"plain PKCE", replaced("code_challenge_method", "plain"), "invalid_request"},
      {"short challenge", replaced("code_challenge", "abc"), "invalid_request"},
      {"implicit flow", replaced("response_type", "token"), "unsupported_response_type"},
      {"no response_type", without("response_type"), "invalid_request"},
      {"another server's aud", replaced("aud", "https://elsewhere.example/fhir"),
       "invalid_request"},
      {"unknown scope", replaced("scope", "user/Nothing.rs"), "invalid_scope"},
      // The app is registered for user/*.cruds etc., never system/: refused before a password.
      {"no scope registered", replaced("scope", "system/*.rs openid"), "invalid_scope"},
      {"no scope", without("scope"), "invalid_scope"},
      {"unknown launch", replaced("launch", "made-up"), "invalid_request"},
      {"prompt none", replaced("prompt", "none"), "login_required"},
      {"no aud", without("aud"), "invalid_request"},
  };
  for (const Case& c : cases) {
    auto response = GetAuthorize(c.params);
    ASSERT_EQ(response.status, 302) << c.name << ": " << response.body;
    std::string location(response.Header("location"));
    EXPECT_TRUE(location.starts_with(std::string(kRedirect) + "?")) << c.name << ": " << location;
    EXPECT_EQ(QueryParam(location, "error"), c.error) << c.name << ": " << location;
    EXPECT_EQ(QueryParam(location, "state"), "st<ate>") << c.name;
    EXPECT_EQ(QueryParam(location, "code"), "") << c.name;
  }
  // Without state the error still goes back, with no state to echo.
  auto stateless = GetAuthorize(without("state"));
  ASSERT_EQ(stateless.status, 302) << stateless.body;
  EXPECT_EQ(QueryParam(stateless.Header("location"), "error"), "invalid_request");
  EXPECT_EQ(QueryParam(stateless.Header("location"), "code"), "");
  // Every /auth/ path that is not a page here is an HTML 404, not a FHIR 401.
  for (const char* path : {"/auth/oidc/start?request=x", "/auth/oidc/callback", "/auth/nothing"}) {
    auto missing = server_.Send("GET", path, "", {{"Authorization", ""}});
    EXPECT_EQ(missing.status, 404) << path;
    EXPECT_TRUE(missing.Header("content-type").starts_with("text/html")) << path;
  }
  auto twice = Params("user/*.rs");
  twice.emplace_back("scope", "user/*.rs");
  auto response = GetAuthorize(twice);
  EXPECT_EQ(QueryParam(response.Header("location"), "error"), "invalid_request");
}

TEST_F(Authorize, TheSignInPageIsAGuardedPlainFormThatEscapesWhatItShows) {
  client_id_ = AddPublicClient("<b>\"Evil\" & co</b>", kAppScope);
  auto response = GetAuthorize(Params("user/*.rs openid"));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_TRUE(response.Header("content-type").starts_with("text/html"));
  EXPECT_EQ(response.Header("x-frame-options"), "DENY");
  EXPECT_EQ(response.Header("cache-control"), "no-store");
  std::string csp(response.Header("content-security-policy"));
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("form-action 'self' http://127.0.0.1:9"), std::string::npos) << csp;
  EXPECT_EQ(response.body.find("<b>\"Evil\""), std::string::npos);
  EXPECT_NE(response.body.find("&lt;b&gt;&quot;Evil&quot; &amp; co&lt;/b&gt;"), std::string::npos);
  for (const char* field : {R"(name="username")", R"(name="password")", R"(name="pending")",
                            R"(<label for="username">)", R"(action="/auth/authorize")"}) {
    EXPECT_NE(response.body.find(field), std::string::npos) << field;
  }
  // No regional IdP configured: no link to one.
  EXPECT_EQ(response.body.find("/auth/oidc/start"), std::string::npos);
  // The page shows what the app may get at most: the request narrowed to its registration.
  client_id_ = AddPublicClient("Reader", "user/*.rs openid");
  auto narrowed = GetAuthorize(Params("user/*.cruds system/*.rs openid"));
  ASSERT_EQ(narrowed.status, 200) << narrowed.body;
  EXPECT_NE(narrowed.body.find("<code>user/*.rs openid</code>"), std::string::npos)
      << narrowed.body;
  std::string cookie(response.Header("set-cookie"));
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Lax"), std::string::npos);
}

TEST_F(Authorize, AStaffUserSignsInAndTheTokensReadTheRecord) {
  std::string code = SignIn("dr.jones", "user/*.rs openid fhirUser offline_access");
  ASSERT_FALSE(code.empty()) << last_location_;
  EXPECT_EQ(QueryParam(last_location_, "iss"),
            "http://127.0.0.1:" + std::to_string(server_.port()));
  auto response = Exchange(code);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.Header("cache-control"), "no-store");
  auto body = TestServer::Json(response);
  EXPECT_EQ(Str(body, "token_type"), "Bearer");
  EXPECT_EQ(Str(body, "scope"), "user/*.rs openid fhirUser offline_access");
  EXPECT_FALSE(body.contains("patient"));
  auto user = server_.auth().directory().FindUser("dr.jones").value().value();
  const std::string practitioner =
      server_.base() + "/Practitioner/carerecord-user-" + std::to_string(user.key);
  EXPECT_EQ(Str(body, "fhirUser"), practitioner);
  EXPECT_FALSE(Str(body, "refresh_token").empty());

  auto read =
      server_.Send("GET", "/fhir/Patient/p1", "", server_.Bearer(Str(body, "access_token")));
  EXPECT_EQ(read.status, 200) << read.body;
  auto write = server_.Send("PUT", "/fhir/Patient/p1", R"({"resourceType":"Patient","id":"p1"})",
                            server_.Bearer(Str(body, "access_token")));
  EXPECT_EQ(write.status, 403) << write.body;  // asked .rs only

  // The ID token: ES256 under our JWKS, with the claims OIDC and SMART require.
  const std::string id_token = Str(body, "id_token");
  auto jws = access::ParseCompactJws(id_token, "the ID token").value();
  auto keys = server_.auth().keys().Current();
  ASSERT_NE(keys->VerifierFor(jws.kid, server_.auth().keys().options().token_ttl_seconds), nullptr);
  EXPECT_TRUE(access::VerifyCompactJws(jws, keys->current, "the ID token").ok());
  EXPECT_EQ(jws.header["alg"], "ES256");
  auto claims = JwtPayload(id_token);
  EXPECT_EQ(Str(claims, "iss"), "http://127.0.0.1:" + std::to_string(server_.port()));
  EXPECT_EQ(Str(claims, "sub"), "dr.jones");
  EXPECT_EQ(Str(claims, "aud"), client_id_);
  EXPECT_EQ(Str(claims, "nonce"), "n-0S6_WzA2Mj");
  EXPECT_EQ(Str(claims, "fhirUser"), practitioner);
  EXPECT_GT(claims["exp"].to_number<int64_t>(), claims["iat"].to_number<int64_t>());
}

TEST_F(Authorize, NoIdTokenWithoutOpenidAndNoRefreshTokenWithoutOfflineOrOnline) {
  auto body = TestServer::Json(Exchange(SignIn("dr.jones", "user/*.rs")));
  EXPECT_EQ(Str(body, "scope"), "user/*.rs");
  EXPECT_FALSE(body.contains("id_token"));
  EXPECT_FALSE(body.contains("refresh_token"));
  EXPECT_FALSE(body.contains("fhirUser"));
  auto online = TestServer::Json(Exchange(SignIn("dr.jones", "user/*.rs online_access")));
  EXPECT_FALSE(Str(online, "refresh_token").empty());
}

TEST_F(Authorize, EveryWrongSignInGetsTheSameMessageAndTheFormStaysUsable) {
  Page page = OpenPage(Params("user/*.rs"));
  auto wrong_password = PostSignIn(page, "dr.jones", "not the password");
  auto unknown_user = PostSignIn(page, "nobody", kPassword);
  ASSERT_TRUE(server_.auth().directory().SetUserEnabled("pat.smith", false).ok());
  auto disabled_user = PostSignIn(page, "pat.smith", kPassword);
  for (const auto* response : {&wrong_password, &unknown_user, &disabled_user}) {
    EXPECT_EQ(response->status, 200) << response->body;
    EXPECT_EQ(response->Header("location"), "");
    EXPECT_NE(response->body.find("The username or password is wrong."), std::string::npos);
    EXPECT_NE(response->body.find("role=\"alert\""), std::string::npos);
  }
  auto signed_in = PostSignIn(page, "dr.jones", kPassword);
  EXPECT_EQ(signed_in.status, 302);
  // The pending request is used up.
  auto again = PostSignIn(page, "dr.jones", kPassword);
  EXPECT_EQ(again.status, 400);
  EXPECT_EQ(again.Header("location"), "");
}

TEST_F(Authorize, ALockedAccountIsToldSo) {
  Page page = OpenPage(Params("user/*.rs"));
  for (int i = 0; i < 5; ++i)
    PostSignIn(page, "dr.jones", "wrong password number " + std::to_string(i));
  auto locked = PostSignIn(page, "dr.jones", kPassword);
  EXPECT_EQ(locked.Header("location"), "");
  EXPECT_NE(locked.body.find("locked"), std::string::npos) << locked.body;
}

TEST_F(Authorize, TheFormIsAcceptedOnlyFromTheBrowserThatOpenedIt) {
  Page page = OpenPage(Params("user/*.rs"));
  Page stranger = page;
  stranger.cookie = "carerecord_signin=someone-elses-browser-cookie";
  auto refused = PostSignIn(stranger, "dr.jones", kPassword);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(refused.Header("location"), "");
  Page no_cookie = page;
  no_cookie.cookie = "";
  EXPECT_EQ(PostSignIn(no_cookie, "dr.jones", kPassword).status, 403);
  // A second sign-in in the same browser (another tab) keeps its cookie, so both forms work.
  Page second_tab = OpenPage(Params("user/*.rs"), {{"Cookie", page.cookie}});
  EXPECT_EQ(second_tab.cookie, page.cookie);
  EXPECT_EQ(PostSignIn(page, "dr.jones", kPassword).status, 302);
  EXPECT_EQ(PostSignIn(second_tab, "dr.jones", kPassword).status, 302);
}

TEST_F(Authorize, TheCodeIsRefusedWithTheWrongVerifierRedirectOrClient) {
  auto other_client = AddPublicClient("Other app", kAppScope);
  struct Case {
    std::string name;
    std::function<http::HttpResponse(const std::string&)> exchange;
  } cases[] = {
      {"wrong verifier",
       [&](const std::string& code) {
         return Exchange(code, "", "wrong-verifier-wrong-verifier-wrong-verifier-1234");
       }},
      {"another client", [&](const std::string& code) { return Exchange(code, other_client); }},
      {"another redirect",
       [&](const std::string& code) {
         return Exchange(code, "", kVerifier, "http://127.0.0.1:9/other");
       }},
      {"made-up code", [&](const std::string&) { return Exchange("made-up-code"); }},
  };
  for (const Case& c : cases) {
    std::string code = SignIn("dr.jones", "user/*.rs");
    auto response = c.exchange(code);
    EXPECT_EQ(response.status, 400) << c.name << ": " << response.body;
    EXPECT_EQ(ErrorOf(response), "invalid_grant") << c.name;
    EXPECT_EQ(response.body.find("access_token"), std::string::npos) << c.name;
  }
  std::string code = SignIn("dr.jones", "user/*.rs");
  auto no_verifier = PostToken(Query({{"grant_type", "authorization_code"},
                                      {"code", code},
                                      {"redirect_uri", kRedirect},
                                      {"client_id", client_id_}}));
  EXPECT_EQ(ErrorOf(no_verifier), "invalid_request");
  // A confidential client must authenticate: naming it is not enough.
  auto confidential = PostToken(Query({{"grant_type", "authorization_code"},
                                       {"code", code},
                                       {"redirect_uri", kRedirect},
                                       {"code_verifier", kVerifier},
                                       {"client_id", server_.client_id()}}));
  EXPECT_EQ(ErrorOf(confidential), "invalid_client");
}

TEST_F(Authorize, ACodeUsedTwiceIsRefusedAndRevokesTheTokensItGave) {
  std::string code = SignIn("dr.jones", "user/*.rs offline_access");
  auto first = Exchange(code);
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string access_token = Str(TestServer::Json(first), "access_token");
  auto replay = Exchange(code);
  EXPECT_EQ(replay.status, 400);
  EXPECT_EQ(ErrorOf(replay), "invalid_grant");
  auto refresh = RefreshWith(Str(TestServer::Json(first), "refresh_token"));
  EXPECT_EQ(refresh.status, 400) << refresh.body;
  EXPECT_EQ(ErrorOf(refresh), "invalid_grant");
  auto read = server_.Send("GET", "/fhir/Patient/p1", "", server_.Bearer(access_token));
  EXPECT_EQ(read.status, 401) << read.body;
  EXPECT_NE(read.Header("www-authenticate").find("revoked"), std::string::npos);
  // Another sign-in of the same user is not touched.
  auto other = TestServer::Json(Exchange(SignIn("dr.jones", "user/*.rs")));
  EXPECT_EQ(server_.Send("GET", "/fhir/Patient/p1", "", server_.Bearer(Str(other, "access_token")))
                .status,
            200);
}

TEST_F(Authorize, RefreshTokensRotateAndAReusedOneRevokesTheFamily) {
  auto first = TestServer::Json(Exchange(SignIn("dr.jones", "user/*.rs openid offline_access")));
  const std::string r1 = Str(first, "refresh_token");
  auto second = RefreshWith(r1);
  ASSERT_EQ(second.status, 200) << second.body;
  auto second_body = TestServer::Json(second);
  const std::string r2 = Str(second_body, "refresh_token");
  EXPECT_FALSE(r2.empty());
  EXPECT_NE(r2, r1);
  EXPECT_EQ(Str(second_body, "scope"), "user/*.rs openid offline_access");
  EXPECT_FALSE(Str(second_body, "id_token").empty());
  auto read =
      server_.Send("GET", "/fhir/Patient/p1", "", server_.Bearer(Str(second_body, "access_token")));
  EXPECT_EQ(read.status, 200);
  // A refresh may ask for less than was granted, never more.
  auto narrower = RefreshWith(r2, "&scope=" + Encode("user/Patient.rs offline_access"));
  ASSERT_EQ(narrower.status, 200) << narrower.body;
  auto narrower_body = TestServer::Json(narrower);
  EXPECT_EQ(Str(narrower_body, "scope"), "user/Patient.rs offline_access");
  const std::string r3 = Str(narrower_body, "refresh_token");
  // More than was granted at sign-in (RFC 6749 section 6): refused, not quietly narrowed.
  auto wider = RefreshWith(r3, "&scope=" + Encode("user/*.cruds offline_access"));
  EXPECT_EQ(wider.status, 400) << wider.body;
  EXPECT_EQ(ErrorOf(wider), "invalid_scope");
  auto more_letters = RefreshWith(r3, "&scope=" + Encode("user/Patient.cruds"));
  EXPECT_EQ(ErrorOf(more_letters), "invalid_scope");
  // A refused refresh does not use the token up: a client's mistake costs no sign-in.
  auto still = RefreshWith(r3);
  ASSERT_EQ(still.status, 200) << still.body;
  const std::string r4 = Str(TestServer::Json(still), "refresh_token");

  // r1 again: it was used, so it has leaked; the whole family goes, r4 included.
  auto reused = RefreshWith(r1);
  EXPECT_EQ(reused.status, 400);
  EXPECT_EQ(ErrorOf(reused), "invalid_grant");
  auto after = RefreshWith(r4);
  EXPECT_EQ(after.status, 400);
  EXPECT_EQ(ErrorOf(after), "invalid_grant");
  EXPECT_EQ(ErrorOf(RefreshWith("never-issued")), "invalid_grant");
}

TEST_F(Authorize, ADisabledUserOrClientGetsNoTokensFromCodeOrRefresh) {
  std::string code = SignIn("dr.jones", "user/*.rs offline_access");
  ASSERT_TRUE(server_.auth().directory().SetUserEnabled("dr.jones", false).ok());
  auto exchanged = Exchange(code);
  EXPECT_EQ(ErrorOf(exchanged), "invalid_grant") << exchanged.body;
  ASSERT_TRUE(server_.auth().directory().SetUserEnabled("dr.jones", true).ok());
  auto body = TestServer::Json(Exchange(SignIn("dr.jones", "user/*.rs offline_access")));
  const std::string refresh = Str(body, "refresh_token");
  ASSERT_FALSE(refresh.empty());
  ASSERT_TRUE(server_.auth().directory().SetUserEnabled("dr.jones", false).ok());
  EXPECT_EQ(ErrorOf(RefreshWith(refresh)), "invalid_grant");

  ASSERT_TRUE(server_.auth().directory().SetUserEnabled("dr.jones", true).ok());
  auto again = TestServer::Json(Exchange(SignIn("dr.jones", "user/*.rs offline_access")));
  ASSERT_TRUE(server_.auth().directory().SetClientEnabled(client_id_, false).ok());
  EXPECT_EQ(ErrorOf(RefreshWith(Str(again, "refresh_token"))), "invalid_client");
}

TEST_F(Authorize, ScopesAreNarrowedToTheClientAndTheRoleNeverWidened) {
  client_id_ = AddPublicClient("Narrow app", "user/Observation.rs patient/*.rs launch/patient");
  // Staff without a launch: no patient context, so no patient-level scopes and no
  // launch/patient (no patient is invented); system scopes are never a user's.
  auto staff = TestServer::Json(Exchange(SignIn(
      "dr.jones", "user/*.cruds patient/*.rs system/*.rs launch/patient openid offline_access")));
  EXPECT_EQ(Str(staff, "scope"), "user/Observation.rs");
  EXPECT_FALSE(staff.contains("patient"));
  EXPECT_FALSE(staff.contains("refresh_token"));  // the client may not have offline_access
  // A patient: only their own record, and only reading it.
  client_id_ = AddPublicClient("Patient app", kAppScope);
  auto patient =
      TestServer::Json(Exchange(SignIn("pat.smith", "user/*.rs patient/*.cruds launch/patient")));
  EXPECT_EQ(Str(patient, "scope"), "patient/*.rs launch/patient");
  // Nothing clinical left: the app is told at its redirect URI.
  Page page = OpenPage(Params("user/*.rs"));
  auto nothing = PostSignIn(page, "pat.smith", kPassword);
  ASSERT_EQ(nothing.status, 302);
  EXPECT_EQ(QueryParam(nothing.Header("location"), "error"), "invalid_scope");
}

TEST_F(Authorize, APatientUserGetsTheirOwnRecordAsContext) {
  auto body = TestServer::Json(
      Exchange(SignIn("pat.smith", "patient/*.rs launch/patient openid fhirUser")));
  EXPECT_EQ(Str(body, "patient"), "p1");
  EXPECT_EQ(Str(body, "fhirUser"), server_.base() + "/Patient/p1");
  EXPECT_EQ(Str(JwtPayload(Str(body, "id_token")), "fhirUser"), server_.base() + "/Patient/p1");
  auto token = Str(body, "access_token");
  EXPECT_EQ(server_.Send("GET", "/fhir/Patient/p1", "", server_.Bearer(token)).status, 200);
  auto other = server_.Send("GET", "/fhir/Patient/p2", "", server_.Bearer(token));
  EXPECT_NE(other.status, 200) << other.body;
}

TEST_F(Authorize, AnEhrLaunchGivesStaffThePatientOnceOnly) {
  auto mint = [&](const std::string& body, Headers headers = {}) {
    headers.emplace_back("Content-Type", "application/json");
    return server_.Send("POST", "/auth/launch", body, headers);
  };
  auto minted = mint(R"({"patient":"p2"})");  // the test server's integration client
  ASSERT_EQ(minted.status, 200) << minted.body;
  const std::string launch = Str(TestServer::Json(minted), "launch");
  ASSERT_FALSE(launch.empty());

  auto body = TestServer::Json(
      Exchange(SignIn("dr.jones", "launch patient/*.rs openid fhirUser", {{"launch", launch}})));
  EXPECT_EQ(Str(body, "patient"), "p2");
  EXPECT_EQ(Str(body, "scope"), "patient/*.rs launch openid fhirUser");
  auto token = Str(body, "access_token");
  EXPECT_EQ(server_.Send("GET", "/fhir/Patient/p2", "", server_.Bearer(token)).status, 200);
  EXPECT_NE(server_.Send("GET", "/fhir/Patient/p1", "", server_.Bearer(token)).status, 200);

  // Used once: a second authorize with it goes back to the app as an error.
  auto params = Params("launch patient/*.rs");
  params.emplace_back("launch", launch);
  auto reused = GetAuthorize(params);
  ASSERT_EQ(reused.status, 302);
  EXPECT_EQ(QueryParam(reused.Header("location"), "error"), "invalid_request");

  // A patient user with a launch for someone else still gets only their own record.
  auto other = Str(TestServer::Json(mint(R"({"patient":"p2"})")), "launch");
  auto patient =
      TestServer::Json(Exchange(SignIn("pat.smith", "launch patient/*.rs", {{"launch", other}})));
  EXPECT_EQ(Str(patient, "patient"), "p1");
}

TEST_F(Authorize, OnlyAnIntegrationClientMakesALaunchForAPatientThatExists) {
  auto mint = [&](const std::string& body, Headers headers = {}) {
    headers.emplace_back("Content-Type", "application/json");
    return server_.Send("POST", "/auth/launch", body, headers);
  };
  EXPECT_EQ(mint(R"({"patient":"nobody"})").status, 404);
  EXPECT_EQ(mint(R"({"patient":""})").status, 400);
  EXPECT_EQ(mint(R"({"patient":"a/b"})").status, 400);
  EXPECT_EQ(mint(R"(not json)").status, 400);
  // Two patients in one request: refused, not the last one taken.
  EXPECT_EQ(mint(R"({"patient":"p1","patient":"p2"})").status, 400);
  EXPECT_EQ(mint(R"({"patient":"p1"})", {{"Authorization", ""}}).status, 401);
  EXPECT_EQ(mint(R"({"patient":"p1"})", {{"Authorization", "Bearer forged"}}).status, 401);
  // A user's token is not an integration client's.
  auto user = TestServer::Json(Exchange(SignIn("dr.jones", "user/*.rs")));
  auto refused = mint(R"({"patient":"p1"})", server_.Bearer(Str(user, "access_token")));
  EXPECT_EQ(refused.status, 403) << refused.body;
  // An integration client without read access to Patients cannot probe for them.
  auto no_read =
      mint(R"({"patient":"p1"})", server_.Bearer(server_.MintToken("system/Observation.rs")));
  EXPECT_EQ(no_read.status, 403) << no_read.body;
}

TEST_F(Authorize, AnAuthorizationRequestMayBePosted) {
  auto response = server_.Send("POST", "/auth/authorize", Query(Params("user/*.rs")),
                               {{"Content-Type", kForm}, {"Authorization", ""}});
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_NE(response.body.find(R"(name="pending")"), std::string::npos);
}

TEST_F(Authorize, MetadataDeclaresTheOAuthEndpoints) {
  auto response = server_.Send("GET", "/fhir/metadata", "", {{"Authorization", ""}});
  ASSERT_EQ(response.status, 200);
  auto statement = TestServer::Json(response);
  auto& security = statement["rest"].as_array()[0].as_object()["security"].as_object();
  EXPECT_EQ(
      security["service"].as_array()[0].as_object()["coding"].as_array()[0].as_object()["code"],
      "SMART-on-FHIR");
  auto& uris = security["extension"].as_array()[0].as_object();
  EXPECT_EQ(uris["url"], "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris");
  const std::string origin = "http://127.0.0.1:" + std::to_string(server_.port());
  std::map<std::string, std::string> found;
  for (auto& extension : uris["extension"].as_array()) {
    found[std::string(extension.as_object().at("url").as_string())] =
        std::string(extension.as_object().at("valueUri").as_string());
  }
  EXPECT_EQ(found["authorize"], origin + "/auth/authorize");
  EXPECT_EQ(found["token"], origin + "/auth/token");
  // The same answer twice (the decoration is kept, not redone wrongly).
  EXPECT_EQ(server_.Send("GET", "/fhir/metadata", "", {{"Authorization", ""}}).body, response.body);
}

class AuthorizeWithClock : public Authorize {
 protected:
  AuthorizeWithClock() : Authorize(Options()) {}
  static TestAuthOptions Options() {
    TestAuthOptions options;
    options.clock = &clock_;
    return options;
  }
  static access::ManualWallClock clock_;
};
access::ManualWallClock AuthorizeWithClock::clock_(1'900'000'000);

TEST_F(AuthorizeWithClock, AnExpiredCodeOrPendingSignInIsRefused) {
  std::string code = SignIn("dr.jones", "user/*.rs");
  clock_.Advance(61);
  auto expired = Exchange(code);
  EXPECT_EQ(expired.status, 400);
  EXPECT_EQ(ErrorOf(expired), "invalid_grant");

  Page page = OpenPage(Params("user/*.rs"));
  clock_.Advance(601);
  auto late = PostSignIn(page, "dr.jones", kPassword);
  EXPECT_EQ(late.status, 400);
  EXPECT_EQ(late.Header("location"), "");
}

TEST_F(AuthorizeWithClock, AReusedRefreshTokenRevokesAnAccessTokenAlreadyInUse) {
  auto first = TestServer::Json(Exchange(SignIn("dr.jones", "user/*.rs offline_access")));
  auto second = TestServer::Json(RefreshWith(Str(first, "refresh_token")));
  const std::string token = Str(second, "access_token");
  ASSERT_EQ(server_.Send("GET", "/fhir/Patient/p1", "", server_.Bearer(token)).status, 200);
  EXPECT_EQ(ErrorOf(RefreshWith(Str(first, "refresh_token"))), "invalid_grant");
  // The verified token is cached; its status is asked again after the recheck interval.
  clock_.Advance(31);
  EXPECT_EQ(server_.Send("GET", "/fhir/Patient/p1", "", server_.Bearer(token)).status, 401);
}

TEST_F(AuthorizeWithClock, AnOnlineRefreshTokenEndsWithTheWorkingDay) {
  auto body = TestServer::Json(Exchange(SignIn("dr.jones", "user/*.rs online_access")));
  clock_.Advance(3600);
  auto refreshed = RefreshWith(Str(body, "refresh_token"));
  ASSERT_EQ(refreshed.status, 200) << refreshed.body;
  clock_.Advance(12 * 3600);
  auto late = RefreshWith(Str(TestServer::Json(refreshed), "refresh_token"));
  EXPECT_EQ(ErrorOf(late), "invalid_grant");
}

}  // namespace
}  // namespace carerecord::testing
