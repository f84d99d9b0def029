#include "audit/checkpoints.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace carerecord::audit {

namespace fs = std::filesystem;
using base::ErrorCode;
using base::MakeError;

namespace {

std::string Errno(const std::string& what, const fs::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}

EVP_PKEY* Key(void* key) { return static_cast<EVP_PKEY*>(key); }

base::Status WriteAll(int fd, std::string_view text, const fs::path& path) {
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return MakeError(ErrorCode::kUnavailable, Errno("cannot write", path));
    written += static_cast<size_t>(n);
  }
  return base::Status::Ok();
}

// Writes a new file whole (temporary name, sync, rename), with `mode` whatever the umask.
base::Status WriteNewFile(const fs::path& path, std::string_view text, mode_t mode) {
  const fs::path temporary = path.string() + ".tmp";
  ::unlink(temporary.c_str());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return MakeError(ErrorCode::kUnavailable, Errno("cannot create", temporary));
  base::Status status = ::fchmod(fd, mode) == 0
                            ? WriteAll(fd, text, temporary)
                            : MakeError(ErrorCode::kUnavailable, Errno("cannot chmod", temporary));
  if (status.ok() && ::fsync(fd) != 0) {
    status = MakeError(ErrorCode::kUnavailable, Errno("cannot sync", temporary));
  }
  ::close(fd);
  if (!status.ok()) return status;
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return MakeError(ErrorCode::kUnavailable, Errno("cannot rename into", path));
  }
  return base::Status::Ok();
}

std::string ReadWhole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool BytesFromHex(std::string_view hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  out.clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int high = nibble(hex[i]), low = nibble(hex[i + 1]);
    if (high < 0 || low < 0) return false;
    out.push_back(static_cast<char>(high * 16 + low));
  }
  return true;
}

}  // namespace

std::string CheckpointMessage(int64_t seq, const Hash& hash, int64_t time_ms) {
  return "carerecord-audit-checkpoint-v1 " + std::to_string(seq) + " " + HexOf(hash) + " " +
         std::to_string(time_ms);
}

CheckpointKey::~CheckpointKey() { EVP_PKEY_free(Key(key_)); }

base::Result<std::unique_ptr<CheckpointKey>> CheckpointKey::OpenOrCreate(const fs::path& dir) {
  const fs::path private_path = dir / kCheckpointKeyFile;
  const fs::path public_path = dir / kCheckpointPublicKeyFile;
  std::error_code ec;
  if (!fs::exists(private_path, ec)) {
    EVP_PKEY* generated = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (!generated) return MakeError(ErrorCode::kInternal, "cannot make an Ed25519 key");
    std::unique_ptr<CheckpointKey> key(new CheckpointKey(generated));
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio ||
        PEM_write_bio_PrivateKey(bio, generated, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      BIO_free(bio);
      return MakeError(ErrorCode::kInternal, "cannot write the audit checkpoint key as PEM");
    }
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(size));
    BIO_free(bio);
    auto public_pem = key->PublicPem();
    if (!public_pem.ok()) return public_pem.error();
    // The public key first: a crash between the two leaves no private key without its public
    // half (the next start makes both again).
    if (auto s = WriteNewFile(public_path, *public_pem, 0644); !s.ok()) return s.error();
    if (auto s = WriteNewFile(private_path, pem, 0600); !s.ok()) return s.error();
    int directory = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory >= 0) {
      ::fsync(directory);
      ::close(directory);
    }
    return key;
  }
  const std::string pem = ReadWhole(private_path);
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* read = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (!read || EVP_PKEY_get_base_id(read) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(read);
    return MakeError(ErrorCode::kInvalid,
                     private_path.string() + " does not hold an Ed25519 private key in PEM");
  }
  std::unique_ptr<CheckpointKey> key(new CheckpointKey(read));
  if (!fs::exists(public_path, ec)) {  // the verifiers' copy, remade if it was removed
    auto public_pem = key->PublicPem();
    if (!public_pem.ok()) return public_pem.error();
    if (auto s = WriteNewFile(public_path, *public_pem, 0644); !s.ok()) return s.error();
  }
  return key;
}

