// The gate in front of /fhir: every request but metadata and the discovery document needs a
// valid Bearer token (401 with an OperationOutcome and WWW-Authenticate otherwise, never data),
// and scopes that cover what it asks (403 naming the missing scope), down to each item.
#include <boost/json.hpp>

#include "access/access_token.h"
#include "access/signing_keys.h"
#include "test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

constexpr const char* kSecretName = "Secret-Family-Name";

// A server on a clock the test moves, holding a Patient whose name must never leak.
class AuthGate : public ::testing::Test {
 protected:
  void SetUp() override {
    TestAuthOptions options;
    options.clock = &clock_;
    options.enabled_refresh = std::chrono::milliseconds(0);
    server_ = std::make_unique<TestServer>(options);
    Put(*server_, "Patient", "p1",
        std::string(R"({"resourceType":"Patient","name":[{"family":")") + kSecretName + R"("}]})");
  }
  // Refused with 401: an OperationOutcome, the Bearer challenge, no data.
  void ExpectUnauthorized(const http::HttpResponse& response, const std::string& described) {
    EXPECT_EQ(response.status, 401) << response.body;
    auto outcome = TestServer::Json(response);
    EXPECT_EQ(outcome["resourceType"], "OperationOutcome") << response.body;
    EXPECT_EQ(response.body.find(kSecretName), std::string::npos);
    std::string challenge(response.Header("www-authenticate"));
    EXPECT_EQ(challenge.rfind("Bearer realm=\"carerecord\", error=\"invalid_token\"", 0), 0u)
        << challenge;
    EXPECT_NE(challenge.find(described), std::string::npos) << challenge;
  }
  http::HttpResponse ReadWith(const std::string& token) {
    return server_->Send("GET", "/fhir/Patient/p1", "", server_->Bearer(token));
  }

  access::ManualWallClock clock_{access::SystemWallClock().NowSeconds()};
  std::unique_ptr<TestServer> server_;
};

TEST_F(AuthGate, NoTokenIs401WithABareChallenge) {
  for (const char* target :
       {"/fhir/Patient/p1", "/fhir/Patient", "/fhir", "/fhir/nothing/here/x/y", "/elsewhere"}) {
    auto response = server_->Send("GET", target, "", {{"Authorization", ""}});
    EXPECT_EQ(response.status, 401) << target;
    EXPECT_EQ(TestServer::Json(response)["resourceType"], "OperationOutcome");
    EXPECT_EQ(response.body.find(kSecretName), std::string::npos);
    // RFC 6750 section 3.1: no error attribute when the request had no token.
    EXPECT_EQ(response.Header("www-authenticate"), "Bearer realm=\"carerecord\"") << target;
  }
  auto write = server_->Send("POST", "/fhir/Patient", R"({"resourceType":"Patient"})",
                             {{"Authorization", ""}});
  EXPECT_EQ(write.status, 401);
  EXPECT_EQ(server_->store().Stats()->resources, 1);
}

TEST_F(AuthGate, TwoAuthorizationHeadersAreRefusedWhicheverComesFirst) {
  const std::string good = "Bearer " + server_->MintToken("system/*.rs");
  for (auto [first, second] :
       {std::pair<std::string, std::string>{good, "Bearer forged"}, {"Bearer forged", good}}) {
    auto response = server_->Send("GET", "/fhir/Patient/p1", "",
                                  {{"Authorization", first}, {"Authorization", second}});
    EXPECT_EQ(response.status, 400) << response.body;
    EXPECT_EQ(TestServer::Json(response)["resourceType"], "OperationOutcome");
    EXPECT_EQ(response.body.find("\"Patient\""), std::string::npos);
  }
  auto token = server_->Send("POST", "/auth/token", "grant_type=client_credentials",
                             {{"Content-Type", "application/x-www-form-urlencoded"},
                              {"Authorization", "Basic eDp5"},
                              {"Authorization", "Basic eDp6"}});
  EXPECT_EQ(token.status, 400);
  EXPECT_EQ(TestServer::Json(token)["error"], "invalid_request");
}

TEST_F(AuthGate, MetadataAndTheDiscoveryDocumentStayPublic) {
  EXPECT_EQ(server_->Send("GET", "/fhir/metadata", "", {{"Authorization", ""}}).status, 200);
  EXPECT_EQ(
      server_->Send("GET", "/fhir/.well-known/smart-configuration", "", {{"Authorization", ""}})
          .status,
      200);
}

TEST_F(AuthGate, MalformedTokensAre401InvalidToken) {
  ExpectUnauthorized(server_->Send("GET", "/fhir/Patient/p1", "", {{"Authorization", "Bearer"}}),
                     "error_description");
  ExpectUnauthorized(
      server_->Send("GET", "/fhir/Patient/p1", "", {{"Authorization", "Basic dXNlcjpwYXNz"}}),
      "not a Bearer token");
  ExpectUnauthorized(ReadWith("not-a-jwt"), "error_description");
  ExpectUnauthorized(ReadWith("a.b.c"), "error_description");
}

TEST_F(AuthGate, ATamperedTokenIsRefused) {
  std::string token = server_->MintToken("system/*.rs");
  ASSERT_EQ(ReadWith(token).status, 200);
  std::string signature_changed = token;
  signature_changed.back() = signature_changed.back() == 'A' ? 'B' : 'A';
  ExpectUnauthorized(ReadWith(signature_changed), "signature");
  // The payload swapped for another token's: its scope widened, its signature the old one's.
  std::string wider = server_->MintToken("system/*.cruds");
  size_t a = token.find('.'), b = token.rfind('.');
  size_t wa = wider.find('.'), wb = wider.rfind('.');
  std::string spliced = token.substr(0, a) + wider.substr(wa, wb - wa) + token.substr(b);
  ExpectUnauthorized(ReadWith(spliced), "signature");
}

TEST_F(AuthGate, AnExpiredTokenIsRefused) {
  std::string token = server_->MintToken("system/*.rs");
  ASSERT_EQ(ReadWith(token).status, 200);
  clock_.Advance(300 + 30 + 1);  // lifetime and leeway
  ExpectUnauthorized(ReadWith(token), "expired");
}

TEST_F(AuthGate, ATokenForAnotherAudienceOrIssuerIsRefused) {
  for (auto [issuer, audience] :
       {std::pair<std::string, std::string>{"http://127.0.0.1:" + std::to_string(server_->port()),
                                            "https://other.example/fhir"},
        std::pair<std::string, std::string>{"https://other.example", server_->base()}}) {
    // Signed with this server's own key: only the claim is wrong.
    access::AccessTokenOptions options;
    options.issuer = issuer;
    options.audience = audience;
    access::AccessTokens elsewhere(server_->auth().keys(), clock_, options);
    access::AccessTokenGrant grant;
    grant.kind = access::PrincipalKind::kClient;
    grant.subject = grant.client_id = server_->client_id();
    grant.organisation = kTestOrganisation;
    grant.role = "integration";
    grant.scope = "system/*.rs";
    auto token = elsewhere.Issue(grant);
    ASSERT_TRUE(token.ok());
    ExpectUnauthorized(ReadWith(token->token), audience == server_->base() ? "issuer" : "audience");
  }
}

TEST_F(AuthGate, ADisabledClientIsRefusedWithinTheRecheckInterval) {
  std::string token = server_->MintToken("system/*.rs");
  ASSERT_EQ(ReadWith(token).status, 200);
  ASSERT_TRUE(server_->auth().directory().SetClientEnabled(server_->client_id(), false).ok());
  // A token verified before is trusted for at most 30 s; then the directory is asked again.
  clock_.Advance(31);
  ExpectUnauthorized(ReadWith(token), "disabled");
  // A token never seen before is checked against the directory at once.
  ASSERT_TRUE(server_->auth().directory().SetClientEnabled(server_->client_id(), true).ok());
  std::string fresh = server_->MintToken("system/*.rs");
  ASSERT_TRUE(server_->auth().directory().SetClientEnabled(server_->client_id(), false).ok());
  ExpectUnauthorized(ReadWith(fresh), "disabled");
}

TEST_F(AuthGate, ATokenOfARotatedKeyStaysValidUntilItExpires) {
  std::string before = server_->MintToken("system/*.rs");
  ASSERT_TRUE(access::RotateSigningKey(server_->data_dir(), clock_.NowSeconds()).ok());
  clock_.Advance(11);  // the running server re-reads the key file every 10 s
  EXPECT_EQ(ReadWith(before).status, 200);
  std::string after = server_->MintToken("system/*.rs");
  EXPECT_EQ(ReadWith(after).status, 200);
  auto jwks = TestServer::Json(server_->Send("GET", "/auth/jwks", "", {{"Authorization", ""}}));
  EXPECT_EQ(jwks["keys"].as_array().size(), 2u);
  EXPECT_NE(before.substr(0, before.find('.')), after.substr(0, after.find('.')));  // other kid
  clock_.Advance(300 + 30);
  ExpectUnauthorized(ReadWith(before), "error_description");
  EXPECT_EQ(
      TestServer::Json(server_->Send("GET", "/auth/jwks", "", {{"Authorization", ""}}))["keys"]
          .as_array()
          .size(),
      1u);
}

// 403 with an OperationOutcome naming the missing scope, and no data.
void ExpectForbidden(const http::HttpResponse& response, const std::string& scope) {
  EXPECT_EQ(response.status, 403) << response.body;
  auto outcome = TestServer::Json(response);
  EXPECT_EQ(outcome["resourceType"], "OperationOutcome");
  EXPECT_EQ(outcome["issue"].as_array()[0].as_object()["code"], "forbidden");
  EXPECT_NE(response.body.find("'" + scope + "'"), std::string::npos) << response.body;
  EXPECT_EQ(response.body.find(kSecretName), std::string::npos);
}

TEST_F(AuthGate, AScopeThatDoesNotCoverTheInteractionIs403NamingIt) {
  Put(*server_, "Observation", "o1",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},)"
      R"("subject":{"reference":"Patient/p1"}})");
  auto patients_read = server_->Bearer(server_->MintToken("system/Patient.r"));
  EXPECT_EQ(server_->Send("GET", "/fhir/Patient/p1", "", patients_read).status, 200);
  ExpectForbidden(server_->Send("GET", "/fhir/Patient?name=x", "", patients_read),
                  "system/Patient.s");
  ExpectForbidden(server_->Send("GET", "/fhir/Observation/o1", "", patients_read),
                  "system/Observation.r");
  ExpectForbidden(server_->Send("GET", "/fhir/Patient/p1/Observation", "", patients_read),
                  "system/Observation.s");
  ExpectForbidden(
      server_->Send("POST", "/fhir/Patient", R"({"resourceType":"Patient"})", patients_read),
      "system/Patient.c");
  ExpectForbidden(server_->Send("DELETE", "/fhir/Patient/p1", "", patients_read),
                  "system/Patient.d");
  ExpectForbidden(server_->Send("GET", "/fhir/_history", "", patients_read), "system/*.s");
  // A Bundle is refused whole when one entry is outside the scopes, and nothing is written.
  auto writer = server_->Bearer(server_->MintToken("system/Patient.cruds"));
  auto bundle = server_->Send(
      "POST", "/fhir",
      R"({"resourceType":"Bundle","type":"transaction","entry":[)"
      R"({"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},)"
      R"({"request":{"method":"GET","url":"Observation?code=x"}}]})",
      writer);
  ExpectForbidden(bundle, "system/Observation.s");
  EXPECT_NE(bundle.body.find("Bundle.entry[1]"), std::string::npos) << bundle.body;
  EXPECT_EQ(server_->store().Stats()->resources, 2);
}

