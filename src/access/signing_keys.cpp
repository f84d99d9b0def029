#include "access/signing_keys.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <limits>

namespace carerecord::access {

namespace fs = std::filesystem;
namespace json = boost::json;
using base::ErrorCode;
using base::MakeError;

namespace {

constexpr const char* kFormat = "carerecord-signing-keys-1";
constexpr const char* kLockFileName = "signing-keys.lock";
constexpr size_t kMaxKeyFileBytes = 1 << 20;

std::string Errno(const std::string& what, const fs::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Holds an exclusive flock on DIR/signing-keys.lock while it lives: every writer of the key file
// takes it, so a rotation and a first start never both write.
class KeyFileLock {
 public:
  static base::Result<std::unique_ptr<KeyFileLock>> Take(const fs::path& dir) {
    fs::path path = dir / kLockFileName;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return MakeError(ErrorCode::kUnavailable, Errno("cannot open", path));
    auto lock = std::unique_ptr<KeyFileLock>(new KeyFileLock(fd));
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) return MakeError(ErrorCode::kUnavailable, Errno("cannot lock", path));
    }
    return lock;
  }

 private:
  explicit KeyFileLock(int fd) : fd_(fd) {}
  FileDescriptor fd_;  // closing it releases the lock
};

base::Result<json::object> KeyFileJson(const std::vector<SigningKey>& keys) {
  json::array list;
  for (const SigningKey& key : keys) {
    auto pem = key.key.PrivateKeyPem();
    if (!pem.ok()) {
      return MakeError(ErrorCode::kInternal,
                       "signing key " + key.key.kid() + ": " + pem.error().message);
    }
    json::object entry{{"kid", key.key.kid()},
                       {"alg", "ES256"},
                       {"created", key.created},
                       {"private_key_pem", std::move(pem).value()}};
    if (key.retired) entry["retired"] = *key.retired;
    list.push_back(std::move(entry));
  }
  return json::object{{"format", kFormat}, {"keys", std::move(list)}};
}

// Writes the file whole under a temporary name, syncs it, and renames it into place: a reader
// sees the old file or the new one, never a part; a crash leaves one of them.
base::Status WriteKeyFile(const fs::path& dir, const std::vector<SigningKey>& keys) {
  auto document = KeyFileJson(keys);
  if (!document.ok()) return document.error();
  const std::string text = json::serialize(*document) + "\n";
  const fs::path file = dir / kSigningKeyFileName;
  const fs::path temporary = dir / (std::string(".") + kSigningKeyFileName + ".tmp");
  ::unlink(temporary.c_str());
  {
    FileDescriptor fd(
        ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) return MakeError(ErrorCode::kUnavailable, Errno("cannot create", temporary));
    if (::fchmod(fd.get(), 0600) != 0) {  // whatever the umask
      return MakeError(ErrorCode::kUnavailable, Errno("cannot chmod", temporary));
    }
    size_t written = 0;
    while (written < text.size()) {
      ssize_t n = ::write(fd.get(), text.data() + written, text.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return MakeError(ErrorCode::kUnavailable, Errno("cannot write", temporary));
      written += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
      return MakeError(ErrorCode::kUnavailable, Errno("cannot sync", temporary));
    }
  }
  if (::rename(temporary.c_str(), file.c_str()) != 0) {
    return MakeError(ErrorCode::kUnavailable, Errno("cannot rename into", file));
  }
  FileDescriptor directory(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (directory.get() >= 0) ::fsync(directory.get());
  return base::Status::Ok();
}

base::Result<SigningKey> NewSigningKey(int64_t now) {
  auto key = JsonWebKey::GenerateEs256();
  if (!key.ok()) return key.error();
  return SigningKey{std::move(key).value(), now, std::nullopt};
}

base::Result<SigningKey> KeyFromJson(const json::value& value, const std::string& where) {
  const json::object* entry = value.if_object();
  if (entry == nullptr) return base::Invalid(where + " is not an object");
  const json::value* kid = entry->if_contains("kid");
  const json::value* pem = entry->if_contains("private_key_pem");
  const json::value* created = entry->if_contains("created");
  const json::value* retired = entry->if_contains("retired");
  const json::value* alg = entry->if_contains("alg");
  if (!kid || !kid->is_string() || !pem || !pem->is_string() || !created || !created->is_int64() ||
      (retired && !retired->is_int64()) ||
      (alg && (!alg->is_string() || alg->as_string() != "ES256"))) {
    return base::Invalid(where +
                         " must have string kid and private_key_pem, integer created and "
                         "retired, and alg ES256");
  }
  auto key =
      JsonWebKey::FromPem(pem->as_string(), std::string(kid->as_string()), JwsAlgorithm::kES256);
  if (!key.ok()) return base::Invalid(where + ": " + key.error().message);
  if (!key->has_private_key()) return base::Invalid(where + " holds no private key");
  SigningKey out{std::move(key).value(), created->as_int64(), std::nullopt};
  if (retired) out.retired = retired->as_int64();
  return out;
}

}  // namespace

// The key file's text, after the checks that it is safe to use.
static base::Result<std::string> ReadKeyFileText(const fs::path& file) {
  FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT)
      return MakeError(ErrorCode::kNotFound, "no signing key file " + file.string());
    if (errno == ELOOP) {
      return MakeError(ErrorCode::kForbidden,
                       "signing key file " + file.string() + " is a symbolic link: refused");
    }
    return MakeError(ErrorCode::kUnavailable, Errno("cannot open signing key file", file));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return MakeError(ErrorCode::kUnavailable, Errno("cannot stat", file));
  }
  if (!S_ISREG(st.st_mode)) {
    return MakeError(ErrorCode::kForbidden,
                     "signing key file " + file.string() + " is not a regular file: refused");
  }
  if (st.st_uid != ::geteuid()) {
    return MakeError(ErrorCode::kForbidden, "signing key file " + file.string() +
                                                " belongs to user " + std::to_string(st.st_uid) +
                                                ", not to this server's user (" +
                                                std::to_string(::geteuid()) + "): refused");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return MakeError(ErrorCode::kForbidden,
                     "signing key file " + file.string() +
                         " may be read or written by other "
                         "users (mode " +
                         mode + "): refused; run chmod 600 " + file.string() +
                         " (and consider the keys in it leaked: rotate them)");
  }
  if (static_cast<size_t>(st.st_size) > kMaxKeyFileBytes) {
    return MakeError(ErrorCode::kInvalid, "signing key file " + file.string() + " is too large");
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t read_bytes = 0;
  while (read_bytes < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + read_bytes, text.size() - read_bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return MakeError(ErrorCode::kUnavailable, Errno("cannot read", file));
    if (n == 0) break;
    read_bytes += static_cast<size_t>(n);
  }
  text.resize(read_bytes);
  return text;
}

static base::Result<std::vector<SigningKey>> ParseKeyFileText(const std::string& text,
                                                              const fs::path& file) {
  const std::string name = "signing key file " + file.string();
  json::error_code ec;
  json::value parsed = json::parse(text, ec);
  const json::object* root = ec ? nullptr : parsed.if_object();
  const json::value* format = root ? root->if_contains("format") : nullptr;
  const json::value* keys = root ? root->if_contains("keys") : nullptr;
  if (!root || !format || !format->is_string() || format->as_string() != kFormat || !keys ||
      !keys->is_array()) {
    return base::Invalid(name + " is not a carerecord signing key file (" + kFormat + ")");
  }
  std::vector<SigningKey> out;
  for (size_t i = 0; i < keys->as_array().size(); ++i) {
    auto key = KeyFromJson(keys->as_array()[i], name + " key " + std::to_string(i));
    if (!key.ok()) return key.error();
    out.push_back(std::move(key).value());
  }
  if (CurrentSigningKey(out) == nullptr) {
    return base::Invalid(name + " has no current (unretired) key");
  }
  return out;
}

base::Result<std::vector<SigningKey>> ReadSigningKeyFile(const fs::path& file) {
  auto text = ReadKeyFileText(file);
  if (!text.ok()) return text.error();
  return ParseKeyFileText(*text, file);
}

const SigningKey* CurrentSigningKey(const std::vector<SigningKey>& keys) {
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
    if (!it->retired) return &*it;
  }
  return nullptr;
}

