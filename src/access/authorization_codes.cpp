#include "access/authorization_codes.h"

#include <openssl/crypto.h>

#include <boost/url/url.hpp>

#include "access/base64url.h"
#include "access/jwt.h"
#include "access/passwords.h"

namespace carerecord::access {

namespace {

ScopeSet ParseKnown(std::string_view text) {
  auto parsed = ScopeSet::Parse(text);
  return parsed.ok() ? std::move(parsed).value() : ScopeSet();
}

constexpr std::string_view kIdentityScopes =
    " openid fhirUser profile launch launch/patient offline_access online_access";

// The redirect URI with `params` added to whatever query it was registered with.
std::string RedirectWith(
    std::string_view redirect_uri,
    std::initializer_list<std::pair<std::string_view, std::string_view>> params,
    std::string_view state, std::string_view issuer) {
  boost::urls::url url(redirect_uri);
  for (const auto& [name, value] : params) url.params().append({name, value});
  if (!state.empty()) url.params().append({"state", state});
  if (!issuer.empty()) url.params().append({"iss", issuer});
  return std::string(url.buffer());
}

}  // namespace

ScopeSet UserRoleCeiling(Role role) {
  switch (role) {
    case Role::kPatient:
      return ParseKnown(std::string("patient/*.rs") + std::string(kIdentityScopes));
    case Role::kAuditor:
      return ParseKnown(std::string("user/*.rs patient/*.rs") + std::string(kIdentityScopes));
    case Role::kIntegration:
      return ScopeSet();  // a client role: it never signs in
    default:
      return ParseKnown(std::string("user/*.cruds patient/*.cruds") + std::string(kIdentityScopes));
  }
}

ScopeSet GrantedUserScopes(const ScopeSet& requested, const ScopeSet& client_allowed, Role role,
                           bool has_patient_context) {
  ScopeSet narrowed = requested.NarrowTo(client_allowed).NarrowTo(UserRoleCeiling(role));
  // Without a patient context a patient-level scope would name no one: it is dropped, not kept
  // to be refused on every request.
  std::string text;
  for (const ClinicalScope& scope : narrowed.clinical()) {
    if (scope.level == ScopeLevel::kPatient && !has_patient_context) continue;
    if (!text.empty()) text += ' ';
    text += scope.text;
  }
  for (const std::string& other : narrowed.other()) {
    if ((other == "launch" || other == "launch/patient") && !has_patient_context) continue;
    if (!text.empty()) text += ' ';
    text += other;
  }
  return ParseKnown(text);
}

bool IsS256Challenge(std::string_view challenge) {
  if (challenge.size() != 43) return false;
  auto decoded = Base64UrlDecode(challenge, "code_challenge");
  return decoded.ok() && decoded->size() == 32;
}

bool PkceVerifierMatches(std::string_view verifier, std::string_view challenge) {
  if (verifier.size() < 43 || verifier.size() > 128) return false;
  for (char c : verifier) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (!unreserved) return false;
  }
  const std::string computed = Base64UrlEncode(Sha256(verifier));
  return computed.size() == challenge.size() &&
         CRYPTO_memcmp(computed.data(), challenge.data(), computed.size()) == 0;
}

PendingAuthorizations::PendingAuthorizations(const WallClock& clock,
                                             PendingAuthorizationOptions options)
    : clock_(clock), options_(std::move(options)) {}

std::string PendingAuthorizations::Begin(AuthorizationRequest request) {
  const int64_t now = clock_.NowSeconds();
  std::string id = RandomToken(32);
  std::lock_guard lock(mutex_);
  PrunePending(now);
  while (pending_.size() >= options_.max_pending && !pending_order_.empty()) {
    // Full: the oldest goes (its user starts again) rather than refusing everyone new.
    pending_.erase(pending_order_.front().second);
    pending_order_.pop_front();
  }
  const int64_t expires_at = now + options_.pending_ttl_seconds;
  pending_.emplace(id, Pending{std::move(request), expires_at});
  pending_order_.emplace_back(expires_at, id);
  return id;
}

void PendingAuthorizations::PrunePending(int64_t now) {
  while (!pending_order_.empty()) {
    const auto& [expires_at, id] = pending_order_.front();
    auto it = pending_.find(id);
    // An id completed before it expired leaves its place in the queue behind.
    if (it != pending_.end() && it->second.expires_at == expires_at && expires_at > now) break;
    if (it != pending_.end() && it->second.expires_at == expires_at) pending_.erase(it);
    pending_order_.pop_front();
  }
}

void PendingAuthorizations::PruneCodes(int64_t now) {
  // A redeemed code is kept until it would have expired, so a replay is told from a stranger.
  std::erase_if(codes_, [now](const auto& entry) { return entry.second.grant.expires_at <= now; });
}

std::optional<AuthorizationRequest> PendingAuthorizations::Find(std::string_view id) {
  const int64_t now = clock_.NowSeconds();
  std::lock_guard lock(mutex_);
  auto it = pending_.find(std::string(id));
  if (it == pending_.end() || it->second.expires_at <= now) return std::nullopt;
  return it->second.request;
}

std::optional<PendingAuthorizations::Pending> PendingAuthorizations::TakePending(
    std::string_view id, int64_t now) {
  auto it = pending_.find(std::string(id));
  if (it == pending_.end()) return std::nullopt;
  Pending pending = std::move(it->second);
  pending_.erase(it);
  if (pending.expires_at <= now) return std::nullopt;
  return pending;
}

