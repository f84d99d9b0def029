// The token endpoint over HTTP: client credentials with client_secret_basic, client_secret_post
// and private_key_jwt (SMART Backend Services), scope narrowing, RFC 6749's errors, the JWKS and
// the discovery documents.
#include <openssl/evp.h>

#include <boost/json.hpp>

#include "access/jwt.h"
#include "access/passwords.h"
#include "test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kForm = "application/x-www-form-urlencoded";

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

http::HttpResponse PostToken(TestServer& server, const std::string& form, Headers headers = {}) {
  headers.emplace_back("Content-Type", kForm);
  headers.emplace_back("Authorization", "");  // no Bearer token unless the test gives Basic
  return server.Send("POST", "/auth/token", form, headers);
}

std::string Text(const json::value& value) {
  return value.is_string() ? std::string(value.as_string()) : json::serialize(value);
}

std::string ErrorOf(const http::HttpResponse& response) {
  auto body = TestServer::Json(response);
  return body.contains("error") ? std::string(body["error"].as_string()) : "";
}

std::string SecretPost(const TestServer& server, const std::string& extra = "") {
  return "grant_type=client_credentials&client_id=" + server.client_id() +
         "&client_secret=" + server.client_secret() + extra;
}

TEST(AuthTokenEndpoint, ClientSecretBasicIssuesABearerTokenThatReadsTheRecord) {
  TestServer server;
  Put(server, "Patient", "p1", R"({"resourceType":"Patient"})");
  auto response = PostToken(
      server, "grant_type=client_credentials",
      {{"Authorization", "Basic " + Base64(server.client_id() + ":" + server.client_secret())}});
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.Header("cache-control"), "no-store");
  auto body = TestServer::Json(response);
  EXPECT_EQ(body["token_type"], "Bearer");
  EXPECT_EQ(body["expires_in"], 300);
  EXPECT_EQ(body["scope"], kTestClientScope);  // no scope asked: all the client may have
  std::string token(body["access_token"].as_string());
  auto read = server.Send("GET", "/fhir/Patient/p1", "", server.Bearer(token));
  EXPECT_EQ(read.status, 200) << read.body;
}

TEST(AuthTokenEndpoint, ClientSecretPostNarrowsTheScopeAndSaysWhatWasGranted) {
  TestServer server;
  auto response = PostToken(server, SecretPost(server,
                                               "&scope=system%2FPatient.rs+system/Observation.read+"
                                               "user/*.rs+patient/*.rs"));
  ASSERT_EQ(response.status, 200) << response.body;
  auto body = TestServer::Json(response);
  // user- and patient-level scopes need a user or patient this grant has none of.
  EXPECT_EQ(body["scope"], "system/Patient.rs system/Observation.read");
}

TEST(AuthTokenEndpoint, WrongSecretsAreInvalidClientAndBasicGetsItsChallengeBack) {
  TestServer server;
  auto post = PostToken(server, "grant_type=client_credentials&client_id=" + server.client_id() +
                                    "&client_secret=wrong");
  EXPECT_EQ(post.status, 401);
  EXPECT_EQ(ErrorOf(post), "invalid_client");
  EXPECT_EQ(post.Header("www-authenticate"), "");
  EXPECT_EQ(post.body.find("access_token"), std::string::npos);
  auto basic = PostToken(server, "grant_type=client_credentials",
                         {{"Authorization", "Basic " + Base64(server.client_id() + ":wrong")}});
  EXPECT_EQ(basic.status, 401);
  EXPECT_EQ(ErrorOf(basic), "invalid_client");
  EXPECT_EQ(basic.Header("www-authenticate"), "Basic realm=\"carerecord\"");
  auto unknown =
      PostToken(server, "grant_type=client_credentials&client_id=nobody&client_secret=x");
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(ErrorOf(unknown), "invalid_client");
  auto none = PostToken(server, "grant_type=client_credentials&client_id=" + server.client_id());
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(ErrorOf(none), "invalid_client");
}

