// Finding audit entries fast: side tables in DIR/audit-search.db, written behind the log's
// writer by its indexer (audit_indexer.h), and AuditSearch, which reads them newest first.
// `audit_search(key, time_ms, seq)` holds one row per key of an entry (patient, agent, altid,
// entity-type, subtype, outcome: "p|", "a|", "l|", "e|", "s|", "o|") except the few that nearly
// every entry carries (IsKeyRow: a read or search that succeeded, about a patient and items),
// which would not narrow a search; those are an entry's tags, one `audit_search_entry(seq,
// time_ms, tags)` row per entry (TagsOf), which filter candidates without re-reading them (a key
// row each cost the indexer about half its CPU; format 1 had them).
// Entries the index has not reached yet (after `indexed_seq`) are read from audit.db and matched
// directly, so a search finds every committed entry however far behind the index is (only
// slower). The chain does not cover the side tables: every hit is re-read from its canonical
// bytes and checked against the query, so an edited side table can hide entries but never show
// a wrong one; rows removed or added are seen at the next start by their count (the index is
// then rebuilt), an index of another format is rebuilt at the next start (and not used until
// then), and `audit verify` proves the log whole and compares the index with it. Thread-safe:
// AuditSearch keeps a pool of read connections.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_entry.h"
#include "base/status.h"

struct sqlite3;

namespace carerecord::audit {

// The index's format, in `audit_search_state.format`: 1 (or NULL) had a key row for every key;
// 2 has key rows for the keys that narrow a search and one tags row per entry for the others.
inline constexpr int64_t kAuditSearchFormat = 2;

inline constexpr const char* kAuditSearchSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_search(
  key TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY(key, time_ms, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_search_entry(
  seq INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  tags TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_search_state(
  id INTEGER PRIMARY KEY CHECK(id = 1),
  indexed_seq INTEGER NOT NULL,
  keys INTEGER,
  format INTEGER);
)sql";
// `keys`, the number of rows the indexer wrote in both tables (so that rows removed behind its
// back are seen at start), and `format` came after the table: an index from before them gains
// the columns (NULL: not known) when opened, before its state row is made.
inline constexpr const char* kAddSearchKeysColumn =
    "ALTER TABLE audit_search_state ADD COLUMN keys INTEGER";
inline constexpr const char* kAddSearchFormatColumn =
    "ALTER TABLE audit_search_state ADD COLUMN format INTEGER";
// ?1: kAuditSearchFormat (a new index is of this build's format).
inline constexpr const char* kMakeSearchState =
    "INSERT OR IGNORE INTO audit_search_state(id, indexed_seq, keys, format) VALUES(1, 0, 0, ?1)";
inline constexpr const char* kInsertSearchKey =
    "INSERT OR IGNORE INTO audit_search(key, time_ms, seq) VALUES(?1, ?2, ?3)";
inline constexpr const char* kInsertSearchEntry =
    "INSERT OR IGNORE INTO audit_search_entry(seq, time_ms, tags) VALUES(?1, ?2, ?3)";
inline constexpr const char* kSetIndexedSeq =
    "UPDATE audit_search_state SET indexed_seq = ?1, keys = COALESCE(keys, 0) + ?2 WHERE id = 1";

// Whether a key (as SearchKeysOf makes it) has rows in audit_search: all but "s|read",
// "s|search", "s|search-type", "o|0", "e|1" and "e|2", which are tags of the entry's
// audit_search_entry row. A query by tags alone walks the entries newest first: they match most
// entries, so a page fills at once.
bool IsKeyRow(std::string_view key);
// The tags of an entry with these keys: its keys that are not key rows, each followed by
// kTagEnd, after a leading kTagEnd ("\x1fs|read\x1fo|0\x1f"), so that a tag is found as
// kTagEnd + key + kTagEnd (no tag holds kTagEnd).
inline constexpr char kTagEnd = '\x1f';
std::string TagsOf(const std::vector<std::string>& keys);

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
