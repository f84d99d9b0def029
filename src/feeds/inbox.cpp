// The inbox in SQLite, in its own file (DIR/inbox.db): one writer thread group-commits receives
// on its own connection; feeds, the error queue and the worker's state changes go through a
// second connection under a mutex. WAL lets the two (and other processes: the command line)
// interleave; the busy handler waits out the other's commit.

#include "feeds/inbox.h"

#include <openssl/evp.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "fhir/fhir_date.h"
#include "store/sqlite/sqlite_db.h"

namespace carerecord::feeds {
namespace {

using base::ErrorCode;
using base::MakeError;
using store::SqliteConnection;
using store::SqliteStatement;

// The inbox's own database in the data folder: its commits (every ACK) never wait behind the
// record's, nor the record's behind them (each file has its own WAL and write lock).
constexpr std::string_view kInboxFileName = "inbox.db";

constexpr const char* kInboxSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS inbox_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO inbox_state (key, value) VALUES ('feed_change', 0);
CREATE TABLE IF NOT EXISTS feed (
  key INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  facility TEXT NOT NULL,
  application TEXT NOT NULL,
  ods_code TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS inbox (
  id INTEGER PRIMARY KEY,
  feed_key INTEGER REFERENCES feed (key),  -- NULL: no feed named the facility
  sending_application TEXT NOT NULL,
  sending_facility TEXT NOT NULL,
  control_id TEXT NOT NULL,
  message_type TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  received_ms INTEGER NOT NULL,
  state TEXT NOT NULL,  -- received, mapped, error, rejected
  reason TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  duplicates INTEGER NOT NULL DEFAULT 0,
  raw BLOB NOT NULL,
  app_ack TEXT NOT NULL DEFAULT '',  -- '', sent, undelivered: an enhanced-mode application ACK
  reason_location TEXT NOT NULL DEFAULT ''  -- where in the message the error is, when known
);
-- A resend is found by who sent it and its control id: the idempotency key.
CREATE UNIQUE INDEX IF NOT EXISTS inbox_sender_control ON inbox (sending_facility, control_id);
CREATE INDEX IF NOT EXISTS inbox_state_id ON inbox (state, id);
CREATE INDEX IF NOT EXISTS inbox_feed ON inbox (feed_key);
)sql";

constexpr const char* kEntryColumns =
    "i.id, coalesce(f.name, ''), i.sending_application, i.sending_facility, i.control_id, "
    "i.message_type, i.state, i.reason, i.received_ms, i.duplicates, i.attempts, i.app_ack, "
    "i.reason_location FROM inbox i "
    "LEFT JOIN feed f ON f.key = i.feed_key";

InboxEntry ReadEntry(const SqliteStatement& s) {
  InboxEntry e;
  e.id = s.Int(0);
  e.feed_name = s.Text(1);
  e.sending_application = s.Text(2);
  e.sending_facility = s.Text(3);
  e.control_id = s.Text(4);
  e.message_type = s.Text(5);
  e.state = s.Text(6);
  e.reason = s.Text(7);
  e.received_ms = s.Int(8);
  e.duplicates = s.Int(9);
  e.attempts = s.Int(10);
  e.application_ack = s.Text(11);
  e.reason_location = s.Text(12);
  return e;
}

FeedRecord ReadFeed(const SqliteStatement& s) {
  FeedRecord f;
  f.key = s.Int(0);
  f.name = s.Text(1);
  f.facility = s.Text(2);
  f.application = s.Text(3);
  f.ods_code = s.Text(4);
  f.enabled = s.Int(5) != 0;
  f.created_ms = s.Int(6);
  return f;
}

constexpr const char* kFeedColumns =
    "key, name, facility, application, ods_code, enabled, created_ms FROM feed";

// The enabled feed answering for a facility and application: one naming the application wins
// over one for the whole facility.
const FeedRecord* MatchFeed(const std::vector<FeedRecord>& feeds, std::string_view facility,
                            std::string_view application) {
  const FeedRecord* any_application = nullptr;
  for (const FeedRecord& feed : feeds) {
    if (!feed.enabled || feed.facility != facility) continue;
    if (feed.application == application) return &feed;
    if (feed.application.empty()) any_application = &feed;
  }
  return any_application;
}

std::string NoFeedReason(std::string_view facility, std::string_view application) {
  return "no enabled feed names sending facility '" + std::string(facility) + "' (application '" +
         std::string(application) + "')";
}

base::Result<int64_t> FeedChange(SqliteConnection& db) {
  auto stmt = db.Cached("SELECT value FROM inbox_state WHERE key = 'feed_change'");
  if (!stmt.ok()) return stmt.error();
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  int64_t value = row.value() ? (*stmt)->Int(0) : 0;
  (*stmt)->Reset();
  return value;
}

base::Result<std::vector<FeedRecord>> LoadFeeds(SqliteConnection& db) {
  auto stmt = db.Cached(std::string("SELECT ") + kFeedColumns + " ORDER BY name");
  if (!stmt.ok()) return stmt.error();
  std::vector<FeedRecord> feeds;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    feeds.push_back(ReadFeed(**stmt));
  }
  (*stmt)->Reset();
  return feeds;
}

class SqliteInbox final : public Inbox {
 public:
  SqliteInbox(std::unique_ptr<SqliteConnection> write_db,
              std::unique_ptr<SqliteConnection> admin_db, InboxOptions options)
      : write_db_(std::move(write_db)), admin_db_(std::move(admin_db)), options_(options) {
    writer_ = std::thread([this] { RunWriter(); });
  }
  ~SqliteInbox() override { StopWriter(); }

