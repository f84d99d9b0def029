// orgs, users and clients from outside: the built binary run as an operator would, with no
// server and with one running on the same --data (whose FHIR API then shows the change).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "http/client.h"
#include "store/store.h"
#include "tests/carerecord_process.h"

namespace carerecord::testing {
namespace {

namespace fs = std::filesystem;

class IdentityCommandLine : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(CARERECORD_BINARY)) GTEST_SKIP() << "build the carerecord binary first";
    dir_ = TempPath("carerecord-identity-cli-");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  CommandResult Run(const std::string& args, const std::string& input = "") {
    return RunCarerecord(args + " --data " + dir_.string(), input);
  }
  // The value of `key=` in a command's output, or "".
  static std::string Value(const std::string& out, const std::string& key) {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
    }
    return "";
  }
  fs::path dir_;
};

constexpr const char* kPassword = "correct horse battery";

TEST_F(IdentityCommandLine, AddAndListWithoutAServer) {
  auto org = Run("orgs add --ods rdz --name \"Poole Hospital\" --kind hospital");
  ASSERT_EQ(org.status, 0) << org.err;
  EXPECT_EQ(Value(org.out, "ods"), "RDZ");

  // A password given on stdin is not echoed.
  auto given = Run("users add --username jane --org RDZ --role clinician --name \"Dr Jane\"",
                   std::string(kPassword) + "\n");
  ASSERT_EQ(given.status, 0) << given.err;
  EXPECT_EQ(Value(given.out, "username"), "jane");
  EXPECT_EQ(given.out.find("password"), std::string::npos) << given.out;
  // None on stdin: one is generated and printed once.
  auto generated = Run("users add --username bob --org RDZ --role nurse");
  ASSERT_EQ(generated.status, 0) << generated.err;
  const std::string password = Value(generated.out, "password");
  EXPECT_EQ(password.size(), 20u) << generated.out;

  auto secret =
      Run("clients add --name Feed --org RDZ --scope \"system/*.rs system/*.cud\" "
          "--role integration --secret");
  ASSERT_EQ(secret.status, 0) << secret.err;
  const std::string client_id = Value(secret.out, "client_id");
  const std::string client_secret = Value(secret.out, "client_secret");
  EXPECT_EQ(client_id.size(), 32u) << secret.out;
  EXPECT_EQ(client_secret.size(), 43u) << secret.out;
  auto app =
      Run("clients add --name Portal --org RDZ --scope \"openid launch/patient\" --public "
          "--redirect-uri https://portal.example.org/cb --redirect-uri "
          "http://127.0.0.1:3000/cb");
  ASSERT_EQ(app.status, 0) << app.err;
  EXPECT_FALSE(Value(app.out, "client_id").empty());
  EXPECT_EQ(Value(app.out, "client_secret"), "");

  auto orgs = Run("orgs list");
  EXPECT_EQ(orgs.out, "RDZ\thospital\tenabled\tOrganization/ods-RDZ\tPoole Hospital\n");
  auto users = Run("users list");
  EXPECT_EQ(users.out,
            "jane\tclinician\tRDZ\tenabled\tPractitioner/carerecord-user-1\tDr Jane\n"
            "bob\tnurse\tRDZ\tenabled\tPractitioner/carerecord-user-2\t\n");
  auto clients = Run("clients list");
  EXPECT_NE(clients.out.find(client_id + "\tsecret\tintegration\tRDZ\tenabled\tsystem/*.rs "
                                         "system/*.cud\tFeed\n"),
            std::string::npos)
      << clients.out;
  // Lists never show a secret, a password or a hash of either.
  for (const auto& listed : {orgs, users, clients}) {
    EXPECT_EQ(listed.out.find("argon2"), std::string::npos);
    EXPECT_EQ(listed.out.find("sha256"), std::string::npos);
    EXPECT_EQ(listed.out.find(client_secret), std::string::npos);
    EXPECT_EQ(listed.out.find(password), std::string::npos);
  }

  ASSERT_EQ(Run("orgs disable --ods rdz").status, 0);
  EXPECT_NE(Run("orgs list").out.find("RDZ\thospital\tdisabled"), std::string::npos);
  ASSERT_EQ(Run("orgs enable --ods RDZ").status, 0);
  EXPECT_EQ(Run("orgs disable --ods NOPE1").status, 2);
  ASSERT_EQ(Run("users disable --username jane").status, 0);
  EXPECT_NE(Run("users list").out.find("jane\tclinician\tRDZ\tdisabled"), std::string::npos);
  ASSERT_EQ(Run("users enable --username jane").status, 0);
  ASSERT_EQ(Run("clients disable --client-id " + client_id).status, 0);
  EXPECT_NE(Run("clients list").out.find(client_id + "\tsecret\tintegration\tRDZ\tdisabled"),
            std::string::npos);
  auto reset = Run("users reset-password --username bob", "another good password\n");
  EXPECT_EQ(reset.status, 0) << reset.err;
  EXPECT_EQ(reset.out, "");

  // With no server, the command wrote the FHIR resources itself: the Organization, and a
  // Practitioner and PractitionerRole per user.
  auto stats = Run("stats");
  EXPECT_NE(stats.out.find("resources 5\n"), std::string::npos) << stats.out;
}

