#include "audit/audit_verify.h"

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string_view>
#include <vector>

#include "audit/audit_database.h"
#include "audit/audit_entry.h"
#include "audit/checkpoints.h"

namespace carerecord::audit {

namespace fs = std::filesystem;
using base::ErrorCode;
using base::MakeError;

namespace {

fs::path CheckpointPath(const VerifyOptions& options) {
  return options.checkpoint_file.empty() ? options.directory / kCheckpointFile
                                         : options.checkpoint_file;
}

fs::path PublicKeyPath(const VerifyOptions& options) {
  return options.public_key_file.empty() ? options.directory / kCheckpointPublicKeyFile
                                         : options.public_key_file;
}

std::string ReadWhole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Where the key `,"seq":` starts in canonical bytes, or npos. Inside a JSON string a quote is
// always escaped, so the pattern can only be the key itself. Sought backwards (seq is near the
// end: keys are in bytewise order) by hand: std::string_view::rfind compares at every position.
size_t SeqKeyAt(std::string_view canonical) {
  static constexpr std::string_view kKey = ",\"seq\":";
  if (canonical.size() < kKey.size()) return std::string_view::npos;
  for (size_t i = canonical.size() - kKey.size() + 1; i-- > 0;) {
    if (canonical[i] == ',' && canonical.compare(i, kKey.size(), kKey) == 0) return i;
  }
  return std::string_view::npos;
}

// The integer after `key` found at or after `from`, or -1.
int64_t IntegerAfter(std::string_view canonical, std::string_view key, size_t from) {
  const size_t at = from == std::string_view::npos ? from : canonical.find(key, from);
  if (at == std::string_view::npos) return -1;
  const char* begin = canonical.data() + at + key.size();
  int64_t value = -1;
  auto [end, ec] = std::from_chars(begin, canonical.data() + canonical.size(), value);
  return ec == std::errc() ? value : -1;
}

// Every row in seq order, in one read snapshot.
class EntryReader {
 public:
  ~EntryReader() {
    sqlite3_finalize(statement_);
    if (db_) {
      sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
      sqlite3_close_v2(db_);
    }
  }
  base::Status Open(const fs::path& directory) {
    auto db = OpenAuditDatabaseToRead(directory);
    if (!db.ok()) return db.error();
    db_ = *db;
    // Read through a memory map, not copies into the page cache: verify's speed is the goal.
    sqlite3_exec(db_, "PRAGMA mmap_size=1099511627776", nullptr, nullptr, nullptr);
    if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db_,
                           "SELECT seq, time_ms, canonical, hash FROM audit_entry ORDER BY seq", -1,
                           &statement_, nullptr) != SQLITE_OK) {
      return MakeError(ErrorCode::kUnavailable,
                       std::string("cannot read the audit log: ") + sqlite3_errmsg(db_));
    }
    return base::Status::Ok();
  }
  // False at the end or on an error (error() then says which).
  bool Next() {
    const int rc = sqlite3_step(statement_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE)
      error_ = std::string("cannot read the audit log: ") + sqlite3_errmsg(db_);
    return false;
  }
  int64_t seq() const { return sqlite3_column_int64(statement_, 0); }
  int64_t time_ms() const { return sqlite3_column_int64(statement_, 1); }
  std::string_view canonical() const {
    const void* data = sqlite3_column_blob(statement_, 2);
    return {static_cast<const char*>(data),
            static_cast<size_t>(sqlite3_column_bytes(statement_, 2))};
  }
  std::string_view hash() const {
    const void* data = sqlite3_column_blob(statement_, 3);
    return {static_cast<const char*>(data),
            static_cast<size_t>(sqlite3_column_bytes(statement_, 3))};
  }
  const std::string& error() const { return error_; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* statement_ = nullptr;
  std::string error_;
};

}  // namespace

std::string VerifyReport::Summary() const {
  if (ok) return "ok " + std::to_string(entries) + " entries";
  if (bad_checkpoint_line > 0) {
    return "bad checkpoint: line " + std::to_string(bad_checkpoint_line) + " (" + why + ")";
  }
  return "first bad entry: " + std::to_string(first_bad_seq) + " (" + why + ")";
}

std::string VerifyReport::Signed() const {
  if (checkpoints == 0) return "signed by no checkpoint";
  std::string out = "signed to entry " + std::to_string(signed_to) + " by " +
                    std::to_string(checkpoints) +
                    (checkpoints == 1 ? " checkpoint" : " checkpoints");
  if (signed_to < entries) {
    out += "; entries " + std::to_string(signed_to + 1) + "-" + std::to_string(entries) +
           " are not signed yet (a running server signs its head every second)";
  }
  return out;
}

