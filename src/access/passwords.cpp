#include "access/passwords.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace carerecord::access {
namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
constexpr size_t kMaxPasswordBytes = 1024;
constexpr std::string_view kSecretHashPrefix = "sha256:";

// Randomness is not optional: a predictable password or secret is worse than none.
void FillRandom(unsigned char* out, size_t size) {
  if (RAND_bytes(out, static_cast<int>(size)) != 1) {
    std::fprintf(stderr, "carerecord: the system's random generator failed\n");
    std::abort();
  }
}

std::string Hex(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    hex += kDigits[bytes[i] >> 4];
    hex += kDigits[bytes[i] & 15];
  }
  return hex;
}

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr) != 1) return {};
  return Hex(digest, size);
}

}  // namespace

base::Result<std::string> HashPassword(std::string_view password,
                                       const PasswordHashOptions& options) {
  unsigned char salt[kSaltBytes];
  FillRandom(salt, sizeof salt);
  const size_t encoded_size =
      argon2_encodedlen(options.iterations, options.memory_kib, options.parallelism, kSaltBytes,
                        kHashBytes, Argon2_id);
  std::vector<char> encoded(encoded_size);
  int rc = argon2id_hash_encoded(options.iterations, options.memory_kib, options.parallelism,
                                 password.data(), password.size(), salt, sizeof salt, kHashBytes,
                                 encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return base::MakeError(base::ErrorCode::kInternal,
                           std::string("cannot hash the password: ") + argon2_error_message(rc));
  }
  return std::string(encoded.data());
}

bool VerifyPassword(std::string_view encoded, std::string_view password) {
  if (!encoded.starts_with("$argon2id$")) return false;
  const std::string terminated(encoded);  // argon2 reads a C string
  return argon2id_verify(terminated.c_str(), password.data(), password.size()) == ARGON2_OK;
}

base::Status CheckPasswordStrength(std::string_view password) {
  if (password.size() < 12) {
    return base::Invalid("the password must be at least 12 characters long", "password");
  }
  if (password.size() > kMaxPasswordBytes) {
    return base::Invalid("the password must be at most 1024 bytes long", "password");
  }
  for (unsigned char c : password) {
    if (c < 0x20 || c == 0x7f) {
      return base::Invalid("the password must not contain control characters (line breaks, tabs)",
                           "password");
    }
  }
  return base::Status::Ok();
}

std::string GeneratePassword() {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
  static_assert(kAlphabet.size() == 56);
  constexpr unsigned kUnbiasedBelow = 256 - 256 % kAlphabet.size();  // 224: 4 x 56
  std::string password;
  while (password.size() < 20) {
    unsigned char bytes[32];
    FillRandom(bytes, sizeof bytes);
    for (unsigned char b : bytes) {
      if (b >= kUnbiasedBelow || password.size() == 20) continue;
      password += kAlphabet[b % kAlphabet.size()];
    }
  }
  return password;
}

std::optional<std::string> HmacSha256(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &size)) {
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(digest), size);
}

std::string RandomToken(size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  FillRandom(raw.data(), raw.size());
  std::string base64(4 * ((bytes + 2) / 3) + 1, '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(base64.data()), raw.data(),
                                static_cast<int>(raw.size()));
  base64.resize(written);
  while (!base64.empty() && base64.back() == '=') base64.pop_back();
  for (char& c : base64) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return base64;
}

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  FillRandom(raw.data(), raw.size());
  return Hex(raw.data(), raw.size());
}

std::string HashClientSecret(std::string_view secret) {
  return std::string(kSecretHashPrefix) + Sha256Hex(secret);
}

bool VerifyClientSecret(std::string_view stored_hash, std::string_view secret) {
  if (!stored_hash.starts_with(kSecretHashPrefix)) return false;
  const std::string_view expected = stored_hash.substr(kSecretHashPrefix.size());
  const std::string actual = Sha256Hex(secret);
  if (expected.size() != actual.size() || actual.empty()) return false;
  return CRYPTO_memcmp(expected.data(), actual.data(), actual.size()) == 0;
}

}  // namespace carerecord::access
