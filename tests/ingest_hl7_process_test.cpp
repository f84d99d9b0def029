// The real binary: `carerecord ingest hl7` loads files of HL7 v2 messages (plain runs, FHS/BHS
// batches, MLLP frames) through a feed's inbox and maps them into the record; a second load of
// the same files counts duplicates and writes nothing; bad input is named by file and line; and
// with a server holding the store, the messages go to the inbox for the server to map.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/carerecord_process.h"

namespace carerecord {
namespace {

using testing::CommandResult;
using testing::ReadFile;
using testing::RunCarerecord;
using testing::TempPath;
using namespace std::chrono_literals;

std::string Adt(const std::string& control_id, const std::string& mrn,
                const std::string& facility = "RDZ", const std::string& end = "\r") {
  return "MSH|^~\\&|PAS|" + facility + "|CR|CR|20260101120000||ADT^A01^ADT_A01|" + control_id +
         "|P|2.5" + end + "EVN|A01|20260101120000" + end + "PID|1||" + mrn +
         "^^^RDZ^MR||SMITH^JANE||19700101|F" + end + "PV1|1|I|WARD1^BED2^^RDZ||||||||||||||||V" +
         mrn + "^^^RDZ^VN" + end;
}

std::string Oru(const std::string& control_id, const std::string& mrn,
                const std::string& value_type) {
  return "MSH|^~\\&|LAB|RDZ|CR|CR|20260101130000||ORU^R01^ORU_R01|" + control_id +
         "|P|2.5\rPID|1||" + mrn + "^^^RDZ^MR||SMITH^JANE||19700101|F\rOBR|1||F" + control_id +
         "^RDZLAB|UE^U and E^LOCAL|||20260101120000|||||||||||||||||F\rOBX|1|" + value_type +
         "|22664-7^Potassium^LN||4.2|mmol/L||||||F\r";
}

class IngestHl7Test : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = TempPath("carerecord-ingest-data-").string();
    files_ = TempPath("carerecord-ingest-files-");
    std::filesystem::create_directories(files_);
    ASSERT_EQ(Run("orgs add --ods RDZ --name Dorset --kind hospital").status, 0);
    CommandResult added = Run("feeds add --name rdz-pas --facility RDZ --org RDZ");
    ASSERT_EQ(added.status, 0) << added.err;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(data_, ec);
    std::filesystem::remove_all(files_, ec);
  }
  CommandResult Run(const std::string& args) { return RunCarerecord(args + " --data " + data_); }
  std::string File(const std::string& name, const std::string& content) {
    const auto path = files_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }
  // `carerecord stats`'s "versions N".
  std::string Versions() {
    CommandResult stats = Run("stats");
    const size_t at = stats.out.find("versions ");
    return at == std::string::npos ? stats.out + stats.err
                                   : stats.out.substr(at, stats.out.find('\n', at) - at);
  }
  std::string data_;
  std::filesystem::path files_;
};

TEST_F(IngestHl7Test, LoadsRunsBatchesAndFramesAndALoadAgainChangesNothing) {
  // Two messages with \n segment ends and a blank line between; a batch file; an MLLP file.
  const std::string plain =
      File("plain.hl7", Adt("P1", "M1", "RDZ", "\n") + "\n\n" + Adt("P2", "M2", "RDZ", "\n"));
  const std::string batch =
      File("batch.hl7", "FHS|^~\\&|PAS|RDZ\rBHS|^~\\&|PAS|RDZ\r" + Adt("B1", "M3") +
                            Oru("B2", "M3", "NM") + "BTS|2\rFTS|1\r");
  const std::string framed =
      File("framed.mllp", "\x0b" + Adt("F1", "M4") + "\x1c\x0d\x0b" + Adt("F2", "M5") + "\x1c\x0d");
  const std::string files = plain + " " + batch + " " + framed;
  CommandResult first = Run("ingest hl7 --feed rdz-pas " + files);
  EXPECT_EQ(first.status, 0) << first.out << first.err;
  EXPECT_EQ(first.out.rfind("read 6, accepted 6, duplicates 0, in error 0, ", 0), 0u) << first.out;
  // stderr is not a terminal here: no progress bar.
  EXPECT_EQ(first.err.find('\r'), std::string::npos) << first.err;
  CommandResult stats = Run("feeds stats");
  EXPECT_NE(stats.out.find("rdz-pas received=6 accepted=6 pending=0 in_error=0 duplicates=0"),
            std::string::npos)
      << stats.out;
  const std::string versions = Versions();
  EXPECT_NE(versions, "versions 0");

  CommandResult again = Run("ingest hl7 --feed rdz-pas " + files);
  EXPECT_EQ(again.status, 0) << again.out << again.err;
  EXPECT_EQ(again.out.rfind("read 6, accepted 0, duplicates 6, in error 0, ", 0), 0u) << again.out;
  EXPECT_EQ(Versions(), versions);
}