TEST_F(AuthGate, APatientLevelScopeSeesOnlyItsPatientAndWhatNoPatientOwns) {
  Put(*server_, "Patient", "p2", R"({"resourceType":"Patient"})");
  for (const char* id : {"o1", "o2"}) {
    Put(*server_, "Observation", id,
        std::string(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},)") +
            R"("subject":{"reference":"Patient/)" + (id == std::string("o1") ? "p1" : "p2") +
            R"("}})");
  }
  Put(*server_, "Medication", "m1", R"({"resourceType":"Medication"})");
  auto patient = server_->Bearer(server_->MintToken("patient/*.rs", "p1"));
  EXPECT_EQ(server_->Send("GET", "/fhir/Patient/p1", "", patient).status, 200);
  EXPECT_EQ(server_->Send("GET", "/fhir/Patient/p2", "", patient).status, 404);
  EXPECT_EQ(server_->Send("GET", "/fhir/Observation/o2", "", patient).status, 404);
  auto search = TestServer::Json(server_->Send("GET", "/fhir/Observation", "", patient));
  ASSERT_TRUE(search.contains("entry"));
  ASSERT_EQ(search["entry"].as_array().size(), 1u);
  EXPECT_EQ(search["entry"].as_array()[0].as_object()["resource"].as_object()["id"], "o1");
  EXPECT_EQ(server_->Send("GET", "/fhir/Medication/m1", "", patient).status, 200);
  // Without a patient context a patient-level scope allows nothing.
  auto no_context = server_->Bearer(server_->MintToken("patient/*.rs"));
  ExpectForbidden(server_->Send("GET", "/fhir/Patient/p1", "", no_context), "system/Patient.r");
}

TEST_F(AuthGate, ItemsOfTypesNoScopeCoversAreWithheldFromIncludes) {
  Put(*server_, "Observation", "o1",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},)"
      R"("subject":{"reference":"Patient/p1"}})");
  auto observations = server_->Bearer(server_->MintToken("system/Observation.rs"));
  auto bundle =
      server_->Send("GET", "/fhir/Observation?_include=Observation:subject", "", observations);
  ASSERT_EQ(bundle.status, 200) << bundle.body;
  EXPECT_NE(bundle.body.find("\"o1\""), std::string::npos);
  EXPECT_EQ(bundle.body.find(kSecretName), std::string::npos) << bundle.body;
}

}  // namespace
}  // namespace carerecord::testing
