// How fast is the audit log? Durable entries per second with 1, 8 and 32 appending threads, each
// waiting for its entry as a request does (goal >= 50,000/s), and the same threads keeping up to
// 64 appends in flight each (what the single writer can do); then `audit verify` over the whole
// log, on one core (goal >= 1,000,000 entries/s).
//
//   build-release/bench/audit_bench [--seconds 3] [--verify-entries 1000000] [--work DIR]
//                                   [--keep 1]
//
// The log is durable (synchronous=FULL, each checkpoint synced) on the disk under --work (default
// the system temporary directory, which must be on the disk being measured, not a tmpfs).
// Last, the search index is built from that log on this thread (what the indexer thread does per
// entry, without the appends beside it): CPU per entry and rows per entry.

#include <sqlite3.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_indexer.h"
#include "audit/audit_log.h"
#include "audit/audit_verify.h"

namespace {

using namespace carerecord;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

audit::AuditRecord Entry(int64_t n) {
  audit::AuditRecord record;
  record.principal = "user:clinician" + std::to_string(n % 500);
  record.user = "clinician" + std::to_string(n % 500);
  record.client = "portal";
  record.organisation = "A8" + std::to_string(1000 + n % 40);
  record.role = "clinician";
  record.patients = {"patient-" + std::to_string(n % 100000)};
  record.action = "search";
  for (int i = 0; i < 5; ++i) {
    record.resources.push_back("Observation/obs-" + std::to_string(n * 5 + i));
  }
  record.items = 5;
  record.outcome = "success";
  record.status = 200;
  record.method = "GET";
  record.path = "/fhir/Observation?patient=patient-" + std::to_string(n % 100000) +
                "&code=http://loinc.org|8867-4";
  record.address = "10.1.2.3";
  return record;
}

double ThreadCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + now.tv_nsec / 1e9;
}

std::string LoadAverage() {
  std::FILE* file = std::fopen("/proc/loadavg", "r");
  char text[64] = "?";
  if (file) {
    if (!std::fgets(text, sizeof text, file)) text[0] = 0;
    std::fclose(file);
  }
  std::string load(text);
  return load.substr(0, load.find(' ', load.find(' ', load.find(' ') + 1) + 1));
}

struct Figure {
  int64_t entries = 0;
  double seconds = 0;
  int64_t index_behind = 0;   // entries the search index had not reached when appends stopped
  double index_catch_up = 0;  // seconds it then took to reach them
  bool index_caught_up = true;
  int64_t index_left = 0;  // not caught up within a minute: how many were still to index
  double PerSecond() const { return seconds > 0 ? entries / seconds : 0; }
};