TEST_F(IdentityCommandLine, RefusedInputExitsTwoWithAMessage) {
  // A folder with no record store is not made by a list or a user: only by the first org.
  auto absent = Run("users list");
  EXPECT_EQ(absent.status, 2);
  EXPECT_NE(absent.err.find("no record store in"), std::string::npos) << absent.err;
  EXPECT_FALSE(fs::exists(dir_));
  ASSERT_EQ(Run("orgs add --ods RDZ --name Poole --kind hospital").status, 0);
  const fs::path private_jwks = dir_ / "private.jwks";
  std::ofstream(private_jwks)
      << R"({"keys":[{"kty":"EC","crv":"P-384","x":"AAAA","y":"BBBB","d":"CCCC"}]})";
  const fs::path public_jwks = dir_ / "public.jwks";
  std::ofstream(public_jwks) << R"({"keys":[{"kty":"EC","crv":"P-384","x":"AAAA","y":"BBBB"}]})";
  struct Case {
    std::string args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"orgs add --ods RDZ --name Again", "already exists"},
      {"orgs add --ods R! --name Bad", "ODS code"},
      {"orgs add --ods BADU8 --name \"$(printf 'ok\\303')\"", "valid UTF-8"},
      {"orgs add --ods J81001 --name Practice --kind surgery", "--kind"},
      {"users add --username jane --org RDZ --role wizard", "--role must be one of"},
      {"users add --username jane --org XYZ99 --role nurse", "no organisation has ODS code XYZ99"},
      {"users add --username jane --org RDZ --role nurse --patient p1",
       "only for a user with role"},
      {"users add --username jane --org RDZ --role patient", "needs --patient"},
      {"users add --username jane --org RDZ --role patient --patient 'a/b'", "FHIR id"},
      {"users add --username jane --org RDZ --role patient --patient p1", "no Patient/p1"},
      {"users add --username 'jane smith' --org RDZ --role nurse", "username"},
      {"users add --org RDZ --role nurse", "--username is required"},
      {"users disable --username nobody", "no such user"},
      {"clients add --name App --org RDZ --scope openid --public", "--redirect-uri"},
      {"clients add --name App --org RDZ --scope openid --public --redirect-uri "
       "http://app.example.org/cb",
       "must be https"},
      {"clients add --name App --org RDZ --scope openid --secret --public", "exactly one way"},
      {"clients add --name App --org RDZ --scope openid", "exactly one way"},
      {"clients add --name App --org RDZ --scope system/*.rs --jwks-file " + private_jwks.string(),
       "private"},
      {"clients add --name App --org RDZ --scope system/*.rs --jwks-file " +
           (dir_ / "absent.jwks").string(),
       "cannot read"},
      {"clients add --name App --org RDZ --scope system/*.rs --role patient --secret",
       "--role must be one of"},
      {"clients disable --client-id nope", "no such client"},
  };
  for (const Case& c : cases) {
    auto result = Run(c.args, std::string(kPassword) + "\n");
    EXPECT_EQ(result.status, 2) << c.args << ": " << result.err;
    EXPECT_NE(result.err.find(c.message), std::string::npos) << c.args << ": " << result.err;
  }
  // A weak password on stdin is refused, not replaced.
  auto weak = Run("users add --username jane --org RDZ --role nurse", "short\n");
  EXPECT_EQ(weak.status, 2);
  EXPECT_NE(weak.err.find("at least 12"), std::string::npos) << weak.err;
  // Nothing refused was stored.
  EXPECT_EQ(Run("users list").out, "");
  EXPECT_EQ(Run("clients list").out, "");
  auto jwks =
      Run("clients add --name Feed --org RDZ --scope system/*.rs --role integration "
          "--jwks-file " +
          public_jwks.string());
  EXPECT_EQ(jwks.status, 0) << jwks.err;
  EXPECT_EQ(Value(jwks.out, "client_secret"), "");
}

// A token for a client made by `clients add ... --secret` (its id and secret), from the server's
// token endpoint (client_secret_post); empty when refused.
std::string ClientCredentialsToken(http::HttpClient& client, const std::string& client_id,
                                   const std::string& secret) {
  auto response = client.Send(
      "POST", "/auth/token", {{"Content-Type", "application/x-www-form-urlencoded"}},
      "grant_type=client_credentials&client_id=" + client_id + "&client_secret=" + secret);
  if (!response.ok() || response->status != 200) return "";
  boost::system::error_code ec;
  auto value = boost::json::parse(response->body, ec);
  if (ec || !value.is_object() || !value.as_object().contains("access_token")) return "";
  return std::string(value.as_object().at("access_token").as_string());
}

