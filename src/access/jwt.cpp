#include "access/jwt.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstring>
#include <set>

#include "access/base64url.h"
#include "fhir/json_number.h"
#include "fhir/json_parse.h"

namespace carerecord::access {

namespace json = boost::json;
using base::Invalid;

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
using UniquePkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using UniquePkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using UniqueMdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using UniqueBn = std::unique_ptr<BIGNUM, BnFree>;
using UniqueBio = std::unique_ptr<BIO, BioFree>;
using UniqueParamBld = std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree>;
using UniqueParams = std::unique_ptr<OSSL_PARAM, ParamFree>;
using UniqueEcdsaSig = std::unique_ptr<ECDSA_SIG, EcdsaSigFree>;

constexpr size_t kMinRsaBits = 2048;
constexpr size_t kMaxRsaBits = 8192;

// Digests fetched once: an implicit fetch per signature costs more than the hash.
const EVP_MD* Digest(JwsAlgorithm alg) {
  static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  static EVP_MD* sha384 = EVP_MD_fetch(nullptr, "SHA2-384", nullptr);
  return (alg == JwsAlgorithm::kES384 || alg == JwsAlgorithm::kRS384) ? sha384 : sha256;
}

bool IsEcAlgorithm(JwsAlgorithm alg) {
  return alg == JwsAlgorithm::kES256 || alg == JwsAlgorithm::kES384;
}

std::string BnBytes(const BIGNUM* bn, size_t width) {
  std::string out(width ? width : static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  return out;
}

UniqueBn BnFromBytes(std::string_view bytes) {
  return UniqueBn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size()), nullptr));
}

std::string Member(std::string_view name) { return "JWK member '" + std::string(name) + "'"; }

// A required base64url member of a JWK, decoded.
base::Result<std::string> Base64Member(const json::object& jwk, std::string_view name) {
  const json::value* value = jwk.if_contains(name);
  if (value == nullptr) return Invalid("JWK has no '" + std::string(name) + "'");
  const json::string* text = fhir::IfText(*value);
  if (text == nullptr) return Invalid(Member(name) + " is not a string");
  auto bytes = Base64UrlDecode(*text, Member(name));
  if (!bytes.ok()) return bytes.error();
  if (bytes->empty()) return Invalid(Member(name) + " is empty");
  return bytes;
}

std::string OptionalString(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  const json::string* text = value ? fhir::IfText(*value) : nullptr;
  return text ? std::string(*text) : std::string();
}

base::Result<UniquePkey> PkeyFromParams(const char* type, OSSL_PARAM_BLD* bld, bool with_private) {
  UniqueParams params(OSSL_PARAM_BLD_to_param(bld));
  UniquePkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0) {
    return base::MakeError(base::ErrorCode::kInternal, "OpenSSL could not start a key import");
  }
  EVP_PKEY* raw = nullptr;
  int selection = with_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) <= 0 || raw == nullptr) {
    return Invalid(std::string("JWK is not a valid ") + type + " key");
  }
  UniquePkey pkey(raw);
  // A public point off the curve is already refused by the import (the jwt test checks it).
  // OpenSSL's public key checks are not run: they cost milliseconds a key (an RSA modulus's
  // small factors, an EC point's order), and a key is read for every client assertion.
  if (with_private) {
    UniquePkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
    if (!check || EVP_PKEY_pairwise_check(check.get()) != 1) {
      return Invalid(std::string("JWK is not a valid ") + type + " key pair");
    }
  }
  return pkey;
}

