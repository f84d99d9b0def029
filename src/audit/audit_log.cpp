#include "audit/audit_log.h"

#include <pthread.h>
#include <sqlite3.h>

#include <cstring>
#include <iostream>

#include "base/deferred_batch.h"

namespace carerecord::audit {

namespace fs = std::filesystem;
using base::ErrorCode;
using base::MakeError;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_entry(
  seq INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  canonical BLOB NOT NULL,
  hash BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS audit_entry_time ON audit_entry(time_ms);
CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_entry
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON audit_entry
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql";

base::Error Unwritable(sqlite3* db, const std::string& what) {
  return MakeError(ErrorCode::kUnavailable,
                   "the audit log cannot be written (" + what + ": " + sqlite3_errmsg(db) + ")");
}

// How long the writer waits for one more entry before it commits what it has, and how long it
// gathers at most (ARCHITECTURE, the audit log: group commit).
constexpr auto kGather = std::chrono::microseconds(60);
constexpr auto kMaxGather = std::chrono::microseconds(600);

bool Exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

// Runs a prepared statement that returns no rows (BEGIN, COMMIT, ROLLBACK: prepared once, not
// parsed again for every batch).
bool Step(sqlite3_stmt* statement) {
  const int rc = sqlite3_step(statement);
  sqlite3_reset(statement);
  return rc == SQLITE_DONE;
}

}  // namespace

base::Result<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditLogOptions& options) {
  std::unique_ptr<AuditLog> log(new AuditLog());
  log->options_ = options;
  if (log->options_.checkpoint_file.empty()) {
    log->options_.checkpoint_file = options.directory / kCheckpointFile;
  }
  std::error_code ec;
  fs::create_directories(options.directory, ec);
  const fs::path path = options.directory / kAuditDatabaseFile;
  if (sqlite3_open_v2(path.c_str(), &log->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return Unwritable(log->db_, "open " + path.string());
  }
  sqlite3* db = log->db_;
  sqlite3_busy_timeout(db, 5000);
  const std::string pragmas =
      std::string("PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
      (options.durable ? "FULL" : "OFF") + ";" +
      (options.max_page_count > 0
           ? "PRAGMA max_page_count=" + std::to_string(options.max_page_count) + ";"
           : std::string());
  if (!Exec(db, pragmas.c_str()) || !Exec(db, kSchema)) return Unwritable(db, "set up");
  if (auto started = log->wal_checkpointer_.Start(path.string(), db); !started.ok()) {
    return started.error();
  }
  if (sqlite3_prepare_v3(db,
                         "INSERT INTO audit_entry(seq, time_ms, canonical, hash) "
                         "VALUES(?1, ?2, ?3, ?4)",
                         -1, SQLITE_PREPARE_PERSISTENT, &log->insert_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v3(db, "BEGIN IMMEDIATE", -1, SQLITE_PREPARE_PERSISTENT, &log->begin_,
                         nullptr) != SQLITE_OK ||
      sqlite3_prepare_v3(db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &log->commit_, nullptr) !=
          SQLITE_OK ||
      sqlite3_prepare_v3(db, "ROLLBACK", -1, SQLITE_PREPARE_PERSISTENT, &log->rollback_, nullptr) !=
          SQLITE_OK) {
    return Unwritable(db, "prepare");
  }
  // The head: where the chain goes on.
  sqlite3_stmt* head = nullptr;
  sqlite3_prepare_v2(db, "SELECT seq, hash, time_ms FROM audit_entry ORDER BY seq DESC LIMIT 1", -1,
                     &head, nullptr);
  if (head && sqlite3_step(head) == SQLITE_ROW) {
    log->head_seq_ = sqlite3_column_int64(head, 0);
    if (sqlite3_column_bytes(head, 1) == 32) {
      std::memcpy(log->head_hash_.data(), sqlite3_column_blob(head, 1), 32);
    }
    log->head_time_ms_ = sqlite3_column_int64(head, 2);
  }
  sqlite3_finalize(head);

  auto key = CheckpointKey::OpenOrCreate(options.directory);
  if (!key.ok()) return key.error();
  log->key_ = std::move(key).value();
  auto existing = ReadCheckpoints(log->options_.checkpoint_file);
  if (!existing.ok()) return existing.error();
  if (!existing->empty()) {
    // Going on from a log that is behind its signed checkpoints would number new entries the
    // checkpoints already signed: refuse, so an operator looks (`carerecord audit verify`).
    const Checkpoint& last = existing->back();
    if (last.seq > log->head_seq_) {
      return MakeError(ErrorCode::kUnavailable,
                       "the audit log " + path.string() + " ends at entry " +
                           std::to_string(log->head_seq_) + " but " +
                           log->options_.checkpoint_file.string() + " line " +
                           std::to_string(last.line) + " signed entry " + std::to_string(last.seq) +
                           ": it was truncated or restored from an older copy (see "
                           "`carerecord audit verify`)");
    }
    sqlite3_stmt* at = nullptr;
    sqlite3_prepare_v2(db, "SELECT hash FROM audit_entry WHERE seq = ?1", -1, &at, nullptr);
    sqlite3_bind_int64(at, 1, last.seq);
    const bool same = at && sqlite3_step(at) == SQLITE_ROW && sqlite3_column_bytes(at, 0) == 32 &&
                      std::memcmp(sqlite3_column_blob(at, 0), last.hash.data(), 32) == 0;
    sqlite3_finalize(at);
    if (!same) {
      return MakeError(ErrorCode::kUnavailable,
                       "the audit log " + path.string() + " does not hold the entry " +
                           std::to_string(last.seq) + " that " +
                           log->options_.checkpoint_file.string() + " line " +
                           std::to_string(last.line) +
                           " signed: it was altered (see `carerecord audit verify`)");
    }
    log->checkpointed_seq_ = last.seq;
  }
  auto writer = CheckpointWriter::Open(log->options_.checkpoint_file, *log->key_, options.durable);
  if (!writer.ok()) return writer.error();
  log->checkpoints_ = std::move(writer).value();
  // The search index: whatever it has not reached (a log from before it, an index deleted or
  // behind after a crash) is indexed now; then it follows the writer on its own thread.
  auto indexer = AuditIndexer::Open(options.directory);
  if (!indexer.ok()) return indexer.error();
  log->indexer_ = std::move(indexer).value();
  log->indexer_->Start();
  log->writer_ = std::thread([raw = log.get()] { raw->Run(); });
  return log;
}

AuditLog::~AuditLog() {
  Close();
  for (sqlite3_stmt* statement : {insert_, begin_, commit_, rollback_}) {
    sqlite3_finalize(statement);
  }
  if (db_) sqlite3_close_v2(db_);
}

void AuditLog::Close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (indexer_) indexer_->Stop();
  wal_checkpointer_.Stop();
}

int64_t AuditLog::indexed_seq() const { return indexer_ ? indexer_->indexed_seq() : 0; }

bool AuditLog::WaitIndexed(int64_t seq, std::chrono::milliseconds timeout) const {
  return indexer_ && indexer_->WaitIndexed(seq, timeout);
}

int64_t AuditLog::head_seq() const {
  std::lock_guard lock(mutex_);
  return head_seq_;
}

std::future<base::Result<int64_t>> AuditLog::AppendAsync(AuditRecord record) {
  auto promise = std::make_shared<std::promise<base::Result<int64_t>>>();
  auto future = promise->get_future();
  AppendThen(std::move(record),
             [promise](const base::Result<int64_t>& appended) { promise->set_value(appended); });
  return future;
}

void AuditLog::AppendThen(AuditRecord record, Done done) {
  if (record.time_ms == 0) record.time_ms = NowUtcMs();
  Pending pending{CanonicalPartsOf(record), record.time_ms, std::move(done)};
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queue_.push_back(std::move(pending));
      pending.done = nullptr;
      wake = writer_idle_;
    }
  }
  if (pending.done) {
    pending.done(
        MakeError(ErrorCode::kUnavailable, "the audit log is closed; nothing was recorded"));
    return;
  }
  // A writer that is committing or gathering takes the queue when it is done: only an idle
  // one is woken.
  if (wake) wake_.notify_one();
}

