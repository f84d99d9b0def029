// What tokens cost: access tokens issued per second (ES256), verified per second without and
// with the verified-token cache, the SHA-256 the cache is keyed by, and client assertions
// (ES384, RS384) checked per second: the token endpoint's work for SMART Backend Services.
// Goals (issue 19): >= 2,000 client-credentials tokens/s; a verification adding <= 5% to read
// by id (about 20 us of server CPU per request today, so a cached verify must stay well under
// 1 us).
//
//   build/bench/token_bench [--benchmark_filter=Verify]
//
// The key file lives in a temporary folder; the clock is the system's.

#include <benchmark/benchmark.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "access/access_token.h"
#include "access/client_assertion.h"
#include "access/signing_keys.h"

namespace {

using namespace carerecord::access;
namespace fs = std::filesystem;
namespace json = boost::json;

constexpr const char* kIssuer = "https://record.example.org";
constexpr const char* kFhirBase = "https://record.example.org/fhir";
constexpr const char* kTokenEndpoint = "https://record.example.org/auth/token";

struct Setup {
  Setup() {
    dir = fs::temp_directory_path() /
          ("carerecord-token-bench-" + std::to_string(std::random_device{}()));
    auto opened = SigningKeyRing::Open({dir}, clock);
    if (!opened.ok()) std::abort();
    ring = std::move(opened).value();
    tokens = std::make_unique<AccessTokens>(*ring, clock, AccessTokenOptions{kIssuer, kFhirBase});
    grant.kind = PrincipalKind::kClient;
    grant.subject = grant.client_id = "backend-client-0001";
    grant.organisation = "RDZ";
    grant.role = "integration";
    grant.scope = "system/*.rs";
    user_grant = grant;
    user_grant.kind = PrincipalKind::kUser;
    user_grant.subject = "clinician.jones";
    user_grant.client_id = "portal";
    user_grant.role = "clinician";
    user_grant.scope = "user/*.cruds launch/patient openid fhirUser offline_access";
    user_grant.patient = "b0d9e2c4-6f4a-4a4e-9a4c-0e1f2a3b4c5d";
    user_grant.fhir_user = "Practitioner/8e9a1b2c-3d4e-4f5a-8b6c-7d8e9f0a1b2c";
    for (JwsAlgorithm alg : {JwsAlgorithm::kES384, JwsAlgorithm::kRS384}) {
      auto key = JsonWebKey::Generate(alg);
      if (!key.ok()) std::abort();
      client_keys.push_back(std::move(key).value());
    }
    json::array jwks;
    for (const JsonWebKey& key : client_keys) jwks.push_back(key.PublicJwk());
    client_jwks = json::serialize(json::object{{"keys", jwks}});
  }
  ~Setup() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  fs::path dir;
  SystemWallClock clock;
  std::unique_ptr<SigningKeyRing> ring;
  std::unique_ptr<AccessTokens> tokens;
  AccessTokenGrant grant, user_grant;
  std::vector<JsonWebKey> client_keys;
  std::string client_jwks;
};

Setup& Shared() {
  static Setup setup;
  return setup;
}

void BM_IssueAccessToken(benchmark::State& state) {
  Setup& s = Shared();
  size_t bytes = 0;
  for (auto _ : state) {
    auto token = s.tokens->Issue(s.grant);
    bytes = token->token.size();
    benchmark::DoNotOptimize(token);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["token_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_IssueAccessToken)->Threads(1)->Threads(2)->UseRealTime();

void BM_VerifyUncached(benchmark::State& state) {
  Setup& s = Shared();
  std::string token = s.tokens->Issue(s.user_grant)->token;
  for (auto _ : state) {
    auto verified = s.tokens->VerifyUncached(token);
    if (!verified.ok()) state.SkipWithError(verified.error().message.c_str());
    benchmark::DoNotOptimize(verified);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyUncached)->Threads(1)->Threads(2)->UseRealTime();

// A few hundred distinct tokens in turn, as many users' requests would present them.
void BM_VerifyCached(benchmark::State& state) {
  Setup& s = Shared();
  static std::vector<std::string> tokens = [&] {
    std::vector<std::string> out;
    for (int i = 0; i < 512; ++i) out.push_back(s.tokens->Issue(s.user_grant)->token);
    return out;
  }();
  size_t i = static_cast<size_t>(state.thread_index()) * 97;
  for (auto _ : state) {
    auto verified = s.tokens->Verify(tokens[i++ % tokens.size()]);
    if (!verified.ok()) state.SkipWithError(verified.error().message.c_str());
    benchmark::DoNotOptimize(verified);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["token_bytes"] = static_cast<double>(tokens[0].size());
}
BENCHMARK(BM_VerifyCached)->Threads(1)->Threads(2)->UseRealTime();

// One keep-alive connection presenting the same token with each request.
void BM_VerifyConnectionMemo(benchmark::State& state) {
  Setup& s = Shared();
  std::string token = s.tokens->Issue(s.user_grant)->token;
  VerifiedTokenMemo memo;
  for (auto _ : state) {
    auto verified = s.tokens->Verify(token, memo);
    if (!verified.ok()) state.SkipWithError(verified.error().message.c_str());
    benchmark::DoNotOptimize(verified);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyConnectionMemo)->Threads(1)->Threads(2)->UseRealTime();

void BM_Sha256OfAToken(benchmark::State& state) {
  Setup& s = Shared();
  std::string token = s.tokens->Issue(s.user_grant)->token;
  for (auto _ : state) benchmark::DoNotOptimize(Sha256(token));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sha256OfAToken);

// The client's registered JWKS (one P-384 and one RSA 2,048 key), read for each assertion.
void BM_ParseClientJwks(benchmark::State& state) {
  Setup& s = Shared();
  JsonWebKeySet::ParseOptions options;
  options.skip_unsupported = true;
  for (auto _ : state) {
    auto jwks = JsonWebKeySet::Parse(s.client_jwks, options);
    if (!jwks.ok()) state.SkipWithError(jwks.error().message.c_str());
    benchmark::DoNotOptimize(jwks);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseClientJwks);

// Client credentials with private_key_jwt: check the client's assertion, then issue a token.
void BM_ClientCredentialsWithAssertion(benchmark::State& state) {
  Setup& s = Shared();
  const JsonWebKey& key = s.client_keys[static_cast<size_t>(state.range(0))];
  ClientAssertionVerifier verifier(s.clock);
  ClientAssertionExpectation expected{s.grant.client_id, s.client_jwks, kTokenEndpoint};
  // Signing the assertions is the client's work: done before the timing, one per iteration.
  const int64_t now = s.clock.NowSeconds();
  std::vector<std::string> assertions;
  static std::atomic<int64_t> serial{0};
  const size_t count = 4000;
  for (size_t i = 0; i < count; ++i) {
    json::object claims{{"iss", s.grant.client_id},
                        {"sub", s.grant.client_id},
                        {"aud", kTokenEndpoint},
                        {"exp", now + 240},
                        {"jti", "bench-" + std::to_string(serial++)}};
    assertions.push_back(*SignCompactJws(key, claims));
  }
  size_t i = 0;
  for (auto _ : state) {
    if (i == assertions.size()) {
      state.SkipWithError("ran out of assertions");
      break;
    }
    auto checked = verifier.Verify(assertions[i++], expected);
    if (!checked.ok()) state.SkipWithError(checked.error().message.c_str());
    auto token = s.tokens->Issue(s.grant);
    benchmark::DoNotOptimize(token);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(JwsAlgorithmName(*key.algorithm())));
}
BENCHMARK(BM_ClientCredentialsWithAssertion)->Arg(0)->Arg(1)->Iterations(3000);

}  // namespace

BENCHMARK_MAIN();
