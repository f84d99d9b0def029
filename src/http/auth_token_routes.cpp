// The token endpoint (RFC 6749 section 3.2) of AuthRoutes: client authentication (HTTP Basic,
// client_secret_post, private_key_jwt, public clients by client_id), the client-credentials
// grant, and the sign-in entry every token request appends.

#include <openssl/evp.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/pct_string_view.hpp>
#include <cctype>
#include <map>
#include <optional>

#include "access/scopes.h"
#include "http/auth_routes.h"
#include "http/authorize_routes.h"
#include "http/oauth_responses.h"
#include "http/sign_in_audit.h"
#include "interactions/search_query.h"

namespace carerecord::http {

namespace json = boost::json;

namespace {

constexpr std::string_view kJwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

HttpResponse InvalidClient(std::string_view description, bool basic_used) {
  HttpResponse response = OAuthError(401, "invalid_client", description);
  // RFC 6749: a client that tried HTTP Basic gets its challenge back.
  if (basic_used) response.SetHeader("WWW-Authenticate", "Basic realm=\"carerecord\"");
  return response;
}

// Standard base64 with padding (HTTP Basic), through OpenSSL; nothing when malformed.
std::optional<std::string> DecodeBase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > 4096) return std::nullopt;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    bool padding = c == '=' && i + 2 >= text.size();
    if (!std::isalnum(c) && c != '+' && c != '/' && !padding) return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                               reinterpret_cast<const unsigned char*>(text.data()),
                               static_cast<int>(text.size()));
  if (length < 0) return std::nullopt;
  size_t padding = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
  out.resize(static_cast<size_t>(length) - padding);
  return out;
}

// application/x-www-form-urlencoded, as RFC 6749 section 2.3.1 encodes Basic credentials.
std::optional<std::string> FormDecode(std::string text) {
  std::replace(text.begin(), text.end(), '+', ' ');
  auto pct = boost::urls::make_pct_string_view(text);
  if (!pct) return std::nullopt;
  return pct->decode();
}

// A client-credentials grant asks for the client's own, system-level scopes: patient- and
// user-level ones need a patient or user this grant has none of, and the launch and identity
// scopes a sign-in.
access::ScopeSet SystemScopesOf(const access::ScopeSet& scopes) {
  std::string text;
  for (const access::ClinicalScope& scope : scopes.clinical()) {
    if (scope.level != access::ScopeLevel::kSystem) continue;
    if (!text.empty()) text += ' ';
    text += scope.text;
  }
  auto parsed = access::ScopeSet::Parse(text);
  return parsed.ok() ? std::move(parsed).value() : access::ScopeSet();
}

// The sign-in event of a token request once answered: on success, who from the token just
// issued; on failure, the client id as given (form, Basic credentials or the assertion's unverified
// issuer) when a client has it, else UnknownClientLabel of it, and the OAuth error.
SignInEvent TokenSignIn(const HttpRequest& request, const HttpResponse& response,
                        access::AccessTokens& tokens, access::Directory& directory) {
  SignInEvent event;
  event.status = response.status;
  std::map<std::string, std::string> form;
  if (auto decoded = interactions::DecodeQuery(request.body); decoded.ok()) {
    for (auto& [name, value] : decoded.value()) form.emplace(name, value);
  }
  auto param = [&](const char* name) {
    auto it = form.find(name);
    return it == form.end() ? std::string() : it->second;
  };
  std::string_view authorization = request.Header("authorization");
  const std::string how = StartsWithIgnoringCase(authorization, "Basic ") ? "client_secret_basic"
                          : form.contains("client_secret")                ? "client_secret_post"
                          : form.contains("client_assertion")             ? "private_key_jwt"
                                                                          : "no client secret";
  const std::string grant = param("grant_type").empty() ? "no grant_type" : param("grant_type");
  event.client = param("client_id");
  if (event.client.empty() && how == "client_secret_basic") {
    std::string_view encoded = authorization.substr(6);
    while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
    if (auto credentials = DecodeBase64(encoded)) {
      if (auto id = FormDecode(credentials->substr(0, credentials->find(':')))) event.client = *id;
    }
  } else if (event.client.empty() && how == "private_key_jwt") {
    auto issuer = access::ClientAssertionVerifier::UnverifiedIssuer(param("client_assertion"));
    if (issuer.ok()) event.client = issuer.value();
  }
  event.client = event.client.substr(0, 200);
  boost::system::error_code ec;
  json::value body = json::parse(response.body, ec);
  const json::object* answer = ec ? nullptr : body.if_object();
  auto field = [&](std::string_view name) {
    const json::value* value = answer ? answer->if_contains(name) : nullptr;
    return value && value->is_string() ? std::string(value->as_string()) : std::string();
  };
  if (response.status == 200) {
    auto verified = tokens.Verify(field("access_token"));
    if (verified.ok()) {
      const access::AccessContext who = access::ContextOf(verified.value());
      event.succeeded = true;
      event.user = who.user;
      event.client = who.client_id;
      event.organisation = who.organisation;
      event.role = who.role;
    }
    event.reason = grant + " (" + how + ")";
    if (!event.succeeded) event.reason += ": the issued token could not be read back";
    return event;
  }
  // A client id no client has may be a secret pasted into the wrong field: never kept as given.
  if (!event.client.empty()) {
    auto known = directory.FindClient(event.client);
    if (!known.ok() || !known.value()) event.client = UnknownClientLabel(directory, event.client);
  }
  event.reason = grant + " (" + how + "): " + field("error");
  if (const std::string description = field("error_description"); !description.empty()) {
    event.reason += ": " + description;
  }
  return event;
}
}  // namespace

