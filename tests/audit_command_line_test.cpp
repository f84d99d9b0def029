// `carerecord audit verify|export|report|break-glass|declarations` from outside: exit codes and
// what they print, and the README's independent procedure (tools/verify_audit_export.py) on an
// export.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>

#include "audit/audit_indexer.h"
#include "audit/audit_test_support.h"
#include "tests/carerecord_process.h"

namespace carerecord {
namespace {

using audit::testing::Sql;
using audit::testing::TempDir;
using carerecord::testing::RunCarerecord;

std::string Data(const TempDir& dir) { return " --data " + dir.path().string(); }

// The chain's line of `audit verify` (the first; the index's follows).
std::string ChainLine(const std::string& out) { return out.substr(0, out.find('\n') + 1); }

// Indexes every entry of the log in `dir`, as a start of the server does.
void IndexAll(const std::filesystem::path& dir) {
  auto indexer = audit::AuditIndexer::Open(dir);
  ASSERT_TRUE(indexer.ok()) << indexer.error().message;
}

void IndexSql(const std::filesystem::path& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / audit::kAuditSearchDatabaseFile).c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
}

void WriteReviewLog(const std::filesystem::path& dir) {
  audit::AuditLogOptions options;
  options.directory = dir;
  options.durable = false;
  auto log = audit::AuditLog::Open(options);
  ASSERT_TRUE(log.ok());
  for (int i = 1; i <= 6; ++i) ASSERT_TRUE((*log)->Append(audit::testing::SampleRecord(i)).ok());
  audit::AuditRecord glass = audit::testing::SampleRecord(7);
  glass.action = "break-glass";
  glass.purpose = "BTG";
  glass.reason = "collapsed in clinic";
  ASSERT_TRUE((*log)->Append(glass).ok());
  audit::AuditRecord declared = audit::testing::SampleRecord(8);
  declared.action = "declare-relationship";
  declared.reason = "referred today";
  ASSERT_TRUE((*log)->Append(declared).ok());
  // Attempts refused for their reason (a 400): listed for review, but counted by `audit report`
  // neither as break-glass nor declarations nor accesses (hostile 6a finding 8).
  for (const char* action : {"break-glass", "declare-relationship"}) {
    audit::AuditRecord failed = audit::testing::SampleRecord(9);
    failed.action = action;
    failed.reason = "";
    failed.items = 0;
    failed.resources.clear();
    failed.outcome = "failed";
    failed.status = 400;
    ASSERT_TRUE((*log)->Append(failed).ok());
  }
  (*log)->Close();
}

TEST(AuditCommandLine, VerifyPrintsOkAndExitsZeroOnAWholeLog) {
  TempDir dir;
  audit::testing::WriteSampleLog(dir.path(), 12);
  IndexAll(dir.path());
  auto result = RunCarerecord("audit verify" + Data(dir));
  EXPECT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(result.out.rfind("ok 12 entries\nsigned to entry 12 by ", 0), 0u) << result.out;
  EXPECT_NE(result.out.find(" checkpoints\nindex ok: 12 entries, "), std::string::npos)
      << result.out;
}

// Rows removed from the search index hide their entries from AuditEvent searches and the
// patient's $access-log: verify compares the index with the log and names the entry (hostile 5b
// finding 11); so do rows added, or rows of an entry the log does not hold.
TEST(AuditCommandLine, VerifyChecksTheSearchIndexAgainstTheLog) {
  for (const std::string edit :
       {"DELETE FROM audit_search WHERE key = 'p|p5' AND seq = 5",
        "UPDATE audit_search SET key = 'p|p6' WHERE key = 'p|p5' AND seq = 5",
        "INSERT INTO audit_search(key, time_ms, seq) SELECT 'p|other', time_ms, seq FROM "
        "audit_search WHERE seq = 5 LIMIT 1",
        "DELETE FROM audit_search_entry WHERE seq = 5",  // its tags row (format 2)
        "UPDATE audit_search_entry SET tags = tags || 'o|4' || char(31) WHERE seq = 5"}) {
    SCOPED_TRACE(edit);
    TempDir dir;
    audit::testing::WriteSampleLog(dir.path(), 12);
    IndexAll(dir.path());
    IndexSql(dir.path(), edit);
    auto result = RunCarerecord("audit verify" + Data(dir));
    EXPECT_EQ(result.status, 1);
    EXPECT_EQ(ChainLine(result.out), "ok 12 entries\n");  // the log itself is whole
    const std::string index_line = result.out.substr(result.out.find("\nindex") + 1);
    EXPECT_EQ(index_line.rfind("index: first entry whose rows differ: 5 (", 0), 0u) << index_line;
    EXPECT_NE(index_line.find("can be rebuilt"), std::string::npos) << index_line;
  }
  TempDir dir;
  audit::testing::WriteSampleLog(dir.path(), 12);
  IndexAll(dir.path());
  IndexSql(dir.path(), "INSERT INTO audit_search(key, time_ms, seq) VALUES('p|x', 1, 40)");
  auto beyond = RunCarerecord("audit verify" + Data(dir));
  EXPECT_EQ(beyond.status, 1);
  EXPECT_NE(beyond.out.find("index: first entry whose rows differ: 40 (the index has rows for "
                            "entry 40, beyond the last it says it indexed (12)"),
            std::string::npos)
      << beyond.out;
  // --skip-index: the chain alone (a whole log: exit 0 whatever the index).
  auto chain_only = RunCarerecord("audit verify --skip-index" + Data(dir));
  EXPECT_EQ(chain_only.status, 0) << chain_only.out;
  EXPECT_EQ(chain_only.out.rfind("ok 12 entries\nsigned to entry 12 by ", 0), 0u);
  EXPECT_EQ(std::count(chain_only.out.begin(), chain_only.out.end(), '\n'), 2) << chain_only.out;
  // An index of another format (an older build's, before its first start after an upgrade):
  // not read by searches, rebuilt at the next start; said so, and not a failure.
  IndexSql(dir.path(), "UPDATE audit_search_state SET format = 1");
  auto older = RunCarerecord("audit verify" + Data(dir));
  EXPECT_EQ(older.status, 0) << older.out;
  EXPECT_NE(older.out.find(" checkpoints\nindex of format 1 (this build's is 2): it is rebuilt "
                           "from the log at the next start"),
            std::string::npos)
      << older.out;
  // No index (never built, or removed to be rebuilt): the log is checked, and said so.
  std::filesystem::remove(dir.path() / audit::kAuditSearchDatabaseFile);
  auto absent = RunCarerecord("audit verify" + Data(dir));
  EXPECT_EQ(absent.status, 0) << absent.out;
  EXPECT_EQ(absent.out.rfind("ok 12 entries\nsigned to entry 12 by ", 0), 0u) << absent.out;
  EXPECT_NE(absent.out.find(" checkpoints\nindex absent: it is built from the log at the next "
                            "start\n"),
            std::string::npos)
      << absent.out;
}

TEST(AuditCommandLine, VerifyNamesTheFirstBadEntryAndExitsOne) {
  TempDir dir;
  audit::testing::WriteSampleLog(dir.path(), 12);
  Sql(dir.path(), "DELETE FROM audit_entry WHERE seq = 4");
  auto result = RunCarerecord("audit verify" + Data(dir));
  EXPECT_EQ(result.status, 1);
  EXPECT_EQ(result.out.rfind("first bad entry: 4 (missing", 0), 0u) << result.out;
}

TEST(AuditCommandLine, VerifyWithACheckpointFileElsewhere) {
  TempDir dir;
  audit::testing::WriteSampleLog(dir.path(), 3);
  const auto moved = dir.path() / "elsewhere-checkpoints";
  std::filesystem::rename(dir.path() / audit::kCheckpointFile, moved);
  Sql(dir.path(), "DELETE FROM audit_entry WHERE seq = 3");
  // Without the checkpoints the log is not whole (nothing shows it was not rewritten); with
  // them, the truncation is seen.
  auto unsigned_log = RunCarerecord("audit verify" + Data(dir));
  EXPECT_EQ(unsigned_log.status, 1);
  EXPECT_EQ(unsigned_log.out.rfind("first bad entry: 1 (no signed checkpoint covers the log (", 0),
            0u)
      << unsigned_log.out;
  auto result = RunCarerecord("audit verify" + Data(dir) + " --checkpoints " + moved.string());
  EXPECT_EQ(result.status, 1);
  EXPECT_EQ(result.out.rfind("first bad entry: 3 (", 0), 0u) << result.out;
}

// Hostile 6a finding 5: an empty, NUL-filled or mistyped checkpoint file let a log re-chained
// whole pass as "ok".
TEST(AuditCommandLine, VerifyRefusesALogNoCheckpointSigns) {
  TempDir dir;
  audit::testing::WriteSampleLog(dir.path(), 3);
  const auto checkpoints = dir.path() / audit::kCheckpointFile;
  auto typo = RunCarerecord("audit verify" + Data(dir) + " --checkpoints " +
                            (dir.path() / "no-such-file").string());
  EXPECT_EQ(typo.status, 1);
  EXPECT_NE(typo.err.find("there is no checkpoint file"), std::string::npos) << typo.err;
  std::ofstream(checkpoints, std::ios::binary | std::ios::trunc) << std::string(100, '\0');
  auto nul = RunCarerecord("audit verify" + Data(dir));
  EXPECT_EQ(nul.status, 1);
  EXPECT_NE(nul.err.find("line 1 is not 'SEQ HASH TIME_MS SIGNATURE'"), std::string::npos)
      << nul.out << nul.err;
  std::ofstream(checkpoints, std::ios::binary | std::ios::trunc);
  auto empty = RunCarerecord("audit verify" + Data(dir));
  EXPECT_EQ(empty.status, 1);
  EXPECT_EQ(empty.out.rfind("first bad entry: 1 (no signed checkpoint", 0), 0u) << empty.out;
}

TEST(AuditCommandLine, VerifyWithAPinnedKeyRefusesCheckpointsSignedByAnother) {
  TempDir dir, other;
  audit::testing::WriteSampleLog(dir.path(), 3);
  audit::testing::WriteSampleLog(other.path(), 1);
  const auto pinned = dir.path() / audit::kCheckpointPublicKeyFile;
  EXPECT_EQ(
      ChainLine(RunCarerecord("audit verify" + Data(dir) + " --public-key " + pinned.string()).out),
      "ok 3 entries\n");
  // The key in the folder replaced, with checkpoints re-signed by it: the pinned key says no.
  const auto theirs = other.path() / audit::kCheckpointPublicKeyFile;
  auto result = RunCarerecord("audit verify" + Data(dir) + " --public-key " + theirs.string());
  EXPECT_EQ(result.status, 1);
  EXPECT_EQ(result.out.rfind("bad checkpoint: line 1 (its signature does not verify", 0), 0u)
      << result.out;
}

TEST(AuditCommandLine, VerifyWithoutALogSaysSoAndExitsOne) {
  TempDir dir;
  auto result = RunCarerecord("audit verify" + Data(dir));
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.err.find("there is no audit log at"), std::string::npos) << result.err;
}