base::Result<std::string> PendingAuthorizations::Complete(std::string_view id,
                                                          const store::UserRecord& user,
                                                          std::string_view organisation,
                                                          std::string_view role_name) {
  const int64_t now = clock_.NowSeconds();
  std::lock_guard lock(mutex_);
  std::optional<Pending> pending = TakePending(id, now);
  if (!pending) {
    return base::MakeError(base::ErrorCode::kNotFound,
                           "this sign-in has expired or was completed already; start again from "
                           "the app");
  }
  const AuthorizationRequest& request = pending->request;
  auto deny = [&](std::string_view error, std::string_view description) {
    return RedirectWith(request.redirect_uri,
                        {{"error", error}, {"error_description", description}}, request.state,
                        options_.issuer);
  };
  std::optional<Role> role = ParseRole(role_name);
  if (!role || !IsUserRole(*role) || organisation.empty()) {
    return deny("access_denied", "the user's role may not sign in to apps");
  }

  std::string patient;
  if (*role == Role::kPatient) {
    // A patient's context is their own record, whatever launch the app brought.
    if (user.patient_id.empty()) {
      return deny("access_denied", "the patient user is not linked to a record");
    }
    patient = user.patient_id;
  } else {
    patient = request.launch_patient;
  }
  const ScopeSet requested = ParseKnown(request.scope);
  ScopeSet granted =
      GrantedUserScopes(requested, ParseKnown(request.client_scope), *role, !patient.empty());
  const bool staff_context = *role != Role::kPatient && !patient.empty();
  if (staff_context && !granted.Has("launch") && !granted.Has("launch/patient")) {
    // An EHR launch's patient is given only to an app that asked for its launch context.
    patient.clear();
    granted = GrantedUserScopes(requested, ParseKnown(request.client_scope), *role, false);
  }
  if (granted.clinical().empty()) {
    return deny("invalid_scope",
                "none of the requested clinical scopes may be granted to this user with this app");
  }

  PruneCodes(now);
  if (codes_.size() >= options_.max_codes) {
    return base::MakeError(base::ErrorCode::kUnavailable,
                           "too many sign-ins are waiting for their code to be exchanged");
  }
  CodeGrant grant;
  grant.client_id = request.client_id;
  grant.redirect_uri = request.redirect_uri;
  grant.code_challenge = request.code_challenge;
  grant.username = user.username;
  grant.organisation = std::string(organisation);
  grant.role = std::string(RoleName(*role));
  grant.scope = granted.ToString();
  grant.patient = patient;
  if (*role == Role::kPatient) {
    grant.fhir_user = "Patient/" + user.patient_id;
  } else if (options_.practitioner_of) {
    grant.fhir_user = options_.practitioner_of(user);
  }
  grant.nonce = request.nonce;
  grant.family = RandomToken(16);
  grant.auth_time = now;
  grant.expires_at = now + options_.code_ttl_seconds;
  std::string code = RandomToken(32);
  codes_.emplace(code, Code{std::move(grant), false});
  return RedirectWith(request.redirect_uri, {{"code", code}}, request.state, options_.issuer);
}

base::Result<std::string> PendingAuthorizations::Deny(std::string_view id, std::string_view error,
                                                      std::string_view description) {
  const int64_t now = clock_.NowSeconds();
  std::lock_guard lock(mutex_);
  std::optional<Pending> pending = TakePending(id, now);
  if (!pending) {
    return base::MakeError(base::ErrorCode::kNotFound,
                           "this sign-in has expired or was completed already");
  }
  return RedirectWith(pending->request.redirect_uri,
                      {{"error", error}, {"error_description", description}},
                      pending->request.state, options_.issuer);
}

CodeRedemption PendingAuthorizations::Redeem(std::string_view code) {
  const int64_t now = clock_.NowSeconds();
  std::lock_guard lock(mutex_);
  CodeRedemption redemption;
  auto it = codes_.find(std::string(code));
  if (it == codes_.end() || it->second.grant.expires_at <= now) {
    redemption.outcome = CodeRedemption::Outcome::kUnknownOrExpired;
    return redemption;
  }
  redemption.grant = it->second.grant;
  redemption.outcome =
      it->second.redeemed ? CodeRedemption::Outcome::kReplayed : CodeRedemption::Outcome::kRedeemed;
  it->second.redeemed = true;
  return redemption;
}

size_t PendingAuthorizations::pending_count() {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

size_t PendingAuthorizations::code_count() {
  std::lock_guard lock(mutex_);
  return codes_.size();
}

LaunchContexts::LaunchContexts(const WallClock& clock, Options options)
    : clock_(clock), options_(options) {}

base::Result<std::string> LaunchContexts::Mint(std::string_view patient_id,
                                               std::string_view client_id) {
  const int64_t now = clock_.NowSeconds();
  std::lock_guard lock(mutex_);
  std::erase_if(launches_, [now](const auto& entry) { return entry.second.expires_at <= now; });
  if (launches_.size() >= options_.max_launches) {
    return base::MakeError(base::ErrorCode::kUnavailable,
                           "too many launches are waiting to be used; try again shortly");
  }
  std::string id = RandomToken(24);
  launches_.emplace(
      id, Launch{std::string(patient_id), std::string(client_id), now + options_.ttl_seconds});
  return id;
}

std::optional<std::string> LaunchContexts::Take(std::string_view launch) {
  const int64_t now = clock_.NowSeconds();
  std::lock_guard lock(mutex_);
  auto it = launches_.find(std::string(launch));
  if (it == launches_.end()) return std::nullopt;
  Launch taken = std::move(it->second);
  launches_.erase(it);
  if (taken.expires_at <= now) return std::nullopt;
  return taken.patient;
}

}  // namespace carerecord::access