HttpResponse AuthRoutes::TokenEndpoint(const HttpRequest& request) const {
  HttpResponse response = Token(request);
  // Every token request is a sign-in (or an attempt at one): its entry is durable first.
  if (request.method != "POST" || fhir_.audit() == nullptr) return response;
  if (auto unrecorded =
          RecordSignIn(fhir_.audit(), request,
                       TokenSignIn(request, response, services_.tokens, services_.directory))) {
    return *unrecorded;
  }
  return response;
}

HttpResponse AuthRoutes::Token(const HttpRequest& request) const {
  if (request.method != "POST") {
    HttpResponse response = OAuthError(405, "invalid_request", "the token endpoint takes POST");
    response.SetHeader("Allow", "POST");
    return response;
  }
  if (!StartsWithIgnoringCase(request.Header("content-type"),
                              "application/x-www-form-urlencoded")) {
    return OAuthError(400, "invalid_request",
                      "the token request must be application/x-www-form-urlencoded");
  }
  auto decoded = interactions::DecodeQuery(request.body);
  if (!decoded.ok()) return OAuthError(400, "invalid_request", decoded.error().message);
  std::map<std::string, std::string> form;
  for (auto& [name, value] : decoded.value()) {
    if (!form.emplace(name, value).second) {
      return OAuthError(400, "invalid_request", "the parameter '" + name + "' is given twice");
    }
  }
  auto grant_type = form.find("grant_type");
  if (grant_type == form.end()) return OAuthError(400, "invalid_request", "grant_type is missing");
  const std::string& grant = grant_type->second;
  const bool user_grant = grant == "authorization_code" || grant == "refresh_token";
  if (grant != "client_credentials" && !user_grant) {
    return OAuthError(400, "unsupported_grant_type",
                      "grant_type '" + grant +
                          "' is not supported here; this server issues client_credentials, "
                          "authorization_code and refresh_token");
  }
  ClientAuthentication authenticated = AuthenticateClient(request, form, user_grant);
  if (!authenticated.client) return std::move(authenticated.refusal);
  if (user_grant) return authorize_->Token(grant, *authenticated.client, form);
  return ClientCredentials(*authenticated.client, form);
}

