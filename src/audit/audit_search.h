// Finding audit entries fast: a side table, `audit_search(key, time_ms, seq)` in
// DIR/audit-search.db, one row per searchable value of an entry (audit_event.h, SearchKeysOf),
// written behind the log's writer by its indexer (audit_indexer.h), and AuditSearch, which reads
// it newest first. Entries the index has not reached yet (after `indexed_seq`) are read from
// audit.db and matched directly, so a search finds every committed entry however far behind the
// index is (only slower). The chain does not cover the side table: every hit is re-read from its
// canonical bytes and checked against the query, so an edited side table can hide entries but
// never show a wrong one; rows removed or added are seen at the next start by their count (the
// index is then rebuilt), and `audit verify` proves the log whole and compares the index with
// it. Thread-safe: AuditSearch keeps a pool of read connections.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_entry.h"
#include "base/status.h"

struct sqlite3;

namespace carerecord::audit {

inline constexpr const char* kAuditSearchSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_search(
  key TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY(key, time_ms, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_search_state(
  id INTEGER PRIMARY KEY CHECK(id = 1),
  indexed_seq INTEGER NOT NULL,
  keys INTEGER);
)sql";
// `keys`, the number of rows the indexer wrote (so that rows removed behind its back are seen
// at start), came after the table: an index from before it gains the column (NULL: not known)
// when opened, before its state row is made.
inline constexpr const char* kAddSearchKeysColumn =
    "ALTER TABLE audit_search_state ADD COLUMN keys INTEGER";
inline constexpr const char* kMakeSearchState =
    "INSERT OR IGNORE INTO audit_search_state(id, indexed_seq, keys) VALUES(1, 0, 0)";
inline constexpr const char* kInsertSearchKey =
    "INSERT OR IGNORE INTO audit_search(key, time_ms, seq) VALUES(?1, ?2, ?3)";
inline constexpr const char* kSetIndexedSeq =
    "UPDATE audit_search_state SET indexed_seq = ?1, keys = COALESCE(keys, 0) + ?2 WHERE id = 1";

struct AuditQuery {
  // Every group must match (AND); within a group any key may (OR). Keys as SearchKeysOf makes.
  std::vector<std::vector<std::string>> all_of;
  std::vector<std::string> none_of;  // entries with any of these keys are left out
  int64_t from_ms = std::numeric_limits<int64_t>::min();  // inclusive
  int64_t to_ms = std::numeric_limits<int64_t>::max();    // exclusive
  // The paging cursor: only entries older than (time_ms, seq).
  int64_t before_time_ms = std::numeric_limits<int64_t>::max();
  int64_t before_seq = std::numeric_limits<int64_t>::max();
  int64_t count = 20;
};

struct AuditHit {
  int64_t seq = 0;
  AuditRecord record;
};

class AuditSearch {
 public:
  explicit AuditSearch(std::filesystem::path directory) : directory_(std::move(directory)) {}
  ~AuditSearch();
  AuditSearch(const AuditSearch&) = delete;
  AuditSearch& operator=(const AuditSearch&) = delete;

  // At most query.count + 1 entries (the one more says there is a next page), newest first:
  // by recorded time, then seq.
  base::Result<std::vector<AuditHit>> Find(const AuditQuery& query);
  // Entry `seq`, or none.
  base::Result<std::optional<AuditHit>> Read(int64_t seq);

 private:
  base::Result<sqlite3*> Take();
  // Attaches DIR/audit-search.db as `ix` when it exists.
  void AttachIndex(sqlite3* db) const;
  void Give(sqlite3* db);

  std::filesystem::path directory_;
  std::mutex mutex_;
  std::vector<sqlite3*> idle_;
};

}  // namespace carerecord::audit
