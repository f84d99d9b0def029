#include "http/auth_routes.h"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <memory>

#include "http/authorize_page.h"
#include "http/authorize_routes.h"
#include "http/oauth_responses.h"
#include "http/sign_in_audit.h"
#include "interactions/responses.h"

namespace carerecord::http {

namespace json = boost::json;

namespace {

constexpr std::string_view kRealm = "carerecord";

std::atomic<uint64_t> g_instances{0};

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

HttpResponse JsonResponse(int status, const json::value& body) {
  return OAuthJsonResponse(status, body);
}

// RFC 6750's error_description may hold printable ASCII but '"' and '\'.
std::string QuotableDescription(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\'');
    } else if (c >= 0x20 && c <= 0x7e) {
      out.push_back(c);
    } else {
      out.push_back('?');
    }
  }
  return out;
}

// 401 with an OperationOutcome and the Bearer challenge; `description` empty when the request
// carried no token (RFC 6750 section 3.1: then no error attribute).
HttpResponse Unauthorized(std::string_view message, std::string_view description) {
  HttpResponse response;
  response.status = 401;
  response.SetHeader("Content-Type", "application/fhir+json; charset=utf-8");
  response.body = interactions::OperationOutcomeJson("error", "login", message, "");
  std::string challenge = "Bearer realm=\"" + std::string(kRealm) + "\"";
  if (!description.empty()) {
    challenge +=
        ", error=\"invalid_token\", error_description=\"" + QuotableDescription(description) + "\"";
  }
  response.SetHeader("WWW-Authenticate", std::move(challenge));
  return response;
}

}  // namespace

base::Result<AuthEndpoints> AuthEndpoints::FromFhirBase(std::string_view fhir_base) {
  auto url = boost::urls::parse_absolute_uri(fhir_base);
  if (!url || !url->has_authority() || (url->scheme() != "http" && url->scheme() != "https")) {
    return base::Invalid("the FHIR base '" + std::string(fhir_base) +
                         "' is not an absolute http or https URL");
  }
  AuthEndpoints endpoints;
  endpoints.issuer = std::string(url->scheme()) + "://" + std::string(url->encoded_authority());
  endpoints.fhir_base = std::string(fhir_base);
  while (endpoints.fhir_base.ends_with('/')) endpoints.fhir_base.pop_back();
  return endpoints;
}

AuthRoutes::AuthRoutes(const FhirRoutes& fhir, AuthServices services, AuthEndpoints endpoints,
                       AuthRouteOptions options)
    : fhir_(fhir), services_(services), endpoints_(std::move(endpoints)), instance_(++g_instances) {
  AuthorizeRouteOptions authorize_options;
  authorize_options.issuer = endpoints_.issuer;
  authorize_options.fhir_base = endpoints_.fhir_base;
  authorize_options.external_idp_label = std::move(options.external_idp_label);
  authorize_ = std::make_unique<AuthorizeRoutes>(
      fhir_,
      AuthorizeServices{services_.directory, services_.tokens, services_.keys, services_.clock,
                        services_.authorizations, services_.launches, services_.refresh_tokens,
                        services_.revoked_sign_ins},
      std::move(authorize_options));
}

AuthRoutes::~AuthRoutes() = default;

bool AuthRoutes::IsQuickRead(const HttpRequest& request) {
  if (FhirRoutes::IsQuickRead(request)) return true;
  if (request.method != "GET" && request.method != "HEAD") return false;
  std::string_view path = PathOf(request.target);
  return path == "/auth/jwks" || path == "/fhir/.well-known/smart-configuration" ||
         path == "/.well-known/openid-configuration";
}