AuthRoutes::ClientAuthentication AuthRoutes::AuthenticateClient(
    const HttpRequest& request, const std::map<std::string, std::string>& form,
    bool public_allowed) const {
  ClientAuthentication result;
  auto refuse = [&](HttpResponse response) {
    result.refusal = std::move(response);
    return std::move(result);
  };
  auto param = [&](const char* name) -> std::optional<std::string> {
    auto it = form.find(name);
    if (it == form.end()) return std::nullopt;
    return it->second;
  };
  // Exactly one of HTTP Basic, client_secret in the body, an assertion; or, for a public
  // client's user grants, none (RFC 6749 3.2.1: then client_id names it).
  std::string_view authorization = request.Header("authorization");
  const bool basic = StartsWithIgnoringCase(authorization, "Basic ");
  result.basic = basic;
  const bool post = form.contains("client_secret");
  const bool assertion =
      form.contains("client_assertion") || form.contains("client_assertion_type");
  if (int(basic) + int(post) + int(assertion) > 1) {
    return refuse(
        OAuthError(400, "invalid_request", "use one way of authenticating the client, not two"));
  }
  const bool none = !basic && !post && !assertion;
  if (none && !(public_allowed && form.contains("client_id"))) {
    return refuse(
        InvalidClient("the client did not authenticate (client_secret_basic, client_secret_post or "
                      "private_key_jwt)",
                      false));
  }
  std::optional<std::string> client_id = param("client_id");
  std::string secret;
  if (basic) {
    std::string_view encoded = authorization.substr(6);
    while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
    auto credentials = DecodeBase64(encoded);
    size_t colon = credentials ? credentials->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      return refuse(
          InvalidClient("the Basic credentials are not base64 of client_id:client_secret", true));
    }
    auto id = FormDecode(credentials->substr(0, colon));
    auto password = FormDecode(credentials->substr(colon + 1));
    if (!id || !password) {
      return refuse(InvalidClient("the Basic credentials are not form-encoded", true));
    }
    if (client_id && *client_id != *id) {
      return refuse(
          OAuthError(400, "invalid_request", "client_id differs from the Basic credentials'"));
    }
    client_id = *id;
    secret = *password;
  } else if (post) {
    secret = *param("client_secret");
  } else if (assertion) {
    if (param("client_assertion_type") != std::string(kJwtBearer)) {
      return refuse(OAuthError(400, "invalid_request",
                               "client_assertion_type must be " + std::string(kJwtBearer)));
    }
    if (!form.contains("client_assertion")) {
      return refuse(OAuthError(400, "invalid_request", "client_assertion is missing"));
    }
    if (!client_id) {
      auto issuer = access::ClientAssertionVerifier::UnverifiedIssuer(*param("client_assertion"));
      if (!issuer.ok()) return refuse(InvalidClient(issuer.error().message, false));
      client_id = std::move(issuer).value();
    }
  }
  if (!client_id || client_id->empty()) {
    return refuse(OAuthError(400, "invalid_request", "client_id is missing"));
  }

  auto found = services_.directory.FindClient(*client_id);
  if (!found.ok()) {
    return refuse(OAuthError(503, "temporarily_unavailable", found.error().message));
  }
  if (!found.value()) return refuse(InvalidClient("client authentication failed", basic));
  const store::ClientRecord& client = *found.value();
  if (none) {
    if (client.auth_kind != "public") {
      return refuse(InvalidClient(
          "client " + client.client_id + " is confidential: it must authenticate", false));
    }
  } else if (assertion) {
    if (client.auth_kind != "jwks") {
      return refuse(
          InvalidClient("client " + client.client_id + " has no registered keys (JWKS)", basic));
    }
    auto verified = services_.assertions.Verify(
        *param("client_assertion"),
        {client.client_id, client.jwks_json, endpoints_.token_endpoint()});
    if (!verified.ok()) {
      if (verified.error().code == base::ErrorCode::kInvalid) {
        return refuse(InvalidClient(verified.error().message, basic));
      }
      return refuse(OAuthError(503, "temporarily_unavailable", verified.error().message));
    }
  } else if (client.auth_kind != "secret" ||
             !access::Directory::VerifyClientSecret(client, secret)) {
    return refuse(InvalidClient("client authentication failed", basic));
  }
  auto organisation = services_.directory.records().FindOrganisation(client.ods_code);
  if (!organisation.ok()) {
    return refuse(OAuthError(503, "temporarily_unavailable", organisation.error().message));
  }
  if (!client.enabled || !organisation.value() || !organisation.value()->enabled) {
    return refuse(InvalidClient(
        "client " + client.client_id + " is disabled, or its organisation is", basic));
  }
  result.client = client;
  return result;
}

HttpResponse AuthRoutes::ClientCredentials(const store::ClientRecord& client,
                                           const std::map<std::string, std::string>& form) const {
  if (client.role.empty()) {
    return OAuthError(400, "unauthorized_client",
                      "client " + client.client_id +
                          " has no role of its own: it may act only for a signed-in user");
  }

  auto allowed = access::ScopeSet::Parse(client.scope);
  if (!allowed.ok()) {
    // Registered before registrations were checked: the client must be registered again.
    return OAuthError(400, "unauthorized_client",
                      "client " + client.client_id + "'s registered scopes cannot be read (" +
                          allowed.error().message + "): register the client again");
  }
  const access::ScopeSet allowed_system = SystemScopesOf(allowed.value());
  access::ScopeSet granted = allowed_system;
  if (auto requested_text = form.find("scope"); requested_text != form.end()) {
    auto requested = access::ScopeSet::Parse(requested_text->second);
    if (!requested.ok()) return OAuthError(400, "invalid_scope", requested.error().message);
    granted = SystemScopesOf(requested->NarrowTo(allowed_system));
  }
  if (granted.empty()) {
    return OAuthError(400, "invalid_scope",
                      "none of the requested scopes may be granted to client " + client.client_id +
                          "; it may have: " +
                          (allowed_system.empty() ? std::string("no system-level scopes")
                                                  : allowed_system.ToString()));
  }

  access::AccessTokenGrant grant;
  grant.kind = access::PrincipalKind::kClient;
  grant.subject = client.client_id;
  grant.client_id = client.client_id;
  grant.organisation = client.ods_code;
  grant.role = client.role;
  grant.scope = granted.ToString();
  auto issued = services_.tokens.Issue(grant);
  if (!issued.ok()) {
    return OAuthError(issued.error().code == base::ErrorCode::kUnavailable ? 503 : 500,
                      "server_error", "no token could be issued; the details are in the log");
  }
  HttpResponse response = OAuthJsonResponse(200, json::object{{"access_token", issued->token},
                                                              {"token_type", "Bearer"},
                                                              {"expires_in", issued->expires_in},
                                                              {"scope", grant.scope}});
  response.SetHeader("Cache-Control", "no-store");
  response.SetHeader("Pragma", "no-cache");
  return response;
}

}  // namespace carerecord::http
