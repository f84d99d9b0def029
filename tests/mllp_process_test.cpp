// The real binary: `carerecord serve --mllp` with the `feeds` commands run beside it, and crash
// safety: kill -9 while senders stream, restart, and every acknowledged message is in the inbox
// exactly once.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "http/client.h"
#include "tests/carerecord_process.h"
#include "tests/mllp_client.h"

namespace carerecord {
namespace {

using testing::CommandResult;
using testing::MllpClient;
using testing::MsaOf;
using testing::ReadFile;
using testing::RunCarerecord;
using testing::TempPath;
using namespace std::chrono_literals;

std::string Adt(const std::string& control_id, const std::string& facility = "RDZ") {
  return "MSH|^~\\&|PAS|" + facility + "|CR|CR|20260101120000||ADT^A01^ADT_A01|" + control_id +
         "|P|2.5\rPID|1||" + control_id + "^^^RDZ^MR\r";
}

// `carerecord serve --data DIR --http 127.0.0.1:0 --mllp 127.0.0.1:0` (durable) in a child.
class MllpServer {
 public:
  explicit MllpServer(const std::string& data) {
    log_ = TempPath("carerecord-mllp-serve-").string() + ".log";
    pid_ = fork();
    if (pid_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(127);
      execl(CARERECORD_BINARY, CARERECORD_BINARY, "serve", "--data", data.c_str(), "--http",
            "127.0.0.1:0", "--mllp", "127.0.0.1:0", "--workers", "4", static_cast<char*>(nullptr));
      _exit(127);
    }
    // The MLLP port is printed first; the HTTP port once the sign-in gate is up: wait for both.
    for (int i = 0; i < 600 && (port_ == 0 || http_port_ == 0); ++i) {
      std::istringstream lines(ReadFile(log_));
      for (std::string line; std::getline(lines, line);) {
        if (line.rfind("mllp port ", 0) == 0) port_ = std::stoi(line.substr(10));
        if (line.rfind("port ", 0) == 0) http_port_ = std::stoi(line.substr(5));
      }
      if (port_ == 0 || http_port_ == 0) std::this_thread::sleep_for(50ms);
    }
  }
  ~MllpServer() {
    Signal(SIGTERM);
    std::filesystem::remove(log_);
  }
  uint16_t port() const { return port_; }
  uint16_t http_port() const { return http_port_; }
  std::string log() const { return ReadFile(log_); }
  // Sends the signal and reaps the child; its exit status (-1 when killed).
  int Signal(int signal) {
    if (pid_ <= 0) return -1;
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  uint16_t http_port_ = 0;
  std::string log_;
};

class MllpProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { data_ = TempPath("carerecord-mllp-data-").string(); }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(data_, ec);
  }
  CommandResult Run(const std::string& args) { return RunCarerecord(args + " --data " + data_); }
  std::string data_;
};

TEST_F(MllpProcessTest, FeedCommandsWorkBesideARunningServer) {
  ASSERT_EQ(Run("orgs add --ods RDZ --name Dorset --kind hospital").status, 0);
  ASSERT_EQ(Run("orgs add --ods RBD --name Bournemouth --kind hospital").status, 0);
  CommandResult added = Run("feeds add --name rdz-pas --facility RDZ --org RDZ");
  ASSERT_EQ(added.status, 0) << added.err;
  // An organisation the directory lacks is refused, naming what to do.
  CommandResult unknown = Run("feeds add --name x --facility X --org NOPE");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.err.find("orgs add"), std::string::npos) << unknown.err;

  MllpServer server(data_);
  ASSERT_NE(server.port(), 0) << server.log();
  EXPECT_NE(server.log().find("mllp listening on 127.0.0.1:"), std::string::npos);
  MllpClient client(server.port());
  EXPECT_EQ(MsaOf(*client.Exchange(Adt("A1"))), "MSA|AA|A1");
  EXPECT_EQ(MsaOf(*client.Exchange(Adt("B1", "RBD"))), "MSA|AR|B1");

  CommandResult errors = Run("feeds errors");
  ASSERT_EQ(errors.status, 0) << errors.err;
  EXPECT_NE(errors.out.find("rejected"), std::string::npos) << errors.out;
  EXPECT_NE(errors.out.find("control_id=B1"), std::string::npos) << errors.out;

  // A feed added while the server runs takes the facility's next message, and a reprocess
  // takes the one refused before.
  ASSERT_EQ(Run("feeds add --name rbd-lab --facility RBD --org RBD").status, 0);
  EXPECT_EQ(MsaOf(*client.Exchange(Adt("B2", "RBD"))), "MSA|AA|B2");
  CommandResult reprocessed = Run("feeds reprocess --all");
  ASSERT_EQ(reprocessed.status, 0) << reprocessed.err;
  EXPECT_EQ(reprocessed.out, "1 message(s) queued again\n");
  EXPECT_EQ(Run("feeds errors").out, "the error queue is empty\n");

  CommandResult list = Run("feeds list");
  EXPECT_EQ(list.out,
            "rbd-lab facility=RBD application=* org=RBD enabled\n"
            "rdz-pas facility=RDZ application=* org=RDZ enabled\n");