// `threads` appenders for `seconds`, each with at most `in_flight` appends outstanding.
Figure Append(const fs::path& dir, int threads, int in_flight, double seconds, bool durable) {
  fs::remove_all(dir);
  audit::AuditLogOptions options;
  options.directory = dir;
  options.durable = durable;
  auto log = audit::AuditLog::Open(options);
  if (!log.ok()) {
    std::fprintf(stderr, "audit_bench: %s\n", log.error().message.c_str());
    std::exit(1);
  }
  std::atomic<int64_t> done{0};
  std::atomic<bool> failed{false};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::deque<std::future<base::Result<int64_t>>> pending;
      int64_t n = static_cast<int64_t>(t) << 32;
      auto settle = [&] {
        if (!pending.front().get().ok()) failed = true;
        pending.pop_front();
        ++done;
      };
      while (Clock::now() < end) {
        pending.push_back((*log)->AppendAsync(Entry(n++)));
        if (static_cast<int>(pending.size()) >= in_flight) settle();
      }
      while (!pending.empty()) settle();
    });
  }
  for (auto& worker : workers) worker.join();
  Figure figure{done.load(), std::chrono::duration<double>(Clock::now() - start).count()};
  // The search index follows on its own thread, off the append path: how far behind it was.
  const int64_t head = (*log)->head_seq();
  figure.index_behind = head - (*log)->indexed_seq();
  const auto stopped = Clock::now();
  // At most a minute (it runs at nice 10: on a busy machine it may take much longer).
  figure.index_caught_up = (*log)->WaitIndexed(head, std::chrono::seconds(60));
  figure.index_catch_up = std::chrono::duration<double>(Clock::now() - stopped).count();
  if (!figure.index_caught_up) figure.index_left = head - (*log)->indexed_seq();
  (*log)->Close();
  if (failed) std::fprintf(stderr, "audit_bench: some appends failed\n");
  return figure;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  int64_t verify_entries = 1000000;
  fs::path work = fs::temp_directory_path() / "carerecord-audit-bench";
  bool keep = false;  // --keep 1: leave the logs under --work (to profile verify on its own)
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--verify-entries")) verify_entries = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--work")) work = argv[i + 1];
    if (!std::strcmp(argv[i], "--keep")) keep = std::atoi(argv[i + 1]) != 0;
  }
  constexpr double kAppendGoal = 50000, kVerifyGoal = 1000000;
  std::printf("durable appends (synchronous=FULL), %.0f s each, on %s (%u cores, load %s)\n",
              seconds, work.c_str(), std::thread::hardware_concurrency(), LoadAverage().c_str());
  std::printf("%-8s %-26s %12s %10s   %s\n", "threads", "mode", "entries/s", "vs 50,000",
              "search index behind at the end, caught up in");
  for (int threads : {1, 8, 32}) {
    for (int in_flight : {1, 64}) {
      Figure figure = Append(work / "append", threads, in_flight, seconds, true);
      std::printf("%-8d %-26s %12.0f %9.2fx   %lld entries, ", threads,
                  in_flight == 1 ? "each waits for its entry" : "64 in flight per thread",
                  figure.PerSecond(), figure.PerSecond() / kAppendGoal,
                  static_cast<long long>(figure.index_behind));
      if (figure.index_caught_up) {
        std::printf("%.2f s\n", figure.index_catch_up);
      } else {
        std::printf("still %lld behind after %.0f s\n", static_cast<long long>(figure.index_left),
                    figure.index_catch_up);
      }
      std::fflush(stdout);
    }
  }

  // A log of verify_entries entries (built without syncs, which verify does not care about).
  const fs::path verify_dir = work / "verify";
  Figure built{};
  {
    fs::remove_all(verify_dir);
    audit::AuditLogOptions options;
    options.directory = verify_dir;
    options.durable = false;
    auto log = audit::AuditLog::Open(options);
    if (!log.ok()) return 1;
    const auto start = Clock::now();
    std::deque<std::future<base::Result<int64_t>>> pending;
    for (int64_t n = 0; n < verify_entries; ++n) {
      pending.push_back((*log)->AppendAsync(Entry(n)));
      if (pending.size() >= 4096) {
        (void)pending.front().get();
        pending.pop_front();
      }
    }
    while (!pending.empty()) {
      (void)pending.front().get();
      pending.pop_front();
    }
    built = {verify_entries, std::chrono::duration<double>(Clock::now() - start).count()};
    (*log)->Close();
  }
  std::printf("built a log of %lld entries in %.1f s (%.0f entries/s, one thread, no syncs)\n",
              static_cast<long long>(verify_entries), built.seconds, built.PerSecond());
  for (int round = 0; round < 2; ++round) {  // the second with the file in the page cache
    audit::VerifyOptions options;
    options.directory = verify_dir;
    const auto start = Clock::now();
    const double cpu_start = ThreadCpuSeconds();
    auto report = audit::VerifyAuditLog(options);
    const double took = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu = ThreadCpuSeconds() - cpu_start;
    if (!report.ok() || !report->ok) {
      std::fprintf(stderr, "audit_bench: verify failed\n");
      return 1;
    }
    // Per core: verify runs on this one thread, so entries per second of its CPU time, which a
    // busy machine's other work does not lower (the wall-clock rate is printed beside it).
    const double rate = report->entries / cpu;
    std::printf(
        "verify %s: %lld entries in %.2f s (%.0f/s wall clock), %.2f s of CPU: %.0f entries/s "
        "per core, %.2fx the goal\n",
        round == 0 ? "(first)" : "(again)", static_cast<long long>(report->entries), took,
        report->entries / took, cpu, rate, rate / kVerifyGoal);
  }
  {
    // The search index of that log, built again from the entries on this thread: the indexer's
    // work per entry (read, parse, keys, inserts, commits of 4,096) without appends beside it.
    for (const char* suffix : {"", "-wal", "-shm"}) {
      fs::remove(verify_dir / (std::string(audit::kAuditSearchDatabaseFile) + suffix));
    }
    const auto start = Clock::now();
    const double cpu_start = ThreadCpuSeconds();
    auto indexer = audit::AuditIndexer::Open(verify_dir);
    const double cpu = ThreadCpuSeconds() - cpu_start;
    const double took = std::chrono::duration<double>(Clock::now() - start).count();
    if (!indexer.ok()) {
      std::fprintf(stderr, "audit_bench: %s\n", indexer.error().message.c_str());
      return 1;
    }
    const int64_t indexed = (*indexer)->indexed_seq();
    indexer.value().reset();
    int64_t rows = 0;  // as the indexer counted them (audit_search_state.keys)
    sqlite3* index = nullptr;
    if (sqlite3_open_v2((verify_dir / audit::kAuditSearchDatabaseFile).c_str(), &index,
                        SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* keys = nullptr;
      if (sqlite3_prepare_v2(index, "SELECT keys FROM audit_search_state", -1, &keys, nullptr) ==
              SQLITE_OK &&
          sqlite3_step(keys) == SQLITE_ROW) {
        rows = sqlite3_column_int64(keys, 0);
      }
      sqlite3_finalize(keys);
    }
    sqlite3_close(index);
    std::printf(
        "search index built from the log: %lld entries in %.2f s, %.2f s of CPU: %.2f us CPU per "
        "entry, %.2f rows per entry, audit-search.db %.0f MB\n",
        static_cast<long long>(indexed), took, cpu, indexed ? cpu * 1e6 / indexed : 0.0,
        indexed ? static_cast<double>(rows) / indexed : 0.0,
        fs::file_size(verify_dir / audit::kAuditSearchDatabaseFile) / 1e6);
  }
  if (!keep) fs::remove_all(work);
  return 0;
}
