#include "http/authorize_routes.h"

#include <openssl/crypto.h>

#include <boost/json.hpp>
#include <boost/url/url.hpp>
#include <ctime>
#include <optional>

#include "access/passwords.h"
#include "access/scopes.h"
#include "fhir/json_parse.h"
#include "fhir/resource_validation.h"
#include "http/authorize_page.h"
#include "http/oauth_responses.h"
#include "http/sign_in_audit.h"
#include "interactions/search_query.h"

namespace carerecord::http {

namespace json = boost::json;
using Form = std::map<std::string, std::string>;

namespace {

constexpr std::string_view kAuthorizePath = "/auth/authorize";

// Decodes a query or form body into single values; `duplicated` names the first parameter
// given twice (RFC 6749 3.1: "MUST NOT be included more than once").
base::Result<Form> DecodeOnce(std::string_view text, std::string& duplicated) {
  auto decoded = interactions::DecodeQuery(text);
  if (!decoded.ok()) return decoded.error();
  Form form;
  for (auto& [name, value] : decoded.value()) {
    if (!form.emplace(name, value).second && duplicated.empty()) duplicated = name;
  }
  return form;
}

// The value of one cookie in a Cookie header ("a=1; b=2"); empty when absent.
std::string CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t end = header.find(';');
    std::string_view pair = header.substr(0, end);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=') {
      return std::string(pair.substr(name.size() + 1));
    }
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return {};
}

bool IsCookieToken(std::string_view value) {
  if (value.size() < 20 || value.size() > 64) return false;
  for (char c : value) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

std::string ClockTime(int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[16];
  std::strftime(buffer, sizeof buffer, "%H:%M", &tm);
  return buffer;
}

HttpResponse Redirect(const std::string& location) {
  HttpResponse response;
  response.status = 302;
  response.SetHeader("Location", location);
  response.SetHeader("Cache-Control", "no-store");
  response.SetHeader("Referrer-Policy", "no-referrer");
  return response;
}

// RFC 6749 4.1.2.1: once the redirect URI is trusted, errors go back to it.
HttpResponse RedirectError(const std::string& redirect_uri, std::string_view error,
                           std::string_view description, const std::string& state,
                           const std::string& issuer) {
  boost::urls::url url(redirect_uri);
  url.params().append({"error", error});
  url.params().append({"error_description", description});
  if (!state.empty()) url.params().append({"state", state});
  url.params().append({"iss", issuer});
  return Redirect(std::string(url.buffer()));
}

HttpResponse BearerChallenge(int status, std::string_view error, std::string_view description) {
  HttpResponse response = OAuthError(status, error, description);
  std::string challenge = "Bearer realm=\"carerecord\"";
  if (status == 401 && error == "invalid_token") challenge += ", error=\"invalid_token\"";
  if (status == 403) challenge += ", error=\"insufficient_scope\"";
  response.SetHeader("WWW-Authenticate", challenge);
  return response;
}

// What an app asking `requested` may get at most: narrowed to its registration `registered`.
access::ScopeSet AtMost(std::string_view requested, std::string_view registered) {
  auto asked = access::ScopeSet::Parse(requested);
  auto allowed = access::ScopeSet::Parse(registered);
  if (!asked.ok() || !allowed.ok()) return access::ScopeSet();
  return asked->NarrowTo(allowed.value());
}

}  // namespace

std::string AuthorizeRoutes::Param(const Form& form, const char* name) {
  auto it = form.find(name);
  return it == form.end() ? std::string() : it->second;
}

std::string AuthorizeRoutes::TrimSlashes(std::string text) {
  while (text.ends_with('/')) text.pop_back();
  return text;
}

AuthorizeRoutes::AuthorizeRoutes(const FhirRoutes& fhir, AuthorizeServices services,
                                 AuthorizeRouteOptions options)
    : fhir_(fhir), services_(services), options_(std::move(options)) {}