base::Result<std::vector<SigningKey>> LoadOrCreateSigningKeys(const fs::path& data_dir,
                                                              int64_t now) {
  const fs::path file = data_dir / kSigningKeyFileName;
  auto existing = ReadSigningKeyFile(file);
  if (existing.ok() || existing.error().code != ErrorCode::kNotFound) return existing;
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) {
    return MakeError(ErrorCode::kUnavailable,
                     "cannot create " + data_dir.string() + ": " + ec.message());
  }
  auto lock = KeyFileLock::Take(data_dir);
  if (!lock.ok()) return lock.error();
  existing = ReadSigningKeyFile(file);  // another process may have made it meanwhile
  if (existing.ok() || existing.error().code != ErrorCode::kNotFound) return existing;
  auto key = NewSigningKey(now);
  if (!key.ok()) return key.error();
  std::vector<SigningKey> keys;
  keys.push_back(std::move(key).value());
  CR_RETURN_IF_ERROR(WriteKeyFile(data_dir, keys));
  return keys;
}

base::Result<std::vector<SigningKey>> RotateSigningKey(const fs::path& data_dir, int64_t now) {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) {
    return MakeError(ErrorCode::kUnavailable,
                     "cannot create " + data_dir.string() + ": " + ec.message());
  }
  auto lock = KeyFileLock::Take(data_dir);
  if (!lock.ok()) return lock.error();
  auto read = ReadSigningKeyFile(data_dir / kSigningKeyFileName);
  if (!read.ok() && read.error().code != ErrorCode::kNotFound) return read.error();
  std::vector<SigningKey> kept;
  if (read.ok()) {
    for (SigningKey& key : read.value()) {
      if (!key.retired) key.retired = now;
      // No token signed before this retirement can still be live: the key is of no more use.
      if (*key.retired + kMaxTokenTtlSeconds + kMaxClockLeewaySeconds < now) continue;
      kept.push_back(std::move(key));
    }
  }
  auto key = NewSigningKey(now);
  if (!key.ok()) return key.error();
  kept.push_back(std::move(key).value());
  CR_RETURN_IF_ERROR(WriteKeyFile(data_dir, kept));
  return kept;
}

