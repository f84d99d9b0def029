// The append-only, hash-chained audit log: DIR/audit.db, a SQLite file of its own (WAL,
// synchronous=FULL) beside the record store, so an append never waits behind the record's
// writer. Appends from any number of threads are queued to one writer thread that numbers,
// chains and commits them in batches: one transaction and one sync per batch (group commit),
// gathering the entries that arrive together for a few tens of microseconds before it commits.
// An append completes only once its entry is durable, or fails (the caller must then fail
// closed). The writer also signs a checkpoint of the chain head (audit/checkpoints.h) at least
// every `checkpoint_interval` while entries arrive, and once more on Close. The search index
// (audit_indexer.h, DIR/audit-search.db) follows the committed entries on a thread of its own:
// appends never wait for it; Open catches it up.
// Thread-safe: Append from any thread; Open and Close from one.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "audit/audit_entry.h"
#include "audit/audit_indexer.h"
#include "audit/checkpoints.h"
#include "base/status.h"
#include "store/sqlite/sqlite_checkpointer.h"

struct sqlite3;
struct sqlite3_stmt;

namespace carerecord::audit {

inline constexpr const char* kAuditDatabaseFile = "audit.db";

struct AuditLogOptions {
  std::filesystem::path directory;        // the data folder
  std::filesystem::path checkpoint_file;  // empty: DIR/audit-checkpoints
  bool durable = true;  // false: no syncs (tests only; a power cut can lose entries)
  std::chrono::milliseconds checkpoint_interval = std::chrono::milliseconds(1000);
  int64_t max_page_count = 0;  // tests: a database this small fills up (0: SQLite's limit)
};

class AuditLog {
 public:
  static base::Result<std::unique_ptr<AuditLog>> Open(const AuditLogOptions& options);
  ~AuditLog();  // Close()
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Queues `record` (its time_ms set to now when 0); the future gives its sequence number once
  // the entry is durable, or an error (kUnavailable) when it could not be written.
  std::future<base::Result<int64_t>> AppendAsync(AuditRecord record);
  // The same, with `done` called once instead of a future: on the writer thread once the entry
  // is durable or could not be written (or at once, on this thread, when the log is closed).
  // `done` must not block: every entry of the batch after it waits for it.
  using Done = std::function<void(const base::Result<int64_t>&)>;
  void AppendThen(AuditRecord record, Done done);
  // AppendAsync and wait. Also the API for sign-in events (action "sign-in", "sign-in-failed",
  // with `detail` saying why): any event is an AuditRecord.
  base::Result<int64_t> Append(AuditRecord record) { return AppendAsync(std::move(record)).get(); }

  // Writes what is queued and a last checkpoint, then stops the writer. Appends after it fail.
  void Close();

  int64_t head_seq() const;
  // How many entries were committed in how many transactions (each one sync): benchmarks print
  // entries per commit, what the group commit's per-commit costs are shared by.
  struct CommitCounts {
    int64_t commits = 0;
    int64_t entries = 0;
  };
  CommitCounts commit_counts() const {
    return {commits_.load(std::memory_order_relaxed), entries_.load(std::memory_order_relaxed)};
  }
  // How far the search index has reached, and waiting for it (tests, benchmarks).
  int64_t indexed_seq() const;
  bool WaitIndexed(int64_t seq, std::chrono::milliseconds timeout) const;

 private:
  struct Pending {
    CanonicalParts canonical;
    int64_t time_ms;
    Done done;
  };
  AuditLog() = default;
  void Run();
  base::Status CommitBatch(std::deque<Pending>& batch, std::vector<int64_t>& seqs);
  void WriteCheckpoint();

  AuditLogOptions options_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  std::string canonical_;  // the writer's buffer for an entry's canonical bytes
  std::unique_ptr<CheckpointKey> key_;
  std::unique_ptr<CheckpointWriter> checkpoints_;
  std::unique_ptr<AuditIndexer> indexer_;
  // Copies the WAL into audit.db on a thread of its own, so a commit (and the answers waiting
  // for it) never waits for a checkpoint.
  store::WalCheckpointer wal_checkpointer_;
  ChainHasher hasher_;

  // The committed head; written by the writer thread only, read under mutex_.
  int64_t head_seq_ = 0;
  Hash head_hash_{};
  int64_t head_time_ms_ = 0;
  int64_t checkpointed_seq_ = 0;
  bool failing_ = false;  // the last batch could not be written
  std::atomic<int64_t> commits_{0}, entries_{0};
  std::chrono::steady_clock::time_point last_checkpoint_{};

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  bool closed_ = false;
  bool writer_idle_ = false;  // waiting for an entry: an append wakes it
  std::thread writer_;
};

}  // namespace carerecord::audit
