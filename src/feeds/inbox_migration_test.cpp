// Upgrading a data folder whose inbox lived in the record database (carerecord.db, before the
// inbox had a file of its own): the first open moves feeds, queued, errored, rejected and mapped
// messages into inbox.db with their ids and states, leaves the record's own tables alone, and a
// crash between the copy and the drop loses nothing and undoes nothing.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <random>
#include <string>

#include "feeds/inbox.h"

namespace carerecord::feeds {
namespace {

namespace fs = std::filesystem;

// The inbox's tables as earlier versions made them in carerecord.db.
constexpr const char* kOldSchema = R"sql(
CREATE TABLE inbox_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO inbox_state (key, value) VALUES ('feed_change', 7);
CREATE TABLE feed (
  key INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  facility TEXT NOT NULL,
  application TEXT NOT NULL,
  ods_code TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE TABLE inbox (
  id INTEGER PRIMARY KEY,
  feed_key INTEGER REFERENCES feed (key),
  sending_application TEXT NOT NULL,
  sending_facility TEXT NOT NULL,
  control_id TEXT NOT NULL,
  message_type TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  received_ms INTEGER NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  duplicates INTEGER NOT NULL DEFAULT 0,
  raw BLOB NOT NULL
);
CREATE UNIQUE INDEX inbox_sender_control ON inbox (sending_facility, control_id);
CREATE INDEX inbox_state_id ON inbox (state, id);
CREATE INDEX inbox_feed ON inbox (feed_key);
)sql";

std::string Raw(const std::string& facility, const std::string& control_id) {
  return "MSH|^~\\&|PAS|" + facility + "|||20260101||ADT^A01|" + control_id + "|P|2.5\rPID|A";
}

IncomingMessage Message(const std::string& facility, const std::string& control_id,
                        const std::string& raw) {
  IncomingMessage m;
  m.sending_application = "PAS";
  m.sending_facility = facility;
  m.control_id = control_id;
  m.message_type = "ADT^A01";
  m.raw = raw;
  return m;
}

class InboxMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() /
           ("carerecord-inbox-move-" + std::to_string(random()) + std::to_string(random()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void RecordSql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "carerecord.db").c_str(), &db), SQLITE_OK);
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    EXPECT_EQ(rc, SQLITE_OK) << (message ? message : "");
    sqlite3_free(message);
    sqlite3_close(db);
  }
  int64_t RecordCount(const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open((dir_ / "carerecord.db").c_str(), &db);
    sqlite3_stmt* stmt = nullptr;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      n = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
  }
  // A folder as an earlier version left it: the record's own table, and the inbox beside it
  // with a queued, an errored, a rejected and a mapped message.
  void MakeOldFolder() {
    RecordSql(
        "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS resource (pk INTEGER PRIMARY KEY, id "
        "TEXT);"
        "INSERT INTO resource (id) VALUES ('kept');");
    RecordSql(kOldSchema);
    RecordSql(
        "INSERT INTO feed VALUES (3, 'rdz-pas', 'RDZ', '', 'RDZ', 1, 1000);"
        "INSERT INTO feed VALUES (5, 'old-lab', 'LAB', 'LIMS', 'RDZ', 0, 1001);"
        "INSERT INTO inbox (id, feed_key, sending_application, sending_facility, control_id, "
        "message_type, content_hash, received_ms, state, reason, attempts, duplicates, raw) VALUES"
        "(10, 3, 'PAS', 'RDZ', 'Q1', 'ADT^A01', '" +
        ContentHash(Raw("RDZ", "Q1")) + "', 2000, 'received', '', 0, 0, '" + Raw("RDZ", "Q1") +
        "'),"
        "(11, 3, 'PAS', 'RDZ', 'E1', 'ADT^A01', '" +
        ContentHash(Raw("RDZ", "E1")) + "', 2001, 'error', 'PID-3 is empty', 1, 0, '" +
        Raw("RDZ", "E1") +
        "'),"
        "(12, NULL, 'PAS', 'XYZ', 'R1', 'ADT^A01', '" +
        ContentHash(Raw("XYZ", "R1")) +
        "', 2002, 'rejected', 'no enabled feed names sending facility ''XYZ''', 0, 1, '" +
        Raw("XYZ", "R1") +
        "'),"
        "(13, 3, 'PAS', 'RDZ', 'M1', 'ADT^A01', '" +
        ContentHash(Raw("RDZ", "M1")) + "', 2003, 'mapped', '', 1, 2, '" + Raw("RDZ", "M1") +
        "');");
  }
  std::unique_ptr<Inbox> Open() {
    InboxOptions options;
    options.durable = false;
    auto inbox = OpenInbox(dir_.string(), options);
    EXPECT_TRUE(inbox.ok()) << inbox.error().message;
    return inbox.ok() ? std::move(inbox).value() : nullptr;
  }
  int64_t OldTables() {
    return RecordCount(
        "SELECT count(*) FROM sqlite_master WHERE name IN ('feed', 'inbox', 'inbox_state')");
  }

  fs::path dir_;
};