base::Result<UniquePkey> EcPkeyFromJwk(const json::object& jwk, bool with_private,
                                       size_t& coordinate_bytes, JwsAlgorithm& alg) {
  std::string crv = OptionalString(jwk, "crv");
  const char* group = nullptr;
  if (crv == "P-256") {
    group = "prime256v1", coordinate_bytes = 32, alg = JwsAlgorithm::kES256;
  } else if (crv == "P-384") {
    group = "secp384r1", coordinate_bytes = 48, alg = JwsAlgorithm::kES384;
  } else {
    return Invalid("JWK 'crv' '" + crv + "' is not supported (P-256 or P-384)");
  }
  auto x = Base64Member(jwk, "x");
  if (!x.ok()) return x.error();
  auto y = Base64Member(jwk, "y");
  if (!y.ok()) return y.error();
  if (x->size() != coordinate_bytes || y->size() != coordinate_bytes) {
    return Invalid("JWK 'x' and 'y' of a " + crv + " key must be " +
                   std::to_string(coordinate_bytes) + " bytes each");
  }
  std::string point = "\x04" + *x + *y;
  UniqueParamBld bld(OSSL_PARAM_BLD_new());
  UniqueBn d;
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    return base::MakeError(base::ErrorCode::kInternal, "OpenSSL could not build EC parameters");
  }
  if (with_private) {
    auto d_bytes = Base64Member(jwk, "d");
    if (!d_bytes.ok()) return d_bytes.error();
    d = BnFromBytes(*d_bytes);
    if (!d || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get())) {
      return base::MakeError(base::ErrorCode::kInternal, "OpenSSL could not build EC parameters");
    }
  }
  return PkeyFromParams("EC", bld.get(), with_private);
}

base::Result<UniquePkey> RsaPkeyFromJwk(const json::object& jwk, bool with_private) {
  static constexpr std::pair<const char*, const char*> kPublic[] = {{"n", OSSL_PKEY_PARAM_RSA_N},
                                                                    {"e", OSSL_PKEY_PARAM_RSA_E}};
  static constexpr std::pair<const char*, const char*> kPrivate[] = {
      {"d", OSSL_PKEY_PARAM_RSA_D},          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
      {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
      {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2}, {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1}};
  UniqueParamBld bld(OSSL_PARAM_BLD_new());
  std::vector<UniqueBn> numbers;  // the builder refers to them until the params are made
  auto push = [&](const char* member, const char* param) -> base::Status {
    auto bytes = Base64Member(jwk, member);
    if (!bytes.ok()) return bytes.error();
    if (std::string_view(member) == "n" &&
        (bytes->size() * 8 < kMinRsaBits || bytes->size() * 8 > kMaxRsaBits)) {
      return Invalid("JWK RSA modulus 'n' is " + std::to_string(bytes->size() * 8) +
                     " bits: 2,048 to 8,192 are accepted");
    }
    numbers.push_back(BnFromBytes(*bytes));
    if (!numbers.back() || !OSSL_PARAM_BLD_push_BN(bld.get(), param, numbers.back().get())) {
      return base::MakeError(base::ErrorCode::kInternal, "OpenSSL could not build RSA parameters");
    }
    return base::Status::Ok();
  };
  if (!bld) return base::MakeError(base::ErrorCode::kInternal, "OpenSSL out of memory");
  for (auto [member, param] : kPublic) CR_RETURN_IF_ERROR(push(member, param));
  if (with_private) {
    for (auto [member, param] : kPrivate) CR_RETURN_IF_ERROR(push(member, param));
  }
  return PkeyFromParams("RSA", bld.get(), with_private);
}

constexpr const char* kPrivateMembers[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

bool HoldsPrivateMembers(const json::object& jwk) {
  for (const char* member : kPrivateMembers) {
    if (jwk.contains(member)) return true;
  }
  return false;
}

base::Result<json::object> ParseJoseJson(std::string_view text, std::string what) {
  fhir::JsonLimits limits;
  limits.max_depth = 16;
  limits.max_values = 10'000;
  limits.fhir_rules = true;  // no key twice: two readers must never see two different claims
  auto parsed = fhir::ParseFhirJson(text, limits);
  if (!parsed.ok()) return Invalid(what + " is not JSON: " + parsed.error().message);
  if (!parsed->is_object()) return Invalid(what + " is not a JSON object");
  return std::move(parsed->as_object());
}

}  // namespace

std::string_view JwsAlgorithmName(JwsAlgorithm alg) {
  switch (alg) {
    case JwsAlgorithm::kES256:
      return "ES256";
    case JwsAlgorithm::kES384:
      return "ES384";
    case JwsAlgorithm::kRS256:
      return "RS256";
    case JwsAlgorithm::kRS384:
      return "RS384";
  }
  return "?";
}

base::Result<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name) {
  if (name == "ES256") return JwsAlgorithm::kES256;
  if (name == "ES384") return JwsAlgorithm::kES384;
  if (name == "RS256") return JwsAlgorithm::kRS256;
  if (name == "RS384") return JwsAlgorithm::kRS384;
  if (name == "none" || name == "None" || name == "NONE") {
    return Invalid("alg '" + std::string(name) + "' is never accepted: every token must be signed");
  }
  if (name.size() >= 2 && (name.substr(0, 2) == "HS" || name.substr(0, 2) == "hs")) {
    return Invalid("alg '" + std::string(name) +
                   "' is never accepted: HMAC would let anyone holding a public key sign");
  }
  return Invalid("alg '" + std::string(name) + "' is not accepted (ES256, ES384, RS256, RS384)");
}