HttpResponse AuthRoutes::Handle(const HttpRequest& request) const {
  const std::string_view path = PathOf(request.target);
  const bool get = request.method == "GET" || request.method == "HEAD";
  // Two credentials: which one speaks for the caller would be a guess (RFC 6750 section 2).
  if (request.HeaderCount("authorization") > 1) {
    const std::string why = "the Authorization header was sent more than once";
    if (path.starts_with("/auth/")) {
      return path == "/auth/authorize" ? AuthorizeErrorPage(400, why)
                                       : OAuthError(400, "invalid_request", why);
    }
    return FhirRoutes::ErrorResponse(400, why);
  }
  if (path == "/auth/token") return TokenEndpoint(request);
  if (path == "/auth/authorize") return authorize_->Authorize(request);
  if (path == "/auth/launch") return authorize_->Launch(request);
  if (path == "/auth/jwks" || path == "/fhir/.well-known/smart-configuration" ||
      path == "/.well-known/openid-configuration") {
    if (!get) {
      HttpResponse response = OAuthError(405, "invalid_request", "only GET is allowed here");
      response.SetHeader("Allow", "GET, HEAD");
      return response;
    }
    if (path == "/auth/jwks") return Jwks();
    return path == "/.well-known/openid-configuration" ? OpenIdConfiguration()
                                                       : SmartConfiguration();
  }
  if (path == "/fhir/metadata") return Metadata(request);
  // Every other /auth/ path (the regional IdP's pages on a server without one, a mistyped
  // link) is a browser's page that does not exist, not a FHIR request wanting a token.
  if (path.starts_with("/auth/")) {
    return AuthorizeErrorPage(404, "there is no such sign-in page on this server");
  }
  return AuthenticatedFhir(request);
}

HttpResponse AuthRoutes::AuthenticatedFhir(const HttpRequest& request) const {
  std::string_view authorization = request.Header("authorization");
  if (authorization.empty()) {
    return Unauthorized(
        "this request needs an access token (Authorization: Bearer ...); get one at " +
            endpoints_.token_endpoint(),
        "");
  }
  if (!StartsWithIgnoringCase(authorization, "Bearer ")) {
    return Unauthorized("the Authorization header is not a Bearer token",
                        "the Authorization header is not a Bearer token");
  }
  std::string_view token = authorization.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) {
    return Unauthorized("the Bearer token is empty", "the Bearer token is empty");
  }

  struct ThreadMemo {
    uint64_t owner = 0;
    access::VerifiedTokenMemo memo;
  };
  thread_local ThreadMemo t_memo;
  if (t_memo.owner != instance_) t_memo = ThreadMemo{instance_, {}};
  auto verified = services_.tokens.Verify(token, t_memo.memo);
  if (!verified.ok()) {
    const base::Error& error = verified.error();
    if (error.code == base::ErrorCode::kInvalid) {
      return Unauthorized(error.message, error.message);
    }
    return FhirRoutes::ErrorResponse(error.code == base::ErrorCode::kUnavailable ? 503 : 500,
                                     error.message);
  }
  // Deferred: the server sends the answer once its audit entry is durable (ResponseHold).
  return fhir_.HandleDeferred(request, access::ContextOf(verified.value()));
}

HttpResponse AuthRoutes::Jwks() const {
  HttpResponse response = JsonResponse(200, services_.keys.JwksDocument());
  // A rotated key appears here at once; clients should not hold the document long.
  response.SetHeader("Cache-Control", "max-age=60");
  return response;
}

