#include "audit/audit_log.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "audit/audit_entry.h"
#include "audit/audit_test_support.h"
#include "audit/audit_verify.h"
#include "audit/checkpoints.h"

namespace carerecord::audit {
namespace {

using testing::Sql;
using testing::TempDir;
using testing::Verify;
using testing::WriteSampleLog;

TEST(AuditCanonical, KeysAreInBytewiseOrderAndEveryFieldIsPresent) {
  const std::string canonical = CanonicalBytes(AuditRecord{}, 7);
  auto parsed = boost::json::parse(canonical).as_object();
  std::vector<std::string> keys;
  for (const auto& field : parsed) keys.emplace_back(field.key());
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end())) << canonical;
  EXPECT_EQ(keys.size(), 21u);
  EXPECT_EQ(parsed.at("seq").as_int64(), 7);
  EXPECT_EQ(parsed.at("purpose").as_string(), "TREAT");
}

// The canonical bytes write each string as Boost.JSON serializes it, whatever it holds.
TEST(AuditCanonical, StringsAreWrittenAsBoostJsonWritesThem) {
  std::vector<std::string> texts = {"",
                                    "plain",
                                    "user:dr-who",
                                    "/fhir/Observation?patient=p&code=a|b",
                                    "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
                                    "\x7f",
                                    " ~",
                                    "quote\"",
                                    "back\\slash",
                                    "/slash/",
                                    "tab\t",
                                    "nul"};
  texts.back().push_back('\0');
  for (int c = 1; c < 0x20; ++c) texts.push_back("c" + std::string(1, static_cast<char>(c)));
  for (const std::string& text : texts) {
    AuditRecord record;
    record.user = text;
    const std::string canonical = CanonicalBytes(record, 1);
    const std::string expected =
        "\"user\":" + boost::json::serialize(boost::json::string_view(text.data(), text.size()));
    EXPECT_NE(canonical.find(expected + ",\"v\":1"), std::string::npos) << canonical;
  }
}

TEST(AuditCanonical, NewlinesAndControlCharactersCannotForgeASecondEntry) {
  AuditRecord record = testing::SampleRecord(1);
  const std::string forged =
      "x\n" + CanonicalBytes(testing::SampleRecord(2), 2) + "\r\x01\x1f\"\\,\"seq\":99";
  record.user = forged;
  record.path = "/fhir/Patient?name=" + forged;
  record.reason = forged;
  record.patients = {forged};
  record.organisation = std::string("\xff\xfe bad utf-8", 12);
  const std::string canonical = CanonicalBytes(record, 5);
  for (unsigned char c : canonical) EXPECT_GE(c, 0x20) << canonical;
  EXPECT_EQ(canonical.find('\n'), std::string::npos);
  int64_t seq = 0;
  auto back = ParseCanonical(canonical, &seq);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(seq, 5);
  EXPECT_EQ(back->user, forged);
  EXPECT_EQ(back->path, record.path);
  EXPECT_EQ(back->patients, record.patients);
  EXPECT_EQ(back->organisation, "\xEF\xBF\xBD\xEF\xBF\xBD bad utf-8");
  // The seq the verifier reads is the entry's own, never one inside a field.
  EXPECT_EQ(canonical.find(",\"seq\":"), canonical.rfind(",\"seq\":"));
}

TEST(AuditCanonical, ChainHashIsSha256OfPreviousHashAndBytes) {
  ChainHasher hasher;
  const Hash zero{};
  // SHA-256 of 32 zero bytes then "abc", from `(head -c 32 /dev/zero; printf abc) | openssl dgst
  // -sha256`.
  EXPECT_EQ(HexOf(hasher.Next(zero, "abc")),
            "365aa7d8f7f9402c4b9434502b4cc89ddb09fe50d7cd95b493b834c62d5a5370");
  const Hash first = hasher.Next(zero, "abc");
  EXPECT_NE(first, hasher.Next(zero, "abd"));
  EXPECT_NE(hasher.Next(first, "x"), hasher.Next(zero, "x"));
}

TEST(AuditLog, AnUntouchedLogVerifies) {
  TempDir dir;
  WriteSampleLog(dir.path(), 30);
  const VerifyReport report = Verify(dir.path());
  EXPECT_TRUE(report.ok) << report.Summary();
  EXPECT_EQ(report.entries, 30);
  EXPECT_GE(report.checkpoints, 1);
  EXPECT_EQ(report.Summary(), "ok 30 entries");
}

