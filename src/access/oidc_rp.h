// carerecord as an OpenID Connect relying party of a regional IdP (NHS CIS2 or any OP):
// authorization code with PKCE (S256), `state` and `nonce` kept server-side, bounded and
// expiring; the code exchanged at the issuer's token endpoint; the ID token verified against the
// issuer's JWKS (jwt.h: RS256/RS384/ES256/ES384, never none or HMAC) and its claims checked; the
// role claim mapped (oidc_role_map.h). The only URLs it fetches are the issuer's discovery
// document, the jwks_uri and token_endpoint that document names: never one a request names.
// It knows nothing of HTTP serving or sockets: it fetches through an OidcTransport
// (http/outbound_https.h in the server, a fake in tests). Thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "access/jwt.h"
#include "access/oidc_role_map.h"
#include "access/wall_clock.h"
#include "base/status.h"

namespace carerecord::access {

struct OidcHttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Outbound HTTP for the relying party. Implementations verify TLS (certificate chain and host
// name), bound time and response size, and refuse http:// but to a loopback host.
class OidcTransport {
 public:
  virtual ~OidcTransport() = default;
  virtual base::Result<OidcHttpResponse> Get(const std::string& url) = 0;
  // POST application/x-www-form-urlencoded; `authorization` is an Authorization header value,
  // empty for none.
  virtual base::Result<OidcHttpResponse> PostForm(const std::string& url, const std::string& body,
                                                  const std::string& authorization) = 0;
};

// An absolute https URL with a host and no user info or fragment; http only when the host is
// loopback (127.0.0.0/8, ::1, localhost). `what` names the URL in the error.
base::Status CheckIdpUrl(std::string_view url, std::string_view what);

struct OidcSettings {
  std::string issuer;  // exactly as the IdP's discovery document and ID tokens name it
  std::string client_id;
  std::string client_secret;
  std::string role_claim = "nhsid_nrbac_roles";
  OidcRoleMap role_map = OidcRoleMap::Defaults();
  std::string redirect_uri;  // <our issuer>/auth/oidc/callback
  std::string label;         // the sign-in page's "Sign in with ..." link text
  int64_t leeway_seconds = 60;
  int64_t state_ttl_seconds = 600;
  size_t max_pending = 10000;  // states and role choices held at once, each
  int64_t discovery_ttl_seconds = 3600;
  int64_t jwks_min_refetch_seconds = 60;  // an unknown kid refetches the JWKS at most this often
};

// The parts of the discovery document (OpenID Connect Discovery 1.0 section 3) the RP uses.
struct OidcProviderMetadata {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
  bool client_secret_post = false;  // the token endpoint takes only client_secret_post
};

// `issuer` must equal `expected_issuer`; the endpoints must pass CheckIdpUrl; the token endpoint
// must take client_secret_basic (the default when the document lists nothing) or _post; RS256 or
// ES256 must be among id_token_signing_alg_values_supported when listed.
base::Result<OidcProviderMetadata> ParseOidcDiscovery(std::string_view json_text,
                                                      std::string_view expected_issuer);

struct IdTokenExpectations {
  std::string issuer;
  std::string client_id;
  std::string nonce;
  int64_t now_seconds = 0;
  int64_t leeway_seconds = 60;
};

// The ID token's claims once its signature (a key of `keys` by kid; with no kid, the one key
// that accepts the alg) and iss, aud (azp when several), exp, iat, nbf, nonce and sub are good.
// An error of code kNotFound means no key of the set matched the kid: the caller may refetch the
// JWKS once and try again. Every other failure is kInvalid, naming the claim.
base::Result<boost::json::object> VerifyIdToken(std::string_view id_token,
                                                const JsonWebKeySet& keys,
                                                const IdTokenExpectations& expected);

// Who the IdP says signed in, and the (organisation, role) pairs its claim grants that the role
// map knows; `pending_request` is the carerecord authorization request the sign-in began from.
struct OidcIdentity {
  std::string issuer;
  std::string subject;
  std::string display_name;
  std::vector<OidcRoleChoice> choices;
  std::string pending_request;
};

// What Start returns: the URL to send the browser to, and a random value to keep in a cookie of
// that browser; the callback and role choice must bring it back (the flow is bound to the
// browser that began it).
struct OidcStart {
  std::string authorization_url;
  std::string browser_binding;
};

// A held role choice: the page's form carries `choice` and `csrf`.
struct OidcHeldChoice {
  std::string choice;
  std::string csrf;
};

class OidcRelyingParty {
 public:
  OidcRelyingParty(OidcSettings settings, OidcTransport& transport, const WallClock& clock);

  const OidcSettings& settings() const { return settings_; }

  // The scope sent: "openid profile", plus the role claim's name when it is not a standard one
  // (CIS2 grants nhsid_nrbac_roles to a scope of that name).
  std::string Scope() const;

  // Fetches (or reuses) the discovery document, then keeps a fresh state, nonce and PKCE
  // verifier bound to `pending_request` and returns the IdP URL. kUnavailable when the IdP
  // cannot be reached or answers wrongly; kTooLarge when the store of states is full.
  base::Result<OidcStart> Start(std::string_view pending_request);

  // The callback: `state` taken (one use: a second callback with it fails), the browser binding
  // compared, the code exchanged, the ID token verified, the role claim mapped. kInvalid for a
  // state that is unknown, used, expired or not this browser's, and for a bad token; kUnavailable
  // when the IdP cannot be reached.
  base::Result<OidcIdentity> Callback(std::string_view state, std::string_view code,
                                      std::string_view browser_binding);

  // The IdP answered an error instead of a code: the state is taken (one use) and, when it is
  // this browser's and has not expired, the pending request it was bound to is returned, so the
  // app that asked can be told.
  std::optional<std::string> Abandon(std::string_view state, std::string_view browser_binding);

  // Keeps an identity with several choices until the user picks one (state_ttl_seconds).
  base::Result<OidcHeldChoice> HoldChoice(OidcIdentity identity, std::string browser_binding);
  // The held identity with only the picked choice, taken (one use) when `csrf` and the browser
  // binding match and `index` is one of its choices.
  base::Result<OidcIdentity> TakeChoice(std::string_view choice, std::string_view csrf,
                                        std::string_view browser_binding, size_t index);

 private:
  struct PendingState {
    std::string pending_request;
    std::string nonce;
    std::string code_verifier;
    std::string browser_binding;
    int64_t expires_at = 0;
  };
  struct HeldChoice {
    OidcIdentity identity;
    std::string csrf;
    std::string browser_binding;
    int64_t expires_at = 0;
  };

  base::Result<OidcProviderMetadata> Metadata();
  // The JWKS, fetched when absent or (force) when an unknown kid appeared and the last fetch is
  // older than jwks_min_refetch_seconds. Sets `refetched` when it fetched.
  base::Result<std::shared_ptr<const JsonWebKeySet>> Keys(const OidcProviderMetadata& metadata,
                                                          bool force, bool& refetched);
  base::Result<std::string> ExchangeCode(const OidcProviderMetadata& metadata,
                                         std::string_view code, const PendingState& pending);
  template <typename Entry>
  void DropExpired(std::map<std::string, Entry, std::less<>>& entries, int64_t now);

  const OidcSettings settings_;
  OidcTransport& transport_;
  const WallClock& clock_;

  std::mutex metadata_mutex_;  // guards the cached metadata and keys
  std::optional<OidcProviderMetadata> metadata_;
  int64_t metadata_fetched_at_ = 0;
  std::shared_ptr<const JsonWebKeySet> keys_;
  int64_t keys_fetched_at_ = 0;

  std::mutex states_mutex_;  // guards states_ and choices_
  std::map<std::string, PendingState, std::less<>> states_;
  std::map<std::string, HeldChoice, std::less<>> choices_;
};

}  // namespace carerecord::access