  void ReceiveAsync(IncomingMessage message, ReceiveCallback done) override {
    {
      std::lock_guard lock(queue_mutex_);
      if (!stopping_) {
        queue_.push_back(Pending{std::move(message), std::move(done)});
        queue_wake_.notify_one();
        return;
      }
    }
    done(MakeError(ErrorCode::kUnavailable, "the inbox is shutting down"));
  }

  base::Result<ReceiveResult> Receive(IncomingMessage message) override {
    std::promise<base::Result<ReceiveResult>> promise;
    auto future = promise.get_future();
    ReceiveAsync(std::move(message), [&promise](base::Result<ReceiveResult> result) {
      promise.set_value(std::move(result));
    });
    return future.get();
  }

  void SetReceivedHook(std::function<void()> hook) override {
    std::lock_guard lock(queue_mutex_);
    received_hook_ = std::move(hook);
  }

  void StopWriter() override {
    {
      std::lock_guard lock(queue_mutex_);
      stopping_ = true;
    }
    queue_wake_.notify_all();
    if (writer_.joinable()) writer_.join();
  }

  base::Result<FeedRecord> AddFeed(FeedRecord feed) override {
    std::lock_guard lock(admin_mutex_);
    auto done = admin_db_->InWriteTransaction([&]() -> base::Status {
      auto feeds = LoadFeeds(*admin_db_);
      if (!feeds.ok()) return feeds.error();
      for (const FeedRecord& other : *feeds) {
        if (other.name == feed.name) {
          return MakeError(ErrorCode::kConflict, "a feed named " + feed.name + " already exists",
                           "--name");
        }
        if (other.enabled && other.facility == feed.facility &&
            other.application == feed.application) {
          return MakeError(ErrorCode::kConflict,
                           "the enabled feed " + other.name +
                               " already answers for this facility and application",
                           "--facility");
        }
      }
      feed.created_ms = fhir::NowMs();
      feed.enabled = true;
      auto stmt = admin_db_->Prepare(
          "INSERT INTO feed (name, facility, application, ods_code, enabled, created_ms) VALUES "
          "(?, ?, ?, ?, 1, ?)");
      if (!stmt.ok()) return stmt.error();
      stmt->Bind(1, feed.name)
          .Bind(2, feed.facility)
          .Bind(3, feed.application)
          .Bind(4, feed.ods_code)
          .Bind(5, feed.created_ms);
      CR_RETURN_IF_ERROR(stmt->Run());
      feed.key = sqlite3_last_insert_rowid(admin_db_->raw());
      return BumpFeedChange();
    });
    if (!done.ok()) return done.error();
    return feed;
  }