TEST(AuditLog, AnEntryWhoseBytesWereEditedIsNamed) {
  TempDir dir;
  WriteSampleLog(dir.path(), 20);
  Sql(dir.path(),
      "UPDATE audit_entry SET canonical = CAST(replace(CAST(canonical AS TEXT), 'user1', 'user9') "
      "AS BLOB) WHERE seq = 7");
  const VerifyReport report = Verify(dir.path());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 7) << report.Summary();
}

TEST(AuditLog, ADeletedEntryIsNamed) {
  TempDir dir;
  WriteSampleLog(dir.path(), 20);
  Sql(dir.path(), "DELETE FROM audit_entry WHERE seq = 7");
  const VerifyReport report = Verify(dir.path());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 7) << report.Summary();
  EXPECT_NE(report.why.find("missing"), std::string::npos);
}

TEST(AuditLog, TwoSwappedEntriesAreNamedAtTheFirst) {
  TempDir dir;
  WriteSampleLog(dir.path(), 20);
  Sql(dir.path(),
      "UPDATE audit_entry SET seq = -5 WHERE seq = 5;"
      "UPDATE audit_entry SET seq = 5 WHERE seq = 9;"
      "UPDATE audit_entry SET seq = 9 WHERE seq = -5;");
  const VerifyReport report = Verify(dir.path());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 5) << report.Summary();
}

TEST(AuditLog, AnInsertedEntryIsNamed) {
  TempDir dir;
  WriteSampleLog(dir.path(), 20);
  // Shift 10..20 up by one and put a forged entry, with the hash of the one it displaced, at 10.
  Sql(dir.path(),
      "UPDATE audit_entry SET seq = -seq WHERE seq >= 10;"
      "UPDATE audit_entry SET seq = 1 - seq WHERE seq < 0;"
      "INSERT INTO audit_entry(seq, time_ms, canonical, hash) "
      "SELECT 10, time_ms, CAST(replace(CAST(canonical AS TEXT), 'user', 'usex') AS BLOB), hash "
      "FROM audit_entry WHERE seq = 11;");
  const VerifyReport report = Verify(dir.path());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 10) << report.Summary();
}

TEST(AuditLog, ATruncatedTailIsNamed) {
  TempDir dir;
  WriteSampleLog(dir.path(), 20);
  Sql(dir.path(), "DELETE FROM audit_entry WHERE seq > 15");
  const VerifyReport report = Verify(dir.path());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 16) << report.Summary();
  EXPECT_NE(report.why.find("truncated"), std::string::npos);
}

TEST(AuditLog, ADatabaseRestoredFromAnOlderCopyIsNamed) {
  TempDir dir;
  WriteSampleLog(dir.path(), 10);
  const auto db = dir.path() / kAuditDatabaseFile;
  const auto copy = dir.path() / "audit.db.copy";
  std::filesystem::copy_file(db, copy);
  WriteSampleLog(dir.path(), 10, 11);
  ASSERT_TRUE(Verify(dir.path()).ok);
  std::filesystem::copy_file(copy, db, std::filesystem::copy_options::overwrite_existing);
  const VerifyReport report = Verify(dir.path());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 11) << report.Summary();
  // The server will not go on from it either: it would number entries already signed.
  AuditLogOptions options;
  options.directory = dir.path();
  auto reopened = AuditLog::Open(options);
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.error().message.find("restored from an older copy"), std::string::npos);
}

