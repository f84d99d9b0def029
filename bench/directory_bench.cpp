// What the directory's checks cost, for the sign-in and token paths that will call them:
// argon2id hashing and verifying at the default parameters (one per password sign-in, known
// user or not), a client secret's check (one per client-credentials token), and the enabled
// state the token check reads on every request; and the audit's label of an unknown name.
//
//   build/bench/directory_bench [--benchmark_filter=...]

#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include "access/directory.h"
#include "access/passwords.h"
#include "http/sign_in_audit.h"

namespace {

using namespace carerecord;
namespace fs = std::filesystem;

constexpr const char* kPassword = "correct horse battery";

void BM_HashPassword(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(access::HashPassword(kPassword));
}
BENCHMARK(BM_HashPassword)->Unit(benchmark::kMillisecond);

void BM_VerifyPassword(benchmark::State& state) {
  const std::string hash = access::HashPassword(kPassword).value();
  for (auto _ : state) benchmark::DoNotOptimize(access::VerifyPassword(hash, kPassword));
}
BENCHMARK(BM_VerifyPassword)->Unit(benchmark::kMillisecond);

void BM_VerifyClientSecret(benchmark::State& state) {
  const std::string secret = access::RandomToken(32);
  const std::string hash = access::HashClientSecret(secret);
  for (auto _ : state) benchmark::DoNotOptimize(access::VerifyClientSecret(hash, secret));
}
BENCHMARK(BM_VerifyClientSecret)->Unit(benchmark::kMicrosecond);

// A directory of 10,000 users (a region's staff), hashed cheaply to build it quickly.
class DirectoryFixture : public benchmark::Fixture {
 public:
  void SetUp(const benchmark::State&) override {
    if (directory_) return;
    std::random_device random;
    dir_ = fs::temp_directory_path() / ("carerecord-directory-bench-" + std::to_string(random()));
    records_ = std::move(store::OpenSqliteIdentityRecords(dir_.string())).value();
    access::DirectoryOptions options;
    options.max_failed_sign_ins = 1 << 30;  // measure wrong passwords, not the lock
    directory_ = std::make_unique<access::Directory>(*records_, options);
    (void)directory_->AddOrganisation({"RDZ", "Poole Hospital", "hospital"});
    store::UserRecord user;
    user.ods_code = "RDZ";
    user.role = "nurse";
    user.password_hash = access::HashPassword(kPassword).value();
    for (int i = 0; i < 10000; ++i) {
      user.username = "user" + std::to_string(i);
      (void)records_->AddUser(user);
    }
  }
  ~DirectoryFixture() override {
    directory_.reset();
    records_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

 protected:
  fs::path dir_;
  std::unique_ptr<store::IdentityRecords> records_;
  std::unique_ptr<access::Directory> directory_;
};

BENCHMARK_DEFINE_F(DirectoryFixture, AuthenticateKnownUser)(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(directory_->Authenticate("user42", kPassword));
}
BENCHMARK_REGISTER_F(DirectoryFixture, AuthenticateKnownUser)->Unit(benchmark::kMillisecond);

BENCHMARK_DEFINE_F(DirectoryFixture, AuthenticateKnownUserWrongPassword)
(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(directory_->Authenticate("user43", "wrong"));
}
BENCHMARK_REGISTER_F(DirectoryFixture, AuthenticateKnownUserWrongPassword)
    ->Unit(benchmark::kMillisecond);

BENCHMARK_DEFINE_F(DirectoryFixture, AuthenticateUnknownUser)(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(directory_->Authenticate("nobody", kPassword));
}
BENCHMARK_REGISTER_F(DirectoryFixture, AuthenticateUnknownUser)->Unit(benchmark::kMillisecond);

BENCHMARK_DEFINE_F(DirectoryFixture, UserEnabled)(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(directory_->UserEnabled("user" + std::to_string(i++ % 10000)));
  }
}
BENCHMARK_REGISTER_F(DirectoryFixture, UserEnabled)->Unit(benchmark::kNanosecond);

// The audit's label of a name no user has (a failed sign-in under an unknown username, or a
// token request's unknown client id): HMAC-SHA256 under a key read from the database once.
BENCHMARK_DEFINE_F(DirectoryFixture, UnknownUserLabel)(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(http::UnknownUserLabel(*directory_, "HUNTER5PASSWORDXYZ"));
  }
}
BENCHMARK_REGISTER_F(DirectoryFixture, UnknownUserLabel)->Unit(benchmark::kMicrosecond);

// What each label cost on top before the key was held: reading it from the database, in a
// write transaction (KeepSecret), at every failed sign-in.
BENCHMARK_DEFINE_F(DirectoryFixture, KeepSecretPerLabelBefore)(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(records_->KeepSecret("audit_unknown_user_key", "candidate"));
  }
}
BENCHMARK_REGISTER_F(DirectoryFixture, KeepSecretPerLabelBefore)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
