#include "access/oidc_rp.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "access/base64url.h"
#include "access/passwords.h"
#include "fhir/json_parse.h"

namespace carerecord::access {
namespace {

namespace json = boost::json;
using base::ErrorCode;
using base::Invalid;
using base::MakeError;

constexpr size_t kMaxIdTokenBytes = 64 * 1024;
constexpr size_t kMaxPendingRequestBytes = 256;

base::Result<json::value> ParseJson(std::string_view text, std::string_view what) {
  fhir::JsonLimits limits;
  limits.max_depth = 16;
  limits.max_values = 100000;
  limits.fhir_rules = true;
  auto parsed = fhir::ParseFhirJson(text, limits);
  if (!parsed.ok()) return Invalid(std::string(what) + " is not JSON: " + parsed.error().message);
  return parsed;
}

// application/x-www-form-urlencoded (every byte but the unreserved ones percent-encoded).
std::string FormEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(std::max(written, 0)));
  return out;
}

bool SameSecret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string> StringMember(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  if (value == nullptr || !value->is_string()) return std::nullopt;
  return std::string(value->get_string());
}

bool ListNames(const json::object& object, std::string_view member, std::string_view name) {
  const json::value* list = object.if_contains(member);
  if (list == nullptr || !list->is_array()) return false;
  for (const json::value& item : list->get_array()) {
    if (item.is_string() && item.get_string() == name) return true;
  }
  return false;
}

std::string DisplayNameOf(const json::object& claims, const std::string& subject) {
  auto text = [&](std::string_view name) -> std::string {
    const json::value* value = claims.if_contains(name);
    if (value == nullptr || !value->is_string()) return {};
    std::string_view out = value->get_string();
    return std::string(out.substr(0, 200));
  };
  if (std::string name = text("name"); !name.empty()) return name;
  std::string given = text("given_name"), family = text("family_name");
  if (!given.empty() || !family.empty()) {
    return given.empty() ? family : family.empty() ? given : given + " " + family;
  }
  if (std::string preferred = text("preferred_username"); !preferred.empty()) return preferred;
  return subject;
}

}  // namespace

base::Status CheckIdpUrl(std::string_view url, std::string_view what) {
  const std::string name(what);
  const std::string shown(url.substr(0, 200));
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed || !parsed->has_authority()) {
    return Invalid(name + " '" + shown + "' is not an absolute URL with a host", name);
  }
  // Boost.URL 1.81 reads "http://127.0.0.1.evil.example/" as host 127.0.0.1 and path
  // ".evil.example/" (see CheckRedirectUri): a path after an authority must begin with '/'.
  const std::string_view path = parsed->encoded_path();
  if (!path.empty() && path.front() != '/') {
    return Invalid(name + " '" + shown + "' is not an absolute URL with a host", name);
  }
  if (parsed->has_userinfo() || parsed->has_fragment()) {
    return Invalid(name + " '" + shown + "' must hold no user name, password or fragment", name);
  }
  const std::string host(parsed->host_address());
  if (host.empty()) return Invalid(name + " '" + shown + "' has no host", name);
  if (parsed->scheme() == "https") return base::Status::Ok();
  const auto type = parsed->host_type();
  const bool loopback = (type == boost::urls::host_type::name && host == "localhost") ||
                        (type == boost::urls::host_type::ipv4 && host.starts_with("127.")) ||
                        (type == boost::urls::host_type::ipv6 && host == "::1");
  if (parsed->scheme() == "http" && loopback) return base::Status::Ok();
  return Invalid(name + " '" + shown +
                     "' must be https (http only on a loopback host: 127.0.0.1, [::1], localhost)",
                 name);
}