TEST(AuditCommandLine, ReportCountsPerOrganisationPerMonth) {
  TempDir dir;
  WriteReviewLog(dir.path());
  auto table = RunCarerecord("audit report --since 2020-01-01" + Data(dir));
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_EQ(table.out.rfind("MONTH", 0), 0u) << table.out;
  auto json = RunCarerecord("audit report --since 2020-01-01 --format json" + Data(dir));
  ASSERT_EQ(json.status, 0) << json.err;
  std::istringstream lines(json.out);
  int64_t accesses = 0, break_glass = 0, declarations = 0;
  int rows = 0;
  for (std::string line; std::getline(lines, line); ++rows) {
    auto row = boost::json::parse(line).as_object();
    EXPECT_EQ(row.at("month").as_string(), "2025-12");  // SampleRecord's times
    accesses += row.at("accesses").as_int64();
    break_glass += row.at("break_glass").as_int64();
    declarations += row.at("declarations").as_int64();
    EXPECT_GE(row.at("distinct_users").as_int64(), 1);
  }
  EXPECT_EQ(rows, 2);  // two organisations
  EXPECT_EQ(accesses, 8);
  EXPECT_EQ(break_glass, 1);
  EXPECT_EQ(declarations, 1);
  // Since a time after every entry: nothing.
  EXPECT_EQ(RunCarerecord("audit report --since 2030-01-01 --format json" + Data(dir)).out, "");
}