void AuditLog::Run() {
  pthread_setname_np(pthread_self(), "cr-audit");
  std::vector<int64_t> seqs;
  for (;;) {
    std::deque<Pending> batch;
    bool stop = false;
    {
      std::unique_lock lock(mutex_);
      writer_idle_ = true;
      wake_.wait_for(lock, options_.checkpoint_interval,
                     [&] { return !queue_.empty() || stopping_; });
      writer_idle_ = false;
      // Gather the entries still coming before committing: each commit costs a sync and its
      // pages whatever it holds, so while entries keep arriving (a new one within kGather) they
      // join this batch, for at most kMaxGather. Appends do not wake the writer meanwhile (it
      // sleeps; writer_idle_ is false): no wake-up per entry.
      const auto gather_end = std::chrono::steady_clock::now() + kMaxGather;
      size_t seen = queue_.size();
      while (!stopping_ && seen > 0 && std::chrono::steady_clock::now() < gather_end) {
        lock.unlock();
        std::this_thread::sleep_for(kGather);
        lock.lock();
        if (queue_.size() == seen) break;
        seen = queue_.size();
      }
      batch.swap(queue_);
      stop = stopping_ && batch.empty();
    }
    if (!batch.empty()) {
      base::Status committed = CommitBatch(batch, seqs);
      // Said once when appends start failing (every audited request is then answered 503) and
      // once when they work again, so an operator sees why.
      if (committed.ok() == failing_) {
        failing_ = !committed.ok();
        std::cerr << "carerecord: "
                  << (failing_ ? committed.error().message +
                                     "; audited requests are refused until it can be written"
                               : std::string("the audit log can be written again"))
                  << std::endl;
      }
      // One DeferredBatch for the batch's completions: what they hand to other threads (the
      // HTTP server's answers to its io threads) goes in one hand-off per thread.
      base::DeferredBatch completions;
      for (size_t i = 0; i < batch.size(); ++i) {
        if (committed.ok()) {
          batch[i].done(seqs[i]);
        } else {
          batch[i].done(committed.error());
        }
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (head_seq_ > checkpointed_seq_ &&
        (stop || now - last_checkpoint_ >= options_.checkpoint_interval)) {
      WriteCheckpoint();
    }
    if (stop) return;
  }
}

base::Status AuditLog::CommitBatch(std::deque<Pending>& batch, std::vector<int64_t>& seqs) {
  seqs.clear();
  if (!Step(begin_)) return Unwritable(db_, "begin");
  int64_t seq = head_seq_;
  Hash hash = head_hash_;
  int64_t time_ms = head_time_ms_;
  std::string& canonical = canonical_;  // one buffer, its capacity kept from entry to entry
  for (Pending& pending : batch) {
    ++seq;
    pending.canonical.JoinInto(seq, canonical);
    hash = hasher_.Next(hash, canonical);
    sqlite3_bind_int64(insert_, 1, seq);
    sqlite3_bind_int64(insert_, 2, pending.time_ms);
    sqlite3_bind_blob(insert_, 3, canonical.data(), static_cast<int>(canonical.size()),
                      SQLITE_STATIC);
    sqlite3_bind_blob(insert_, 4, hash.data(), static_cast<int>(hash.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(insert_);
    sqlite3_reset(insert_);
    if (rc != SQLITE_DONE) {
      base::Error error = Unwritable(db_, "insert");
      Step(rollback_);
      return error;
    }
    seqs.push_back(seq);
    time_ms = pending.time_ms;
  }
  if (!Step(commit_)) {
    base::Error error = Unwritable(db_, "commit");
    Step(rollback_);
    return error;
  }
  {
    std::lock_guard lock(mutex_);
    head_seq_ = seq;
    head_hash_ = hash;
    head_time_ms_ = time_ms;
  }
  commits_.fetch_add(1, std::memory_order_relaxed);
  entries_.fetch_add(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
  indexer_->Notify(seq);  // the index follows on its own thread; the appends do not wait for it
  wal_checkpointer_.BoundLog();
  return base::Status::Ok();
}

void AuditLog::WriteCheckpoint() {
  last_checkpoint_ = std::chrono::steady_clock::now();
  if (auto s = checkpoints_->Write(head_seq_, head_hash_, NowUtcMs()); !s.ok()) {
    // The entries are durable and chained; only their signature waits for the next try.
    std::cerr << "carerecord: audit checkpoint: " << s.error().message << std::endl;
    return;
  }
  checkpointed_seq_ = head_seq_;
}

}  // namespace carerecord::audit