base::Result<OidcProviderMetadata> ParseOidcDiscovery(std::string_view json_text,
                                                      std::string_view expected_issuer) {
  auto parsed = ParseJson(json_text, "the IdP's discovery document");
  if (!parsed.ok()) return parsed.error();
  const json::object* document = parsed->if_object();
  if (document == nullptr) return Invalid("the IdP's discovery document is not a JSON object");
  OidcProviderMetadata metadata;
  struct Member {
    std::string_view name;
    std::string* out;
  };
  for (Member member : {Member{"issuer", &metadata.issuer},
                        Member{"authorization_endpoint", &metadata.authorization_endpoint},
                        Member{"token_endpoint", &metadata.token_endpoint},
                        Member{"jwks_uri", &metadata.jwks_uri}}) {
    auto value = StringMember(*document, member.name);
    if (!value || value->empty()) {
      return Invalid("the IdP's discovery document has no '" + std::string(member.name) + "'",
                     std::string(member.name));
    }
    *member.out = *value;
  }
  if (metadata.issuer != expected_issuer) {
    return Invalid("the IdP's discovery document names issuer '" + metadata.issuer.substr(0, 200) +
                       "', not the configured '" + std::string(expected_issuer) + "'",
                   "issuer");
  }
  CR_RETURN_IF_ERROR(CheckIdpUrl(metadata.authorization_endpoint, "authorization_endpoint"));
  CR_RETURN_IF_ERROR(CheckIdpUrl(metadata.token_endpoint, "token_endpoint"));
  CR_RETURN_IF_ERROR(CheckIdpUrl(metadata.jwks_uri, "jwks_uri"));
  // OpenID Connect Discovery: an absent list means client_secret_basic.
  if (document->contains("token_endpoint_auth_methods_supported")) {
    const bool basic =
        ListNames(*document, "token_endpoint_auth_methods_supported", "client_secret_basic");
    const bool post =
        ListNames(*document, "token_endpoint_auth_methods_supported", "client_secret_post");
    if (!basic && !post) {
      return Invalid(
          "the IdP's token endpoint takes neither client_secret_basic nor client_secret_post",
          "token_endpoint_auth_methods_supported");
    }
    metadata.client_secret_post = !basic;
  }
  if (document->contains("id_token_signing_alg_values_supported") &&
      !ListNames(*document, "id_token_signing_alg_values_supported", "RS256") &&
      !ListNames(*document, "id_token_signing_alg_values_supported", "ES256")) {
    return Invalid("the IdP signs ID tokens with neither RS256 nor ES256",
                   "id_token_signing_alg_values_supported");
  }
  return metadata;
}

base::Result<json::object> VerifyIdToken(std::string_view id_token, const JsonWebKeySet& keys,
                                         const IdTokenExpectations& expected) {
  constexpr std::string_view kWhat = "the ID token";
  auto jws = ParseCompactJws(id_token, kWhat, kMaxIdTokenBytes);
  if (!jws.ok()) return jws.error();
  const JsonWebKey* key = nullptr;
  if (!jws->kid.empty()) {
    key = keys.Find(jws->kid, jws->algorithm);
    if (key == nullptr && keys.FindByKid(jws->kid) != nullptr) {
      return Invalid("the ID token's key " + jws->kid.substr(0, 100) + " does not sign with " +
                     std::string(JwsAlgorithmName(jws->algorithm)));
    }
  } else {
    for (const JsonWebKey& candidate : keys.keys()) {
      if (!candidate.Accepts(jws->algorithm)) continue;
      if (key != nullptr) return Invalid("the ID token names no kid and the IdP has several keys");
      key = &candidate;
    }
  }
  if (key == nullptr) {
    return MakeError(ErrorCode::kNotFound, "the ID token is signed with a key (kid '" +
                                               jws->kid.substr(0, 100) +
                                               "') that is not in the IdP's JWKS");
  }
  CR_RETURN_IF_ERROR(VerifyCompactJws(*jws, *key, kWhat));
  const json::object& claims = jws->payload;

  auto iss = StringClaim(claims, "iss", kWhat);
  if (!iss.ok()) return iss.error();
  if (!iss.value() || *iss.value() != expected.issuer) {
    return Invalid("the ID token's issuer is '" + iss.value().value_or("").substr(0, 200) +
                       "', not '" + expected.issuer + "'",
                   "iss");
  }
  auto sub = StringClaim(claims, "sub", kWhat);
  if (!sub.ok()) return sub.error();
  if (!sub.value() || sub.value()->empty() || sub.value()->size() > 255) {
    return Invalid("the ID token has no subject (sub of 1 to 255 characters)", "sub");
  }
  if (!AudienceContains(claims, expected.client_id)) {
    return Invalid("the ID token's audience does not name this client (" + expected.client_id + ")",
                   "aud");
  }
  auto azp = StringClaim(claims, "azp", kWhat);
  if (!azp.ok()) return azp.error();
  const json::value* aud = claims.if_contains("aud");
  const bool several = aud != nullptr && aud->is_array() && aud->get_array().size() > 1;
  if (several && !azp.value()) {
    return Invalid("the ID token names several audiences but no authorized party (azp)", "azp");
  }
  if (azp.value() && *azp.value() != expected.client_id) {
    return Invalid("the ID token's authorized party (azp) is not this client", "azp");
  }
  auto exp = NumericDateClaim(claims, "exp", kWhat);
  if (!exp.ok()) return exp.error();
  if (!exp.value()) return Invalid("the ID token has no expiry (exp)", "exp");
  if (expected.now_seconds >= *exp.value() + expected.leeway_seconds) {
    return Invalid("the ID token has expired", "exp");
  }
  auto iat = NumericDateClaim(claims, "iat", kWhat);
  if (!iat.ok()) return iat.error();
  if (!iat.value()) return Invalid("the ID token has no issue time (iat)", "iat");
  if (*iat.value() > expected.now_seconds + expected.leeway_seconds) {
    return Invalid("the ID token was issued in the future (iat)", "iat");
  }
  auto nbf = NumericDateClaim(claims, "nbf", kWhat);
  if (!nbf.ok()) return nbf.error();
  if (nbf.value() && *nbf.value() > expected.now_seconds + expected.leeway_seconds) {
    return Invalid("the ID token is not valid yet (nbf)", "nbf");
  }
  auto nonce = StringClaim(claims, "nonce", kWhat);
  if (!nonce.ok()) return nonce.error();
  if (!nonce.value() || !SameSecret(*nonce.value(), expected.nonce)) {
    return Invalid("the ID token's nonce is not the one this sign-in sent", "nonce");
  }
  return claims;
}

