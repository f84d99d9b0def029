// End to end over MLLP, durable (synchronous=FULL): senders on loopback each send an ADT^A01
// (about 1 KB), wait for its ACK, and send the next, against an in-process MllpListener and
// Inbox on a fresh data folder. Prints messages/s and ACK latency p50/p99 beside the issue's
// goals, for 8 connections, for 1 connection, and for 8 connections with group commit off (one
// message per transaction, so one fsync each) to show what sharing a commit buys, and for 8
// connections that each keep 8 messages unanswered (pipelining). Mapping into
// the record is not included: serve has no MessageProcessor yet.
//
//   build/bench/mllp_bench [--seconds 5] [--dir /tmp]

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "feeds/inbox.h"
#include "feeds/mllp_listener.h"

namespace {

using namespace carerecord;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string Adt(const std::string& control_id) {
  return "MSH|^~\\&|PAS|RDZ|CR|CR|20260101120000||ADT^A01^ADT_A01|" + control_id +
         "|P|2.5.1\rEVN|A01|20260101120000\rPID|1||" + control_id +
         "^^^RDZ^MR~9434765919^^^NHS^NH||SMITH^JANE^ANNE^^MRS||19700101|F|||1 HIGH "
         "STREET^^POOLE^DORSET^BH15 2JB^GBR^H||01202 123456^PRN^PH|||M||||||||||||||\rPD1|||POOLE "
         "SURGERY^^J81001|G1234567^JONES^PETER^^DR\rNK1|1|SMITH^JOHN|SPO^Spouse|1 HIGH "
         "STREET^^POOLE^DORSET^BH15 2JB^GBR^H|01202 123456\rPV1|1|I|WARD1^BED2^^RDZ||||C1234^"
         "BROWN^ALICE^^DR|||MED||||19|||C1234^BROWN^ALICE^^DR|IP|V" +
         control_id +
         "|||||||||||||||||||||||||20260101120000\rAL1|1|DA|PENICILLIN^Penicillin|MO|"
         "Rash\rDG1|1||I10^Essential hypertension^I10||20260101|A\r";
}

int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// One message out, its ACK back; false if the connection failed or the ACK is not AA.
bool Exchange(int fd, const std::string& message, std::string& buffer) {
  const std::string frame = "\x0b" + message + "\x1c\x0d";
  if (::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size())) {
    return false;
  }
  buffer.clear();
  char chunk[4096];
  while (buffer.size() < 2 || buffer.compare(buffer.size() - 2, 2, "\x1c\x0d") != 0) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
  }
  return buffer.find("\rMSA|AA|") != std::string::npos;
}

struct Figures {
  double messages_per_second = 0;
  double p50_ms = 0, p99_ms = 0;
  int failures = 0;
};

// Reads until one whole ACK frame is in `buffer`, then removes it; false on failure or not AA.
bool ReadAck(int fd, std::string& buffer) {
  char chunk[4096];
  size_t end;
  while ((end = buffer.find("\x1c\x0d")) == std::string::npos) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
  }
  const bool aa = std::string_view(buffer).substr(0, end).find("\rMSA|AA|") != std::string::npos;
  buffer.erase(0, end + 2);
  return aa;
}

