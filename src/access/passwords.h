// Secrets at rest: users' passwords hashed with argon2id (the encoded string carries its
// parameters and salt), clients' generated secrets hashed with SHA-256, and the random values
// (passwords, client ids, secrets) the directory hands out. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace carerecord::access {

// argon2id's cost. The defaults are OWASP's (19 MiB, 2 passes, 1 lane): about 20-40 ms per
// hash on one core here. Each hash records its own, so raising them later still verifies old
// hashes.
struct PasswordHashOptions {
  uint32_t memory_kib = 19456;
  uint32_t iterations = 2;
  uint32_t parallelism = 1;
};

// The PHC string "$argon2id$v=19$m=...,t=...,p=...$salt$hash" with a 16-byte salt from
// RAND_bytes and a 32-byte hash. Fails only when the system cannot supply randomness or memory.
base::Result<std::string> HashPassword(std::string_view password,
                                       const PasswordHashOptions& options = {});

// True when `password` matches `encoded` (argon2's own verify, whose comparison is constant
// time). A malformed or non-argon2id string never matches.
bool VerifyPassword(std::string_view encoded, std::string_view password);

// A password the directory would accept: 12 to 1,024 bytes, no control characters.
base::Status CheckPasswordStrength(std::string_view password);

// A generated password: 20 characters drawn uniformly from 56 that are hard to misread
// (about 116 bits).
std::string GeneratePassword();

// `bytes` random bytes from RAND_bytes, as unpadded base64url.
std::string RandomToken(size_t bytes);

// HMAC-SHA256 of `data` under `key`: the 32 raw bytes, or none when OpenSSL fails. For names
// kept or shown only as a keyed hash (unknown sign-in names).
std::optional<std::string> HmacSha256(std::string_view key, std::string_view data);
// `bytes` random bytes as lower-case hex: for identifiers typed on command lines, where a
// leading '-' would read as an option.
std::string RandomHex(size_t bytes);

// A client secret is 32 random bytes (RandomToken), so guessing it is hopeless however fast the
// hash: it is stored as "sha256:" and the hex of SHA-256, which verifies in microseconds (the
// token endpoint checks one per client-credentials grant, thousands a second). A password,
// chosen by a person, needs argon2id's cost instead.
std::string HashClientSecret(std::string_view secret);
// Compares in constant time (CRYPTO_memcmp); false for a malformed stored hash.
bool VerifyClientSecret(std::string_view stored_hash, std::string_view secret);

}  // namespace carerecord::access