OidcRelyingParty::OidcRelyingParty(OidcSettings settings, OidcTransport& transport,
                                   const WallClock& clock)
    : settings_(std::move(settings)), transport_(transport), clock_(clock) {}

std::string OidcRelyingParty::Scope() const {
  static constexpr std::string_view kStandard[] = {"name", "given_name", "family_name",
                                                   "preferred_username", "email"};
  std::string scope = "openid profile";
  if (std::find(std::begin(kStandard), std::end(kStandard), settings_.role_claim) ==
      std::end(kStandard)) {
    scope += " " + settings_.role_claim;
  }
  return scope;
}

base::Result<OidcProviderMetadata> OidcRelyingParty::Metadata() {
  const int64_t now = clock_.NowSeconds();
  {
    std::lock_guard lock(metadata_mutex_);
    if (metadata_ && now - metadata_fetched_at_ < settings_.discovery_ttl_seconds) {
      return *metadata_;
    }
  }
  std::string url = settings_.issuer;
  while (url.ends_with('/')) url.pop_back();
  url += "/.well-known/openid-configuration";
  auto fetched = transport_.Get(url);
  if (!fetched.ok()) {
    return MakeError(
        ErrorCode::kUnavailable,
        "the IdP's discovery document could not be fetched: " + fetched.error().message);
  }
  if (fetched->status != 200) {
    return MakeError(ErrorCode::kUnavailable, "the IdP's discovery document answered HTTP " +
                                                  std::to_string(fetched->status));
  }
  auto metadata = ParseOidcDiscovery(fetched->body, settings_.issuer);
  if (!metadata.ok()) return MakeError(ErrorCode::kUnavailable, metadata.error().message);
  std::lock_guard lock(metadata_mutex_);
  metadata_ = metadata.value();
  metadata_fetched_at_ = now;
  return metadata;
}

base::Result<std::shared_ptr<const JsonWebKeySet>> OidcRelyingParty::Keys(
    const OidcProviderMetadata& metadata, bool force, bool& refetched) {
  const int64_t now = clock_.NowSeconds();
  refetched = false;
  {
    std::lock_guard lock(metadata_mutex_);
    const bool fresh = keys_ && now - keys_fetched_at_ < settings_.discovery_ttl_seconds;
    const bool may_refetch = !keys_ || now - keys_fetched_at_ >= settings_.jwks_min_refetch_seconds;
    if ((fresh && !force) || (keys_ && !may_refetch)) return keys_;
  }
  auto fetched = transport_.Get(metadata.jwks_uri);
  if (!fetched.ok()) {
    return MakeError(ErrorCode::kUnavailable,
                     "the IdP's JWKS could not be fetched: " + fetched.error().message);
  }
  if (fetched->status != 200) {
    return MakeError(ErrorCode::kUnavailable,
                     "the IdP's JWKS answered HTTP " + std::to_string(fetched->status));
  }
  JsonWebKeySet::ParseOptions options;
  options.skip_unsupported = true;
  options.max_bytes = 256 * 1024;
  auto parsed = JsonWebKeySet::Parse(fetched->body, options);
  if (!parsed.ok()) {
    return MakeError(ErrorCode::kUnavailable, "the IdP's JWKS: " + parsed.error().message);
  }
  auto keys = std::make_shared<const JsonWebKeySet>(std::move(parsed).value());
  std::lock_guard lock(metadata_mutex_);
  keys_ = keys;
  keys_fetched_at_ = now;
  refetched = true;
  return keys;
}