  base::Result<std::vector<FeedRecord>> ListFeeds() override {
    std::lock_guard lock(admin_mutex_);
    return LoadFeeds(*admin_db_);
  }

  base::Status SetFeedEnabled(std::string_view name, bool enabled) override {
    std::lock_guard lock(admin_mutex_);
    return admin_db_->InWriteTransaction([&]() -> base::Status {
      auto stmt = admin_db_->Prepare("UPDATE feed SET enabled = ? WHERE name = ?");
      if (!stmt.ok()) return stmt.error();
      stmt->Bind(1, int64_t{enabled}).Bind(2, name);
      CR_RETURN_IF_ERROR(stmt->Run());
      if (sqlite3_changes(admin_db_->raw()) == 0) {
        return MakeError(ErrorCode::kNotFound, "no feed is named " + std::string(name), "--name");
      }
      return BumpFeedChange();
    });
  }

  base::Result<std::vector<InboxMessage>> NextReceived(int64_t after_id, size_t limit) override {
    std::lock_guard lock(admin_mutex_);
    auto stmt = admin_db_->Cached(
        "SELECT i.id, f.name, f.ods_code, i.sending_application, i.sending_facility, "
        "i.control_id, i.message_type, i.received_ms, i.raw FROM inbox i JOIN feed f ON f.key = "
        "i.feed_key WHERE i.state = 'received' AND i.id > ? ORDER BY i.id LIMIT ?");
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, after_id).Bind(2, static_cast<int64_t>(limit));
    std::vector<InboxMessage> messages;
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      if (!row.value()) break;
      const SqliteStatement& s = **stmt;
      InboxMessage m;
      m.id = s.Int(0);
      m.feed_name = s.Text(1);
      m.ods_code = s.Text(2);
      m.sending_application = s.Text(3);
      m.sending_facility = s.Text(4);
      m.control_id = s.Text(5);
      m.message_type = s.Text(6);
      m.received_ms = s.Int(7);
      m.raw = s.Blob(8);
      messages.push_back(std::move(m));
    }
    (*stmt)->Reset();
    return messages;
  }

  base::Status MarkMapped(int64_t id) override {
    std::lock_guard lock(admin_mutex_);
    return SetProcessed(id, "mapped", "");
  }
  base::Status MarkError(int64_t id, std::string_view reason) override {
    std::lock_guard lock(admin_mutex_);
    return SetProcessed(id, "error", reason);
  }
  base::Status MarkProcessed(const std::vector<Mark>& marks) override {
    std::lock_guard lock(admin_mutex_);
    return admin_db_->InWriteTransaction([&]() -> base::Status {
      for (const Mark& mark : marks) {
        CR_RETURN_IF_ERROR(SetProcessed(mark.id, mark.error ? "error" : "mapped",
                                        mark.error.value_or(""),
                                        mark.error ? std::string_view(mark.error_location) : ""));
      }
      return base::Status::Ok();
    });
  }

  base::Result<std::vector<InboxEntry>> ListErrors(size_t limit) override {
    std::lock_guard lock(admin_mutex_);
    auto stmt = admin_db_->Cached(std::string("SELECT ") + kEntryColumns +
                                  " WHERE i.state IN ('error', 'rejected') ORDER BY i.id LIMIT ?");
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, static_cast<int64_t>(limit));
    std::vector<InboxEntry> entries;
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      if (!row.value()) break;
      entries.push_back(ReadEntry(**stmt));
    }
    (*stmt)->Reset();
    return entries;
  }

  base::Result<std::optional<InboxEntry>> FindMessage(int64_t id) override {
    std::lock_guard lock(admin_mutex_);
    auto stmt = admin_db_->Cached(std::string("SELECT ") + kEntryColumns + " WHERE i.id = ?");
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, id);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    std::optional<InboxEntry> found;
    if (row.value()) found = ReadEntry(**stmt);
    (*stmt)->Reset();
    return found;
  }

  base::Result<int64_t> Reprocess(std::optional<int64_t> id) override {
    std::lock_guard lock(admin_mutex_);
    int64_t moved = 0;
    auto done = admin_db_->InWriteTransaction([&]() -> base::Status {
      auto feeds = LoadFeeds(*admin_db_);
      if (!feeds.ok()) return feeds.error();
      std::string sql =
          "SELECT id, state, sending_facility, sending_application FROM inbox "
          "WHERE state IN ('error', 'rejected')";
      if (id) sql += " AND id = ?";
      auto select = admin_db_->Prepare(sql);
      if (!select.ok()) return select.error();
      if (id) select->Bind(1, *id);
      auto update = admin_db_->Prepare(
          "UPDATE inbox SET state = 'received', reason = '', feed_key = coalesce(?, feed_key) "
          "WHERE id = ?");
      if (!update.ok()) return update.error();
      for (;;) {
        auto row = select->Step();
        if (!row.ok()) return row.error();
        if (!row.value()) break;
        const int64_t message_id = select->Int(0);
        if (select->Text(1) == "rejected") {
          const FeedRecord* feed = MatchFeed(*feeds, select->Text(2), select->Text(3));
          if (!feed) continue;  // still no feed: it stays rejected
          update->Bind(1, feed->key);
        } else {
          update->BindNull(1);
        }
        update->Bind(2, message_id);
        CR_RETURN_IF_ERROR(update->Run());
        ++moved;
      }
      return base::Status::Ok();
    });
    if (!done.ok()) return done.error();
    if (id && moved == 0) {
      auto stmt = admin_db_->Prepare("SELECT state FROM inbox WHERE id = ?");
      if (!stmt.ok()) return stmt.error();
      stmt->Bind(1, *id);
      auto row = stmt->Step();
      if (!row.ok()) return row.error();
      if (!row.value()) {
        return MakeError(ErrorCode::kNotFound, "no message has id " + std::to_string(*id));
      }
      const std::string state(stmt->Text(0));
      if (state != "rejected") {
        return MakeError(ErrorCode::kInvalid, "message " + std::to_string(*id) + " is " + state +
                                                  ", not in the error queue");
      }
    }
    return moved;
  }

  base::Result<std::vector<FeedStats>> Stats() override {
    std::lock_guard lock(admin_mutex_);
    auto stmt = admin_db_->Cached(
        "SELECT coalesce(f.name, '(no feed)'), count(i.id), "
        "coalesce(sum(i.state = 'mapped'), 0), coalesce(sum(i.state = 'received'), 0), "
        "coalesce(sum(i.state IN ('error', 'rejected')), 0), coalesce(sum(i.duplicates), 0), "
        "coalesce(max(i.received_ms), 0), coalesce(sum(i.app_ack = 'undelivered'), 0) FROM feed "
        "f LEFT JOIN inbox i ON i.feed_key = f.key GROUP BY f.key UNION ALL SELECT '(no feed)', "
        "count(*), 0, 0, count(*), coalesce(sum(duplicates), 0), coalesce(max(received_ms), 0), "
        "coalesce(sum(app_ack = 'undelivered'), 0) FROM inbox WHERE feed_key IS NULL HAVING "
        "count(*) > 0 ORDER BY 1");
    if (!stmt.ok()) return stmt.error();
    std::vector<FeedStats> stats;
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      if (!row.value()) break;
      const SqliteStatement& s = **stmt;
      stats.push_back(FeedStats{std::string(s.Text(0)), s.Int(1), s.Int(2), s.Int(3), s.Int(4),
                                s.Int(5), s.Int(6), s.Int(7)});
    }
    (*stmt)->Reset();
    return stats;
  }

  base::Status SetApplicationAck(int64_t id, ApplicationAckState state) override {
    std::lock_guard lock(admin_mutex_);
    auto stmt = admin_db_->Cached("UPDATE inbox SET app_ack = ? WHERE id = ?");
    if (!stmt.ok()) return stmt.error();
    (*stmt)
        ->Bind(1, std::string_view(state == ApplicationAckState::kSent          ? "sent"
                                   : state == ApplicationAckState::kUndelivered ? "undelivered"
                                                                                : ""))
        .Bind(2, id);
    return (*stmt)->Run();
  }

 private:
  struct Pending {
    IncomingMessage message;
    ReceiveCallback done;
  };

  base::Status BumpFeedChange() {
    return admin_db_->Exec("UPDATE inbox_state SET value = value + 1 WHERE key = 'feed_change'");
  }

  // Under admin_mutex_.
  base::Status SetProcessed(int64_t id, std::string_view state, std::string_view reason,
                            std::string_view location = "") {
    // Only a message still `received` moves: a reprocess or a second worker never undoes a
    // later state.
    auto stmt = admin_db_->Cached(
        "UPDATE inbox SET state = ?, reason = ?, attempts = attempts + 1, reason_location = ? "
        "WHERE id = ? AND state = 'received'");
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, state).Bind(2, reason).Bind(3, location).Bind(4, id);
    return (*stmt)->Run();
  }

  void RunWriter() {
    std::vector<Pending> batch;
    for (;;) {
      {
        std::unique_lock lock(queue_mutex_);
        queue_wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything submitted is answered
        while (!queue_.empty() && batch.size() < options_.max_batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      std::vector<base::Result<ReceiveResult>> results;
      bool stored_any = false;
      base::Status committed = write_db_->InWriteTransaction([&]() -> base::Status {
        results.clear();
        CR_RETURN_IF_ERROR(RefreshFeeds());
        const int64_t now = fhir::NowMs();
        for (Pending& pending : batch) {
          auto result = StoreOne(pending.message, now);
          if (!result.ok()) return result.error();
          if (result->outcome == ReceiveOutcome::kStored) stored_any = true;
          results.push_back(std::move(result));
        }
        return base::Status::Ok();
      });
      std::function<void()> hook;
      {
        std::lock_guard lock(queue_mutex_);
        hook = received_hook_;
      }
      for (size_t i = 0; i < batch.size(); ++i) {
        if (committed.ok()) {
          batch[i].done(std::move(results[i]));
        } else {
          batch[i].done(committed.error());
        }
      }
      if (!committed.ok()) {
        std::fprintf(stderr, "carerecord inbox: a commit of %zu message(s) failed: %s\n",
                     batch.size(), committed.error().message.c_str());
      }
      batch.clear();
      if (committed.ok() && stored_any && hook) hook();
    }
  }

  base::Status RefreshFeeds() {
    auto change = FeedChange(*write_db_);
    if (!change.ok()) return change.error();
    if (change.value() == feeds_change_) return base::Status::Ok();
    auto feeds = LoadFeeds(*write_db_);
    if (!feeds.ok()) return feeds.error();
    feeds_ = std::move(feeds).value();
    feeds_change_ = change.value();
    return base::Status::Ok();
  }

  // Inside the writer's transaction.
  base::Result<ReceiveResult> StoreOne(const IncomingMessage& m, int64_t now) {
    const std::string hash = ContentHash(m.raw);
    const FeedRecord* feed = MatchFeed(feeds_, m.sending_facility, m.sending_application);
    auto existing = write_db_->Cached(
        "SELECT id, content_hash, state, reason FROM inbox WHERE sending_facility = ? AND "
        "control_id = ?");
    if (!existing.ok()) return existing.error();
    (*existing)->Bind(1, m.sending_facility).Bind(2, m.control_id);
    auto row = (*existing)->Step();
    if (!row.ok()) return row.error();
    if (row.value()) {
      const SqliteStatement& s = **existing;
      ReceiveResult result;
      result.message_id = s.Int(0);
      const bool same = s.Text(1) == hash;
      const std::string state(s.Text(2));
      const std::string reason(s.Text(3));
      (*existing)->Reset();
      if (!same) {
        result.outcome = ReceiveOutcome::kConflictingDuplicate;
        result.message_id = 0;
        result.reason = "conflicting duplicate: control id '" + m.control_id +
                        "' was already received from this facility with different content";
        return result;
      }
      // A resend of a message refused for want of a feed, once a feed names it, is taken.
      const bool now_taken = state == "rejected" && feed;
      if (state == "rejected" && !feed) {
        result.outcome = ReceiveOutcome::kNoFeed;
        result.reason = reason;
      } else {
        result.outcome = now_taken ? ReceiveOutcome::kStored : ReceiveOutcome::kDuplicate;
      }
      auto update = write_db_->Cached(
          "UPDATE inbox SET duplicates = duplicates + 1, state = CASE WHEN ?1 THEN 'received' "
          "ELSE state END, reason = CASE WHEN ?1 THEN '' ELSE reason END, feed_key = CASE WHEN "
          "?1 THEN ?2 ELSE feed_key END WHERE id = ?3");
      if (!update.ok()) return update.error();
      (*update)
          ->Bind(1, int64_t{now_taken})
          .Bind(2, now_taken ? feed->key : 0)
          .Bind(3, result.message_id);
      CR_RETURN_IF_ERROR((*update)->Run());
      return result;
    }
    (*existing)->Reset();
    ReceiveResult result;
    auto insert = write_db_->Cached(
        "INSERT INTO inbox (feed_key, sending_application, sending_facility, control_id, "
        "message_type, content_hash, received_ms, state, reason, raw) VALUES (?, ?, ?, ?, ?, ?, "
        "?, ?, ?, ?)");
    if (!insert.ok()) return insert.error();
    SqliteStatement& s = **insert;
    if (feed) {
      s.Bind(1, feed->key);
      s.Bind(8, std::string_view("received")).Bind(9, std::string_view());
    } else {
      result.outcome = ReceiveOutcome::kNoFeed;
      result.reason = NoFeedReason(m.sending_facility, m.sending_application);
      s.BindNull(1);
      s.Bind(8, std::string_view("rejected")).Bind(9, result.reason);
    }
    s.Bind(2, m.sending_application)
        .Bind(3, m.sending_facility)
        .Bind(4, m.control_id)
        .Bind(5, m.message_type)
        .Bind(6, hash)
        .Bind(7, now)
        .BindBlob(10, m.raw);
    CR_RETURN_IF_ERROR(s.Run());
    result.message_id = sqlite3_last_insert_rowid(write_db_->raw());
    return result;
  }

  std::unique_ptr<SqliteConnection> write_db_;
  std::mutex admin_mutex_;
  std::unique_ptr<SqliteConnection> admin_db_;
  InboxOptions options_;

  std::mutex queue_mutex_;
  std::condition_variable queue_wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::function<void()> received_hook_;
  std::thread writer_;

  // The writer thread's copy of the feeds, reloaded when inbox_state.feed_change moves.
  int64_t feeds_change_ = -1;
  std::vector<FeedRecord> feeds_;
};

// Inboxes before session 5 kept their tables in the record database (carerecord.db). They move
// into the inbox's own file the first time it is opened: first copied and committed here (rows
// keep their ids, so feed keys and `feeds errors` ids stay what they were), and only then
// dropped from the record database. A crash between the two leaves both: the next open copies
// again, and `OR IGNORE` keeps what the inbox file already holds (rows it has moved on since).
base::Status MoveOutOfRecordDatabase(SqliteConnection& inbox_db, const std::string& directory) {
  const std::string record_path = directory + "/carerecord.db";
  std::error_code ec;
  if (!std::filesystem::exists(record_path, ec)) return base::Status::Ok();
  auto record_db = SqliteConnection::OpenSide(record_path, /*durable=*/true);
  if (!record_db.ok()) return record_db.error();
  auto tables = (*record_db)
                    ->Prepare(
                        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                        "('feed', 'inbox', "
                        "'inbox_state')");
  if (!tables.ok()) return tables.error();
  auto row = tables->Step();
  if (!row.ok()) return row.error();
  const int64_t old_tables = row.value() ? tables->Int(0) : 0;
  tables->Reset();
  if (old_tables == 0) return base::Status::Ok();
  if (old_tables != 3) {
    return MakeError(ErrorCode::kInternal,
                     record_path +
                         " holds some of the inbox's tables (feed, inbox, inbox_state) "
                         "but not all: the inbox cannot be moved to " +
                         std::string(kInboxFileName));
  }
  auto attach = inbox_db.Prepare("ATTACH DATABASE ? AS record");
  if (!attach.ok()) return attach.error();
  attach->Bind(1, record_path);
  CR_RETURN_IF_ERROR(attach->Run());
  base::Status copied = inbox_db.InWriteTransaction([&]() -> base::Status {
    // Another process may have moved them since the look above.
    auto still = inbox_db.Prepare(
        "SELECT count(*) FROM record.sqlite_master WHERE type = 'table' AND name IN ('feed', "
        "'inbox', 'inbox_state')");
    if (!still.ok()) return still.error();
    auto still_row = still->Step();
    if (!still_row.ok()) return still_row.error();
    if (!still_row.value() || still->Int(0) != 3) return base::Status::Ok();
    still->Reset();
    CR_RETURN_IF_ERROR(inbox_db.Exec(
        "INSERT OR IGNORE INTO main.feed (key, name, facility, application, ods_code, enabled, "
        "created_ms) SELECT key, name, facility, application, ods_code, enabled, created_ms FROM "
        "record.feed"));
    CR_RETURN_IF_ERROR(inbox_db.Exec(
        "INSERT OR IGNORE INTO main.inbox (id, feed_key, sending_application, sending_facility, "
        "control_id, message_type, content_hash, received_ms, state, reason, attempts, "
        "duplicates, raw) SELECT id, feed_key, sending_application, sending_facility, control_id, "
        "message_type, content_hash, received_ms, state, reason, attempts, duplicates, raw FROM "
        "record.inbox"));
    // A moved feed table is a feed change: a writer holding the old feeds reloads them.
    return inbox_db.Exec(
        "UPDATE main.inbox_state SET value = 1 + max(value, coalesce((SELECT value FROM "
        "record.inbox_state WHERE key = 'feed_change'), 0)) WHERE key = 'feed_change'");
  });
  base::Status detached = inbox_db.Exec("DETACH DATABASE record");
  CR_RETURN_IF_ERROR(copied);
  CR_RETURN_IF_ERROR(detached);
  return (*record_db)->InWriteTransaction([&]() -> base::Status {
    return (*record_db)
        ->Exec(
            "DROP TABLE IF EXISTS inbox; DROP TABLE IF EXISTS feed; DROP TABLE IF EXISTS "
            "inbox_state");
  });
}

// An inbox made before application ACKs were kept gains their columns: whether one was
// delivered (empty: none asked) and where an error is (empty: not known).
base::Status AddApplicationAckColumns(SqliteConnection& db) {
  for (const char* column : {"app_ack", "reason_location"}) {
    auto columns = db.Prepare("SELECT count(*) FROM pragma_table_info('inbox') WHERE name = ?");
    if (!columns.ok()) return columns.error();
    columns->Bind(1, std::string_view(column));
    auto row = columns->Step();
    if (!row.ok()) return row.error();
    const bool present = row.value() && columns->Int(0) > 0;
    columns->Reset();
    if (!present) {
      CR_RETURN_IF_ERROR(db.Exec(std::string("ALTER TABLE inbox ADD COLUMN ") + column +
                                 " TEXT NOT NULL DEFAULT ''"));
    }
  }
  return base::Status::Ok();
}

}  // namespace

std::string ContentHash(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

base::Result<std::unique_ptr<Inbox>> OpenInbox(const std::string& directory,
                                               const InboxOptions& options) {
  auto write_db = SqliteConnection::OpenSideInDataDir(directory, options.durable, kInboxSchemaSql,
                                                      kInboxFileName);
  if (!write_db.ok()) return write_db.error();
  CR_RETURN_IF_ERROR(AddApplicationAckColumns(**write_db));
  CR_RETURN_IF_ERROR(MoveOutOfRecordDatabase(**write_db, directory));
  auto admin_db =
      SqliteConnection::OpenSide(directory + "/" + std::string(kInboxFileName), options.durable);
  if (!admin_db.ok()) return admin_db.error();
  return std::unique_ptr<Inbox>(
      new SqliteInbox(std::move(write_db).value(), std::move(admin_db).value(), options));
}

}  // namespace carerecord::feeds