namespace {

json::array Strings(std::initializer_list<std::string_view> items) {
  json::array out;
  for (std::string_view item : items) out.emplace_back(item);
  return out;
}

// What this server implements today: each list names only what works.
json::object CommonDiscovery(const AuthEndpoints& endpoints) {
  return json::object{
      {"issuer", endpoints.issuer},
      {"jwks_uri", endpoints.jwks_uri()},
      {"authorization_endpoint", endpoints.authorization_endpoint()},
      {"token_endpoint", endpoints.token_endpoint()},
      {"grant_types_supported",
       Strings({"authorization_code", "client_credentials", "refresh_token"})},
      {"response_types_supported", Strings({"code"})},
      {"response_modes_supported", Strings({"query"})},
      {"code_challenge_methods_supported", Strings({"S256"})},
      {"token_endpoint_auth_methods_supported",
       Strings({"private_key_jwt", "client_secret_basic", "client_secret_post", "none"})},
      {"token_endpoint_auth_signing_alg_values_supported",
       Strings({"ES384", "RS384", "ES256", "RS256"})},
      {"authorization_response_iss_parameter_supported", true},
      {"scopes_supported",
       Strings({"openid", "fhirUser", "profile", "launch", "launch/patient", "offline_access",
                "online_access", "patient/*.rs", "patient/*.cruds", "user/*.rs", "user/*.cruds",
                "system/*.cruds", "system/*.rs", "patient/*.read", "user/*.read", "system/*.read",
                "system/*.write", "system/*.*"})},
  };
}

}  // namespace

HttpResponse AuthRoutes::SmartConfiguration() const {
  json::object document = CommonDiscovery(endpoints_);
  // context-standalone-patient: a patient user's own record; staff get a patient only through
  // an EHR launch (there is no patient picker).
  document["capabilities"] =
      Strings({"launch-standalone", "launch-ehr", "authorize-post", "client-public",
               "client-confidential-symmetric", "client-confidential-asymmetric",
               "sso-openid-connect", "context-standalone-patient", "context-ehr-patient",
               "permission-offline", "permission-online", "permission-patient", "permission-user",
               "permission-v1", "permission-v2"});
  return JsonResponse(200, document);
}

HttpResponse AuthRoutes::OpenIdConfiguration() const {
  json::object document = CommonDiscovery(endpoints_);
  document["subject_types_supported"] = Strings({"public"});
  document["id_token_signing_alg_values_supported"] = Strings({"ES256"});
  document["claims_supported"] =
      Strings({"iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "fhirUser"});
  return JsonResponse(200, document);
}

HttpResponse AuthRoutes::Metadata(const HttpRequest& request) const {
  // Public, and with an empty set of scopes: should routing ever take this request elsewhere,
  // it is refused rather than served without a caller.
  static const auto kNoScopes = std::make_shared<const access::ScopeSet>();
  access::AccessContext anonymous;
  anonymous.principal = "anonymous";
  anonymous.scopes = kNoScopes;
  HttpResponse response = fhir_.Handle(request, anonymous);
  if (response.status != 200 || response.body.empty()) return response;
  std::lock_guard lock(metadata_mutex_);
  if (response.body != metadata_plain_) {
    boost::system::error_code ec;
    json::value statement = json::parse(response.body, ec);
    json::array* rest = nullptr;
    if (!ec && statement.is_object()) {
      if (json::value* value = statement.as_object().if_contains("rest")) rest = value->if_array();
    }
    if (rest == nullptr || rest->empty() || !(*rest)[0].is_object()) return response;
    // SMART App Launch 2, "Declaring support for OAuth2 endpoints".
    (*rest)[0].as_object()["security"] = json::object{
        {"cors", false},
        {"service",
         json::array{json::object{
             {"coding",
              json::array{json::object{
                  {"system", "http://terminology.hl7.org/CodeSystem/restful-security-service"},
                  {"code", "SMART-on-FHIR"},
                  {"display", "SMART-on-FHIR"}}}},
             {"text", "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)"}}}},
        {"extension",
         json::array{json::object{
             {"url", "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"},
             {"extension",
              json::array{
                  json::object{{"url", "authorize"},
                               {"valueUri", endpoints_.authorization_endpoint()}},
                  json::object{{"url", "token"}, {"valueUri", endpoints_.token_endpoint()}}}}}}},
        {"description", "Bearer access tokens from " + endpoints_.token_endpoint() + "; see " +
                            endpoints_.fhir_base + "/.well-known/smart-configuration"}};
    metadata_plain_ = std::move(response.body);
    metadata_secured_ = json::serialize(statement);
  }
  response.body = metadata_secured_;
  return response;
}

}  // namespace carerecord::http