TEST_F(InboxMigrationTest, AnInboxInTheRecordDatabaseMovesWithEveryMessageAndFeed) {
  MakeOldFolder();
  auto inbox = Open();
  ASSERT_NE(inbox, nullptr);
  EXPECT_TRUE(fs::exists(dir_ / "inbox.db"));
  // Gone from the record database; the record's own table untouched.
  EXPECT_EQ(OldTables(), 0);
  EXPECT_EQ(RecordCount("SELECT count(*) FROM resource WHERE id = 'kept'"), 1);

  auto feeds = inbox->ListFeeds();
  ASSERT_TRUE(feeds.ok());
  ASSERT_EQ(feeds->size(), 2u);
  EXPECT_EQ((*feeds)[0].name, "old-lab");
  EXPECT_EQ((*feeds)[0].key, 5);
  EXPECT_FALSE((*feeds)[0].enabled);
  EXPECT_EQ((*feeds)[0].application, "LIMS");
  EXPECT_EQ((*feeds)[1].name, "rdz-pas");
  EXPECT_TRUE((*feeds)[1].enabled);

  // The queued message is still waiting to be mapped, with its id, bytes and feed.
  auto queued = inbox->NextReceived(0, 10);
  ASSERT_TRUE(queued.ok());
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ(queued->front().id, 10);
  EXPECT_EQ(queued->front().raw, Raw("RDZ", "Q1"));
  EXPECT_EQ(queued->front().feed_name, "rdz-pas");
  EXPECT_EQ(queued->front().received_ms, 2000);

  // The error queue keeps its reasons and ids.
  auto errors = inbox->ListErrors(10);
  ASSERT_TRUE(errors.ok());
  ASSERT_EQ(errors->size(), 2u);
  EXPECT_EQ((*errors)[0].id, 11);
  EXPECT_EQ((*errors)[0].state, "error");
  EXPECT_EQ((*errors)[0].reason, "PID-3 is empty");
  EXPECT_EQ((*errors)[0].attempts, 1);
  EXPECT_EQ((*errors)[1].id, 12);
  EXPECT_EQ((*errors)[1].state, "rejected");
  EXPECT_EQ((*errors)[1].duplicates, 1);

  auto stats = inbox->Stats();
  ASSERT_TRUE(stats.ok());
  int64_t received = 0, mapped = 0, in_error = 0, pending = 0, duplicates = 0;
  for (const FeedStats& s : *stats) {
    received += s.received;
    mapped += s.accepted;
    in_error += s.in_error;
    pending += s.pending;
    duplicates += s.duplicates;
  }
  EXPECT_EQ(received, 4);
  EXPECT_EQ(mapped, 1);
  EXPECT_EQ(in_error, 2);
  EXPECT_EQ(pending, 1);
  EXPECT_EQ(duplicates, 3);

  // The idempotency key moved with them: a resend of the mapped message is a duplicate, other
  // bytes under its control id a conflict, and a new message gets a new id.
  auto resend = inbox->Receive(Message("RDZ", "M1", Raw("RDZ", "M1")));
  ASSERT_TRUE(resend.ok()) << resend.error().message;
  EXPECT_EQ(resend->outcome, ReceiveOutcome::kDuplicate);
  EXPECT_EQ(resend->message_id, 13);
  auto conflict = inbox->Receive(Message("RDZ", "M1", Raw("RDZ", "M1") + "X"));
  ASSERT_TRUE(conflict.ok());
  EXPECT_EQ(conflict->outcome, ReceiveOutcome::kConflictingDuplicate);
  auto fresh = inbox->Receive(Message("RDZ", "N1", Raw("RDZ", "N1")));
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->outcome, ReceiveOutcome::kStored);
  EXPECT_GT(fresh->message_id, 13);

  // The errored message can be reprocessed as before.
  auto moved = inbox->Reprocess(11);
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(moved.value(), 1);

  // A second open finds nothing more to move and changes nothing.
  inbox.reset();
  inbox = Open();
  ASSERT_NE(inbox, nullptr);
  auto again = inbox->NextReceived(0, 10);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 3u);  // Q1, E1 reprocessed, N1
  EXPECT_EQ((*again)[0].id, 10);
  EXPECT_EQ((*again)[1].id, 11);
}