template <typename Entry>
void OidcRelyingParty::DropExpired(std::map<std::string, Entry, std::less<>>& entries,
                                   int64_t now) {
  std::erase_if(entries, [now](const auto& entry) { return entry.second.expires_at <= now; });
}

base::Result<OidcStart> OidcRelyingParty::Start(std::string_view pending_request) {
  if (pending_request.empty() || pending_request.size() > kMaxPendingRequestBytes) {
    return Invalid("the sign-in request id is missing or too long", "request");
  }
  auto metadata = Metadata();
  if (!metadata.ok()) return metadata.error();
  PendingState pending;
  pending.pending_request = std::string(pending_request);
  pending.nonce = RandomToken(32);
  pending.code_verifier = RandomToken(32);  // 43 characters: RFC 7636's minimum, 256 bits
  pending.browser_binding = RandomToken(32);
  pending.expires_at = clock_.NowSeconds() + settings_.state_ttl_seconds;
  const std::string state = RandomToken(32);
  const std::string challenge = Base64UrlEncode(Sha256(pending.code_verifier));

  boost::urls::url url(metadata->authorization_endpoint);
  auto params = url.params();
  params.append({"response_type", "code"});
  params.append({"client_id", settings_.client_id});
  params.append({"redirect_uri", settings_.redirect_uri});
  params.append({"scope", Scope()});
  params.append({"state", state});
  params.append({"nonce", pending.nonce});
  params.append({"code_challenge", challenge});
  params.append({"code_challenge_method", "S256"});

  OidcStart start{std::string(url.buffer()), pending.browser_binding};
  std::lock_guard lock(states_mutex_);
  DropExpired(states_, clock_.NowSeconds());
  if (states_.size() >= settings_.max_pending) {
    return MakeError(ErrorCode::kTooLarge,
                     "too many sign-ins are under way; try again in a few minutes");
  }
  states_.emplace(state, std::move(pending));
  return start;
}

base::Result<std::string> OidcRelyingParty::ExchangeCode(const OidcProviderMetadata& metadata,
                                                         std::string_view code,
                                                         const PendingState& pending) {
  std::string body = "grant_type=authorization_code&code=" + FormEncode(code) +
                     "&redirect_uri=" + FormEncode(settings_.redirect_uri) +
                     "&code_verifier=" + FormEncode(pending.code_verifier);
  std::string authorization;
  if (metadata.client_secret_post) {
    body += "&client_id=" + FormEncode(settings_.client_id) +
            "&client_secret=" + FormEncode(settings_.client_secret);
  } else {
    // RFC 6749 section 2.3.1: each form-encoded, then Basic.
    authorization = "Basic " + Base64(FormEncode(settings_.client_id) + ":" +
                                      FormEncode(settings_.client_secret));
  }
  auto answered = transport_.PostForm(metadata.token_endpoint, body, authorization);
  if (!answered.ok()) {
    return MakeError(ErrorCode::kUnavailable,
                     "the IdP's token endpoint could not be reached: " + answered.error().message);
  }
  auto parsed = ParseJson(answered->body, "the IdP's token response");
  const json::object* object = parsed.ok() ? parsed->if_object() : nullptr;
  if (answered->status != 200) {
    std::string error;
    if (object != nullptr) {
      if (auto e = StringMember(*object, "error")) error = e->substr(0, 100);
      if (auto d = StringMember(*object, "error_description")) {
        error += ": " + d->substr(0, 200);
      }
    }
    return Invalid("the IdP refused the authorization code (HTTP " +
                   std::to_string(answered->status) + (error.empty() ? "" : ", " + error) + ")");
  }
  if (object == nullptr) return Invalid("the IdP's token response is not a JSON object");
  auto id_token = StringMember(*object, "id_token");
  if (!id_token || id_token->empty()) {
    return Invalid("the IdP's token response holds no id_token");
  }
  return *id_token;
}

