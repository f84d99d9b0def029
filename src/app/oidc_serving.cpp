#include "app/oidc_serving.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace carerecord::app {

void AddOidcServeOptions(CLI::App& serve, OidcServeSettings& settings) {
  serve.add_option("--oidc-issuer", settings.issuer,
                   "A regional OpenID Connect IdP (e.g. NHS CIS2) to sign staff in through: its "
                   "issuer URL (https; http only on a loopback host)");
  serve.add_option("--oidc-client-id", settings.client_id, "carerecord's client id at the IdP");
  serve.add_option("--oidc-client-secret-file", settings.client_secret_file,
                   "A file holding carerecord's client secret at the IdP (chmod 600)");
  serve
      .add_option("--oidc-role-claim", settings.role_claim,
                  "The ID token claim listing the user's organisations and roles")
      ->capture_default_str();
  serve.add_option("--oidc-role-map", settings.role_map_file,
                   "A file of lines 'ROLECODE role' (default: R8000 clinician, R8001 nurse, "
                   "R8003 allied-health, R8008 admin-staff)");
  serve.add_option(
      "--oidc-label", settings.label,
      "The IdP's name in the sign-in page's link 'Sign in with <label>', e.g. 'NHS CIS2'");
  serve.add_option("--oidc-ca-file", settings.ca_file,
                   "PEM CA certificates to trust for the IdP instead of the system's");
}

base::Result<std::string> ReadClientSecretFile(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) {
    return base::Invalid("--oidc-client-secret-file " + path + " cannot be read",
                         "--oidc-client-secret-file");
  }
  if ((info.st_mode & (S_IROTH | S_IWOTH)) != 0) {
    return base::Invalid(
        "--oidc-client-secret-file " + path + " can be read or written by anyone: chmod 600 it",
        "--oidc-client-secret-file");
  }
  std::ifstream in(path, std::ios::binary);
  std::string secret;
  if (!in || !std::getline(in, secret)) {
    return base::Invalid("--oidc-client-secret-file " + path + " cannot be read or is empty",
                         "--oidc-client-secret-file");
  }
  while (!secret.empty() && (secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
  if (secret.empty() || secret.size() > 4096) {
    return base::Invalid("--oidc-client-secret-file " + path +
                             ": its first line must hold the secret (1 to 4,096 bytes)",
                         "--oidc-client-secret-file");
  }
  return secret;
}

base::Result<access::OidcSettings> LoadOidcSettings(const OidcServeSettings& given) {
  access::OidcSettings settings;
  CR_RETURN_IF_ERROR(access::CheckIdpUrl(given.issuer, "--oidc-issuer"));
  settings.issuer = given.issuer;
  if (given.client_id.empty()) {
    return base::Invalid("--oidc-issuer needs --oidc-client-id", "--oidc-client-id");
  }
  settings.client_id = given.client_id;
  if (given.client_secret_file.empty()) {
    return base::Invalid("--oidc-issuer needs --oidc-client-secret-file",
                         "--oidc-client-secret-file");
  }
  auto secret = ReadClientSecretFile(given.client_secret_file);
  if (!secret.ok()) return secret.error();
  settings.client_secret = std::move(secret).value();
  if (given.role_claim.empty() || given.role_claim.size() > 100) {
    return base::Invalid("--oidc-role-claim must name a claim", "--oidc-role-claim");
  }
  settings.role_claim = given.role_claim;
  settings.label = given.label.empty() ? "your organisation's account" : given.label;
  if (!given.role_map_file.empty()) {
    std::ifstream in(given.role_map_file, std::ios::binary);
    if (!in) {
      return base::Invalid("--oidc-role-map " + given.role_map_file + " cannot be read",
                           "--oidc-role-map");
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto map = access::OidcRoleMap::Parse(text.str());
    if (!map.ok()) {
      return base::Invalid("--oidc-role-map " + given.role_map_file + ": " + map.error().message,
                           "--oidc-role-map");
    }
    settings.role_map = std::move(map).value();
  }
  return settings;
}

base::Status OidcServing::Start(access::OidcSettings settings, const std::string& ca_file,
                                const std::string& own_issuer, access::Directory& directory,
                                http::FederatedSignInSink& sink) {
  if (settings.issuer.empty()) return base::Status::Ok();
  settings.redirect_uri = own_issuer + "/auth/oidc/callback";
  http::OutboundHttpsOptions options;
  options.ca_file = ca_file;
  transport_ = std::make_unique<http::OutboundHttpsClient>(options);
  relying_party_ =
      std::make_unique<access::OidcRelyingParty>(std::move(settings), *transport_, clock_);
  routes_ = std::make_unique<http::OidcRoutes>(*relying_party_, directory, sink,
                                               own_issuer.starts_with("https://"));
  return base::Status::Ok();
}

}  // namespace carerecord::app