HttpResponse AuthorizeRoutes::Authorize(const HttpRequest& request) const {
  std::string duplicated;
  if (request.method == "GET" || request.method == "HEAD") {
    size_t query = request.target.find('?');
    auto params =
        DecodeOnce(query == std::string::npos ? std::string_view()
                                              : std::string_view(request.target).substr(query + 1),
                   duplicated);
    if (!params.ok()) return AuthorizeErrorPage(400, params.error().message);
    return StartSignIn(request, params.value(), duplicated);
  }
  if (request.method != "POST") {
    HttpResponse response = AuthorizeErrorPage(405, "the authorize endpoint takes GET or POST");
    response.SetHeader("Allow", "GET, HEAD, POST");
    return response;
  }
  if (!StartsWithIgnoringCase(request.Header("content-type"),
                              "application/x-www-form-urlencoded")) {
    return AuthorizeErrorPage(400, "the form must be sent as application/x-www-form-urlencoded");
  }
  auto form = DecodeOnce(request.body, duplicated);
  if (!form.ok()) return AuthorizeErrorPage(400, form.error().message);
  // The sign-in form names its pending request; an app's POSTed authorization request does not.
  if (form->contains("pending")) {
    if (!duplicated.empty()) {
      return AuthorizeErrorPage(400, "the form's field '" + duplicated + "' is given twice");
    }
    return FinishSignIn(request, form.value());
  }
  return StartSignIn(request, form.value(), duplicated);
}

HttpResponse AuthorizeRoutes::StartSignIn(const HttpRequest& request, const Form& params,
                                          const std::string& duplicated) const {
  // Until the client and its redirect URI are known to belong together, nothing is redirected:
  // an open redirector would hand codes, or phishing, to whoever asks.
  const std::string client_id = Param(params, "client_id");
  if (client_id.empty()) return AuthorizeErrorPage(400, "the request names no client_id");
  if (duplicated == "client_id" || duplicated == "redirect_uri") {
    return AuthorizeErrorPage(400, "the parameter '" + duplicated + "' is given twice");
  }
  auto found = services_.directory.FindClient(client_id);
  if (!found.ok()) return AuthorizeErrorPage(503, "the directory cannot be read just now");
  if (!found.value()) return AuthorizeErrorPage(400, "no client is registered as " + client_id);
  const store::ClientRecord& client = *found.value();
  auto organisation = services_.directory.records().FindOrganisation(client.ods_code);
  if (!organisation.ok()) return AuthorizeErrorPage(503, "the directory cannot be read just now");
  if (!client.enabled || !organisation.value() || !organisation.value()->enabled) {
    return AuthorizeErrorPage(400, "the client " + client_id + " is disabled");
  }
  const std::string redirect_uri = Param(params, "redirect_uri");
  if (redirect_uri.empty()) return AuthorizeErrorPage(400, "the request names no redirect_uri");
  if (std::find(client.redirect_uris.begin(), client.redirect_uris.end(), redirect_uri) ==
      client.redirect_uris.end()) {
    return AuthorizeErrorPage(
        400, "the redirect_uri '" + redirect_uri + "' is not one registered for " + client_id);
  }

  const std::string state = Param(params, "state");
  auto fail = [&](std::string_view error, std::string_view description) {
    return RedirectError(redirect_uri, error, description, state, options_.issuer);
  };
  if (!duplicated.empty()) {
    return fail("invalid_request", "the parameter '" + duplicated + "' is given twice");
  }
  if (params.contains("request")) {
    return fail("request_not_supported", "request objects are not supported");
  }
  if (params.contains("request_uri")) {
    return fail("request_uri_not_supported", "request_uri is not supported");
  }
  const std::string response_type = Param(params, "response_type");
  if (response_type.empty()) return fail("invalid_request", "response_type is missing");
  if (response_type != "code") {
    return fail("unsupported_response_type", "only response_type=code is supported");
  }
  const std::string challenge = Param(params, "code_challenge");
  const std::string method = Param(params, "code_challenge_method");
  if (challenge.empty()) {
    return fail("invalid_request", "PKCE is required: code_challenge is missing");
  }
  if (method != "S256") {
    return fail("invalid_request",
                "code_challenge_method must be S256 (plain, or none given, is not accepted)");
  }
  if (!access::IsS256Challenge(challenge)) {
    return fail("invalid_request",
                "code_challenge is not an S256 challenge (43 base64url characters)");
  }
  const std::string scope = Param(params, "scope");
  if (scope.empty()) return fail("invalid_scope", "scope is missing");
  auto parsed_scope = access::ScopeSet::Parse(scope);
  if (!parsed_scope.ok()) return fail("invalid_scope", parsed_scope.error().message);
  // The most the app can get is what it asks narrowed to its registration (the user's role
  // narrows further at sign-in): the page shows that, and a request of which nothing clinical
  // is registered is refused now, not after the user has typed a password.
  const access::ScopeSet at_most = AtMost(scope, client.scope);
  if (at_most.clinical().empty()) {
    return fail(
        "invalid_scope",
        "none of the requested clinical scopes is registered for this app (" + client.scope + ")");
  }
  // SMART App Launch requires both: state ties the answer to the app's request, aud names the
  // server the app means to reach (a token is never minted for a server it did not name).
  if (state.empty()) {
    return fail("invalid_request", "state is missing (SMART App Launch requires it)");
  }
  if (!params.contains("aud")) {
    return fail("invalid_request",
                "aud is missing: it must be this server's FHIR base URL, " + options_.fhir_base);
  }
  if (TrimSlashes(Param(params, "aud")) != TrimSlashes(options_.fhir_base)) {
    return fail("invalid_request",
                "aud must be this server's FHIR base URL, " + options_.fhir_base);
  }
  if (Param(params, "prompt") == "none") {
    return fail("login_required", "this server keeps no sign-in session: the user must sign in");
  }
  std::string launch_patient;
  if (params.contains("launch")) {
    auto patient = services_.launches.Take(Param(params, "launch"));
    if (!patient) return fail("invalid_request", "the launch is unknown, used or expired");
    launch_patient = *patient;
  }

  std::string binding = CookieValue(request.Header("cookie"), kSignInCookie);
  if (!IsCookieToken(binding)) binding = access::RandomToken(24);

  access::AuthorizationRequest pending;
  pending.client_id = client.client_id;
  pending.client_name = client.name;
  pending.client_scope = client.scope;
  pending.redirect_uri = redirect_uri;
  pending.state = state;
  pending.scope = parsed_scope->ToString();
  pending.code_challenge = challenge;
  pending.nonce = Param(params, "nonce");
  pending.launch_patient = launch_patient;
  pending.browser_binding = binding;
  SignInPage page;
  page.action = std::string(kAuthorizePath);
  page.client_name = client.name;
  page.scope = at_most.ToString();
  page.redirect_uri = redirect_uri;
  page.request_id = services_.authorizations.Begin(std::move(pending));
  if (!options_.external_idp_label.empty()) {
    page.external_idp_label = options_.external_idp_label;
    page.external_idp_url = "/auth/oidc/start?request=" + page.request_id;
  }
  HttpResponse response = SignInPageResponse(page);
  std::string cookie = std::string(kSignInCookie) + "=" + binding +
                       "; Path=/auth/; Max-Age=3600; HttpOnly; SameSite=Lax";
  if (options_.issuer.starts_with("https://")) cookie += "; Secure";
  response.SetHeader("Set-Cookie", cookie);
  return response;
}

