// The token endpoint's user grants (authorization_code, refresh_token) of AuthorizeRoutes: the
// code checked against its client, redirect URI and PKCE challenge; refresh tokens rotated in
// the database; the token response with patient, fhirUser and the ID token.
#include <boost/json.hpp>

#include "access/id_token.h"
#include "access/jwt.h"
#include "access/passwords.h"
#include "access/scopes.h"
#include "http/authorize_routes.h"
#include "http/oauth_responses.h"

namespace carerecord::http {

namespace json = boost::json;
using Form = std::map<std::string, std::string>;

namespace {

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// Only this is stored: a copy of the database gives no usable token.
std::string RefreshTokenHash(std::string_view token) { return Hex(access::Sha256(token)); }

}  // namespace

HttpResponse AuthorizeRoutes::Token(const std::string& grant_type,
                                    const store::ClientRecord& client, const Form& form) const {
  if (grant_type == "authorization_code") return ExchangeCode(client, form);
  return Refresh(client, form);
}

base::Result<bool> AuthorizeRoutes::UserMayAct(const std::string& username) const {
  auto user = services_.directory.records().FindUser(username);
  if (!user.ok()) return user.error();
  if (!user.value() || !user.value()->enabled) return false;
  auto organisation = services_.directory.records().FindOrganisation(user.value()->ods_code);
  if (!organisation.ok()) return organisation.error();
  return organisation.value() && organisation.value()->enabled;
}

HttpResponse AuthorizeRoutes::ExchangeCode(const store::ClientRecord& client,
                                           const Form& form) const {
  const std::string code = Param(form, "code");
  const std::string redirect_uri = Param(form, "redirect_uri");
  const std::string verifier = Param(form, "code_verifier");
  if (code.empty()) return OAuthError(400, "invalid_request", "code is missing");
  if (redirect_uri.empty()) return OAuthError(400, "invalid_request", "redirect_uri is missing");
  if (verifier.empty()) {
    return OAuthError(400, "invalid_request", "code_verifier is missing (PKCE is required)");
  }
  access::CodeRedemption redemption = services_.authorizations.Redeem(code);
  if (redemption.outcome == access::CodeRedemption::Outcome::kUnknownOrExpired) {
    return OAuthError(400, "invalid_grant", "the authorization code is unknown or expired");
  }
  const access::CodeGrant& grant = redemption.grant;
  if (redemption.outcome == access::CodeRedemption::Outcome::kReplayed) {
    // RFC 6749 4.1.2: a code used twice may have been stolen; what it gave is revoked. The
    // access token already issued lives on until it expires (minutes): they are not tracked.
    RevokeSignIn(grant.family);
    return OAuthError(400, "invalid_grant",
                      "the authorization code was used already; the tokens issued from it are "
                      "revoked");
  }
  if (grant.client_id != client.client_id) {
    return OAuthError(400, "invalid_grant", "the authorization code was issued to another client");
  }
  if (grant.redirect_uri != redirect_uri) {
    return OAuthError(400, "invalid_grant",
                      "redirect_uri differs from the one the code was issued for");
  }
  if (!access::PkceVerifierMatches(verifier, grant.code_challenge)) {
    return OAuthError(400, "invalid_grant", "code_verifier does not match the code_challenge");
  }
  auto may_act = UserMayAct(grant.username);
  if (!may_act.ok()) return OAuthError(503, "temporarily_unavailable", may_act.error().message);
  if (!may_act.value()) {
    return OAuthError(400, "invalid_grant", "the user is disabled, or their organisation is");
  }
  UserGrant user_grant{grant.client_id, grant.username, grant.organisation, grant.role,
                       grant.scope,     grant.patient,  grant.fhir_user,    grant.nonce,
                       grant.auth_time, grant.family};
  std::string refresh_token;
  auto scopes = access::ScopeSet::Parse(grant.scope);
  if (scopes.ok() && (scopes->Has("offline_access") || scopes->Has("online_access"))) {
    const int64_t now = services_.clock.NowSeconds();
    refresh_token = access::RandomToken(32);
    store::RefreshTokenRecord record;
    record.token_hash = RefreshTokenHash(refresh_token);
    record.family = grant.family;
    record.client_id = grant.client_id;
    record.username = grant.username;
    record.organisation = grant.organisation;
    record.role = grant.role;
    record.scope = grant.scope;
    record.patient = grant.patient;
    record.fhir_user = grant.fhir_user;
    record.auth_time = grant.auth_time;
    record.issued_at = now;
    record.expires_at = RefreshExpiry(user_grant, now);
    base::Status stored = services_.refresh_tokens.Add(record);
    if (!stored.ok()) return OAuthError(503, "temporarily_unavailable", stored.error().message);
  }
  return TokenResponse(user_grant, refresh_token);
}

void AuthorizeRoutes::RevokeSignIn(const std::string& family) const {
  services_.revoked_sign_ins.Revoke(family);
  // Should the database refuse the write (a full disk), the refresh tokens stay usable; the
  // answer is invalid_grant either way, so the failure is not the client's to see.
  (void)services_.refresh_tokens.RevokeFamily(family);
}

int64_t AuthorizeRoutes::RefreshExpiry(const UserGrant& grant, int64_t now) const {
  auto scopes = access::ScopeSet::Parse(grant.scope);
  if (scopes.ok() && scopes->Has("offline_access")) return now + options_.offline_refresh_seconds;
  return grant.auth_time + options_.online_refresh_seconds;
}

HttpResponse AuthorizeRoutes::Refresh(const store::ClientRecord& client, const Form& form) const {
  const std::string presented = Param(form, "refresh_token");
  if (presented.empty()) return OAuthError(400, "invalid_request", "refresh_token is missing");
  // RFC 6749 section 6: a refresh may ask for less, never more. A request for more is refused
  // before the token is used, so a client's mistake does not cost the user their sign-in.
  std::optional<access::ScopeSet> requested;
  if (form.contains("scope")) {
    auto parsed = access::ScopeSet::Parse(Param(form, "scope"));
    if (!parsed.ok()) return OAuthError(400, "invalid_scope", parsed.error().message);
    requested = std::move(parsed).value();
  }
  std::string narrowed_scope;  // what a request within the grant is granted
  bool wider = false;
  const int64_t now = services_.clock.NowSeconds();
  const std::string successor_token = access::RandomToken(32);
  auto rotation = services_.refresh_tokens.Rotate(
      RefreshTokenHash(presented), now,
      [&](const store::RefreshTokenRecord& old) -> std::optional<store::RefreshTokenRecord> {
        // A token presented by the wrong client is used up whatever it asks (below): it leaked.
        if (requested && old.client_id == client.client_id) {
          auto original = access::ScopeSet::Parse(old.scope);
          access::ScopeSet narrowed =
              original.ok() ? requested->NarrowTo(original.value()) : access::ScopeSet();
          // Narrowed by the grant, a request within it is itself (normalised as by itself);
          // anything else asks for more than was granted.
          if (!original.ok() ||
              narrowed.ToString() != requested->NarrowTo(requested.value()).ToString()) {
            wider = true;
            return std::nullopt;
          }
          narrowed_scope = narrowed.ToString();
        }
        store::RefreshTokenRecord next = old;
        next.token_hash = RefreshTokenHash(successor_token);
        next.issued_at = now;
        UserGrant as_signed_in;
        as_signed_in.scope = old.scope;
        as_signed_in.auth_time = old.auth_time;
        next.expires_at = RefreshExpiry(as_signed_in, now);
        return next;
      });
  if (!rotation.ok()) return OAuthError(503, "temporarily_unavailable", rotation.error().message);
  const store::RefreshTokenRecord& old = rotation->presented;
  switch (rotation->outcome) {
    case store::RefreshOutcome::kRotated:
      break;
    case store::RefreshOutcome::kDeclined:
      return OAuthError(400, "invalid_scope",
                        wider ? "a refresh may not ask for more than was granted at sign-in (" +
                                    old.scope + "); the refresh token is still valid"
                              : "the refresh could not be made; the refresh token is still valid");
    case store::RefreshOutcome::kUnknown:
    case store::RefreshOutcome::kExpired:
      return OAuthError(400, "invalid_grant", "the refresh token is unknown or expired");
    case store::RefreshOutcome::kRevoked:
      return OAuthError(400, "invalid_grant", "the refresh token was revoked");
    case store::RefreshOutcome::kReused:
      // The rows are revoked already (in the rotation); the access tokens go too.
      services_.revoked_sign_ins.Revoke(old.family);
      return OAuthError(400, "invalid_grant",
                        "the refresh token was used already: this sign-in is revoked (its refresh "
                        "tokens at once, its access tokens within a minute)");
  }
  // Checked after the rotation so that a token presented by the wrong client is used up too: it
  // has leaked.
  if (old.client_id != client.client_id) {
    RevokeSignIn(old.family);
    return OAuthError(400, "invalid_grant", "the refresh token was issued to another client");
  }
  auto may_act = UserMayAct(old.username);
  if (!may_act.ok()) return OAuthError(503, "temporarily_unavailable", may_act.error().message);
  if (!may_act.value()) {
    RevokeSignIn(old.family);
    return OAuthError(400, "invalid_grant", "the user is disabled, or their organisation is");
  }
  UserGrant grant{old.client_id, old.username, old.organisation, old.role,  old.scope, old.patient,
                  old.fhir_user, "",           old.auth_time,    old.family};
  if (requested) grant.scope = narrowed_scope;
  return TokenResponse(grant, successor_token);
}

HttpResponse AuthorizeRoutes::TokenResponse(const UserGrant& grant,
                                            const std::string& refresh_token) const {
  access::AccessTokenGrant access_grant;
  access_grant.kind = access::PrincipalKind::kUser;
  access_grant.subject = grant.username;
  access_grant.client_id = grant.client_id;
  access_grant.organisation = grant.organisation;
  access_grant.role = grant.role;
  access_grant.scope = grant.scope;
  access_grant.patient = grant.patient;
  access_grant.fhir_user = grant.fhir_user;
  access_grant.sign_in = grant.sign_in;
  auto issued = services_.tokens.Issue(access_grant);
  if (!issued.ok()) {
    return OAuthError(issued.error().code == base::ErrorCode::kUnavailable ? 503 : 500,
                      "server_error", "no token could be issued; the details are in the log");
  }
  json::object body{{"access_token", issued->token},
                    {"token_type", "Bearer"},
                    {"expires_in", issued->expires_in},
                    {"scope", grant.scope}};
  auto scopes = access::ScopeSet::Parse(grant.scope);
  const bool openid = scopes.ok() && scopes->Has("openid");
  const bool wants_user = scopes.ok() && (scopes->Has("fhirUser") || scopes->Has("profile"));
  const std::string fhir_user_url = grant.fhir_user.empty()
                                        ? std::string()
                                        : TrimSlashes(options_.fhir_base) + "/" + grant.fhir_user;
  if (!grant.patient.empty()) body["patient"] = grant.patient;
  if (wants_user && !fhir_user_url.empty()) body["fhirUser"] = fhir_user_url;
  if (openid) {
    access::IdTokenClaims claims;
    claims.issuer = options_.issuer;
    claims.subject = grant.username;
    claims.client_id = grant.client_id;
    claims.nonce = grant.nonce;
    claims.auth_time = grant.auth_time;
    if (wants_user) claims.fhir_user = fhir_user_url;
    auto id_token = access::IssueIdToken(services_.keys, services_.clock, claims);
    if (!id_token.ok()) {
      return OAuthError(500, "server_error", "no ID token could be issued; details in the log");
    }
    body["id_token"] = id_token.value();
  }
  if (!refresh_token.empty()) body["refresh_token"] = refresh_token;
  HttpResponse response = OAuthJsonResponse(200, body);
  response.SetHeader("Cache-Control", "no-store");
  response.SetHeader("Pragma", "no-cache");
  return response;
}

}  // namespace carerecord::http