base::Result<JsonWebKey> JsonWebKey::FromPkey(EVP_PKEY* raw, std::string kid,
                                              std::optional<JwsAlgorithm> alg, bool has_private) {
  JsonWebKey key;
  key.key_ = std::shared_ptr<EVP_PKEY>(raw, PkeyFree());
  key.has_private_ = has_private;
  if (EVP_PKEY_get_base_id(raw) == EVP_PKEY_EC) {
    char group[64] = {0};
    size_t length = 0;
    EVP_PKEY_get_utf8_string_param(raw, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &length);
    JwsAlgorithm curve_alg;
    if (std::strcmp(group, "prime256v1") == 0 || std::strcmp(group, "P-256") == 0) {
      curve_alg = JwsAlgorithm::kES256, key.coordinate_bytes_ = 32;
    } else if (std::strcmp(group, "secp384r1") == 0 || std::strcmp(group, "P-384") == 0) {
      curve_alg = JwsAlgorithm::kES384, key.coordinate_bytes_ = 48;
    } else {
      return Invalid(std::string("EC curve '") + group + "' is not supported (P-256 or P-384)");
    }
    if (alg && *alg != curve_alg) {
      return Invalid("alg '" + std::string(JwsAlgorithmName(*alg)) + "' does not match the " +
                     group + " curve of the key (" + std::string(JwsAlgorithmName(curve_alg)) +
                     ")");
    }
    key.is_ec_ = true;
    key.alg_ = curve_alg;
  } else if (EVP_PKEY_get_base_id(raw) == EVP_PKEY_RSA) {
    int bits = EVP_PKEY_get_bits(raw);
    if (bits < static_cast<int>(kMinRsaBits) || bits > static_cast<int>(kMaxRsaBits)) {
      return Invalid("RSA key of " + std::to_string(bits) + " bits: 2,048 to 8,192 are accepted");
    }
    if (alg && IsEcAlgorithm(*alg)) {
      return Invalid("alg '" + std::string(JwsAlgorithmName(*alg)) + "' is not an RSA algorithm");
    }
    key.alg_ = alg;
  } else {
    return Invalid("only EC (P-256, P-384) and RSA keys are supported");
  }
  key.kid_ = kid.empty() ? key.Thumbprint() : std::move(kid);
  return key;
}