TEST(AuthTokenEndpoint, MalformedRequestsGetRfc6749Errors) {
  TestServer server;
  struct Case {
    std::string form;
    int status;
    const char* error;
  } cases[] = {
      {SecretPost(server, "&scope=system/Unknown.rs"), 400, "invalid_scope"},
      {SecretPost(server, "&scope=user/*.rs"), 400, "invalid_scope"},
      {"grant_type=password&username=a&password=b", 400, "unsupported_grant_type"},
      {"grant_type=authorization_code&code=x", 401, "invalid_client"},  // no client named
      {"client_id=" + server.client_id(), 400, "invalid_request"},
      {SecretPost(server, "&grant_type=client_credentials"), 400, "invalid_request"},
      {SecretPost(server, "&client_assertion=x"), 400, "invalid_request"},
      {"grant_type=client_credentials&client_assertion_type=other&client_assertion=x", 400,
       "invalid_request"},
      {"grant_type=client_credentials&client_id=x%zz", 400, "invalid_request"},
  };
  for (const Case& c : cases) {
    auto response = PostToken(server, c.form);
    EXPECT_EQ(response.status, c.status) << c.form << ": " << response.body;
    EXPECT_EQ(ErrorOf(response), c.error) << c.form << ": " << response.body;
    EXPECT_EQ(response.Header("cache-control"), "no-store") << c.form;
  }
  auto json_body = server.Send("POST", "/auth/token", R"({"grant_type":"client_credentials"})",
                               {{"Content-Type", "application/json"}, {"Authorization", ""}});
  EXPECT_EQ(json_body.status, 400);
  EXPECT_EQ(ErrorOf(json_body), "invalid_request");
  auto get = server.Send("GET", "/auth/token", "", {{"Authorization", ""}});
  EXPECT_EQ(get.status, 405);
}

TEST(AuthTokenEndpoint, ADisabledClientOrOrganisationGetsNoToken) {
  TestServer server;
  ASSERT_TRUE(server.auth().directory().SetClientEnabled(server.client_id(), false).ok());
  auto refused = PostToken(server, SecretPost(server));
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(ErrorOf(refused), "invalid_client");
  ASSERT_TRUE(server.auth().directory().SetClientEnabled(server.client_id(), true).ok());
  EXPECT_EQ(PostToken(server, SecretPost(server)).status, 200);
  ASSERT_TRUE(server.auth().directory().SetOrganisationEnabled(kTestOrganisation, false).ok());
  EXPECT_EQ(PostToken(server, SecretPost(server)).status, 401);
}

TEST(AuthTokenEndpoint, AClientWithoutARoleOfItsOwnIsUnauthorized) {
  TestServer server;
  access::NewClient client{"portal helper", kTestOrganisation, "", "system/*.rs", "secret", "", {}};
  auto added = server.auth().directory().AddClient(client);
  ASSERT_TRUE(added.ok()) << added.error().message;
  auto response =
      PostToken(server, "grant_type=client_credentials&client_id=" + added->client.client_id +
                            "&client_secret=" + added->secret);
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(ErrorOf(response), "unauthorized_client");
}

// A backend client registered with its public key, signing its assertions with the private one.
struct BackendClient {
  access::JsonWebKey key;
  std::string client_id;
};

BackendClient AddBackendClient(TestServer& server, access::JwsAlgorithm alg) {
  BackendClient backend;
  backend.key = access::JsonWebKey::Generate(alg).value();
  json::object jwks{{"keys", json::array{backend.key.PublicJwk()}}};
  access::NewClient client{
      "lab feed", kTestOrganisation, "integration", "system/*.rs", "jwks", json::serialize(jwks),
      {}};
  auto added = server.auth().directory().AddClient(client);
  EXPECT_TRUE(added.ok()) << added.error().message;
  backend.client_id = added->client.client_id;
  return backend;
}

std::string Assertion(const BackendClient& backend, const std::string& audience,
                      const std::string& jti) {
  const int64_t now = access::SystemWallClock().NowSeconds();
  json::object claims{{"iss", backend.client_id},
                      {"sub", backend.client_id},
                      {"aud", audience},
                      {"exp", now + 240},
                      {"jti", jti}};
  return access::SignCompactJws(backend.key, claims).value();
}

std::string AssertionForm(const std::string& assertion, const std::string& scope) {
  return "grant_type=client_credentials&scope=" + scope +
         "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
         "&client_assertion=" +
         assertion;
}