HttpResponse AuthorizeRoutes::FinishSignIn(const HttpRequest& request, const Form& form) const {
  const std::string id = Param(form, "pending");
  std::optional<access::AuthorizationRequest> pending = services_.authorizations.Find(id);
  if (!pending) {
    return AuthorizeErrorPage(
        400,
        "this sign-in has expired or was finished already; go back to the app and start "
        "again");
  }
  const std::string binding = CookieValue(request.Header("cookie"), kSignInCookie);
  if (binding.size() != pending->browser_binding.size() ||
      CRYPTO_memcmp(binding.data(), pending->browser_binding.data(), binding.size()) != 0) {
    return AuthorizeErrorPage(
        403, "the sign-in form was sent from a browser other than the one that opened it");
  }
  SignInPage page;
  page.action = std::string(kAuthorizePath);
  page.request_id = id;
  page.client_name = pending->client_name;
  page.scope = AtMost(pending->scope, pending->client_scope).ToString();
  page.redirect_uri = pending->redirect_uri;
  if (!options_.external_idp_label.empty()) {
    page.external_idp_label = options_.external_idp_label;
    page.external_idp_url = "/auth/oidc/start?request=" + id;
  }
  const std::string username = Param(form, "username");
  page.username = username;
  access::SignInResult result = services_.directory.Authenticate(username, Param(form, "password"));
  // The attempt's entry, durable before the page answers (a lock says until when).
  SignInEvent event;
  event.user = username.substr(0, 200);
  event.client = pending->client_id;
  event.succeeded = result.outcome == access::SignInOutcome::kSignedIn;
  if (!event.succeeded) {
    // A name no user has may be a password typed into the wrong box: never kept as given.
    auto known = services_.directory.FindUser(username);
    if (!known.ok() || !known.value()) {
      event.user = UnknownUserLabel(services_.directory, username);
    }
  }
  event.reason = "password form: " + std::string(access::SignInOutcomeText(result.outcome));
  if (result.locked_until_ms > 0) {
    event.reason += "; locked until " + ClockTime(result.locked_until_ms / 1000) + " UTC";
  }
  if (result.user) {
    event.organisation = result.user->ods_code;
    event.role = result.user->role;
  }
  event.status = event.succeeded                                         ? 302
                 : result.outcome == access::SignInOutcome::kUnavailable ? 503
                                                                         : 200;
  if (auto unrecorded = RecordSignIn(fhir_.audit(), request, event)) return *unrecorded;
  switch (result.outcome) {
    case access::SignInOutcome::kSignedIn:
      break;
    case access::SignInOutcome::kLocked:
      page.error = "This account is locked after too many wrong passwords. Try again after " +
                   ClockTime(result.locked_until_ms / 1000) + " UTC.";
      return SignInPageResponse(page);
    case access::SignInOutcome::kUnavailable:
      page.error = "Sign-in is not available just now. Try again in a moment.";
      return SignInPageResponse(page, 503);
    case access::SignInOutcome::kWrongCredentials:
    case access::SignInOutcome::kDisabled:
      // One message for both (and for unknown users): the page must not tell which exist.
      page.error = "The username or password is wrong.";
      return SignInPageResponse(page);
  }
  const store::UserRecord& user = *result.user;
  auto redirect = services_.authorizations.Complete(id, user, user.ods_code, user.role);
  if (!redirect.ok()) {
    return AuthorizeErrorPage(redirect.error().code == base::ErrorCode::kNotFound ? 400 : 503,
                              redirect.error().message);
  }
  return Redirect(redirect.value());
}

