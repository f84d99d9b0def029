// JWS and JWK over OpenSSL, checked against keys the openssl command line made and signatures,
// JWKs and thumbprints Node's crypto made (testdata/make_fixtures.sh).
#include "access/jwt.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>

#include "access/base64url.h"
#include "access/token_test_support.h"

namespace carerecord::access {
namespace {

namespace json = boost::json;
using testing::Fixture;
using testing::Fixtures;
using testing::ReadTestData;

std::string Message(const base::Error& error) { return error.message; }

TEST(Base64Url, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    auto decoded = Base64UrlDecode(Base64UrlEncode(bytes), "x");
    ASSERT_TRUE(decoded.ok()) << i;
    EXPECT_EQ(*decoded, bytes);
    bytes.push_back(static_cast<char>(i * 37 + 250));
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(Base64Url, RefusesPaddingWhitespaceAndOtherAlphabets) {
  EXPECT_TRUE(Base64UrlDecode("QQ", "x").ok());
  EXPECT_FALSE(Base64UrlDecode("QQ==", "x").ok());
  EXPECT_FALSE(Base64UrlDecode("Q Q", "x").ok());
  EXPECT_FALSE(Base64UrlDecode("QQ\n", "x").ok());
  EXPECT_FALSE(Base64UrlDecode("+/8", "x").ok());    // the standard alphabet, not the url one
  EXPECT_FALSE(Base64UrlDecode("QUJDR", "x").ok());  // a length no encoding has
  auto bad = Base64UrlDecode("ab*d", "the token's payload");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(Message(bad.error()).find("the token's payload"), std::string::npos);
  EXPECT_NE(Message(bad.error()).find("offset 2"), std::string::npos);
}

TEST(Base64Url, RefusesStrayBitsInTheLastCharacter) {
  EXPECT_TRUE(Base64UrlDecode("QQ", "x").ok());   // "A"
  EXPECT_FALSE(Base64UrlDecode("QR", "x").ok());  // also "A" if stray bits were ignored
  EXPECT_TRUE(Base64UrlDecode("QUI", "x").ok());  // "AB"
  EXPECT_FALSE(Base64UrlDecode("QUJ", "x").ok());
}

json::object Jwk(const char* name) {
  return json::parse(json::serialize(Fixtures().at(name))).as_object();
}

TEST(JsonWebKey, PublicJwkOfAnOpensslKeyIsTheOneNodeExports) {
  auto from_pem = JsonWebKey::FromPem(ReadTestData("server_es256.pem"), "");
  ASSERT_TRUE(from_pem.ok()) << Message(from_pem.error());
  json::object ours = from_pem->PublicJwk();
  json::object node = Jwk("server_jwk");
  for (const char* member : {"kty", "crv", "x", "y", "kid", "alg"}) {
    EXPECT_EQ(ours.at(member), node.at(member)) << member;
  }
  EXPECT_EQ(from_pem->Thumbprint(), Fixture("server_thumbprint"));
  EXPECT_EQ(from_pem->kid(), Fixture("server_thumbprint"));  // no kid given: the thumbprint

  const json::array& client_keys = Fixtures().at("client_jwks").at("keys").as_array();
  auto rsa =
      JsonWebKey::FromPem(ReadTestData("client_rs384.pem"), "client-rs384", JwsAlgorithm::kRS384);
  ASSERT_TRUE(rsa.ok()) << Message(rsa.error());
  EXPECT_EQ(rsa->PublicJwk().at("n"), client_keys[1].at("n"));
  EXPECT_EQ(rsa->PublicJwk().at("e"), client_keys[1].at("e"));
}

TEST(JsonWebKey, ReadsEcAndRsaJwksAndFixesTheirAlgorithm) {
  auto set = JsonWebKeySet::FromJson(Fixtures().at("client_jwks"), {});
  ASSERT_TRUE(set.ok()) << Message(set.error());
  ASSERT_EQ(set->keys().size(), 2u);
  EXPECT_NE(set->Find("client-es384", JwsAlgorithm::kES384), nullptr);
  EXPECT_EQ(set->Find("client-es384", JwsAlgorithm::kES256), nullptr);
  EXPECT_EQ(set->Find("client-es384", JwsAlgorithm::kRS384), nullptr);
  EXPECT_NE(set->Find("client-rs384", JwsAlgorithm::kRS384), nullptr);
  EXPECT_EQ(set->Find("client-rs384", JwsAlgorithm::kRS256), nullptr);  // its JWK says RS384
  EXPECT_EQ(set->Find("nope", JwsAlgorithm::kES384), nullptr);

  json::object rsa_without_alg = Fixtures().at("client_jwks").at("keys").at(1).as_object();
  rsa_without_alg.erase("alg");
  auto key = JsonWebKey::FromJwk(rsa_without_alg, KeyMaterial::kPublicOnly);
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(key->Accepts(JwsAlgorithm::kRS256));
  EXPECT_TRUE(key->Accepts(JwsAlgorithm::kRS384));
  EXPECT_FALSE(key->Accepts(JwsAlgorithm::kES256));
}

TEST(JsonWebKey, RefusesPrivateMembersWhereAPublicKeyIsExpected) {
  auto generated = JsonWebKey::GenerateEs256();
  ASSERT_TRUE(generated.ok());
  json::object jwk = generated->PublicJwk();
  jwk["d"] = Base64UrlEncode(std::string(32, '\x01'));
  auto refused = JsonWebKey::FromJwk(jwk, KeyMaterial::kPublicOnly);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(Message(refused.error()).find("private"), std::string::npos);

  json::object jwks{{"keys", json::array{jwk}}};
  JsonWebKeySet::ParseOptions lenient;
  lenient.skip_unsupported = true;  // even a lenient reader never skips a leaked private key
  EXPECT_FALSE(JsonWebKeySet::FromJson(jwks, lenient).ok());
}

TEST(JsonWebKey, RefusesSharedSecretsUnknownCurvesAndPointsOffTheCurve) {
  EXPECT_FALSE(JsonWebKey::FromJwk(json::object{{"kty", "oct"}, {"k", "c2VjcmV0"}},
                                   KeyMaterial::kPrivateAllowed)
                   .ok());
  json::object jwk = Jwk("server_jwk");
  jwk["crv"] = "P-521";
  EXPECT_FALSE(JsonWebKey::FromJwk(jwk, KeyMaterial::kPublicOnly).ok());

  jwk = Jwk("server_jwk");
  std::string y = *Base64UrlDecode(std::string(jwk.at("y").as_string()), "y");
  y.back() ^= 1;
  jwk["y"] = Base64UrlEncode(y);
  auto off_curve = JsonWebKey::FromJwk(jwk, KeyMaterial::kPublicOnly);
  EXPECT_FALSE(off_curve.ok());

  jwk = Jwk("server_jwk");
  jwk["alg"] = "ES384";  // a P-256 key cannot make ES384 signatures
  EXPECT_FALSE(JsonWebKey::FromJwk(jwk, KeyMaterial::kPublicOnly).ok());
  jwk["alg"] = "HS256";
  EXPECT_FALSE(JsonWebKey::FromJwk(jwk, KeyMaterial::kPublicOnly).ok());
  jwk = Jwk("server_jwk");
  jwk["use"] = "enc";
  EXPECT_FALSE(JsonWebKey::FromJwk(jwk, KeyMaterial::kPublicOnly).ok());
}

TEST(JsonWebKey, RefusesShortRsaKeys) {
  json::object jwk = Fixtures().at("client_jwks").at("keys").at(1).as_object();
  std::string n = *Base64UrlDecode(std::string(jwk.at("n").as_string()), "n");
  jwk["n"] = Base64UrlEncode(n.substr(0, 128));  // 1,024 bits
  auto refused = JsonWebKey::FromJwk(jwk, KeyMaterial::kPublicOnly);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(Message(refused.error()).find("2,048"), std::string::npos);
}

TEST(JsonWebKeySet, NeedsUniqueKids) {
  json::object key = Jwk("server_jwk");
  json::object jwks{{"keys", json::array{key, key}}};
  EXPECT_FALSE(JsonWebKeySet::FromJson(jwks, {}).ok());
  key.erase("kid");
  EXPECT_FALSE(JsonWebKeySet::FromJson(json::object{{"keys", json::array{key}}}, {}).ok());
  EXPECT_FALSE(JsonWebKeySet::Parse("[1]", {}).ok());
  EXPECT_FALSE(JsonWebKeySet::Parse("{\"keys\": 3}", {}).ok());
}

TEST(CompactJws, SignsAndVerifiesWithEveryAlgorithm) {
  json::object payload{{"sub", "x"}, {"n", 1}};
  struct Case {
    const char* pem;
    JwsAlgorithm alg;
  } cases[] = {{"server_es256.pem", JwsAlgorithm::kES256},
               {"client_es384.pem", JwsAlgorithm::kES384},
               {"client_rs384.pem", JwsAlgorithm::kRS384},
               {"client_rs384.pem", JwsAlgorithm::kRS256}};
  for (const Case& c : cases) {
    auto key = JsonWebKey::FromPem(ReadTestData(c.pem), "k", c.alg);
    ASSERT_TRUE(key.ok()) << c.pem;
    auto token = SignCompactJws(*key, payload);
    ASSERT_TRUE(token.ok()) << c.pem;
    auto jws = ParseCompactJws(*token, "t");
    ASSERT_TRUE(jws.ok()) << Message(jws.error());
    EXPECT_EQ(jws->algorithm, c.alg);
    EXPECT_EQ(jws->kid, "k");
    EXPECT_EQ(jws->payload, payload);
    EXPECT_TRUE(VerifyCompactJws(*jws, *key, "t").ok()) << JwsAlgorithmName(c.alg);
  }
}

TEST(CompactJws, VerifiesWhatNodeSigned) {
  auto set = JsonWebKeySet::FromJson(Fixtures().at("client_jwks"), {});
  ASSERT_TRUE(set.ok());
  for (const char* name : {"assertion_es384", "assertion_rs384"}) {
    auto jws = ParseCompactJws(Fixture(name), "a");
    ASSERT_TRUE(jws.ok()) << name;
    const JsonWebKey* key = set->Find(jws->kid, jws->algorithm);
    ASSERT_NE(key, nullptr) << name;
    EXPECT_TRUE(VerifyCompactJws(*jws, *key, "a").ok()) << name;
  }
}

TEST(CompactJws, NodeVerifiesWhatWeSigned) {
  if (std::system("node --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no node";
  auto key = JsonWebKey::GenerateEs256();
  ASSERT_TRUE(key.ok());
  auto token = SignCompactJws(*key, json::object{{"sub", "checked by node"}});
  ASSERT_TRUE(token.ok());
  testing::TemporaryDirectory dir;
  std::ofstream(dir.path() / "jwk.json") << json::serialize(key->PublicJwk());
  std::ofstream(dir.path() / "token.txt") << *token;
  std::string script = R"(
    const c = require('node:crypto'); const fs = require('node:fs');
    const jwk = JSON.parse(fs.readFileSync(process.argv[2] + '/jwk.json'));
    const [h, p, s] = fs.readFileSync(process.argv[2] + '/token.txt', 'utf8').split('.');
    const ok = c.verify('sha256', Buffer.from(h + '.' + p),
      { key: c.createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' },
      Buffer.from(s, 'base64url'));
    process.exit(ok ? 0 : 1);)";
  std::ofstream(dir.path() / "verify.js") << script;
  std::string command = "node " + (dir.path() / "verify.js").string() + " " + dir.path().string();
  EXPECT_EQ(std::system(command.c_str()), 0);
}

std::string Part(const json::object& object) { return Base64UrlEncode(json::serialize(object)); }

TEST(CompactJws, RefusesMalformedTokens) {
  const std::string header = Part({{"alg", "ES256"}, {"kid", "k"}});
  const std::string payload = Part({{"sub", "x"}});
  const std::string signature = Base64UrlEncode(std::string(64, '\x02'));
  EXPECT_TRUE(ParseCompactJws(header + "." + payload + "." + signature, "t").ok());
  EXPECT_FALSE(ParseCompactJws(header + "." + payload, "t").ok());
  EXPECT_FALSE(ParseCompactJws(header + "." + payload + "." + signature + ".x", "t").ok());
  EXPECT_FALSE(ParseCompactJws(header + "." + payload + ".", "t").ok());
  EXPECT_FALSE(ParseCompactJws(header + "=." + payload + "." + signature, "t").ok());
  EXPECT_FALSE(ParseCompactJws(header + ". " + payload + "." + signature, "t").ok());
  EXPECT_FALSE(ParseCompactJws(Base64UrlEncode("[1]") + "." + payload + "." + signature, "t").ok());
  EXPECT_FALSE(
      ParseCompactJws(header + "." + Base64UrlEncode("\"x\"") + "." + signature, "t").ok());
  EXPECT_FALSE(
      ParseCompactJws(header + "." + Base64UrlEncode("{nope") + "." + signature, "t").ok());
  // Two readers could take two different subjects from this: refused.
  EXPECT_FALSE(
      ParseCompactJws(header + "." + Base64UrlEncode(R"({"sub":"a","sub":"b"})") + "." + signature,
                      "t")
          .ok());
  EXPECT_FALSE(ParseCompactJws(Part({{"alg", "ES256"}, {"crit", json::array{"exp"}}}) + "." +
                                   payload + "." + signature,
                               "t")
                   .ok());
  EXPECT_FALSE(ParseCompactJws(Part({{"kid", "k"}}) + "." + payload + "." + signature, "t").ok());
  std::string huge = Part({{"sub", std::string(20000, 'a')}});
  auto too_big = ParseCompactJws(header + "." + huge + "." + signature, "the access token");
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(Message(too_big.error()).find("the access token"), std::string::npos);
}

TEST(CompactJws, NeverAcceptsNoneOrHmac) {
  const std::string payload = Part({{"sub", "x"}});
  for (const char* alg : {"none", "NONE", "HS256", "HS384", "HS512", "PS256", "ES512", "EdDSA"}) {
    auto parsed =
        ParseCompactJws(Part({{"alg", alg}}) + "." + payload + "." + Base64UrlEncode("sig"), "t");
    ASSERT_FALSE(parsed.ok()) << alg;
    EXPECT_NE(Message(parsed.error()).find(alg), std::string::npos) << Message(parsed.error());
  }
}

TEST(CompactJws, TheKeyFixesTheAlgorithm) {
  auto es256 = JsonWebKey::FromPem(ReadTestData("server_es256.pem"), "k");
  auto rsa = JsonWebKey::FromPem(ReadTestData("client_rs384.pem"), "k", JwsAlgorithm::kRS384);
  ASSERT_TRUE(es256.ok() && rsa.ok());
  auto token = SignCompactJws(*rsa, json::object{{"sub", "x"}});
  ASSERT_TRUE(token.ok());
  auto jws = ParseCompactJws(*token, "t");
  ASSERT_TRUE(jws.ok());
  EXPECT_FALSE(VerifyCompactJws(*jws, *es256, "t").ok());
  // The same signature presented as RS256 is refused by a key pinned to RS384.
  jws->algorithm = JwsAlgorithm::kRS256;
  EXPECT_FALSE(VerifyCompactJws(*jws, *rsa, "t").ok());
}

TEST(CompactJws, RefusesTamperedPayloadsAndSignatures) {
  auto key = JsonWebKey::GenerateEs256();
  ASSERT_TRUE(key.ok());
  auto token = SignCompactJws(*key, json::object{{"sub", "alice"}});
  ASSERT_TRUE(token.ok());
  size_t first = token->find('.'), second = token->rfind('.');
  std::string tampered_payload =
      token->substr(0, first + 1) + Part({{"sub", "mallory"}}) + token->substr(second);
  auto jws = ParseCompactJws(tampered_payload, "t");
  ASSERT_TRUE(jws.ok());
  EXPECT_FALSE(VerifyCompactJws(*jws, *key, "t").ok());

  std::string signature = *Base64UrlDecode(token->substr(second + 1), "s");
  signature[10] ^= 0x40;
  jws = ParseCompactJws(token->substr(0, second + 1) + Base64UrlEncode(signature), "t");
  ASSERT_TRUE(jws.ok());
  EXPECT_FALSE(VerifyCompactJws(*jws, *key, "t").ok());
  // A DER signature where JOSE's raw r||s belongs is refused, not reinterpreted.
  jws =
      ParseCompactJws(token->substr(0, second + 1) + Base64UrlEncode(std::string(70, '\x30')), "t");
  ASSERT_TRUE(jws.ok());
  EXPECT_FALSE(VerifyCompactJws(*jws, *key, "t").ok());
}

TEST(Claims, ReadsStringsDatesAndAudiences) {
  json::object claims{{"sub", "x"},        {"n", 3},
                      {"exp", 1700000000}, {"frac", 1700000000.75},
                      {"neg", -5},         {"aud", json::array{"a", "b"}}};
  EXPECT_EQ(StringClaim(claims, "sub", "t")->value(), "x");
  EXPECT_FALSE(StringClaim(claims, "missing", "t")->has_value());
  EXPECT_FALSE(StringClaim(claims, "n", "t").ok());
  EXPECT_EQ(NumericDateClaim(claims, "exp", "t")->value(), 1700000000);
  EXPECT_EQ(NumericDateClaim(claims, "frac", "t")->value(), 1700000000);
  EXPECT_FALSE(NumericDateClaim(claims, "neg", "t").ok());
  EXPECT_FALSE(NumericDateClaim(claims, "sub", "t").ok());
  EXPECT_TRUE(AudienceContains(claims, "b"));
  EXPECT_FALSE(AudienceContains(claims, "c"));
  EXPECT_TRUE(AudienceContains(json::object{{"aud", "c"}}, "c"));
}

}  // namespace
}  // namespace carerecord::access
