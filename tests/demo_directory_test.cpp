// The demo region's directory: its organisations under the demo's ODS codes, users in every
// role (a patient user linked to a demo Patient), and an integration client whose printed
// credentials get a token at the token endpoint.
#include "app/demo_directory.h"

#include <set>

#include "access/roles.h"
#include "app/demo_region.h"
#include "test_server.h"

namespace carerecord::testing {
namespace {

std::string After(const std::string& text, const std::string& key) {
  size_t at = text.find(key);
  if (at == std::string::npos) return "";
  size_t end = text.find('\n', at);
  return text.substr(at + key.size(), end - at - key.size());
}

TEST(DemoDirectory, EveryRoleCanSignInAndTheClientGetsAToken) {
  TestServer server;
  app::DemoRegionOptions options;
  options.patients = 3;
  interactions::RequestContext ctx;
  ctx.who.principal = "system:test";
  ctx.base_url = "urn:carerecord:local";
  for (const std::string& bundle : app::GenerateDemoRegion(options)) {
    ASSERT_LT(server.service().ProcessBundle(ctx, bundle).status, 300);
  }
  auto printed = app::CreateDemoDirectory(server.auth().directory(), server.service());
  ASSERT_TRUE(printed.ok()) << printed.error().message;

  auto users = server.auth().directory().records().ListUsers();
  ASSERT_TRUE(users.ok());
  std::set<std::string> roles;
  for (const auto& user : users.value()) {
    roles.insert(user.role);
    // The printed password is the user's.
    std::string password = After(printed.value(), "user " + user.username + " (");
    password = password.substr(password.find("password ") + 9);
    EXPECT_EQ(server.auth().directory().Authenticate(user.username, password).outcome,
              access::SignInOutcome::kSignedIn)
        << user.username;
    if (user.role == "patient") {
      EXPECT_EQ(server.Get("/fhir/Patient/" + user.patient_id).status, 200);
    }
  }
  for (access::Role role : access::AllRoles()) {
    if (access::IsUserRole(role)) {
      EXPECT_TRUE(roles.contains(std::string(access::RoleName(role)))) << access::RoleName(role);
    }
  }
  // The demo's Organizations carry the directory's ODS codes.
  auto organisations = server.auth().directory().records().ListOrganisations();
  ASSERT_TRUE(organisations.ok());
  for (const auto& organisation : organisations.value()) {
    if (organisation.ods_code == kTestOrganisation) continue;
    auto found = TestServer::Json(
        server.Get("/fhir/Organization?_summary=count&identifier=https://fhir.nhs.uk/Id/"
                   "ods-organization-code|" +
                   organisation.ods_code));
    EXPECT_EQ(found["total"], 1) << organisation.ods_code;
  }

  auto token = server.Send(
      "POST", "/auth/token",
      "grant_type=client_credentials&client_id=" + After(printed.value(), "client_id=") +
          "&client_secret=" + After(printed.value(), "client_secret="),
      {{"Content-Type", "application/x-www-form-urlencoded"}, {"Authorization", ""}});
  EXPECT_EQ(token.status, 200) << token.body;
}

}  // namespace
}  // namespace carerecord::testing