TEST(AuditLog, AChainRewrittenWithFreshHashesFailsAtItsSignedCheckpoint) {
  TempDir dir;
  WriteSampleLog(dir.path(), 20);
  // Alter entry 7 and recompute every hash from it on, as an administrator who knows the
  // format could: only the signed checkpoint (of entry 20) can tell.
  sqlite3* handle = nullptr;
  Sql(dir.path(), "SELECT 1");
  ASSERT_EQ(sqlite3_open((dir.path() / kAuditDatabaseFile).c_str(), &handle), SQLITE_OK);
  ChainHasher hasher;
  Hash previous{};
  for (int seq = 1; seq <= 20; ++seq) {
    std::string canonical = CanonicalBytes(testing::SampleRecord(seq), seq);
    if (seq == 7) {
      AuditRecord altered = testing::SampleRecord(seq);
      altered.user = "mallory";
      canonical = CanonicalBytes(altered, seq);
    }
    previous = hasher.Next(previous, canonical);
    sqlite3_stmt* update = nullptr;
    sqlite3_prepare_v2(handle, "UPDATE audit_entry SET canonical = ?1, hash = ?2 WHERE seq = ?3",
                       -1, &update, nullptr);
    sqlite3_bind_blob(update, 1, canonical.data(), static_cast<int>(canonical.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_blob(update, 2, previous.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_int(update, 3, seq);
    ASSERT_EQ(sqlite3_step(update), SQLITE_DONE);
    sqlite3_finalize(update);
  }
  sqlite3_close(handle);
  const VerifyReport report = Verify(dir.path());
  EXPECT_FALSE(report.ok);
  // At the first checkpoint after entry 7 (the last one, at 20, unless the writer signed one
  // between).
  EXPECT_GE(report.first_bad_seq, 7) << report.Summary();
  EXPECT_LE(report.first_bad_seq, 20) << report.Summary();
  EXPECT_NE(report.why.find("rewritten"), std::string::npos) << report.Summary();
  // Nor will the server go on from it.
  AuditLogOptions options;
  options.directory = dir.path();
  auto reopened = AuditLog::Open(options);
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.error().message.find("it was altered"), std::string::npos);
}

TEST(AuditLog, ACheckpointLineTornByACrashIsSkippedAndCutOffOnOpen) {
  TempDir dir;
  WriteSampleLog(dir.path(), 5);
  const auto file = dir.path() / kCheckpointFile;
  const std::string whole = testing::ReadText(file);
  std::ofstream(file, std::ios::app) << "6 0123";  // no newline: the crash came mid-write
  EXPECT_EQ(Verify(dir.path()).Summary(), "ok 5 entries");
  WriteSampleLog(dir.path(), 2, 6);  // opens, cuts the torn line, appends, signs 7
  const auto checkpoints = ReadCheckpoints(file).value();
  ASSERT_FALSE(checkpoints.empty());
  EXPECT_EQ(checkpoints.back().seq, 7);
  EXPECT_EQ(testing::ReadText(file).rfind(whole, 0), 0u);
  EXPECT_EQ(testing::ReadText(file).find("6 0123"), std::string::npos);
  EXPECT_EQ(Verify(dir.path()).Summary(), "ok 7 entries");
}

TEST(AuditLog, AnAlteredCheckpointIsNamed) {
  TempDir dir;
  WriteSampleLog(dir.path(), 5);
  const auto file = dir.path() / kCheckpointFile;
  std::string text = testing::ReadText(file);
  ASSERT_FALSE(text.empty());
  text[0] = text[0] == '5' ? '4' : '5';  // the seq it signs
  std::ofstream(file, std::ios::trunc) << text;
  const VerifyReport report = Verify(dir.path());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_checkpoint_line, 1) << report.Summary();
}

TEST(AuditLog, ConcurrentAppendsAreAllDurableNumberedOnceAndChained) {
  TempDir dir;
  AuditLogOptions options;
  options.directory = dir.path();
  options.durable = false;
  auto log = AuditLog::Open(options);
  ASSERT_TRUE(log.ok()) << log.error().message;
  constexpr int kThreads = 16, kEach = 200;
  std::vector<std::vector<int64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto appended = (*log)->Append(testing::SampleRecord(t * kEach + i));
        if (appended.ok()) seqs[t].push_back(*appended);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<int64_t> all;
  for (const auto& list : seqs) {
    EXPECT_EQ(list.size(), static_cast<size_t>(kEach));
    EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
    all.insert(list.begin(), list.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kEach);
  // Verified while the log is open, as beside a running server.
  EXPECT_EQ(Verify(dir.path()).Summary(), "ok " + std::to_string(kThreads * kEach) + " entries");
  (*log)->Close();
  EXPECT_EQ(Verify(dir.path()).Summary(), "ok " + std::to_string(kThreads * kEach) + " entries");
}

// The group commit's counts (what benchmarks print as entries per commit) add up to every entry.
TEST(AuditLog, ConcurrentAppendsAreCountedAndShareCommits) {
  TempDir dir;
  AuditLogOptions options;
  options.directory = dir.path();
  options.durable = false;
  auto log = AuditLog::Open(options);
  ASSERT_TRUE(log.ok()) << log.error().message;
  constexpr int kEntries = 400;
  std::mutex mutex;
  std::condition_variable all_done;
  int done = 0, failed = 0;
  for (int i = 0; i < kEntries; ++i) {
    (*log)->AppendThen(testing::SampleRecord(i), [&](const base::Result<int64_t>& appended) {
      std::lock_guard lock(mutex);
      ++done;
      failed += !appended.ok();
      all_done.notify_all();
    });
  }
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(
        all_done.wait_for(lock, std::chrono::seconds(60), [&] { return done == kEntries; }));
  }
  EXPECT_EQ(failed, 0);
  const AuditLog::CommitCounts counts = (*log)->commit_counts();
  EXPECT_EQ(counts.entries, kEntries);
  EXPECT_GE(counts.commits, 1);
  EXPECT_LE(counts.commits, kEntries);
  (*log)->Close();
  EXPECT_EQ(Verify(dir.path()).Summary(), "ok " + std::to_string(kEntries) + " entries");
}

TEST(AuditCanonical, JoinIntoReplacesTheBufferWithTheSameBytesAsJoin) {
  const CanonicalParts parts = CanonicalPartsOf(testing::SampleRecord(3));
  std::string buffer(5000, 'x');
  for (int64_t seq : {int64_t{1}, int64_t{987654321012}, int64_t{42}}) {
    parts.JoinInto(seq, buffer);
    EXPECT_EQ(buffer, parts.Join(seq));
    EXPECT_EQ(buffer, CanonicalBytes(testing::SampleRecord(3), seq));
  }
}

TEST(AuditLog, ACheckpointIsSignedWhileEntriesArrive) {
  TempDir dir;
  AuditLogOptions options;
  options.directory = dir.path();
  options.durable = false;
  options.checkpoint_interval = std::chrono::milliseconds(50);
  auto log = AuditLog::Open(options);
  ASSERT_TRUE(log.ok());
  // Without closing the log: a checkpoint of entry 1, then one of entry 2.
  std::vector<Checkpoint> checkpoints;
  for (int64_t seq : {1, 2}) {
    ASSERT_TRUE((*log)->Append(testing::SampleRecord(static_cast<int>(seq))).ok());
    for (int i = 0; i < 200 && (checkpoints.empty() || checkpoints.back().seq != seq); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      checkpoints = ReadCheckpoints(dir.path() / kCheckpointFile).value();
    }
    ASSERT_FALSE(checkpoints.empty());
    ASSERT_EQ(checkpoints.back().seq, seq);
  }
  ASSERT_EQ(checkpoints.size(), 2u);
  auto key = CheckpointKey::FromPublicPem(testing::ReadText(dir.path() / kCheckpointPublicKeyFile));
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE((*key)->Verify(
      CheckpointMessage(checkpoints[0].seq, checkpoints[0].hash, checkpoints[0].time_ms),
      checkpoints[0].signature_hex));
  EXPECT_EQ(std::filesystem::status(dir.path() / kCheckpointKeyFile).permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(AuditLog, AnAppendThatCannotBeWrittenFailsAndTheLogStaysWhole) {
  TempDir dir;
  AuditLogOptions options;
  options.directory = dir.path();
  options.durable = false;
  options.max_page_count = 12;  // a few dozen entries fill it
  auto log = AuditLog::Open(options);
  ASSERT_TRUE(log.ok()) << log.error().message;
  const int64_t acknowledged = testing::FillAuditLog(**log);
  ASSERT_GT(acknowledged, 0);
  auto refused = (*log)->Append(AuditRecord{});
  ASSERT_FALSE(refused.ok()) << "the database never filled";
  EXPECT_EQ(refused.error().code, base::ErrorCode::kUnavailable);
  EXPECT_NE(refused.error().message.find("the audit log cannot be written"), std::string::npos);
  (*log)->Close();
  EXPECT_EQ(Verify(dir.path()).Summary(), "ok " + std::to_string(acknowledged) + " entries");
}

TEST(AuditLog, KilledUnderConcurrentAppendsItVerifiesAndKeepsEveryAcknowledgedEntry) {
  TempDir dir;
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    AuditLogOptions options;
    options.directory = dir.path();
    auto log = AuditLog::Open(options);
    if (!log.ok()) _exit(3);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0;; ++i) {
          auto appended = (*log)->Append(testing::SampleRecord(t * 1000000 + i));
          if (!appended.ok()) _exit(4);
          const int64_t seq = *appended;
          if (write(pipe_fds[1], &seq, sizeof seq) != sizeof seq) _exit(5);
        }
      });
    }
    for (auto& thread : threads) thread.join();
    _exit(0);
  }
  close(pipe_fds[1]);
  int64_t acknowledged = 0;
  for (int i = 0; i < 1500; ++i) {
    int64_t seq = 0;
    ASSERT_EQ(read(pipe_fds[0], &seq, sizeof seq), static_cast<ssize_t>(sizeof seq));
    acknowledged = std::max(acknowledged, seq);
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  close(pipe_fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status));
  const VerifyReport report = Verify(dir.path());
  EXPECT_TRUE(report.ok) << report.Summary();
  EXPECT_GE(report.entries, acknowledged);
  // And the log goes on from where it stopped.
  AuditLogOptions options;
  options.directory = dir.path();
  options.durable = false;
  auto reopened = AuditLog::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  auto next = (*reopened)->Append(testing::SampleRecord(1));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, report.entries + 1);
  (*reopened)->Close();
  EXPECT_TRUE(Verify(dir.path()).ok);
}

}  // namespace
}  // namespace carerecord::audit