const JsonWebKey* SigningKeyRing::Keys::VerifierFor(std::string_view kid, int64_t now) const {
  for (const Verifier& verifier : verifiers) {
    if (verifier.key.kid() == kid) return now < verifier.valid_until ? &verifier.key : nullptr;
  }
  return nullptr;
}

base::Result<std::unique_ptr<SigningKeyRing>> SigningKeyRing::Open(Options options,
                                                                   const WallClock& clock) {
  if (options.token_ttl_seconds <= 0 || options.token_ttl_seconds > kMaxTokenTtlSeconds) {
    return base::Invalid("the token lifetime must be 1 to " + std::to_string(kMaxTokenTtlSeconds) +
                         " seconds");
  }
  if (options.leeway_seconds < 0 || options.leeway_seconds > kMaxClockLeewaySeconds) {
    return base::Invalid("the clock leeway must be 0 to " + std::to_string(kMaxClockLeewaySeconds) +
                         " seconds");
  }
  auto created = LoadOrCreateSigningKeys(options.data_dir, clock.NowSeconds());
  if (!created.ok()) return created.error();
  auto ring = std::unique_ptr<SigningKeyRing>(new SigningKeyRing(options, clock));
  std::lock_guard lock(ring->mutex_);
  ring->next_check_ = clock.NowSeconds() + options.refresh_interval_seconds;
  CR_RETURN_IF_ERROR(ring->Load());
  return ring;
}

base::Status SigningKeyRing::Load() {
  const fs::path file = options_.data_dir / kSigningKeyFileName;
  auto text = ReadKeyFileText(file);
  if (!text.ok()) return text.error();
  std::string digest = Sha256(*text);
  if (keys_ && digest == file_digest_) return base::Status::Ok();  // unchanged
  auto read = ParseKeyFileText(*text, file);
  if (!read.ok()) return read.error();
  auto keys = std::make_shared<Keys>();
  const SigningKey* current = CurrentSigningKey(*read);
  keys->current = current->key;
  keys->verifiers.push_back({current->key, std::numeric_limits<int64_t>::max()});
  for (const SigningKey& key : *read) {
    if (&key == current) continue;
    // A key that is neither retired nor current (an older unretired one, from an edit by hand)
    // is treated as retired when the file was read.
    int64_t retired = key.retired.value_or(clock_.NowSeconds());
    keys->verifiers.push_back(
        {key.key, retired + options_.token_ttl_seconds + options_.leeway_seconds});
  }
  keys->generation = generation_.load() + 1;
  keys_ = std::move(keys);
  file_digest_ = std::move(digest);
  generation_.store(keys_->generation, std::memory_order_release);
  return base::Status::Ok();
}

void SigningKeyRing::RefreshIfDue() {
  const int64_t now = clock_.NowSeconds();
  if (now < next_check_.load(std::memory_order_relaxed)) return;
  std::unique_lock lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another thread is at it
  next_check_.store(now + options_.refresh_interval_seconds, std::memory_order_relaxed);
  // The whole file is read and compared (a few kilobytes every few seconds): an edit in place
  // can keep its size and, within the filesystem's clock tick, its mtime.
  base::Status loaded = Load();
  last_error_ = loaded.ok() ? "" : loaded.error().message + "; the keys read before stay in use";
}

std::shared_ptr<const SigningKeyRing::Keys> SigningKeyRing::Current() {
  RefreshIfDue();
  std::lock_guard lock(mutex_);
  return keys_;
}

uint64_t SigningKeyRing::CurrentGeneration() {
  RefreshIfDue();
  return generation_.load(std::memory_order_acquire);
}

json::object SigningKeyRing::JwksDocument() {
  std::shared_ptr<const Keys> keys = Current();
  const int64_t now = clock_.NowSeconds();
  json::array list;
  for (const Keys::Verifier& verifier : keys->verifiers) {
    if (now < verifier.valid_until) list.push_back(verifier.key.PublicJwk());
  }
  return json::object{{"keys", std::move(list)}};
}

std::string SigningKeyRing::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

}  // namespace carerecord::access