base::Result<JsonWebKey> JsonWebKey::FromJwk(const json::object& jwk, KeyMaterial material) {
  std::string kty = OptionalString(jwk, "kty");
  const json::value* kid_value = jwk.if_contains("kid");
  if (kid_value && !fhir::IfText(*kid_value)) return Invalid("JWK 'kid' is not a string");
  std::string kid = OptionalString(jwk, "kid");
  std::string use = OptionalString(jwk, "use");
  if (jwk.contains("use") && use != "sig") {
    return Invalid("JWK 'use' is '" + use + "': only signing keys ('sig') are accepted");
  }
  std::optional<JwsAlgorithm> alg;
  if (const json::value* alg_value = jwk.if_contains("alg")) {
    const json::string* text = fhir::IfText(*alg_value);
    if (!text) return Invalid("JWK 'alg' is not a string");
    auto parsed = ParseJwsAlgorithm(*text);
    if (!parsed.ok()) return Invalid("JWK " + parsed.error().message);
    alg = *parsed;
  }
  const bool has_private = HoldsPrivateMembers(jwk);
  if (has_private && material == KeyMaterial::kPublicOnly) {
    return Invalid("JWK" + (kid.empty() ? std::string() : " '" + kid + "'") +
                   " holds private key members ('d'...): only public keys are accepted here, and "
                   "this private key must be considered leaked");
  }
  base::Result<UniquePkey> pkey = Invalid("unset");
  if (kty == "EC") {
    size_t coordinate_bytes = 0;
    JwsAlgorithm curve_alg;
    pkey = EcPkeyFromJwk(jwk, has_private, coordinate_bytes, curve_alg);
  } else if (kty == "RSA") {
    pkey = RsaPkeyFromJwk(jwk, has_private);
  } else if (kty == "oct") {
    return Invalid("JWK 'kty' 'oct' (a shared secret) is never accepted");
  } else if (kty.empty()) {
    return Invalid("JWK has no 'kty'");
  } else {
    return Invalid("JWK 'kty' '" + kty + "' is not supported (EC or RSA)");
  }
  if (!pkey.ok()) return pkey.error();
  return FromPkey(std::move(pkey).value().release(), std::move(kid), alg, has_private);
}

base::Result<JsonWebKey> JsonWebKey::FromPem(std::string_view pem, std::string kid,
                                             std::optional<JwsAlgorithm> alg) {
  UniqueBio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return base::MakeError(base::ErrorCode::kInternal, "OpenSSL out of memory");
  bool has_private = pem.find("PRIVATE KEY-----") != std::string_view::npos;
  EVP_PKEY* raw = has_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                              : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (raw == nullptr) return Invalid("not a PEM private or public key");
  return FromPkey(raw, std::move(kid), alg, has_private);
}

base::Result<JsonWebKey> JsonWebKey::Generate(JwsAlgorithm alg) {
  EVP_PKEY* raw = alg == JwsAlgorithm::kES256   ? EVP_EC_gen("P-256")
                  : alg == JwsAlgorithm::kES384 ? EVP_EC_gen("P-384")
                                                : EVP_RSA_gen(2048);
  if (raw == nullptr) {
    return base::MakeError(base::ErrorCode::kInternal, "OpenSSL could not generate a key");
  }
  return FromPkey(raw, "", alg, true);
}

bool JsonWebKey::Accepts(JwsAlgorithm alg) const {
  if (!key_) return false;
  if (alg_) return *alg_ == alg;
  return !is_ec_ && !IsEcAlgorithm(alg);  // an RSA key without a JWK alg: RS256 or RS384
}

json::object JsonWebKey::PublicJwk() const {
  json::object jwk;
  if (!key_) return jwk;
  EVP_PKEY* raw = key_.get();
  if (is_ec_) {
    BIGNUM* x = nullptr;
    BIGNUM* y = nullptr;
    EVP_PKEY_get_bn_param(raw, OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(raw, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    UniqueBn x_owner(x), y_owner(y);
    jwk["kty"] = "EC";
    jwk["crv"] = coordinate_bytes_ == 32 ? "P-256" : "P-384";
    jwk["x"] = Base64UrlEncode(BnBytes(x, coordinate_bytes_));
    jwk["y"] = Base64UrlEncode(BnBytes(y, coordinate_bytes_));
  } else {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    EVP_PKEY_get_bn_param(raw, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(raw, OSSL_PKEY_PARAM_RSA_E, &e);
    UniqueBn n_owner(n), e_owner(e);
    jwk["kty"] = "RSA";
    jwk["n"] = Base64UrlEncode(BnBytes(n, 0));
    jwk["e"] = Base64UrlEncode(BnBytes(e, 0));
  }
  if (!kid_.empty()) jwk["kid"] = kid_;
  if (alg_) jwk["alg"] = JwsAlgorithmName(*alg_);
  jwk["use"] = "sig";
  return jwk;
}

std::string JsonWebKey::Thumbprint() const {
  if (!key_) return "";
  json::object jwk = PublicJwk();
  auto text = [&](const char* name) { return std::string(jwk.at(name).as_string()); };
  // RFC 7638 section 3.2: the required members only, sorted, no whitespace.
  std::string canonical =
      is_ec_ ? R"({"crv":")" + text("crv") + R"(","kty":"EC","x":")" + text("x") + R"(","y":")" +
                   text("y") + R"("})"
             : R"({"e":")" + text("e") + R"(","kty":"RSA","n":")" + text("n") + R"("})";
  return Base64UrlEncode(Sha256(canonical));
}

