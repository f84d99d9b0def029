// The user-facing half of OAuth 2.0 (RFC 6749 section 4.1, RFC 7636, SMART App Launch 2): an
// authorization request waiting for its user to sign in (PendingAuthorizations, referenced by an
// unguessable id), the one-use code it becomes once someone signed in, and the one-use launch
// ids an EHR mints for an app (LaunchContexts). The sign-in page and the regional-IdP callback
// both end in PendingAuthorizations::Complete. Held in memory: a restart forgets sign-ins in
// progress (the user starts again), never a grant. Both classes are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "access/roles.h"
#include "access/scopes.h"
#include "access/wall_clock.h"
#include "base/status.h"
#include "store/identity_records.h"

namespace carerecord::access {

// An authorization request the authorize endpoint checked and accepted: the client and its
// redirect URI are trusted, PKCE is S256, the launch (if any) was resolved.
struct AuthorizationRequest {
  std::string client_id;
  std::string client_name;   // shown on the sign-in page
  std::string client_scope;  // what the client is registered for, space-separated
  std::string redirect_uri;  // exactly one the client registered
  std::string state;         // echoed back; may be empty
  std::string scope;         // as the app asked, space-separated (it parses)
  std::string code_challenge;
  std::string nonce;           // for the ID token; may be empty
  std::string launch_patient;  // an EHR launch's patient; empty when none
  // The sign-in cookie of the browser that started the request: the form is accepted only from
  // it (a form posted from elsewhere cannot sign a victim's browser in as someone else).
  std::string browser_binding;
};

// What an authorization code stands for, decided when the user signed in.
struct CodeGrant {
  std::string client_id;
  std::string redirect_uri;
  std::string code_challenge;
  std::string username;
  std::string organisation;
  std::string role;
  std::string scope;      // granted, space-separated (may be narrower than asked)
  std::string patient;    // patient context; empty when none
  std::string fhir_user;  // "Practitioner/ID" or "Patient/ID"
  std::string nonce;
  // Names the grant's refresh tokens, so a replayed code can revoke them (RFC 6749 4.1.2).
  std::string family;
  int64_t auth_time = 0;
  int64_t expires_at = 0;
};

struct CodeRedemption {
  enum class Outcome { kRedeemed, kUnknownOrExpired, kReplayed };
  Outcome outcome = Outcome::kUnknownOrExpired;
  CodeGrant grant;  // kRedeemed; kReplayed: the grant the code was first redeemed for
};

struct PendingAuthorizationOptions {
  std::string issuer;  // sent as `iss` with every authorization response (RFC 9207)
  int64_t pending_ttl_seconds = 600;
  size_t max_pending = 10'000;  // past this the oldest pending requests are dropped
  int64_t code_ttl_seconds = 60;
  size_t max_codes = 10'000;  // past this (after dropping expired codes) sign-ins are refused
  // The user's Practitioner as "Practitioner/ID" (the directory sync's naming); patients are
  // "Patient/" + their patient id whatever this says.
  std::function<std::string(const store::UserRecord&)> practitioner_of;
};

// What a user in `role` may be granted through a sign-in: patients their own record
// (patient/*.rs), auditors read-only, other staff user- and patient-level access; never
// system-level scopes, never launch/encounter (no encounter context exists yet). The access
// policy (issue 20) narrows further per item.
ScopeSet UserRoleCeiling(Role role);

// The scopes a user signing in may be granted: requested, narrowed to the client's registered
// scopes and to the role's ceiling; patient-level scopes and the launch scopes only with a
// patient context.
ScopeSet GrantedUserScopes(const ScopeSet& requested, const ScopeSet& client_allowed, Role role,
                           bool has_patient_context);

class PendingAuthorizations {
 public:
  PendingAuthorizations(const WallClock& clock, PendingAuthorizationOptions options);

  // Keeps `request` until it is completed or expires; returns its id (32 random bytes).
  std::string Begin(AuthorizationRequest request);
  // The pending request, when `id` names one that has not expired.
  std::optional<AuthorizationRequest> Find(std::string_view id);

  // `user` signed in acting for `organisation` in `role`: ends the pending request and answers
  // the URL to redirect the browser to, with `code`, `state` and `iss`, or with an error
  // (invalid_scope when nothing may be granted, access_denied for a role that cannot sign in).
  // kNotFound when `id` names no pending request (expired, completed, never made);
  // kUnavailable when too many codes are outstanding.
  base::Result<std::string> Complete(std::string_view id, const store::UserRecord& user,
                                     std::string_view organisation, std::string_view role);
  // Ends the pending request with an error for the app (e.g. access_denied when the user
  // cancelled at the regional IdP): the redirect URL. kNotFound as Complete.
  base::Result<std::string> Deny(std::string_view id, std::string_view error,
                                 std::string_view description);

  // Takes the code: the first call answers its grant; any later call (within the code's life
  // and a while after) answers kReplayed with the same grant, so the caller can revoke what was
  // issued from it.
  CodeRedemption Redeem(std::string_view code);

  size_t pending_count();
  size_t code_count();

 private:
  struct Pending {
    AuthorizationRequest request;
    int64_t expires_at = 0;
  };
  struct Code {
    CodeGrant grant;
    bool redeemed = false;
  };
  void PrunePending(int64_t now);  // with mutex_ held
  void PruneCodes(int64_t now);    // with mutex_ held
  std::optional<Pending> TakePending(std::string_view id, int64_t now);

  const WallClock& clock_;
  const PendingAuthorizationOptions options_;
  std::mutex mutex_;
  std::unordered_map<std::string, Pending> pending_;
  std::deque<std::pair<int64_t, std::string>> pending_order_;  // (expires_at, id), oldest first
  std::unordered_map<std::string, Code> codes_;
};

// One-use launch ids for EHR launch: a trusted system names the patient, the app passes the id
// as `launch`, and the sign-in grants that patient's context.
class LaunchContexts {
 public:
  struct Options {
    int64_t ttl_seconds = 300;
    size_t max_launches = 10'000;
  };
  LaunchContexts(const WallClock& clock, Options options);

  // kUnavailable when max_launches unexpired ids are outstanding.
  base::Result<std::string> Mint(std::string_view patient_id, std::string_view client_id);
  // The launch's patient, once: a second Take, or one after expiry, answers nothing.
  std::optional<std::string> Take(std::string_view launch);

 private:
  struct Launch {
    std::string patient;
    std::string minted_by;
    int64_t expires_at = 0;
  };
  const WallClock& clock_;
  const Options options_;
  std::mutex mutex_;
  std::unordered_map<std::string, Launch> launches_;
};

// base64url(SHA-256(verifier)) == challenge, compared in constant time; false for a verifier
// RFC 7636 4.1 does not allow (43 to 128 of A-Z a-z 0-9 - . _ ~).
bool PkceVerifierMatches(std::string_view verifier, std::string_view challenge);
// A code_challenge RFC 7636 allows for S256: 43 base64url characters.
bool IsS256Challenge(std::string_view challenge);

}  // namespace carerecord::access
