// The server's own ES256 signing keys: kept in one file in the data folder (never in the
// database), created on first start with owner-only permissions, rotated by `carerecord keys
// rotate`, and re-read by a running server when the file changes. A retired key stays in the
// JWKS, and keeps verifying, until every token it signed has expired. The file functions take a
// lock file, so two processes never write the key file at once; SigningKeyRing is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "access/jwt.h"
#include "access/wall_clock.h"
#include "base/status.h"

namespace carerecord::access {

inline constexpr const char* kSigningKeyFileName = "signing-keys.json";
// The longest token lifetime `serve --token-ttl` may set: keys retired longer ago than this
// (plus the leeway) can have no live token, so rotation drops them from the file.
inline constexpr int64_t kMaxTokenTtlSeconds = 24 * 3600;
inline constexpr int64_t kMaxClockLeewaySeconds = 60;

struct SigningKey {
  JsonWebKey key;  // private, ES256; kid is its RFC 7638 thumbprint
  int64_t created = 0;
  std::optional<int64_t> retired;  // when a newer key took its place
};

// Reads the key file. Refused: a file that is not a regular file owned by this user, or that
// group or others may read or write ("chmod 600 FILE"), or that holds no current key.
base::Result<std::vector<SigningKey>> ReadSigningKeyFile(const std::filesystem::path& file);

// The keys in `data_dir`, after creating the file with one new key when there is none.
base::Result<std::vector<SigningKey>> LoadOrCreateSigningKeys(const std::filesystem::path& data_dir,
                                                              int64_t now);

// Retires the current key and adds a new current one (creating the file when absent); drops
// keys retired more than kMaxTokenTtlSeconds + kMaxClockLeewaySeconds ago. Returns the keys.
base::Result<std::vector<SigningKey>> RotateSigningKey(const std::filesystem::path& data_dir,
                                                       int64_t now);

// The current key (the newest one not retired).
const SigningKey* CurrentSigningKey(const std::vector<SigningKey>& keys);

// What a running server signs and verifies with, from the key file, which it reads again at most
// every `refresh_interval_seconds`, taking it up when its contents changed. A file that became
// unsafe or unreadable is not used: the keys read before stay, and last_error() says why.
class SigningKeyRing {
 public:
  struct Options {
    std::filesystem::path data_dir;
    int64_t token_ttl_seconds = 300;  // how long a retired key's tokens may live
    int64_t leeway_seconds = 30;
    int64_t refresh_interval_seconds = 10;
  };

  // One consistent view of the keys. Immutable.
  struct Keys {
    uint64_t generation = 0;  // changes whenever the file's contents are taken up
    JsonWebKey current;
    struct Verifier {
      JsonWebKey key;
      int64_t valid_until;  // INT64_MAX for the current key
    };
    std::vector<Verifier> verifiers;  // current first, then retired keys still within their window

    // The key `kid` if it may verify a token at `now`, else nullptr.
    const JsonWebKey* VerifierFor(std::string_view kid, int64_t now) const;
  };

  // Creates the key file when absent; an unsafe or unreadable file is an error.
  static base::Result<std::unique_ptr<SigningKeyRing>> Open(Options options,
                                                            const WallClock& clock);

  // The keys, re-read first when the refresh interval has passed and the file changed.
  std::shared_ptr<const Keys> Current();
  // The generation of Current(), cheaply (for the verified-token cache's hot path).
  uint64_t CurrentGeneration();
  // The JWKS document: the public keys that may verify at the clock's now.
  boost::json::object JwksDocument();
  // Why the last re-read failed (empty when it did not).
  std::string last_error() const;
  const Options& options() const { return options_; }

 private:
  SigningKeyRing(Options options, const WallClock& clock) : options_(options), clock_(clock) {}
  void RefreshIfDue();
  base::Status Load();  // re-reads the file; takes it up when its contents changed

  const Options options_;
  const WallClock& clock_;
  std::atomic<int64_t> next_check_{0};
  std::atomic<uint64_t> generation_{0};
  mutable std::mutex mutex_;  // guards keys_, file_digest_, last_error_; taken to refresh
  std::shared_ptr<const Keys> keys_;
  std::string file_digest_;  // SHA-256 of the text keys_ was read from
  std::string last_error_;
};

}  // namespace carerecord::access