TEST(AuthTokenEndpoint, PrivateKeyJwtAsSmartBackendServicesSpecifiesIt) {
  TestServer server;
  const std::string token_endpoint =
      "http://127.0.0.1:" + std::to_string(server.port()) + "/auth/token";
  for (auto alg : {access::JwsAlgorithm::kES384, access::JwsAlgorithm::kRS384}) {
    BackendClient backend = AddBackendClient(server, alg);
    const std::string assertion = Assertion(backend, token_endpoint, access::RandomToken(16));
    auto granted = PostToken(server, AssertionForm(assertion, "system/Patient.rs"));
    ASSERT_EQ(granted.status, 200) << granted.body;
    auto body = TestServer::Json(granted);
    EXPECT_EQ(body["scope"], "system/Patient.rs");
    auto read = server.Send("GET", "/fhir/Patient?_count=1", "",
                            server.Bearer(std::string(body["access_token"].as_string())));
    EXPECT_EQ(read.status, 200) << read.body;

    // The same assertion again is a replay.
    auto replay = PostToken(server, AssertionForm(assertion, "system/Patient.rs"));
    EXPECT_EQ(replay.status, 401);
    EXPECT_EQ(ErrorOf(replay), "invalid_client");
    EXPECT_NE(replay.body.find("jti"), std::string::npos) << replay.body;
    // An assertion for another audience (the FHIR base, say) is refused.
    auto elsewhere =
        PostToken(server, AssertionForm(Assertion(backend, server.base(), access::RandomToken(16)),
                                        "system/Patient.rs"));
    EXPECT_EQ(elsewhere.status, 401);
    EXPECT_NE(elsewhere.body.find("token endpoint"), std::string::npos) << elsewhere.body;
    // A secret client cannot authenticate with an assertion, nor this one with a secret.
    auto with_secret =
        PostToken(server, "grant_type=client_credentials&client_id=" + backend.client_id +
                              "&client_secret=x");
    EXPECT_EQ(with_secret.status, 401);
  }
}

TEST(AuthTokenEndpoint, JwksHoldsPublicKeysOnly) {
  TestServer server;
  auto response = server.Send("GET", "/auth/jwks", "", {{"Authorization", ""}});
  ASSERT_EQ(response.status, 200) << response.body;
  auto keys = TestServer::Json(response)["keys"].as_array();
  ASSERT_EQ(keys.size(), 1u);
  auto key = keys[0].as_object();
  EXPECT_EQ(key["kty"], "EC");
  EXPECT_EQ(key["crv"], "P-256");
  EXPECT_FALSE(key.contains("d"));
}

TEST(AuthTokenEndpoint, DiscoveryDocumentsArePublicAndClaimWhatIsBuilt) {
  TestServer server;
  const std::string origin = "http://127.0.0.1:" + std::to_string(server.port());
  for (const char* path :
       {"/fhir/.well-known/smart-configuration", "/.well-known/openid-configuration"}) {
    auto response = server.Send("GET", path, "", {{"Authorization", ""}});
    ASSERT_EQ(response.status, 200) << path << ": " << response.body;
    auto document = TestServer::Json(response);
    EXPECT_EQ(Text(document["issuer"]), origin);
    EXPECT_EQ(Text(document["token_endpoint"]), origin + "/auth/token");
    EXPECT_EQ(Text(document["jwks_uri"]), origin + "/auth/jwks");
    EXPECT_EQ(Text(document["authorization_endpoint"]), origin + "/auth/authorize");
    EXPECT_EQ(document["grant_types_supported"],
              (json::array{"authorization_code", "client_credentials", "refresh_token"}));
    // "none": a public client's user grants name it by client_id alone (with PKCE).
    EXPECT_EQ(
        document["token_endpoint_auth_methods_supported"],
        (json::array{"private_key_jwt", "client_secret_basic", "client_secret_post", "none"}));
    EXPECT_EQ(document["code_challenge_methods_supported"], json::array{"S256"});
    EXPECT_EQ(document["response_types_supported"], json::array{"code"});
  }
  auto smart = TestServer::Json(
      server.Send("GET", "/fhir/.well-known/smart-configuration", "", {{"Authorization", ""}}));
  auto capabilities = smart["capabilities"].as_array();
  auto has = [&](const char* capability) {
    return std::find(capabilities.begin(), capabilities.end(), json::value(capability)) !=
           capabilities.end();
  };
  EXPECT_TRUE(has("client-confidential-asymmetric"));
  EXPECT_TRUE(has("client-confidential-symmetric"));
  EXPECT_TRUE(has("permission-v2"));
  for (const char* capability :
       {"launch-standalone", "launch-ehr", "client-public", "sso-openid-connect",
        "context-standalone-patient", "context-ehr-patient", "permission-offline",
        "permission-online", "permission-patient", "permission-user", "permission-v1"}) {
    EXPECT_TRUE(has(capability)) << capability;
  }
  // Not built: no encounter context, no patient picker for staff.
  EXPECT_FALSE(has("context-ehr-encounter"));
  EXPECT_FALSE(has("context-standalone-encounter"));
  auto openid = TestServer::Json(
      server.Send("GET", "/.well-known/openid-configuration", "", {{"Authorization", ""}}));
  EXPECT_EQ(openid["id_token_signing_alg_values_supported"], json::array{"ES256"});
  EXPECT_EQ(openid["subject_types_supported"], json::array{"public"});
}

}  // namespace
}  // namespace carerecord::testing
