// The audit log's search index, written behind the log's writer, off the append path: a
// thread of its own with its own connections reads the committed entries of DIR/audit.db after
// the last one it indexed and writes their search keys (audit_event.h, SearchKeysOf) to
// DIR/audit-search.db (audit_search.h, kAuditSearchSchema), with the seq it has reached
// (`audit_search_state.indexed_seq`) in the same transaction. The index is derived data: the
// chain does not cover it, it is not synced on each commit (WAL, synchronous=NORMAL: a power cut
// may lose its last transactions, never make it inconsistent), and it is caught up from the
// entries whenever it is behind or missing (Open, and after every batch the writer commits). An
// index ahead of the log (audit.db restored from an older copy), of another format
// (`audit_search_state.format`, kAuditSearchFormat: made by an older build), or whose row count
// is not the number of rows it wrote (`audit_search_state.keys`: rows removed or added behind its
// back, which would hide entries from searches), is dropped and rebuilt by Open; `audit verify`
// compares every entry's rows (audit_verify.h, VerifyAuditSearchIndex).
// Appends never wait for it; a search reads the entries it has not reached directly
// (audit_search.h), so nothing committed is missed. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace carerecord::audit {

inline constexpr const char* kAuditSearchDatabaseFile = "audit-search.db";

class AuditIndexer {
 public:
  // Opens (or makes) DIR/audit-search.db beside an existing DIR/audit.db and indexes every
  // entry not yet indexed before returning.
  static base::Result<std::unique_ptr<AuditIndexer>> Open(const std::filesystem::path& directory);
  ~AuditIndexer();  // Stop()
  AuditIndexer(const AuditIndexer&) = delete;
  AuditIndexer& operator=(const AuditIndexer&) = delete;

  // Indexes every committed entry not yet indexed, in transactions of a few thousand entries.
  base::Status CatchUp();

  // Starts the thread that catches up after each Notify (and every second, to retry after an
  // error), at a lower CPU priority than the threads that append.
  void Start();
  // Entries up to `seq` are committed in audit.db.
  void Notify(int64_t seq);
  // Stops the thread (what is not indexed yet is indexed by the next Open).
  void Stop();

  int64_t indexed_seq() const;
  // Waits until entries up to `seq` are indexed or `timeout` passes; whether they are.
  bool WaitIndexed(int64_t seq, std::chrono::milliseconds timeout) const;

 private:
  AuditIndexer() = default;
  void Run();

  sqlite3* entries_ = nullptr;  // audit.db, read
  sqlite3* index_ = nullptr;    // audit-search.db, written
  // CatchUp's statements, prepared at its first run (on entries_ and index_).
  sqlite3_stmt* read_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* insert_entry_ = nullptr;
  sqlite3_stmt* done_ = nullptr;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  int64_t committed_seq_ = 0;  // as notified
  int64_t indexed_seq_ = 0;
  bool stopping_ = false;
  bool pausing_ = false;  // between rounds (Run)
  std::thread thread_;
};

}  // namespace carerecord::audit