TEST_F(InboxMigrationTest, ACrashBetweenTheCopyAndTheDropLosesAndUndoesNothing) {
  MakeOldFolder();
  {
    auto inbox = Open();
    ASSERT_NE(inbox, nullptr);
    // Progress in the new file after the move: the queued message mapped, the error reprocessed.
    ASSERT_TRUE(inbox->MarkMapped(10).ok());
    ASSERT_TRUE(inbox->Reprocess(11).ok());
  }
  // As a crash after the copy's commit and before the drop leaves it: the old tables still
  // there, as they were.
  MakeOldFolder();
  auto inbox = Open();
  ASSERT_NE(inbox, nullptr);
  EXPECT_EQ(OldTables(), 0);
  // The new file's states stand: 10 stays mapped, 11 stays received, nothing is doubled.
  auto queued = inbox->NextReceived(0, 10);
  ASSERT_TRUE(queued.ok());
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ(queued->front().id, 11);
  auto found = inbox->FindMessage(10);
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->state, "mapped");
  auto stats = inbox->Stats();
  ASSERT_TRUE(stats.ok());
  int64_t received = 0;
  for (const FeedStats& s : *stats) received += s.received;
  EXPECT_EQ(received, 4);
}

TEST_F(InboxMigrationTest, AFreshFolderGetsAnInboxFileAndNoRecordDatabase) {
  auto inbox = Open();
  ASSERT_NE(inbox, nullptr);
  EXPECT_TRUE(fs::exists(dir_ / "inbox.db"));
  EXPECT_FALSE(fs::exists(dir_ / "carerecord.db"));
}

TEST_F(InboxMigrationTest, ARecordDatabaseWithPartOfTheInboxIsAnErrorNotALoss) {
  RecordSql(
      "CREATE TABLE inbox (id INTEGER PRIMARY KEY, raw BLOB);"
      "INSERT INTO inbox (raw) VALUES ('x');");
  InboxOptions options;
  options.durable = false;
  auto inbox = OpenInbox(dir_.string(), options);
  ASSERT_FALSE(inbox.ok());
  EXPECT_NE(inbox.error().message.find("inbox.db"), std::string::npos) << inbox.error().message;
  EXPECT_EQ(RecordCount("SELECT count(*) FROM inbox"), 1);
}

}  // namespace
}  // namespace carerecord::feeds