base::Result<std::unique_ptr<CheckpointKey>> CheckpointKey::FromPublicPem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* read = bio ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (!read || EVP_PKEY_get_base_id(read) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(read);
    return base::Invalid("not an Ed25519 public key in PEM");
  }
  return std::unique_ptr<CheckpointKey>(new CheckpointKey(read));
}

base::Result<std::string> CheckpointKey::SignHex(std::string_view message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char signature[64];
  size_t size = sizeof signature;
  bool ok =
      ctx && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, Key(key_)) == 1 &&
      EVP_DigestSign(ctx, signature, &size, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || size != 64) return MakeError(ErrorCode::kInternal, "Ed25519 signing failed");
  return HexOf(signature, size);
}

bool CheckpointKey::Verify(std::string_view message, std::string_view signature_hex) const {
  std::string signature;
  if (!BytesFromHex(signature_hex, signature) || signature.size() != 64) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, Key(key_)) == 1 &&
            EVP_DigestVerify(
                ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

base::Result<std::string> CheckpointKey::PublicPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio || PEM_write_bio_PUBKEY(bio, Key(key_)) != 1) {
    BIO_free(bio);
    return MakeError(ErrorCode::kInternal, "cannot write the public key as PEM");
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

CheckpointWriter::~CheckpointWriter() {
  if (fd_ >= 0) ::close(fd_);
}

base::Result<std::unique_ptr<CheckpointWriter>> CheckpointWriter::Open(const fs::path& file,
                                                                       const CheckpointKey& key,
                                                                       bool durable) {
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return MakeError(ErrorCode::kUnavailable, Errno("cannot open", file));
  std::unique_ptr<CheckpointWriter> writer(new CheckpointWriter(fd, key, durable));
  // A line torn by a crash is cut off, so the next one starts on a line of its own.
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    const std::string text = ReadWhole(file);
    size_t keep = text.rfind('\n');
    keep = keep == std::string::npos ? 0 : keep + 1;
    if (keep != text.size() && ::ftruncate(fd, static_cast<off_t>(keep)) != 0) {
      return MakeError(ErrorCode::kUnavailable, Errno("cannot truncate a torn line of", file));
    }
  }
  return writer;
}

base::Status CheckpointWriter::Write(int64_t seq, const Hash& hash, int64_t time_ms) {
  auto signature = key_.SignHex(CheckpointMessage(seq, hash, time_ms));
  if (!signature.ok()) return signature.error();
  const std::string line = std::to_string(seq) + " " + HexOf(hash) + " " + std::to_string(time_ms) +
                           " " + *signature + "\n";
  if (auto s = WriteAll(fd_, line, "the audit checkpoint file"); !s.ok()) return s;
  if (durable_ && ::fdatasync(fd_) != 0) {
    return MakeError(ErrorCode::kUnavailable, "cannot sync the audit checkpoint file");
  }
  return base::Status::Ok();
}

base::Result<std::vector<Checkpoint>> ReadCheckpoints(const fs::path& file) {
  std::vector<Checkpoint> out;
  std::error_code ec;
  if (!fs::exists(file, ec)) return out;
  const std::string text = ReadWhole(file);
  size_t start = 0;
  int line_number = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      // A last line torn by a crash was never signed as a whole, and holds what a line begins
      // with (digits, hex, spaces); anything else (a file of NUL bytes, say) is not one.
      const std::string_view torn = std::string_view(text).substr(start);
      if (torn.find_first_not_of("0123456789abcdef ") != std::string_view::npos) {
        return base::Invalid(file.string() + " line " + std::to_string(line_number + 1) +
                             " is not 'SEQ HASH TIME_MS SIGNATURE'");
      }
      break;
    }
    ++line_number;
    std::istringstream fields(text.substr(start, end - start));
    start = end + 1;
    Checkpoint checkpoint;
    std::string hash_hex, extra;
    checkpoint.line = line_number;
    if (!(fields >> checkpoint.seq >> hash_hex >> checkpoint.time_ms >> checkpoint.signature_hex) ||
        (fields >> extra) || !HashFromHex(hash_hex, checkpoint.hash) || checkpoint.seq < 1) {
      return base::Invalid(file.string() + " line " + std::to_string(line_number) +
                           " is not 'SEQ HASH TIME_MS SIGNATURE'");
    }
    out.push_back(std::move(checkpoint));
  }
  return out;
}

}  // namespace carerecord::audit