HttpResponse AuthorizeRoutes::Launch(const HttpRequest& request) const {
  if (request.method != "POST") {
    HttpResponse response = OAuthError(405, "invalid_request", "the launch endpoint takes POST");
    response.SetHeader("Allow", "POST");
    return response;
  }
  std::string_view authorization = request.Header("authorization");
  if (!StartsWithIgnoringCase(authorization, "Bearer ")) {
    return BearerChallenge(401, "invalid_request",
                           "a launch is made with an integration client's access token");
  }
  std::string_view token = authorization.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  auto verified = services_.tokens.Verify(token);
  if (!verified.ok()) {
    if (verified.error().code != base::ErrorCode::kInvalid) {
      return OAuthError(503, "temporarily_unavailable", verified.error().message);
    }
    return BearerChallenge(401, "invalid_token", verified.error().message);
  }
  const access::VerifiedToken& caller = *verified.value();
  if (caller.kind != access::PrincipalKind::kClient || caller.role != "integration") {
    return BearerChallenge(403, "insufficient_scope",
                           "only a client with role integration may make a launch");
  }
  if (!StartsWithIgnoringCase(request.Header("content-type"), "application/json")) {
    return OAuthError(400, "invalid_request", "the launch request must be application/json");
  }
  // Strict: a key given twice (two patients) is refused, not the last one taken.
  fhir::JsonLimits strict;
  strict.fhir_rules = true;
  auto parsed = fhir::ParseFhirJson(request.body, strict);
  if (!parsed.ok()) {
    return OAuthError(400, "invalid_request", "the launch request: " + parsed.error().message);
  }
  const json::value& body = parsed.value();
  const json::string* patient = nullptr;
  if (body.is_object()) {
    if (const json::value* value = body.as_object().if_contains("patient")) {
      patient = value->if_string();
    }
  }
  if (patient == nullptr || !fhir::IsValidId(*patient)) {
    return OAuthError(400, "invalid_request",
                      "the body must be {\"patient\": \"ID\"} with a FHIR id (A-Z a-z 0-9 - .)");
  }
  // The patient must exist, read as the caller would read it: the same scopes, policy and
  // audit as any read of the record.
  HttpRequest read;
  read.method = "GET";
  read.target = "/fhir/Patient/" + std::string(*patient);
  read.remote_address = request.remote_address;
  read.local_address = request.local_address;
  HttpResponse answer = fhir_.Handle(read, access::ContextOf(verified.value()));
  if (answer.status == 404 || answer.status == 410) {
    return OAuthError(404, "invalid_request",
                      "the record holds no patient " + std::string(*patient));
  }
  if (answer.status == 403) {
    return BearerChallenge(403, "insufficient_scope",
                           "this client may not read Patient " + std::string(*patient));
  }
  if (answer.status != 200) {
    return OAuthError(503, "temporarily_unavailable", "the patient could not be read");
  }
  auto launch = services_.launches.Mint(*patient, caller.client_id);
  if (!launch.ok()) return OAuthError(503, "temporarily_unavailable", launch.error().message);
  HttpResponse response = OAuthJsonResponse(200, json::object{{"launch", launch.value()}});
  response.SetHeader("Cache-Control", "no-store");
  return response;
}

}  // namespace carerecord::http
