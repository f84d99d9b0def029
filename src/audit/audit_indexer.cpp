#include "audit/audit_indexer.h"

#include <pthread.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "audit/audit_database.h"
#include "audit/audit_event.h"
#include "audit/audit_search.h"

namespace carerecord::audit {

namespace {

constexpr int kEntriesPerTransaction = 4096;
constexpr auto kRoundPause = std::chrono::milliseconds(50);

base::Error Unindexed(sqlite3* db, const std::string& what) {
  return base::MakeError(
      base::ErrorCode::kUnavailable,
      "the audit search index cannot be written (" + what + ": " + sqlite3_errmsg(db) + ")");
}

bool Exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

struct Keyed {
  int64_t seq;
  int64_t time_ms;
  bool parsed;                    // an entry that does not parse has no rows
  std::vector<std::string> keys;  // its key rows' keys (IsKeyRow)
  std::string tags;               // its tags row (TagsOf)
};

// One row of audit_search, its key in a Keyed of the same round.
struct Row {
  std::string_view key;
  int64_t time_ms;
  int64_t seq;
  bool operator<(const Row& other) const {
    return std::tie(key, time_ms, seq) < std::tie(other.key, other.time_ms, other.seq);
  }
};

}  // namespace

base::Result<std::unique_ptr<AuditIndexer>> AuditIndexer::Open(
    const std::filesystem::path& directory) {
  std::unique_ptr<AuditIndexer> indexer(new AuditIndexer());
  auto entries = OpenAuditDatabaseToRead(directory);
  if (!entries.ok()) return entries.error();
  indexer->entries_ = entries.value();
  const std::filesystem::path path = directory / kAuditSearchDatabaseFile;
  if (sqlite3_open_v2(path.c_str(), &indexer->index_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return Unindexed(indexer->index_, "open " + path.string());
  }
  sqlite3* index = indexer->index_;
  sqlite3_busy_timeout(index, 5000);
  if (!Exec(index, "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;") ||
      !Exec(index, kAuditSearchSchema)) {
    return Unindexed(index, "set up " + path.string());
  }
  if (!Statement(index, "SELECT keys FROM audit_search_state").get() &&
      !Exec(index, kAddSearchKeysColumn)) {
    return Unindexed(index, "add the keys column to " + path.string());
  }
  if (!Statement(index, "SELECT format FROM audit_search_state").get() &&
      !Exec(index, kAddSearchFormatColumn)) {
    return Unindexed(index, "add the format column to " + path.string());
  }
  {
    Statement make(index, kMakeSearchState);
    if (make.get()) sqlite3_bind_int64(make.get(), 1, kAuditSearchFormat);
    if (!make.get() || sqlite3_step(make.get()) != SQLITE_DONE) {
      return Unindexed(index, "set up " + path.string());
    }
  }
  int64_t indexed = 0;
  int64_t keys = -1;   // not known: an index from before the column
  int64_t format = 1;  // NULL: an index from before the column, key rows for every key
  {
    Statement state(index, "SELECT indexed_seq, keys, format FROM audit_search_state WHERE id = 1");
    if (!state.get()) return Unindexed(index, "read its state");
    if (sqlite3_step(state.get()) == SQLITE_ROW) {
      indexed = sqlite3_column_int64(state.get(), 0);
      if (sqlite3_column_type(state.get(), 1) != SQLITE_NULL) {
        keys = sqlite3_column_int64(state.get(), 1);
      }
      if (sqlite3_column_type(state.get(), 2) != SQLITE_NULL) {
        format = sqlite3_column_int64(state.get(), 2);
      }
    }
  }
  int64_t head = 0;
  {
    Statement last(indexer->entries_, "SELECT COALESCE(MAX(seq), 0) FROM audit_entry");
    if (!last.get() || sqlite3_step(last.get()) != SQLITE_ROW) {
      return Unindexed(indexer->entries_, "read the log's head");
    }
    head = sqlite3_column_int64(last.get(), 0);
  }
  // Rows removed or added behind the indexer's back (the file is not covered by the chain, and
  // a removed row hides its entry from searches) are seen by their count, one scan of each
  // table (ARCHITECTURE has its cost); a count that differs rebuilds the index from the
  // entries. Rows swapped for as many others keep the count: `audit verify` compares every
  // entry's rows.
  int64_t rows = 0;
  const bool current = format == kAuditSearchFormat;
  if (current) {
    Statement count(index,
                    "SELECT (SELECT COUNT(*) FROM audit_search) + "
                    "(SELECT COUNT(*) FROM audit_search_entry)");
    if (!count.get() || sqlite3_step(count.get()) != SQLITE_ROW) {
      return Unindexed(index, "count its rows");
    }
    rows = sqlite3_column_int64(count.get(), 0);
  }
  const bool ahead = indexed > head;
  // A current index always has its count (kMakeSearchState sets it): none is a count removed.
  const bool miscounted = current && rows != keys;
  const bool rebuilt = !current || ahead || miscounted;
  if (rebuilt) {
    // Older: its rows are not those this build searches. Ahead: made for a longer log than
    // this one, its rows may name entries this log numbers differently. Either way, rebuilt
    // from the entries.
    std::cerr << "carerecord: the audit search index ("
              << (!current ? "of format " + std::to_string(format) + ", this build's is " +
                                 std::to_string(kAuditSearchFormat)
                  : ahead ? "it has reached entry " + std::to_string(indexed) +
                                ", beyond the log's last, " + std::to_string(head)
                          : "it has " + std::to_string(rows) + " rows where " +
                                std::to_string(keys) + " were written")
              << ") is rebuilt from the log" << std::endl;
    if (!Exec(index, ("BEGIN IMMEDIATE; DELETE FROM audit_search; DELETE FROM audit_search_entry; "
                      "UPDATE audit_search_state SET indexed_seq = 0, keys = 0, format = " +
                      std::to_string(kAuditSearchFormat) + " WHERE id = 1; COMMIT;")
                         .c_str())) {
      Exec(index, "ROLLBACK");
      return Unindexed(index, "drop an index that differs from the log");
    }
    indexed = 0;
  }
  indexer->indexed_seq_ = indexed;
  indexer->committed_seq_ = head;
  const auto catch_up_start = std::chrono::steady_clock::now();
  if (auto caught_up = indexer->CatchUp(); !caught_up.ok()) return caught_up.error();
  if (rebuilt) {
    std::cerr << "carerecord: the audit search index was rebuilt (" << indexer->indexed_seq()
              << " entries, "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - catch_up_start)
                     .count()
              << " ms)" << std::endl;
  }
  return indexer;
}

AuditIndexer::~AuditIndexer() {
  Stop();
  for (sqlite3_stmt* statement : {read_, insert_, insert_entry_, done_}) {
    sqlite3_finalize(statement);
  }
  if (entries_) sqlite3_close_v2(entries_);
  if (index_) sqlite3_close_v2(index_);
}

// Not run concurrently: by Open before the thread starts, then by the thread alone. It returns
// early once Stop is called (the next Open goes on from indexed_seq).
base::Status AuditIndexer::CatchUp() {
  // Prepared once and kept (a round is every 50 ms under load: parsing them each time showed).
  auto prepare = [](sqlite3* db, const char* sql, sqlite3_stmt*& statement) {
    if (!statement) {
      sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
    }
    return statement != nullptr;
  };
  if (!prepare(entries_,
               "SELECT seq, canonical FROM audit_entry WHERE seq > ?1 ORDER BY seq LIMIT ?2",
               read_)) {
    return Unindexed(entries_, "read entries");
  }
  if (!prepare(index_, kInsertSearchKey, insert_) ||
      !prepare(index_, kInsertSearchEntry, insert_entry_) ||
      !prepare(index_, kSetIndexedSeq, done_)) {
    return Unindexed(index_, "prepare");
  }
  sqlite3_stmt* const read = read_;
  sqlite3_stmt* const insert = insert_;
  sqlite3_stmt* const insert_entry = insert_entry_;
  sqlite3_stmt* const done = done_;
  int64_t from;
  {
    std::lock_guard lock(mutex_);
    from = indexed_seq_;
  }
  for (;;) {
    // The keys of the next entries, read in one read transaction of audit.db.
    std::vector<Keyed> batch;
    sqlite3_bind_int64(read, 1, from);
    sqlite3_bind_int64(read, 2, kEntriesPerTransaction);
    int rc;
    while ((rc = sqlite3_step(read)) == SQLITE_ROW) {
      const int64_t seq = sqlite3_column_int64(read, 0);
      std::string_view canonical(static_cast<const char*>(sqlite3_column_blob(read, 1)),
                                 static_cast<size_t>(sqlite3_column_bytes(read, 1)));
      Keyed keyed{seq, 0, false, {}, {}};
      // An entry that does not parse is not found by search; `audit verify` names it.
      if (auto record = ParseCanonical(canonical); record.ok()) {
        keyed.time_ms = record->time_ms;
        keyed.parsed = true;
        std::vector<std::string> keys = SearchKeysOf(record.value());
        keyed.tags = TagsOf(keys);
        std::erase_if(keys, [](const std::string& key) { return !IsKeyRow(key); });
        keyed.keys = std::move(keys);
      }
      batch.push_back(std::move(keyed));
    }
    sqlite3_reset(read);
    if (rc != SQLITE_DONE) return Unindexed(entries_, "read entries");
    if (batch.empty()) return base::Status::Ok();
    // The round's rows in the table's order, so that each insert lands beside the one before
    // (the same leaf, hot in the cache) rather than anywhere in the key space.
    std::vector<Row> rows;
    for (const Keyed& keyed : batch) {
      for (const std::string& key : keyed.keys) rows.push_back({key, keyed.time_ms, keyed.seq});
    }
    std::sort(rows.begin(), rows.end());
    if (!Exec(index_, "BEGIN IMMEDIATE")) return Unindexed(index_, "begin");
    int64_t written = 0;  // rows inserted (a key an entry gives twice is one row)
    for (const Row& row : rows) {
      sqlite3_bind_text(insert, 1, row.key.data(), static_cast<int>(row.key.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert, 2, row.time_ms);
      sqlite3_bind_int64(insert, 3, row.seq);
      const int inserted = sqlite3_step(insert);
      written += sqlite3_changes(index_);
      sqlite3_reset(insert);
      if (inserted != SQLITE_DONE) {
        base::Error error = Unindexed(index_, "insert");
        Exec(index_, "ROLLBACK");
        return error;
      }
    }
    // One tags row per entry, in seq order: appended at the end of its table.
    for (const Keyed& keyed : batch) {
      if (!keyed.parsed) continue;
      sqlite3_bind_int64(insert_entry, 1, keyed.seq);
      sqlite3_bind_int64(insert_entry, 2, keyed.time_ms);
      sqlite3_bind_text(insert_entry, 3, keyed.tags.data(), static_cast<int>(keyed.tags.size()),
                        SQLITE_STATIC);
      const int inserted = sqlite3_step(insert_entry);
      written += sqlite3_changes(index_);
      sqlite3_reset(insert_entry);
      if (inserted != SQLITE_DONE) {
        base::Error error = Unindexed(index_, "insert");
        Exec(index_, "ROLLBACK");
        return error;
      }
    }
    const int64_t last = batch.back().seq;
    sqlite3_bind_int64(done, 1, last);
    sqlite3_bind_int64(done, 2, written);
    const int set = sqlite3_step(done);
    sqlite3_reset(done);
    if (set != SQLITE_DONE || !Exec(index_, "COMMIT")) {
      base::Error error = Unindexed(index_, "commit");
      Exec(index_, "ROLLBACK");
      return error;
    }
    bool stopping;
    {
      std::lock_guard lock(mutex_);
      indexed_seq_ = last;
      stopping = stopping_;
    }
    changed_.notify_all();
    if (stopping) return base::Status::Ok();  // the next Open goes on from here
    from = last;
    if (static_cast<int>(batch.size()) < kEntriesPerTransaction) return base::Status::Ok();
  }
}

void AuditIndexer::Start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void AuditIndexer::Notify(int64_t seq) {
  {
    std::lock_guard lock(mutex_);
    if (seq <= committed_seq_) return;
    committed_seq_ = seq;
    // While the thread pauses between rounds, a commit wakes it only once a full round waits.
    if (pausing_ && committed_seq_ - indexed_seq_ < kEntriesPerTransaction) return;
  }
  changed_.notify_all();
}

void AuditIndexer::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t AuditIndexer::indexed_seq() const {
  std::lock_guard lock(mutex_);
  return indexed_seq_;
}

bool AuditIndexer::WaitIndexed(int64_t seq, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return indexed_seq_ >= seq; });
}

