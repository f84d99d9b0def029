#include "access/directory_values.h"

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "access/scope_restriction.h"
#include "access/scopes.h"

namespace carerecord::access {
namespace {

using base::Invalid;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsUpperAlnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool IsBase64Url(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

base::Status CheckPublicJwk(const boost::json::object& key, size_t index) {
  const std::string where = "keys[" + std::to_string(index) + "]";
  // Private parts of EC and RSA keys, and the secret of a symmetric ("oct") key.
  for (const char* member : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    if (key.contains(member)) {
      return Invalid(where + " holds a private or secret key (member \"" + std::string(member) +
                         "\"): register only the public keys",
                     where);
    }
  }
  auto text = [&](const char* member) -> std::string_view {
    const auto* value = key.if_contains(member);
    return value && value->is_string() ? std::string_view(value->as_string()) : std::string_view();
  };
  const std::string_view kty = text("kty");
  if (kty == "EC") {
    const std::string_view crv = text("crv");
    if (crv != "P-256" && crv != "P-384" && crv != "P-521") {
      return Invalid(where + ": an EC key's crv must be P-256, P-384 or P-521", where);
    }
    if (!IsBase64Url(text("x")) || !IsBase64Url(text("y"))) {
      return Invalid(where + ": an EC key needs x and y in base64url", where);
    }
    return base::Status::Ok();
  }
  if (kty == "RSA") {
    if (!IsBase64Url(text("n")) || !IsBase64Url(text("e"))) {
      return Invalid(where + ": an RSA key needs n and e in base64url", where);
    }
    return base::Status::Ok();
  }
  return Invalid(where + ": kty must be EC or RSA (the algorithms SMART Backend Services uses)",
                 where);
}

}  // namespace

base::Result<std::string> NormaliseOdsCode(std::string_view ods_code) {
  std::string code(ods_code);
  std::transform(code.begin(), code.end(), code.begin(),
                 [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; });
  if (code.size() < 3 || code.size() > 10 || !std::all_of(code.begin(), code.end(), IsUpperAlnum)) {
    return Invalid("an ODS code is 3 to 10 letters and digits, e.g. RDZ or J81001, not '" +
                       std::string(ods_code.substr(0, 64)) + "'",
                   "--ods");
  }
  return code;
}

base::Result<std::string> NormaliseUsername(std::string_view username) {
  std::string name(username);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
  bool ok = !name.empty() && name.size() <= 64 && IsLowerAlnum(name[0]) &&
            std::all_of(name.begin(), name.end(), [](char c) {
              return IsLowerAlnum(c) || c == '.' || c == '_' || c == '@' || c == '-';
            });
  if (!ok) {
    return Invalid(
        "a username is 1 to 64 of letters, digits and . _ @ -, starting with a letter or digit",
        "--username");
  }
  return name;
}

base::Result<std::string> NormaliseScope(std::string_view scope) {
  std::string joined;
  size_t at = 0;
  while (at < scope.size()) {
    size_t end = scope.find(' ', at);
    if (end == std::string_view::npos) end = scope.size();
    std::string_view token = scope.substr(at, end - at);
    at = end + 1;
    if (token.empty()) continue;
    for (unsigned char c : token) {
      // scope-token = 1*( %x21 / %x23-5B / %x5D-7E ): printable ASCII but '"' and '\'.
      if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') {
        return Invalid("the scope '" + std::string(token.substr(0, 100)) +
                           "' holds a character that a scope may not hold (RFC 6749 section 3.3)",
                       "--scope");
      }
    }
    if (!joined.empty()) joined += ' ';
    joined += token;
  }
  if (joined.empty()) {
    return Invalid("--scope must name at least one scope, e.g. \"system/*.rs\"", "--scope");
  }
  // A scope the token endpoint cannot read, or a restriction it cannot enforce, would be a grant
  // no token could ever carry: refused now, not found out at every token request.
  auto parsed = ScopeSet::Parse(joined);
  if (!parsed.ok()) return Invalid("--scope: " + parsed.error().message, "--scope");
  for (const ClinicalScope& clinical : parsed->clinical()) {
    if (auto why = UnenforceableRestriction(clinical)) {
      return Invalid("--scope: " + *why + "; this server would never grant it", "--scope");
    }
  }
  return joined;
}

base::Status CheckPublicJwks(std::string_view json) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(json, ec);
  if (ec) return Invalid("the JWKS is not JSON: " + ec.message(), "--jwks-file");
  const auto* set = value.if_object();
  const auto* keys = set ? set->if_contains("keys") : nullptr;
  if (!keys || !keys->is_array() || keys->as_array().empty()) {
    return Invalid(
        "the JWKS must be a JSON Web Key Set: an object whose \"keys\" array holds at "
        "least one key",
        "--jwks-file");
  }
  size_t index = 0;
  for (const auto& key : keys->as_array()) {
    if (!key.is_object()) return Invalid("keys[" + std::to_string(index) + "] is not an object");
    CR_RETURN_IF_ERROR(CheckPublicJwk(key.as_object(), index));
    ++index;
  }
  return base::Status::Ok();
}

base::Status CheckRedirectUri(std::string_view uri) {
  auto parsed = boost::urls::parse_absolute_uri(uri);
  const std::string shown(uri.substr(0, 200));
  if (!parsed) {
    return Invalid("the redirect URI '" + shown + "' is not an absolute URL without a fragment",
                   "--redirect-uri");
  }
  // Boost.URL 1.81 reads "http://127.0.0.1.evil.example/" as host 127.0.0.1 and path
  // ".evil.example/": after an authority, RFC 3986 allows only an empty path or one that begins
  // with '/', so anything else is refused here.
  const std::string_view path = parsed->encoded_path();
  if (!parsed->has_authority() || (!path.empty() && path.front() != '/')) {
    return Invalid("the redirect URI '" + shown + "' is not an absolute URL with a host",
                   "--redirect-uri");
  }
  if (parsed->has_userinfo()) {
    return Invalid("the redirect URI '" + shown + "' must not hold a user name or password",
                   "--redirect-uri");
  }
  const std::string scheme(parsed->scheme());
  const std::string host(parsed->host_address());
  if (host.empty())
    return Invalid("the redirect URI '" + shown + "' has no host", "--redirect-uri");
  if (scheme == "https") return base::Status::Ok();
  const auto type = parsed->host_type();
  const bool loopback = (type == boost::urls::host_type::name && host == "localhost") ||
                        (type == boost::urls::host_type::ipv4 && host.starts_with("127.")) ||
                        (type == boost::urls::host_type::ipv6 && host == "::1");
  if (scheme == "http" && loopback) return base::Status::Ok();
  return Invalid("the redirect URI '" + shown +
                     "' must be https (http only for a loopback host: 127.0.0.1, [::1], localhost)",
                 "--redirect-uri");
}

}  // namespace carerecord::access
