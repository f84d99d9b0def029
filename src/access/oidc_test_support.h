// Shared by the relying-party tests: an OpenID provider in memory that answers the three URLs
// the relying party fetches (discovery, JWKS, token endpoint) the way a real one does, checking
// the client's secret, the redirect URI and the PKCE verifier. Tests only; not thread-safe.
#pragma once

#include <openssl/evp.h>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <map>
#include <string>
#include <vector>

#include "access/base64url.h"
#include "access/jwt.h"
#include "access/oidc_rp.h"
#include "access/wall_clock.h"

namespace carerecord::access::testing {

class FakeOidcProvider final : public OidcTransport {
 public:
  explicit FakeOidcProvider(const WallClock& clock)
      : key(std::move(JsonWebKey::Generate(JwsAlgorithm::kES256)).value()), clock_(clock) {}

  // What the provider says and signs.
  std::string issuer = "https://idp.example.org";
  std::string client_id = "carerecord";
  std::string client_secret = "idp-secret";
  bool secret_post_only = false;
  JsonWebKey key;
  std::vector<JsonWebKey> published;  // the JWKS; just `key` when empty
  boost::json::object claims;         // added to every ID token (e.g. the role claim)
  std::string subject = "555000111222";

  // What the relying party did.
  std::vector<std::string> fetched;  // every URL asked for, in order
  std::string last_token_body;
  std::string last_authorization;

  struct Authorized {
    std::string code;
    std::string state;
  };
  // The user signs in at the IdP: the authorization request's parameters kept for the code.
  Authorized Authorize(const std::string& authorization_url) {
    auto url = boost::urls::parse_absolute_uri(authorization_url);
    std::map<std::string, std::string> params;
    for (const auto& param : url->params()) params[param.key] = param.value;
    Grant grant{params["nonce"], params["code_challenge"], params["redirect_uri"], params["scope"]};
    last_scope = grant.scope;
    const std::string code = "code-" + std::to_string(grants_.size() + 1);
    grants_[code] = grant;
    return {code, params["state"]};
  }
  std::string last_scope;

  base::Result<OidcHttpResponse> Get(const std::string& url) override {
    fetched.push_back(url);
    if (url == issuer + "/.well-known/openid-configuration") {
      boost::json::object doc{{"issuer", issuer},
                              {"authorization_endpoint", issuer + "/auth"},
                              {"token_endpoint", issuer + "/token"},
                              {"jwks_uri", issuer + "/jwks"},
                              {"id_token_signing_alg_values_supported", {"RS256", "ES256"}}};
      if (secret_post_only) doc["token_endpoint_auth_methods_supported"] = {"client_secret_post"};
      return OidcHttpResponse{200, "application/json", boost::json::serialize(doc)};
    }
    if (url == issuer + "/jwks") {
      JsonWebKeySet set(published.empty() ? std::vector<JsonWebKey>{key} : published);
      return OidcHttpResponse{200, "application/json", boost::json::serialize(set.PublicJson())};
    }
    return OidcHttpResponse{404, "text/plain", "not found"};
  }

  base::Result<OidcHttpResponse> PostForm(const std::string& url, const std::string& body,
                                          const std::string& authorization) override {
    fetched.push_back(url);
    last_token_body = body;
    last_authorization = authorization;
    if (url != issuer + "/token") return OidcHttpResponse{404, "text/plain", "not found"};
    auto query = boost::urls::parse_query(body);
    std::map<std::string, std::string> params;
    for (const auto& param : *query) params[param.key.decode()] = param.value.decode();
    auto refuse = [](std::string error) {
      return OidcHttpResponse{400, "application/json",
                              boost::json::serialize(boost::json::object{{"error", error}})};
    };
    const bool post = params.count("client_secret") != 0;
    if (post != secret_post_only) return refuse("invalid_client");
    if (post && (params["client_id"] != client_id || params["client_secret"] != client_secret)) {
      return refuse("invalid_client");
    }
    if (!post) {
      auto decoded = DecodeBasic(authorization);
      if (decoded != client_id + ":" + client_secret) return refuse("invalid_client");
    }
    auto grant = grants_.find(params["code"]);
    if (grant == grants_.end()) return refuse("invalid_grant");
    Grant g = grant->second;
    grants_.erase(grant);
    if (params["redirect_uri"] != g.redirect_uri) return refuse("invalid_grant");
    if (Base64UrlEncode(Sha256(params["code_verifier"])) != g.challenge) {
      return refuse("invalid_grant");
    }
    boost::json::object payload = claims;
    payload["iss"] = issuer;
    payload["sub"] = subject;
    payload["aud"] = client_id;
    payload["iat"] = clock_.NowSeconds();
    payload["exp"] = clock_.NowSeconds() + 300;
    payload["nonce"] = g.nonce;
    auto token = SignCompactJws(key, payload);
    return OidcHttpResponse{
        200, "application/json",
        boost::json::serialize(boost::json::object{
            {"access_token", "at"}, {"token_type", "Bearer"}, {"id_token", token.value()}})};
  }

 private:
  struct Grant {
    std::string nonce, challenge, redirect_uri, scope;
  };
  static std::string DecodeBasic(const std::string& authorization) {
    if (authorization.rfind("Basic ", 0) != 0) return {};
    std::string b64 = authorization.substr(6);
    std::string out(b64.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(b64.data()),
                            static_cast<int>(b64.size()));
    if (n < 0) return {};
    size_t pad = b64.ends_with("==") ? 2 : b64.ends_with('=') ? 1 : 0;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
  }
  const WallClock& clock_;
  std::map<std::string, Grant> grants_;
};

}  // namespace carerecord::access::testing