base::Result<std::string> JsonWebKey::PrivateKeyPem() const {
  if (!has_private_) return Invalid("key '" + kid_ + "' has no private part");
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return base::MakeError(base::ErrorCode::kInternal, "OpenSSL could not write the key as PEM");
  }
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

base::Result<std::string> JsonWebKey::Sign(std::string_view signing_input) const {
  if (!key_ || !has_private_)
    return Invalid("key '" + kid_ + "' has no private part: it cannot sign");
  if (!alg_) return Invalid("RSA key '" + kid_ + "' has no alg: it signs only when pinned to one");
  UniqueMdCtx ctx(EVP_MD_CTX_new());
  size_t length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, Digest(*alg_), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return base::MakeError(base::ErrorCode::kInternal, "OpenSSL could not start a signature");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return base::MakeError(base::ErrorCode::kInternal, "OpenSSL could not sign");
  }
  signature.resize(length);
  if (!is_ec_) return signature;
  // ECDSA comes out as DER; JOSE wants r and s as fixed-width big-endian (RFC 7518 3.4).
  const unsigned char* der = reinterpret_cast<const unsigned char*>(signature.data());
  UniqueEcdsaSig sig(d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(signature.size())));
  if (!sig) return base::MakeError(base::ErrorCode::kInternal, "OpenSSL wrote a bad signature");
  return BnBytes(ECDSA_SIG_get0_r(sig.get()), coordinate_bytes_) +
         BnBytes(ECDSA_SIG_get0_s(sig.get()), coordinate_bytes_);
}

bool JsonWebKey::Verify(JwsAlgorithm alg, std::string_view signing_input,
                        std::string_view signature) const {
  if (!Accepts(alg)) return false;
  std::string der;
  std::string_view to_check = signature;
  if (is_ec_) {
    if (signature.size() != 2 * coordinate_bytes_) return false;
    UniqueEcdsaSig sig(ECDSA_SIG_new());
    UniqueBn r = BnFromBytes(signature.substr(0, coordinate_bytes_));
    UniqueBn s = BnFromBytes(signature.substr(coordinate_bytes_));
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return false;
    r.release(), s.release();  // owned by sig now
    unsigned char* out = nullptr;
    int length = i2d_ECDSA_SIG(sig.get(), &out);
    if (length <= 0) return false;
    der.assign(reinterpret_cast<char*>(out), static_cast<size_t>(length));
    OPENSSL_free(out);
    to_check = der;
  } else if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(key_.get()))) {
    return false;
  }
  UniqueMdCtx ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, Digest(alg), nullptr, key_.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(to_check.data()),
                          to_check.size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
}

base::Result<JsonWebKeySet> JsonWebKeySet::Parse(std::string_view json_text,
                                                 const ParseOptions& options) {
  if (json_text.size() > options.max_bytes) {
    return Invalid("JWK Set is " + std::to_string(json_text.size()) + " bytes; at most " +
                   std::to_string(options.max_bytes) + " are accepted");
  }
  fhir::JsonLimits limits;
  limits.max_depth = 8;
  limits.fhir_rules = true;
  auto parsed = fhir::ParseFhirJson(json_text, limits);
  if (!parsed.ok()) return Invalid("JWK Set is not JSON: " + parsed.error().message);
  return FromJson(*parsed, options);
}