base::Result<OidcIdentity> OidcRelyingParty::Callback(std::string_view state, std::string_view code,
                                                      std::string_view browser_binding) {
  PendingState pending;
  {
    std::lock_guard lock(states_mutex_);
    auto found = states_.find(state);
    if (found == states_.end()) {
      return Invalid("this sign-in is unknown, already used or expired: start again", "state");
    }
    pending = std::move(found->second);
    states_.erase(found);  // one use, whatever follows
  }
  if (pending.expires_at <= clock_.NowSeconds()) {
    return Invalid("this sign-in is unknown, already used or expired: start again", "state");
  }
  if (!SameSecret(pending.browser_binding, browser_binding)) {
    return Invalid("this sign-in was started in another browser: start again", "state");
  }
  if (code.empty() || code.size() > 4096) {
    return Invalid("the IdP's answer holds no authorization code", "code");
  }
  auto metadata = Metadata();
  if (!metadata.ok()) return metadata.error();
  auto id_token = ExchangeCode(*metadata, code, pending);
  if (!id_token.ok()) return id_token.error();

  IdTokenExpectations expected{settings_.issuer, settings_.client_id, pending.nonce,
                               clock_.NowSeconds(), settings_.leeway_seconds};
  bool refetched = false;
  auto keys = Keys(*metadata, /*force=*/false, refetched);
  if (!keys.ok()) return keys.error();
  auto claims = VerifyIdToken(*id_token, **keys, expected);
  if (!claims.ok() && claims.error().code == ErrorCode::kNotFound && !refetched) {
    // A kid not seen before: the IdP may have rotated its keys (rate-limited refetch).
    keys = Keys(*metadata, /*force=*/true, refetched);
    if (!keys.ok()) return keys.error();
    if (refetched) claims = VerifyIdToken(*id_token, **keys, expected);
  }
  if (!claims.ok()) return Invalid(claims.error().message, claims.error().location);

  OidcIdentity identity;
  identity.issuer = settings_.issuer;
  identity.subject = std::string(claims->at("sub").get_string());
  identity.display_name = DisplayNameOf(*claims, identity.subject);
  identity.pending_request = pending.pending_request;
  const json::value* role_claim = claims->if_contains(settings_.role_claim);
  if (role_claim == nullptr) {
    return Invalid("the ID token holds no '" + settings_.role_claim +
                       "' claim: the IdP gave no roles for carerecord",
                   settings_.role_claim);
  }
  auto choices = MapRoleClaim(*role_claim, settings_.role_claim, settings_.role_map);
  if (!choices.ok()) return choices.error();
  identity.choices = std::move(choices).value();
  return identity;
}

std::optional<std::string> OidcRelyingParty::Abandon(std::string_view state,
                                                     std::string_view browser_binding) {
  PendingState pending;
  {
    std::lock_guard lock(states_mutex_);
    auto found = states_.find(state);
    if (found == states_.end()) return std::nullopt;
    pending = std::move(found->second);
    states_.erase(found);
  }
  if (pending.expires_at <= clock_.NowSeconds() ||
      !SameSecret(pending.browser_binding, browser_binding)) {
    return std::nullopt;
  }
  return pending.pending_request;
}

base::Result<OidcHeldChoice> OidcRelyingParty::HoldChoice(OidcIdentity identity,
                                                          std::string browser_binding) {
  OidcHeldChoice held{RandomToken(32), RandomToken(32)};
  HeldChoice entry{std::move(identity), held.csrf, std::move(browser_binding),
                   clock_.NowSeconds() + settings_.state_ttl_seconds};
  std::lock_guard lock(states_mutex_);
  DropExpired(choices_, clock_.NowSeconds());
  if (choices_.size() >= settings_.max_pending) {
    return MakeError(ErrorCode::kTooLarge,
                     "too many sign-ins are under way; try again in a few minutes");
  }
  choices_.emplace(held.choice, std::move(entry));
  return held;
}

base::Result<OidcIdentity> OidcRelyingParty::TakeChoice(std::string_view choice,
                                                        std::string_view csrf,
                                                        std::string_view browser_binding,
                                                        size_t index) {
  HeldChoice held;
  {
    std::lock_guard lock(states_mutex_);
    auto found = choices_.find(choice);
    if (found == choices_.end() || found->second.expires_at <= clock_.NowSeconds()) {
      return Invalid("this role choice is unknown, already used or expired: sign in again",
                     "choice");
    }
    if (!SameSecret(found->second.csrf, csrf) ||
        !SameSecret(found->second.browser_binding, browser_binding)) {
      // Not this page's form: the held choice stays for the real one.
      return Invalid("this role choice did not come from its own page: sign in again", "csrf");
    }
    held = std::move(found->second);
    choices_.erase(found);
  }
  if (index >= held.identity.choices.size()) {
    return Invalid("the role chosen is not one offered", "role");
  }
  OidcRoleChoice picked = held.identity.choices[index];
  held.identity.choices = {std::move(picked)};
  return std::move(held.identity);
}

}  // namespace carerecord::access