TEST(AuditCommandLine, BreakGlassAndDeclarationsAreListed) {
  TempDir dir;
  WriteReviewLog(dir.path());
  auto glass = RunCarerecord("audit break-glass --since 2020-01-01 --format json" + Data(dir));
  ASSERT_EQ(glass.status, 0) << glass.err;
  // The granted one, then the attempt refused for its reason (listed, with its outcome).
  const size_t newline = glass.out.find('\n');
  ASSERT_NE(newline, std::string::npos) << glass.out;
  auto row = boost::json::parse(glass.out.substr(0, newline)).as_object();
  EXPECT_EQ(row.at("reason").as_string(), "collapsed in clinic");
  EXPECT_NE(glass.out.find("\"outcome\":\"failed\"", newline), std::string::npos) << glass.out;
  EXPECT_EQ(row.at("patients").as_array().at(0).as_string(), "p7");
  auto declared = RunCarerecord("audit declarations --since 2020-01-01" + Data(dir));
  ASSERT_EQ(declared.status, 0);
  EXPECT_NE(declared.out.find("referred today"), std::string::npos) << declared.out;
  EXPECT_EQ(declared.out.find("collapsed in clinic"), std::string::npos);
}

TEST(AuditCommandLine, ABadDateIsRefusedWithExitTwo) {
  TempDir dir;
  WriteReviewLog(dir.path());
  auto result = RunCarerecord("audit report --since yesterday" + Data(dir));
  EXPECT_EQ(result.status, 2);
  EXPECT_NE(result.err.find("YYYY-MM-DD"), std::string::npos) << result.err;
  EXPECT_EQ(RunCarerecord("audit report" + Data(dir)).status, 2);  // --since is required
}