base::Result<JsonWebKeySet> JsonWebKeySet::FromJson(const json::value& jwks,
                                                    const ParseOptions& options) {
  const json::object* object = jwks.if_object();
  const json::value* keys = object ? object->if_contains("keys") : nullptr;
  if (keys == nullptr || !keys->is_array()) {
    return Invalid("JWK Set must be an object with a 'keys' array");
  }
  if (keys->as_array().size() > options.max_keys) {
    return Invalid("JWK Set has more than " + std::to_string(options.max_keys) + " keys");
  }
  std::vector<JsonWebKey> out;
  std::set<std::string> kids;
  size_t index = 0;
  for (const json::value& item : keys->as_array()) {
    const std::string where = "/keys/" + std::to_string(index++);
    if (!item.is_object()) return Invalid("JWK Set entry " + where + " is not an object");
    auto key = JsonWebKey::FromJwk(item.as_object(), options.material);
    if (!key.ok()) {
      // A private key is never skipped: it is refused, whatever the caller's leniency.
      if (options.skip_unsupported && !HoldsPrivateMembers(item.as_object())) continue;
      return base::Invalid(key.error().message + " (JWK Set entry " + where + ")", where);
    }
    if (!item.as_object().contains("kid")) {
      if (options.skip_unsupported) continue;
      return Invalid("JWK Set entry " + where + " has no 'kid': keys are looked up by kid", where);
    }
    if (!kids.insert(key->kid()).second) {
      return Invalid("JWK Set has two keys with kid '" + key->kid() + "'", where);
    }
    out.push_back(std::move(key).value());
  }
  return JsonWebKeySet(std::move(out));
}

const JsonWebKey* JsonWebKeySet::Find(std::string_view kid, JwsAlgorithm alg) const {
  const JsonWebKey* key = FindByKid(kid);
  return key && key->Accepts(alg) ? key : nullptr;
}

const JsonWebKey* JsonWebKeySet::FindByKid(std::string_view kid) const {
  for (const JsonWebKey& key : keys_) {
    if (key.kid() == kid) return &key;
  }
  return nullptr;
}

json::object JsonWebKeySet::PublicJson() const {
  json::array keys;
  for (const JsonWebKey& key : keys_) keys.push_back(key.PublicJwk());
  return json::object{{"keys", std::move(keys)}};
}

base::Result<CompactJws> ParseCompactJws(std::string_view token, std::string_view what,
                                         size_t max_bytes) {
  const std::string name(what);
  if (token.size() > max_bytes) {
    return Invalid(name + " is " + std::to_string(token.size()) + " bytes; at most " +
                   std::to_string(max_bytes) + " are accepted");
  }
  size_t first = token.find('.');
  size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return Invalid(name +
                   " is not a compact JWS: it must have exactly three parts "
                   "(header.payload.signature)");
  }
  std::string_view header_part = token.substr(0, first);
  std::string_view payload_part = token.substr(first + 1, second - first - 1);
  std::string_view signature_part = token.substr(second + 1);
  if (header_part.empty() || payload_part.empty() || signature_part.empty()) {
    return Invalid(name + " has an empty part: an unsigned token is never accepted");
  }
  auto header_text = Base64UrlDecode(header_part, name + "'s header");
  if (!header_text.ok()) return header_text.error();
  auto payload_text = Base64UrlDecode(payload_part, name + "'s payload");
  if (!payload_text.ok()) return payload_text.error();
  auto signature = Base64UrlDecode(signature_part, name + "'s signature");
  if (!signature.ok()) return signature.error();

  CompactJws jws;
  auto header = ParseJoseJson(*header_text, name + "'s header");
  if (!header.ok()) return header.error();
  jws.header = std::move(header).value();
  auto payload = ParseJoseJson(*payload_text, name + "'s payload");
  if (!payload.ok()) return payload.error();
  jws.payload = std::move(payload).value();

  auto alg_text = StringClaim(jws.header, "alg", name + "'s header");
  if (!alg_text.ok()) return alg_text.error();
  if (!alg_text->has_value()) return Invalid(name + "'s header has no 'alg'");
  auto alg = ParseJwsAlgorithm(**alg_text);
  if (!alg.ok()) return Invalid(name + ": " + alg.error().message);
  jws.algorithm = *alg;
  auto kid = StringClaim(jws.header, "kid", name + "'s header");
  if (!kid.ok()) return kid.error();
  jws.kid = kid->value_or("");
  if (jws.header.contains("crit")) {
    return Invalid(name + "'s header has 'crit': no critical extension is understood here");
  }
  jws.signing_input = std::string(token.substr(0, second));
  jws.signature = std::move(signature).value();
  return jws;
}