void AuditIndexer::Run() {
  pthread_setname_np(pthread_self(), "cr-audit-index");
  // Appending (a request waits for its entry) comes first; the index may fall behind under load
  // and catches up when it eases. Linux: a thread's nice value is its own.
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
  bool failing = false;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (failing) {
        changed_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
      } else {
        changed_.wait_for(lock, std::chrono::seconds(1),
                          [&] { return stopping_ || committed_seq_ > indexed_seq_; });
      }
      if (stopping_) return;
      if (committed_seq_ <= indexed_seq_ && !failing) continue;
    }
    base::Status caught_up = CatchUp();
    if (caught_up.ok()) {
      // Rounds at most every kRoundPause, unless a full round is waiting: each commit of the
      // index rewrites the pages its keys fall in, so one round a commit (a thousand a second
      // under load) cost far more than rounds of many entries. Searches still find everything
      // (entries past indexed_seq are read from the log).
      std::unique_lock lock(mutex_);
      pausing_ = true;
      changed_.wait_for(lock, kRoundPause, [&] {
        return stopping_ || committed_seq_ - indexed_seq_ >= kEntriesPerTransaction;
      });
      pausing_ = false;
    }
    if (caught_up.ok() == failing) {
      failing = !caught_up.ok();
      // Searches still find everything (they read what is not indexed from the entries), only
      // slower; said once when it starts and once when it ends.
      std::cerr << "carerecord: "
                << (failing ? caught_up.error().message + "; retrying every second"
                            : std::string("the audit search index is written again"))
                << std::endl;
    }
  }
}

}  // namespace carerecord::audit