TEST_F(IdentityCommandLine, ARunningServerShowsTheChangeAtOnce) {
  ServerProcess server(dir_);
  ASSERT_NE(server.port(), 0) << server.log();
  http::HttpClient client("127.0.0.1", server.port());
  std::string authorization;
  auto get = [&](const std::string& target) -> std::pair<int, boost::json::object> {
    auto response = client.Send("GET", target, {{"Authorization", authorization}}, "");
    if (!response.ok()) return {-1, {}};
    boost::system::error_code ec;
    auto value = boost::json::parse(response->body, ec);
    return {response->status, !ec && value.is_object() ? value.as_object() : boost::json::object{}};
  };

  auto org = Run("orgs add --ods RDZ --name \"Poole Hospital\" --kind hospital");
  ASSERT_EQ(org.status, 0) << org.err;
  EXPECT_NE(org.err.find("a server is running on this folder"), std::string::npos) << org.err;
  auto user = Run("users add --username jane --org RDZ --role clinician", kPassword);
  ASSERT_EQ(user.status, 0) << user.err;
  auto reader =
      Run("clients add --name Reader --org RDZ --scope system/*.rs --role integration "
          "--secret");
  ASSERT_EQ(reader.status, 0) << reader.err;
  // A client added while the server runs gets a token at once.
  authorization = "Bearer " + ClientCredentialsToken(client, Value(reader.out, "client_id"),
                                                     Value(reader.out, "client_secret"));
  ASSERT_GT(authorization.size(), 7u) << server.log();

  EXPECT_TRUE(Eventually([&] { return get("/fhir/Organization/ods-RDZ").first == 200; }))
      << server.log();
  EXPECT_TRUE(Eventually([&] {
    auto [status, role] = get("/fhir/PractitionerRole/carerecord-user-1-role");
    return status == 200 && role["active"] == true;
  })) << server.log();
  auto [status, practitioner] = get("/fhir/Practitioner/carerecord-user-1");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(practitioner["identifier"].as_array()[0].as_object()["value"], "jane");

  ASSERT_EQ(Run("users disable --username jane").status, 0);
  EXPECT_TRUE(Eventually([&] {
    auto [status, role] = get("/fhir/PractitionerRole/carerecord-user-1-role");
    return status == 200 && role["active"] == false;
  })) << server.log();
  EXPECT_EQ(server.Stop(), 0) << server.log();
  // The server's log never shows the password.
  EXPECT_EQ(server.log().find(kPassword), std::string::npos);
}

TEST_F(IdentityCommandLine, ChangesMadeWhileAnotherProcessHeldTheStoreAreWrittenAtTheNextStart) {
  CommandResult reader;
  {
    // Another process's hold on the store (a load, say), taken here in this one.
    store::SqliteOptions options;
    options.directory = dir_.string();
    options.durable = false;
    auto holder = store::OpenSqliteStore(options);
    ASSERT_TRUE(holder.ok()) << holder.error().message;
    auto org = Run("orgs add --ods RDZ --name \"Poole Hospital\" --kind hospital");
    ASSERT_EQ(org.status, 0) << org.err;
    ASSERT_EQ(Run("users add --username jane --org RDZ --role nurse", kPassword).status, 0);
    reader =
        Run("clients add --name Reader --org RDZ --scope system/*.rs --role integration "
            "--secret");
    ASSERT_EQ(reader.status, 0) << reader.err;
    EXPECT_EQ(holder.value()->Stats()->resources, 0);  // nothing written into the held store
    holder.value()->Close();
  }
  ServerProcess server(dir_);
  ASSERT_NE(server.port(), 0) << server.log();
  http::HttpClient client("127.0.0.1", server.port());
  const std::vector<std::pair<std::string, std::string>> authorization = {
      {"Authorization", "Bearer " + ClientCredentialsToken(client, Value(reader.out, "client_id"),
                                                           Value(reader.out, "client_secret"))}};
  EXPECT_TRUE(Eventually([&] {
    auto response =
        client.Send("GET", "/fhir/PractitionerRole/carerecord-user-1-role", authorization, "");
    return response.ok() && response->status == 200;
  })) << server.log();
  auto org = client.Send("GET", "/fhir/Organization/ods-RDZ", authorization, "");
  ASSERT_TRUE(org.ok());
  EXPECT_EQ(org->status, 200);
}

TEST_F(IdentityCommandLine, AClientIsNotRegisteredWithAScopeRestrictionTheServerCannotEnforce) {
  ASSERT_EQ(Run("orgs add --ods rdz --name Lab").status, 0);
  auto refused = Run(
      "clients add --name Lab --org RDZ --secret --scope \"system/Observation.rs?date=ge2020\"");
  EXPECT_EQ(refused.status, 2) << refused.out;
  EXPECT_NE(refused.err.find("'date' is a date parameter"), std::string::npos) << refused.err;
  EXPECT_EQ(Run("clients list").out.find("Lab"), std::string::npos);
  auto added =
      Run("clients add --name Lab --org RDZ --secret --scope "
          "\"system/Observation.rs?category=laboratory\"");
  EXPECT_EQ(added.status, 0) << added.err;
}

}  // namespace
}  // namespace carerecord::testing
