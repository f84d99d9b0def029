// How fast is AuditEvent search on a large log? Fills a log with N entries (default 1,000,000:
// 100,000 patients, 500 users, a day of entries, a few refusals and sign-ins), pipelined and not
// synced (the fill is not what is measured), then times first pages (50 entries, newest first)
// of the searches an auditor and a patient make, and following next pages deep into a patient's
// entries.
//
//   build/bench/audit_search_bench [--entries 1000000] [--work DIR]

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "audit/audit_search.h"
#include "audit/audit_verify.h"

namespace {

using namespace carerecord;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int64_t kStartMs = 1796083200000;  // 2026-12-01T00:00:00Z

audit::AuditRecord Entry(int64_t n, int64_t total) {
  audit::AuditRecord record;
  record.time_ms = kStartMs + n * 86400000 / total;
  if (n % 1000 == 7) {
    record.principal = "client:feed-" + std::to_string(n % 13);
    record.client = "feed-" + std::to_string(n % 13);
    record.action = n % 2 ? "sign-in" : "sign-in-failed";
    record.outcome = n % 2 ? "success" : "refused";
    record.detail = "client_credentials (private_key_jwt)";
    return record;
  }
  record.principal = "user:clinician" + std::to_string(n % 500);
  record.user = "clinician" + std::to_string(n % 500);
  record.client = "portal";
  record.organisation = "A8" + std::to_string(1000 + n % 40);
  record.role = "clinician";
  record.patients = {"patient-" + std::to_string(n % 100000)};
  record.action = n % 3 ? "search" : "read";
  record.resources.push_back((n % 3 ? "Observation/obs-" : "Patient/patient-") +
                             std::to_string(n % 100000));
  record.items = 1;
  record.outcome = n % 97 == 0 ? "refused" : "success";
  record.status = n % 97 == 0 ? 403 : 200;
  record.method = "GET";
  record.path = "/fhir/Observation?patient=patient-" + std::to_string(n % 100000);
  record.address = "10.1.2.3";
  return record;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t entries = 1000000;
  fs::path work = fs::temp_directory_path();
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--entries")) entries = std::stoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--work")) work = argv[i + 1];
  }
  const fs::path dir = work / ("audit-search-bench-" + std::to_string(::getpid()));
  audit::AuditLogOptions options;
  options.directory = dir;
  options.durable = false;
  auto opened = audit::AuditLog::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  auto& log = *opened.value();
  const auto fill_start = Clock::now();
  std::deque<std::future<base::Result<int64_t>>> in_flight;
  for (int64_t n = 0; n < entries; ++n) {
    in_flight.push_back(log.AppendAsync(Entry(n, entries)));
    if (in_flight.size() >= 4096) {
      in_flight.front().get();
      in_flight.pop_front();
    }
  }
  while (!in_flight.empty()) {
    in_flight.front().get();
    in_flight.pop_front();
  }
  const double fill_s = std::chrono::duration<double>(Clock::now() - fill_start).count();
  const int64_t indexed_at_fill = log.indexed_seq();
  // The index follows on its own thread; the searches are timed once it has caught up (before,
  // the entries it has not reached are read directly, which is slower).
  while (!log.WaitIndexed(log.head_seq(), std::chrono::seconds(10))) {
  }
  const double indexed_s = std::chrono::duration<double>(Clock::now() - fill_start).count();
  std::printf(
      "filled %lld entries in %.1f s (%.0f entries/s, not synced; the index had reached %lld), "
      "all indexed after %.1f s (%.0f entries/s)\n",
      static_cast<long long>(entries), fill_s, entries / fill_s,
      static_cast<long long>(indexed_at_fill), indexed_s, entries / indexed_s);
  std::printf("audit.db %.0f MB, audit-search.db %.0f MB\n", fs::file_size(dir / "audit.db") / 1e6,
              fs::file_size(dir / "audit-search.db") / 1e6);

  audit::AuditSearch search(dir);
  auto time = [&](const char* name, audit::AuditQuery query) {
    query.count = 50;
    search.Find(query);  // a warm connection
    constexpr int kRuns = 20;
    size_t found = 0;
    const auto start = Clock::now();
    for (int i = 0; i < kRuns; ++i) {
      auto hits = search.Find(query);
      found = hits.ok() ? hits->size() : 0;
    }
    const double ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count() / kRuns;
    std::printf("%-48s %6.2f ms per first page (%zu entries)\n", name, ms, found);
  };
  time("patient=patient-4242", {{{"p|patient-4242"}}});
  time("agent (user:clinician77)", {{{"a|user:clinician77"}}});
  time("altid=clinician77&subtype=read", {{{"l|clinician77"}, {"s|read"}}});
  time("outcome=4 (1%)", {{{"o|4"}}});
  time("subtype=110122 (sign-ins, 0.1%)", {{{"s|110122"}}});
  audit::AuditQuery day;
  day.from_ms = kStartMs + 12 * 3600000;
  day.to_ms = kStartMs + 13 * 3600000;
  time("date=2026-12-01T12 (an hour, no other key)", day);
  audit::AuditQuery early;
  early.from_ms = kStartMs;
  early.to_ms = kStartMs + 600000;
  time("date: the first 10 minutes of the day", early);
  audit::AuditQuery patient_day = day;
  patient_day.all_of = {{"p|patient-4242"}};
  time("patient=patient-4242&date=(an hour)", patient_day);
  time("entity-type=Patient&outcome=4", {{{"e|Patient"}, {"o|4"}}});

  // Paging through every entry of the busiest user with next cursors.
  audit::AuditQuery pages{{{"a|user:clinician77"}}};
  pages.count = 100;
  int64_t total = 0, page_count = 0;
  const auto start = Clock::now();
  for (;;) {
    auto hits = search.Find(pages);
    if (!hits.ok() || hits->empty()) break;
    const bool more = static_cast<int64_t>(hits->size()) > pages.count;
    if (more) hits->pop_back();
    total += static_cast<int64_t>(hits->size());
    ++page_count;
    pages.before_time_ms = hits->back().record.time_ms;
    pages.before_seq = hits->back().seq;
    if (!more) break;
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  std::printf("agent user:clinician77: %lld entries in %lld pages of 100, %.2f ms per page\n",
              static_cast<long long>(total), static_cast<long long>(page_count),
              page_count ? ms / page_count : 0.0);
  log.Close();

  // The index's integrity (hostile 5b finding 11): what the row count at start costs, what
  // `audit verify`'s comparison of the index with the log costs, and a rebuild after rows were
  // removed behind the indexer's back.
  audit::AuditLogOptions reopen = options;
  auto timed_open = [&](const char* what) {
    const auto open_start = Clock::now();
    auto again = audit::AuditLog::Open(reopen);
    const double s = std::chrono::duration<double>(Clock::now() - open_start).count();
    if (!again.ok()) {
      std::fprintf(stderr, "%s\n", again.error().message.c_str());
      return;
    }
    std::printf("%-48s %6.2f s\n", what, s);
    again.value()->Close();
  };
  timed_open("AuditLog::Open, index whole (counted)");
  const auto verify_start = Clock::now();
  auto verified = audit::VerifyAuditSearchIndex(dir);
  const double verify_s = std::chrono::duration<double>(Clock::now() - verify_start).count();
  std::printf("audit verify's index check: %s, %.1f s (%.0f entries/s)\n",
              verified.ok() ? verified->Summary().c_str() : verified.error().message.c_str(),
              verify_s, entries / verify_s);
  {
    sqlite3* index = nullptr;
    if (sqlite3_open((dir / "audit-search.db").c_str(), &index) == SQLITE_OK) {
      sqlite3_exec(index, "DELETE FROM audit_search WHERE key = 'p|patient-4242'", nullptr, nullptr,
                   nullptr);
    }
    sqlite3_close(index);
  }
  timed_open("AuditLog::Open, rows removed (rebuilt)");
  {
    // An index of an older format (what the first start after an upgrade finds) is rebuilt too.
    sqlite3* index = nullptr;
    if (sqlite3_open((dir / "audit-search.db").c_str(), &index) == SQLITE_OK) {
      sqlite3_exec(index, "UPDATE audit_search_state SET format = 1", nullptr, nullptr, nullptr);
    }
    sqlite3_close(index);
  }
  timed_open("AuditLog::Open, index of format 1 (rebuilt)");
  log.Close();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