base::Result<std::string> SignCompactJws(const JsonWebKey& key, const json::object& payload,
                                         std::string_view typ) {
  if (!key.algorithm()) return Invalid("key '" + key.kid() + "' has no algorithm to sign with");
  json::object header{{"alg", JwsAlgorithmName(*key.algorithm())}, {"kid", key.kid()}};
  if (!typ.empty()) header["typ"] = typ;
  std::string input =
      Base64UrlEncode(json::serialize(header)) + "." + Base64UrlEncode(json::serialize(payload));
  auto signature = key.Sign(input);
  if (!signature.ok()) return signature.error();
  input += '.';
  input += Base64UrlEncode(*signature);
  return input;
}

base::Status VerifyCompactJws(const CompactJws& jws, const JsonWebKey& key, std::string_view what) {
  if (!key.Accepts(jws.algorithm)) {
    return Invalid(std::string(what) + " is signed with " +
                   std::string(JwsAlgorithmName(jws.algorithm)) + " but key '" + key.kid() +
                   "' is " +
                   (key.algorithm() ? std::string(JwsAlgorithmName(*key.algorithm()))
                                    : std::string("an RSA key (RS256/RS384)")));
  }
  if (!key.Verify(jws.algorithm, jws.signing_input, jws.signature)) {
    return Invalid(std::string(what) + "'s signature does not verify with key '" + key.kid() + "'");
  }
  return base::Status::Ok();
}

base::Result<std::optional<std::string>> StringClaim(const json::object& claims,
                                                     std::string_view name, std::string_view what) {
  const json::value* value = claims.if_contains(name);
  if (value == nullptr) return std::optional<std::string>();
  const json::string* text = fhir::IfText(*value);
  if (text == nullptr) {
    return Invalid(std::string(what) + ": '" + std::string(name) + "' is not a string");
  }
  return std::optional<std::string>(std::string(*text));
}

base::Result<std::optional<int64_t>> NumericDateClaim(const json::object& claims,
                                                      std::string_view name,
                                                      std::string_view what) {
  const json::value* value = claims.if_contains(name);
  if (value == nullptr) return std::optional<int64_t>();
  std::optional<double> number = fhir::NumberValue(*value);
  // Up to the year 5138: anything later is a mistake or an attempt at a token that never ends.
  if (!number || !std::isfinite(*number) || *number < 0 || *number > 1e11) {
    return Invalid(std::string(what) + ": '" + std::string(name) +
                   "' is not a NumericDate (seconds since 1970)");
  }
  return std::optional<int64_t>(static_cast<int64_t>(std::floor(*number)));
}

bool AudienceContains(const json::object& claims, std::string_view audience) {
  const json::value* aud = claims.if_contains("aud");
  if (aud == nullptr) return false;
  if (const json::string* text = fhir::IfText(*aud)) return *text == audience;
  if (const json::array* list = aud->if_array()) {
    for (const json::value& item : *list) {
      const json::string* text = fhir::IfText(item);
      if (text && *text == audience) return true;
    }
  }
  return false;
}

std::string Sha256(std::string_view bytes) {
  static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, sha256, nullptr);
  return std::string(reinterpret_cast<char*>(digest), length);
}

}  // namespace carerecord::access
