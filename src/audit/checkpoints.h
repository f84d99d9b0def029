// Signed checkpoints of the audit chain's head, and the Ed25519 key that signs them.
//
// The key lives in its own files in the data folder, never in the database: the private key in
// DIR/audit-checkpoint-key.pem (PKCS#8 PEM, mode 0600), the public key beside it in
// DIR/audit-checkpoint-public.pem, for verifiers (a third party should pin it when first given).
//
// The checkpoint file (default DIR/audit-checkpoints) holds one line per checkpoint:
//   SEQ HASH TIME_MS SIGNATURE\n
// SEQ decimal, HASH the chain hash of entry SEQ (64 lower-case hex), TIME_MS UTC milliseconds,
// SIGNATURE 128 lower-case hex: the Ed25519 signature of the ASCII message
//   "carerecord-audit-checkpoint-v1 SEQ HASH TIME_MS"  (single spaces, no newline).
// A line is written only after the entries it names are durable. Not synchronised: one writer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_entry.h"
#include "base/status.h"

namespace carerecord::audit {

inline constexpr const char* kCheckpointKeyFile = "audit-checkpoint-key.pem";
inline constexpr const char* kCheckpointPublicKeyFile = "audit-checkpoint-public.pem";
inline constexpr const char* kCheckpointFile = "audit-checkpoints";

struct Checkpoint {
  int64_t seq = 0;
  Hash hash{};
  int64_t time_ms = 0;
  std::string signature_hex;
  int line = 0;  // where it was read from (1-based), for messages
};

std::string CheckpointMessage(int64_t seq, const Hash& hash, int64_t time_ms);

// An Ed25519 key: the private half when it signs, the public half alone when it verifies.
class CheckpointKey {
 public:
  ~CheckpointKey();
  CheckpointKey(const CheckpointKey&) = delete;
  CheckpointKey& operator=(const CheckpointKey&) = delete;

  // Reads DIR's private key, making it (and the public key file) on first use.
  static base::Result<std::unique_ptr<CheckpointKey>> OpenOrCreate(
      const std::filesystem::path& dir);
  static base::Result<std::unique_ptr<CheckpointKey>> FromPublicPem(std::string_view pem);

  base::Result<std::string> SignHex(std::string_view message) const;
  bool Verify(std::string_view message, std::string_view signature_hex) const;
  base::Result<std::string> PublicPem() const;

 private:
  explicit CheckpointKey(void* key) : key_(key) {}
  void* key_;  // EVP_PKEY
};

// Appends signed checkpoints to the checkpoint file, syncing each when `durable`.
class CheckpointWriter {
 public:
  ~CheckpointWriter();
  static base::Result<std::unique_ptr<CheckpointWriter>> Open(const std::filesystem::path& file,
                                                              const CheckpointKey& key,
                                                              bool durable);
  base::Status Write(int64_t seq, const Hash& hash, int64_t time_ms);

 private:
  CheckpointWriter(int fd, const CheckpointKey& key, bool durable)
      : fd_(fd), key_(key), durable_(durable) {}
  int fd_;
  const CheckpointKey& key_;
  bool durable_;
};

// Every complete line of the checkpoint file (a torn last line, from a crash while it was
// written, is skipped). A line that does not parse is an error naming it.
base::Result<std::vector<Checkpoint>> ReadCheckpoints(const std::filesystem::path& file);

}  // namespace carerecord::audit