TEST_F(IngestHl7Test, BadInputIsNamedByFileAndLineAndTheRestLoads) {
  const std::string mixed =
      File("mixed.hl7", Adt("G1", "M1") + "\r" +        // line 1-4, then a blank line 5
                            Oru("X1", "M2", "XX") +     // lines 6-9: OBX-2 not a type mapped
                            Adt("W1", "M3", "OTHER") +  // line 10: another facility
                            Adt("G2", "M4"));           // lines 14-17
  const std::string junk = File("junk.hl7", "hello\rthis is not HL7\r");
  CommandResult result = Run("ingest hl7 --feed rdz-pas " + mixed + " " + junk);
  EXPECT_EQ(result.status, 1) << result.out << result.err;
  EXPECT_EQ(result.out.rfind("read 4, accepted 2, duplicates 0, in error 3, ", 0), 0u)
      << result.out;
  EXPECT_NE(result.err.find(mixed + ":6: control id X1: "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("OBX value type 'XX' is not mapped"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(mixed + ":10: MSH-3/MSH-4 name application 'PAS' of facility 'OTHER'"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find(junk + ":1: cannot be split into HL7 v2 messages"), std::string::npos)
      << result.err;
  // The unmappable one waits in the error queue with its reason.
  CommandResult errors = Run("feeds errors");
  EXPECT_NE(errors.out.find("control_id=X1"), std::string::npos) << errors.out;
}

// Hostile round 11: a control id or reason holding a line break or an escape sequence, decoded
// from an HL7 escape, faked lines of the listing and reached the terminal raw.
TEST_F(IngestHl7Test, TheErrorListingQuotesControlCharactersAMessageSent) {
  const std::string forged =
      File("forged.hl7", Oru("C\\.br\\88 error FORGED\\X1B\\[31m", "M2", "XX"));
  Run("ingest hl7 --feed rdz-pas " + forged);
  CommandResult errors = Run("feeds errors");
  EXPECT_NE(errors.out.find("88 error FORGED"), std::string::npos) << errors.out;
  EXPECT_EQ(errors.out.find("\n88 error FORGED"), std::string::npos) << errors.out;
  EXPECT_EQ(errors.out.find('\x1b'), std::string::npos) << errors.out;
  EXPECT_NE(errors.out.find("\\u001b"), std::string::npos) << errors.out;
}

TEST_F(IngestHl7Test, UsageErrorsExitTwo) {
  const std::string one = File("one.hl7", Adt("U1", "M1"));
  CommandResult no_feed = Run("ingest hl7 --feed nope " + one);
  EXPECT_EQ(no_feed.status, 2);
  EXPECT_NE(no_feed.err.find("no feed is named nope"), std::string::npos) << no_feed.err;
  EXPECT_EQ(Run("ingest hl7 --feed rdz-pas " + (files_ / "missing.hl7").string()).status, 2);
  EXPECT_EQ(Run("ingest hl7 " + one).status, 2);  // --feed is required
}

// `serve --mllp` in a child process on the same data folder.
class FeedServer {
 public:
  explicit FeedServer(const std::string& data) {
    log_ = TempPath("carerecord-ingest-serve-").string() + ".log";
    pid_ = fork();
    if (pid_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(127);
      execl(CARERECORD_BINARY, CARERECORD_BINARY, "serve", "--data", data.c_str(), "--http",
            "127.0.0.1:0", "--mllp", "127.0.0.1:0", "--no-fsync", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 600 && !up_; ++i) {
      up_ = ReadFile(log_).find("\nport ") != std::string::npos;
      if (!up_) std::this_thread::sleep_for(50ms);
    }
  }
  ~FeedServer() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    std::filesystem::remove(log_);
  }
  bool up() const { return up_; }
  std::string log() const { return ReadFile(log_); }

 private:
  pid_t pid_ = -1;
  bool up_ = false;
  std::string log_;
};

TEST_F(IngestHl7Test, WithAServerRunningTheServerMapsWhatTheCommandStores) {
  FeedServer server(data_);
  ASSERT_TRUE(server.up()) << server.log();
  const std::string file = File("two.hl7", Adt("S1", "M1") + Adt("S2", "M2"));
  CommandResult result = Run("ingest hl7 --feed rdz-pas " + file);
  EXPECT_EQ(result.status, 0) << result.out << result.err;
  EXPECT_NE(result.err.find("a running server holds the record store"), std::string::npos)
      << result.err;
  EXPECT_EQ(result.out.rfind("read 2, accepted 2, duplicates 0, in error 0, ", 0), 0u)
      << result.out;
  CommandResult stats;
  EXPECT_TRUE(testing::Eventually([&] {
    stats = Run("feeds stats");
    return stats.out.find("rdz-pas received=2 accepted=2 pending=0") != std::string::npos;
  })) << stats.out;
}

}  // namespace
}  // namespace carerecord