// `window` > 1: the sender keeps that many messages unanswered (pipelining), as few MLLP senders
// do; ACK latency is then from each message's send to its ACK.
Figures Run(const fs::path& base, int connections, size_t max_batch, double seconds,
            int window = 1) {
  std::random_device random;
  const fs::path dir = base / ("carerecord-mllp-bench-" + std::to_string(random()));
  feeds::InboxOptions inbox_options;
  inbox_options.durable = true;
  inbox_options.max_batch = max_batch;
  auto inbox = std::move(feeds::OpenInbox(dir.string(), inbox_options)).value();
  feeds::FeedRecord feed;
  feed.name = "rdz-pas";
  feed.facility = "RDZ";
  feed.ods_code = "RDZ";
  (void)inbox->AddFeed(feed);
  feeds::MllpListener listener(feeds::MllpListenerOptions{}, *inbox);
  const uint16_t port = listener.Start().value();

  std::atomic<bool> measuring{false}, stop{false};
  std::vector<std::vector<double>> latencies(connections);
  std::atomic<int> failures{0};
  std::vector<std::thread> senders;
  for (int c = 0; c < connections; ++c) {
    senders.emplace_back([&, c] {
      int fd = Connect(port);
      std::string buffer;
      if (window == 1) {
        for (long n = 0; !stop && fd >= 0; ++n) {
          const std::string message = Adt("B" + std::to_string(c) + "-" + std::to_string(n));
          const auto start = Clock::now();
          if (!Exchange(fd, message, buffer)) {
            ++failures;
            break;
          }
          if (measuring) {
            latencies[c].push_back(
                std::chrono::duration<double, std::milli>(Clock::now() - start).count());
          }
        }
      } else {
        std::deque<Clock::time_point> sent;
        for (long n = 0; !stop && fd >= 0;) {
          while (static_cast<int>(sent.size()) < window) {
            const std::string frame =
                "\x0b" + Adt("B" + std::to_string(c) + "-" + std::to_string(n++)) + "\x1c\x0d";
            sent.push_back(Clock::now());
            if (::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) <= 0) break;
          }
          if (!ReadAck(fd, buffer)) {
            ++failures;
            break;
          }
          if (measuring) {
            latencies[c].push_back(
                std::chrono::duration<double, std::milli>(Clock::now() - sent.front()).count());
          }
          sent.pop_front();
        }
      }
      if (fd >= 0) ::close(fd);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // warm up
  measuring = true;
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  measuring = false;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  for (auto& sender : senders) sender.join();
  listener.Stop();
  inbox.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);

  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Figures f;
  f.failures = failures.load();
  if (all.empty()) return f;
  f.messages_per_second = static_cast<double>(all.size()) / elapsed;
  f.p50_ms = all[all.size() / 2];
  f.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return f;
}

// One durable SQLite commit of one 600-byte row (WAL, synchronous=FULL) in the same folder, on
// its own: the floor of an ACK, measured in the same run.
std::pair<double, double> CommitMillis(const fs::path& base) {
  const fs::path path = base / "carerecord-mllp-bench-commit.db";
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return {0, 0};
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (x BLOB)",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?)", -1, &insert, nullptr);
  const std::string row(600, 'x');
  std::vector<double> times;
  for (int i = 0; i < 300; ++i) {
    const auto start = Clock::now();
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    sqlite3_bind_blob(insert, 1, row.data(), static_cast<int>(row.size()), SQLITE_STATIC);
    sqlite3_step(insert);
    sqlite3_reset(insert);
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  sqlite3_finalize(insert);
  sqlite3_close(db);
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], times[times.size() * 99 / 100]};
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  fs::path dir = fs::temp_directory_path();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--seconds") {
      seconds = std::stod(argv[i + 1]);
    } else if (flag == "--dir") {
      dir = argv[i + 1];
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::printf(
      "MLLP end to end, durable (synchronous=FULL), %.0f s each, %zu-byte ADT^A01, "
      "inbox only (no mapping)\n\n",
      seconds, Adt("B0-0").size());
  const auto [commit_p50, commit_p99] = CommitMillis(dir);
  std::printf(
      "one durable SQLite commit alone in %s: p50 %.2f ms, p99 %.2f ms (the floor of an ACK)\n\n",
      dir.c_str(), commit_p50, commit_p99);
  std::printf("| run | messages/s | ACK p50 ms | ACK p99 ms | goal |\n|---|---|---|---|---|\n");
  struct Case {
    const char* name;
    int connections;
    size_t max_batch;
    const char* goal;
    int window = 1;
  };
  for (const Case& c :
       {Case{"8 connections, group commit", 8, 512, ">= 5,000/s, p99 <= 20 ms"},
        Case{"1 connection", 1, 512, "-"}, Case{"8 connections, one commit per message", 8, 1, "-"},
        Case{"8 connections pipelining 8 messages each", 8, 512, "-", 8}}) {
    Figures f = Run(dir, c.connections, c.max_batch, seconds, c.window);
    std::printf("| %s | %.0f | %.2f | %.2f | %s |%s\n", c.name, f.messages_per_second, f.p50_ms,
                f.p99_ms, c.goal, f.failures ? " (a sender failed)" : "");
    std::fflush(stdout);
  }
  return 0;
}