base::Result<VerifyReport> VerifyAuditLog(const VerifyOptions& options) {
  VerifyReport report;
  if (std::error_code ec;
      !options.checkpoint_file.empty() && !fs::exists(options.checkpoint_file, ec)) {
    return MakeError(ErrorCode::kInvalid,
                     "there is no checkpoint file " + options.checkpoint_file.string());
  }
  // The checkpoints before the snapshot: each names an entry committed before it was written.
  auto checkpoints = ReadCheckpoints(CheckpointPath(options));
  if (!checkpoints.ok()) return checkpoints.error();
  std::multimap<int64_t, const Checkpoint*> by_seq;
  if (!checkpoints->empty()) {
    const fs::path key_path = PublicKeyPath(options);
    auto key = CheckpointKey::FromPublicPem(ReadWhole(key_path));
    if (!key.ok()) {
      return MakeError(ErrorCode::kInvalid, key_path.string() + ": " + key.error().message);
    }
    for (const Checkpoint& checkpoint : *checkpoints) {
      if (!(*key)->Verify(CheckpointMessage(checkpoint.seq, checkpoint.hash, checkpoint.time_ms),
                          checkpoint.signature_hex)) {
        report.bad_checkpoint_line = checkpoint.line;
        report.why = "its signature does not verify with " + key_path.string();
        return report;
      }
      by_seq.emplace(checkpoint.seq, &checkpoint);
      report.signed_to = std::max(report.signed_to, checkpoint.seq);
    }
  }
  report.checkpoints = static_cast<int64_t>(checkpoints->size());

  EntryReader reader;
  if (auto s = reader.Open(options.directory); !s.ok()) return s.error();
  ChainHasher hasher;
  Hash previous{};
  int64_t expected = 1;
  int64_t last_checkpointed = 0;
  auto next_checkpoint = by_seq.begin();
  auto fail = [&](int64_t seq, std::string why) {
    report.ok = false;
    report.first_bad_seq = seq;
    report.why = std::move(why);
    return report;
  };
  while (reader.Next()) {
    const int64_t seq = reader.seq();
    if (seq != expected) {
      return fail(expected, seq > expected
                                ? "missing: the log goes from entry " +
                                      std::to_string(expected - 1) + " to " + std::to_string(seq)
                                : "out of order");
    }
    const std::string_view canonical = reader.canonical();
    const size_t seq_at = SeqKeyAt(canonical);
    const int64_t inner_seq = IntegerAfter(canonical, ",\"seq\":", seq_at);
    if (inner_seq != seq) {
      return fail(seq, inner_seq < 0 ? "its bytes are not an entry"
                                     : "it holds entry " + std::to_string(inner_seq) +
                                           "'s bytes: re-ordered, inserted or renumbered");
    }
    if (IntegerAfter(canonical, ",\"time_ms\":", seq_at) != reader.time_ms()) {
      return fail(seq, "its time column differs from its bytes");
    }
    const Hash hash = hasher.Next(previous, canonical);
    const std::string_view stored = reader.hash();
    if (stored.size() != hash.size() || std::memcmp(stored.data(), hash.data(), hash.size()) != 0) {
      return fail(seq, "its bytes or hash were altered: the chain breaks here");
    }
    while (next_checkpoint != by_seq.end() && next_checkpoint->first == seq) {
      if (next_checkpoint->second->hash != hash) {
        return fail(seq, "checkpoint line " + std::to_string(next_checkpoint->second->line) +
                             " signed another hash for it: the log up to here was rewritten "
                             "after entry " +
                             std::to_string(last_checkpointed));
      }
      last_checkpointed = seq;
      ++next_checkpoint;
    }
    previous = hash;
    ++expected;
  }
  if (!reader.error().empty()) {
    return MakeError(ErrorCode::kUnavailable, reader.error());
  }
  report.entries = expected - 1;
  if (next_checkpoint != by_seq.end()) {
    const Checkpoint& beyond = *by_seq.rbegin()->second;
    return fail(expected, "missing: the log ends at entry " + std::to_string(expected - 1) +
                              " but checkpoint line " + std::to_string(beyond.line) +
                              " signed entry " + std::to_string(beyond.seq) +
                              ": its tail was truncated or it was restored from an older copy");
  }
  if (report.entries > 0 && report.checkpoints == 0) {
    // Anyone can recompute an unkeyed chain: without a signature over it, a log rewritten whole
    // looks whole.
    return fail(1, "no signed checkpoint covers the log (" + CheckpointPath(options).string() +
                       " is missing or holds none), so the chain alone cannot show that it was "
                       "not rewritten");
  }
  report.ok = true;
  return report;
}

base::Result<int64_t> ExportAuditLog(const VerifyOptions& options, const fs::path& out) {
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) return MakeError(ErrorCode::kUnavailable, "cannot create " + out.string());
  // The checkpoints first, as verify reads them: the snapshot then holds every entry they name.
  const fs::path checkpoint_path = CheckpointPath(options);
  const std::string checkpoints = ReadWhole(checkpoint_path);
  const std::string public_key = ReadWhole(PublicKeyPath(options));
  EntryReader reader;
  if (auto s = reader.Open(options.directory); !s.ok()) return s.error();
  std::ofstream entries(out / "entries.jsonl", std::ios::binary | std::ios::trunc);
  std::ofstream hashes(out / "hashes.txt", std::ios::binary | std::ios::trunc);
  int64_t count = 0;
  while (reader.Next()) {
    const std::string_view hash = reader.hash();
    entries << reader.canonical() << '\n';
    hashes << HexOf(reinterpret_cast<const unsigned char*>(hash.data()), hash.size()) << '\n';
    ++count;
  }
  if (!reader.error().empty()) return MakeError(ErrorCode::kUnavailable, reader.error());
  // Only whole lines: a torn last line is not a checkpoint.
  const size_t whole = checkpoints.rfind('\n');
  std::ofstream(out / kCheckpointFile, std::ios::binary | std::ios::trunc)
      << (whole == std::string::npos ? std::string() : checkpoints.substr(0, whole + 1));
  std::ofstream(out / kCheckpointPublicKeyFile, std::ios::binary | std::ios::trunc) << public_key;
  entries.flush();
  hashes.flush();
  if (!entries || !hashes) {
    return MakeError(ErrorCode::kUnavailable, "cannot write the export to " + out.string());
  }
  return count;
}

}  // namespace carerecord::audit