TEST(AuditCommandLine, AnExportVerifiesWithTheIndependentProcedure) {
  if (std::system("python3 --version >/dev/null 2>&1 && openssl version >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3 or openssl is not installed";
  }
  TempDir dir;
  audit::testing::WriteSampleLog(dir.path(), 25);
  const auto out = dir.path() / "export";
  auto exported = RunCarerecord("audit export" + Data(dir) + " --out " + out.string());
  ASSERT_EQ(exported.status, 0) << exported.err;
  EXPECT_EQ(exported.out, "exported 25 entries to " + out.string() + "\n");
  const std::string bare =
      "python3 " CARERECORD_SOURCE_DIR "/tools/verify_audit_export.py " + out.string();
  const std::string script =
      bare + " " + (dir.path() / audit::kCheckpointPublicKeyFile).string();  // the pinned key
  auto run = [&](const std::string& command) {
    const auto log = dir.path() / "script.out";
    const int status = std::system((command + " >" + log.string() + " 2>&1").c_str());
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                          carerecord::testing::ReadFile(log));
  };
  EXPECT_EQ(run(script), std::make_pair(0, std::string("ok 25 entries\nsigned to entry 25\n")));
  // A key file that is missing, or a checkpoint line that is not one: said, not a traceback.
  auto [no_key_status, no_key_text] = run(bare + " " + (dir.path() / "no-such.pem").string());
  EXPECT_EQ(no_key_status, 1);
  EXPECT_EQ(no_key_text.rfind("no public key at ", 0), 0u) << no_key_text;
  const std::string checkpoints = carerecord::testing::ReadFile(out / "audit-checkpoints");
  std::ofstream(out / "audit-checkpoints", std::ios::binary | std::ios::trunc)
      << std::string(100, '\0');
  auto [nul_status, nul_text] = run(script);
  EXPECT_EQ(nul_status, 1);
  EXPECT_EQ(nul_text.rfind("bad checkpoint: line 1 (not 'SEQ HASH TIME_MS SIGNATURE')", 0), 0u)
      << nul_text;
  std::ofstream(out / "audit-checkpoints", std::ios::binary | std::ios::trunc) << checkpoints;
  EXPECT_EQ(run(script).first, 0);

  // A checkpoint signed by another key: refused.
  audit::testing::WriteSampleLog(dir.path() / "other", 1);
  auto [key_status, key_text] =
      run(bare + " " + (dir.path() / "other" / audit::kCheckpointPublicKeyFile).string());
  EXPECT_EQ(key_status, 1);
  EXPECT_EQ(key_text.rfind("bad checkpoint: line 1", 0), 0u) << key_text;

  // An entry altered in the export: the script names it.
  std::string entries = carerecord::testing::ReadFile(out / "entries.jsonl");
  const size_t at = entries.find("user1");
  ASSERT_NE(at, std::string::npos);
  entries[at + 4] = '7';
  std::ofstream(out / "entries.jsonl", std::ios::binary | std::ios::trunc) << entries;
  auto [status, text] = run(script);
  EXPECT_EQ(status, 1);
  EXPECT_EQ(text.rfind("first bad entry: 1", 0), 0u) << text;  // SampleRecord(1) has user1

  // Without a pinned key the script refuses: the export's own copy proves nothing (hostile 6a
  // finding 5: a re-chained export re-signed with a new key and its PEM replaced said ok).
  auto [bare_status, bare_text] = run(bare);
  EXPECT_NE(bare_status, 0);
  EXPECT_NE(bare_text.find("usage: verify_audit_export.py EXPORT_DIR PUBLIC_KEY_PEM"),
            std::string::npos)
      << bare_text;
}

}  // namespace
}  // namespace carerecord