  // Resends count as duplicates; the server maps each message into the record behind the ACK.
  EXPECT_EQ(MsaOf(*client.Exchange(Adt("A1"))), "MSA|AA|A1");
  CommandResult stats;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  do {
    stats = Run("feeds stats");
    ASSERT_EQ(stats.status, 0);
    if (stats.out.find("pending=0 in_error=0 duplicates=1") != std::string::npos &&
        stats.out.find("accepted=2 pending=0") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_NE(stats.out.find("rdz-pas received=1 accepted=1 pending=0 in_error=0 duplicates=1"),
            std::string::npos)
      << stats.out;
  EXPECT_NE(stats.out.find("rbd-lab received=2 accepted=2 pending=0 in_error=0 duplicates=0"),
            std::string::npos)
      << stats.out;

  // The same figures at GET /metrics, in Prometheus text.
  http::HttpClient http("127.0.0.1", server.http_port());
  auto metrics = http.Send("GET", "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->Header("content-type").find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(metrics->body.find("carerecord_feed_messages_received_total{feed=\"rdz-pas\"} 1\n"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("carerecord_feed_duplicates_total{feed=\"rdz-pas\"} 1\n"),
            std::string::npos);

  ASSERT_EQ(Run("feeds disable --name rdz-pas").status, 0);
  EXPECT_EQ(MsaOf(*client.Exchange(Adt("A2"))), "MSA|AR|A2");
  EXPECT_EQ(Run("feeds disable --name nothing").status, 2);
  EXPECT_EQ(Run("feeds reprocess 12x").status, 2);
  EXPECT_EQ(server.Signal(SIGTERM), 0) << server.log();
}

TEST_F(MllpProcessTest, ServeRefusesABadMllpAddress) {
  CommandResult bad = Run("serve --http 127.0.0.1:0 --mllp nonsense");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("--mllp must be HOST:PORT"), std::string::npos) << bad.err;
}

// kill -9 while four senders stream, several times; after each restart the senders resend
// what was not acknowledged. At the end every acknowledged message is in the inbox exactly
// once, with the bytes that were sent, and mapped into the record once a server runs again.
TEST_F(MllpProcessTest, KillNineWhileStreamingLosesNoAcknowledgedMessage) {
  ASSERT_EQ(Run("orgs add --ods RDZ --name Dorset --kind hospital").status, 0);
  ASSERT_EQ(Run("feeds add --name rdz-pas --facility RDZ --org RDZ").status, 0);
  constexpr int kRounds = 4, kSenders = 4;
  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::map<int, int> next_of_sender;  // each sender's next message number
  for (int round = 0; round < kRounds; ++round) {
    MllpServer server(data_);
    ASSERT_NE(server.port(), 0) << server.log();
    std::atomic<int> acked_this_round{0};
    std::vector<std::thread> senders;
    for (int s = 0; s < kSenders; ++s) {
      senders.emplace_back([&, s] {
        MllpClient client(server.port());
        for (;;) {
          int n;
          {
            std::lock_guard lock(mutex);
            n = next_of_sender[s];
          }
          const std::string id = "S" + std::to_string(s) + "-" + std::to_string(n);
          auto ack = client.Exchange(Adt(id));
          if (!ack) return;  // the server died: resend from here next round
          if (MsaOf(*ack) != "MSA|AA|" + id) return;
          std::lock_guard lock(mutex);
          acknowledged.insert(id);
          next_of_sender[s] = n + 1;
          ++acked_this_round;
        }
      });
    }
    // Let them stream, then kill it mid-stream.
    ASSERT_TRUE(testing::Eventually([&] { return acked_this_round.load() >= 150; }));
    server.Signal(SIGKILL);
    for (auto& sender : senders) sender.join();
  }
  // A last start maps what the kills left unmapped (the worker resumes `received` messages).
  struct Row {
    std::string control_id, state, raw;
  };
  auto read_inbox = [&] {
    std::vector<Row> rows;
    sqlite3* db = nullptr;
    sqlite3_open((std::filesystem::path(data_) / "inbox.db").c_str(), &db);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT control_id, state, raw FROM inbox", -1, &stmt, nullptr);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      auto text = [&](int i) {
        return std::string(static_cast<const char*>(sqlite3_column_blob(stmt, i)),
                           sqlite3_column_bytes(stmt, i));
      };
      rows.push_back({text(0), text(1), text(2)});
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return rows;
  };
  {
    MllpServer server(data_);
    ASSERT_NE(server.port(), 0) << server.log();
    EXPECT_TRUE(testing::Eventually([&] {
      for (const Row& row : read_inbox()) {
        if (row.state == "received") return false;
      }
      return true;
    }));
    EXPECT_EQ(server.Signal(SIGTERM), 0) << server.log();
  }
  std::vector<Row> stored = read_inbox();
  std::map<std::string, int> copies;
  for (const Row& m : stored) {
    ++copies[m.control_id];
    EXPECT_EQ(m.raw, Adt(m.control_id));
    EXPECT_EQ(m.state, "mapped") << m.control_id;
  }
  ASSERT_GE(acknowledged.size(), size_t{kRounds * 150});
  for (const std::string& id : acknowledged) EXPECT_EQ(copies[id], 1) << id;
  // Nothing is stored that was never sent: at most one unacknowledged message per sender
  // per round (committed, its ACK lost in the kill).
  EXPECT_LE(stored.size(), acknowledged.size() + kRounds * kSenders);
}

}  // namespace
}  // namespace carerecord
