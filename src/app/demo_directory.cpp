#include "app/demo_directory.h"

#include <boost/json.hpp>

#include "access/passwords.h"
#include "app/demo/care_providers.h"

namespace carerecord::app {

namespace {

struct DemoOrganisation {
  const char* ods_code;
  std::string_view name;
  const char* kind;
};

// A Patient of the demo region, for the patient user: the first one the record holds.
base::Result<std::string> SomeDemoPatient(interactions::FhirService& service) {
  interactions::RequestContext ctx;
  ctx.who.principal = "system:demo";
  ctx.base_url = "urn:carerecord:local";
  auto response = service.Search(ctx, "Patient", {{"_count", "1"}, {"_elements", "id"}});
  boost::system::error_code ec;
  auto bundle = boost::json::parse(response.body, ec);
  const boost::json::value* entries =
      !ec && bundle.is_object() ? bundle.as_object().if_contains("entry") : nullptr;
  if (response.status != 200 || entries == nullptr || !entries->is_array() ||
      entries->as_array().empty()) {
    return base::MakeError(base::ErrorCode::kNotFound, "the demo region holds no Patient");
  }
  return std::string(entries->as_array()[0].at("resource").as_object().at("id").as_string());
}

}  // namespace

base::Result<std::string> CreateDemoDirectory(access::Directory& directory,
                                              interactions::FhirService& service) {
  const DemoOrganisation organisations[] = {
      {"Y99000", demo::kIcbName, "other"},
      {"Y99001", demo::kTrustName, "hospital"},
      {"Y99002", demo::kCommunityTrustName, "community"},
      {"Y99003", demo::kHospiceName, "hospice"},
      {"Y99004", demo::kCouncilName, "council"},
      {"Y99100", "Mellstock Surgery", "gp"},
  };
  for (const DemoOrganisation& o : organisations) {
    auto added = directory.AddOrganisation({o.ods_code, std::string(o.name), o.kind});
    if (!added.ok() && added.error().code != base::ErrorCode::kConflict) return added.error();
  }
  struct DemoRole {
    const char* role;
    const char* ods_code;
  };
  const DemoRole roles[] = {{"clinician", "Y99001"},     {"nurse", "Y99002"},
                            {"allied-health", "Y99002"}, {"social-worker", "Y99004"},
                            {"admin-staff", "Y99100"},   {"auditor", "Y99000"},
                            {"system-admin", "Y99000"}};
  std::string printed = "demo sign-ins (shown once; passwords are stored only as hashes):\n";
  auto add_user = [&](access::NewUser user) -> base::Status {
    user.password = access::GeneratePassword();
    auto added = directory.AddUser(user);
    if (!added.ok()) return added.error();
    printed += "  user " + user.username + " (" + user.role + ", " + user.ods_code + ") password " +
               user.password + "\n";
    return base::Status::Ok();
  };
  for (const DemoRole& r : roles) {
    for (int n = 1; n <= 2; ++n) {
      access::NewUser user;
      user.username = "demo." + std::string(r.role) + std::to_string(n);
      user.ods_code = r.ods_code;
      user.role = r.role;
      user.display_name = "Demo " + std::string(r.role) + " " + std::to_string(n);
      CR_RETURN_IF_ERROR(add_user(std::move(user)));
    }
  }
  auto patient = SomeDemoPatient(service);
  if (!patient.ok()) return patient.error();
  access::NewUser patient_user;
  patient_user.username = "demo.patient1";
  patient_user.ods_code = "Y99100";
  patient_user.role = "patient";
  patient_user.patient_id = patient.value();
  CR_RETURN_IF_ERROR(add_user(std::move(patient_user)));

  access::NewClient client;
  client.name = "demo integration";
  client.ods_code = "Y99001";
  client.role = "integration";
  client.scope = "system/*.cruds";
  client.auth_kind = "secret";
  auto added = directory.AddClient(client);
  if (!added.ok()) return added.error();
  printed += "demo integration client (system/*.cruds; shown once):\n  client_id=" +
             added->client.client_id + "\n  client_secret=" + added->secret + "\n";
  return printed;
}

}  // namespace carerecord::app
