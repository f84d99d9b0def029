// What the region's policy and the durable audit cost a clinician's reads, measured in one run
// against the same build (issue 20's benchmark): two servers in this process over one store,
// - "governed": the region's default policy (inside the scope check) and every request's audit
//   entry made durable in DIR/audit.db before the answer (group commit), as `serve` runs;
// - "permissive": a policy that admits everything and an in-memory audit sink that builds the
//   same entry and keeps it in memory.
// Each answers a clinician of BENCH1 (a pre-verified identity: the token's cost is gate_bench's),
// whose organisation manages every patient. Two workloads under wrk (1 thread, 32 keep-alive
// connections): GET /fhir/Observation/{id}, and GET /fhir/Observation?patient=P&code=C.
// Rounds alternate. Each run prints this process's (the servers') CPU time per request, which
// decides throughput on a CPU-bound machine and is less noisy than req/s on a shared one. Also
// printed: what one fdatasync costs on this disk, since 32 connections that each wait for a sync
// can make at most 32 / sync-time requests a second.
//
//   build/bench/audited_read_bench [--patients 500] [--seconds 6] [--rounds 3] [--split]

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "access/region_access_policy.h"
#include "access/region_policy.h"
#include "access/scope_policy.h"
#include "audit/audit_log.h"
#include "audit/audit_log_sink.h"
#include "http/fhir_routes.h"
#include "http/server.h"
#include "interactions/fhir_service.h"
#include "store/store.h"
#include "wrk_run.h"

namespace {

using namespace carerecord;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The same entry a durable sink would write, built and kept in memory (the last 100,000).
class InMemoryAuditSink final : public access::RequestAuditLog {
 public:
  base::Status Append(const access::AuditedRequest& request) override {
    audit::AuditRecord record = audit::RecordOfRequest(request);
    std::lock_guard lock(mutex_);
    kept_.push_back(std::move(record));
    if (kept_.size() > 100000) kept_.pop_front();
    return base::Status::Ok();
  }

 private:
  std::mutex mutex_;
  std::deque<audit::AuditRecord> kept_;
};

// The mean time of a 4 KiB write and fdatasync on a preallocated file in `dir`.
double SyncMillis(const fs::path& dir) {
  const fs::path file = dir / "sync-probe";
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return 0;
  const int n = 200;
  std::string page(4096, 'x');
  (void)::posix_fallocate(fd, 0, static_cast<off_t>(n) * 4096);
  (void)::fsync(fd);
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    (void)::pwrite(fd, page.data(), page.size(), static_cast<off_t>(i) * 4096);
    (void)::fdatasync(fd);
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count() / n;
  ::close(fd);
  fs::remove(file);
  return ms;
}

// CPU seconds (user + sys) of this process's threads by name (/proc/self/task/*/stat): the audit
// threads (cr-audit, cr-audit-index, cr-checkpoint) apart from the rest.
std::map<std::string, double> ThreadCpuSeconds() {
  std::map<std::string, double> out;
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/self/task", ec)) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::string name = stat.substr(open + 1, close - open - 1);
    if (!name.starts_with("cr-audit") && name != "cr-checkpoint") name = "other";
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14) utime = std::atof(field.c_str());
      if (i == 15) stime = std::atof(field.c_str());
    }
    out[name] += (utime + stime) / tick;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int patients = 500, seconds = 6, rounds = 3;
  bool split = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--split") {
      split = true;
    } else if (i + 1 < argc && flag == "--patients") {
      patients = std::stoi(argv[++i]);
    } else if (i + 1 < argc && flag == "--seconds") {
      seconds = std::stoi(argv[++i]);
    } else if (i + 1 < argc && flag == "--rounds") {
      rounds = std::stoi(argv[++i]);
    } else {
      std::cerr << "unknown or incomplete flag " << flag << "\n";
      return 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  const fs::path work = fs::current_path() / "audited-read-bench-data";
  fs::remove_all(work);
  fs::create_directories(work);

  store::SqliteOptions store_options;
  store_options.directory = work.string();
  store_options.reader_connections = 2 * 64 + 8;
  auto opened = store::OpenSqliteStore(store_options);
  if (!opened.ok()) {
    std::cerr << opened.error().message << "\n";
    return 1;
  }
  auto store = std::move(opened).value();

  auto region = std::make_shared<const access::RegionPolicy>(access::DefaultRegionPolicy());
  access::RegionAccessPolicy region_policy(region);
  access::ScopeLimitedPolicy governed_policy(region_policy);
  access::OpenPolicy open_policy;
  access::ScopeLimitedPolicy permissive_policy(open_policy);
  interactions::FhirService governed_service(*store, governed_policy, nullptr);
  interactions::FhirService permissive_service(*store, permissive_policy, nullptr);

  // Patients managed by BENCH1, each with 4 weights and 4 heart rates.
  interactions::RequestContext load;
  load.who.principal = "system:bench";
  load.base_url = "urn:carerecord:local";
  load.prefer_return = interactions::PreferReturn::kMinimal;
  const char* kOds = "https://fhir.nhs.uk/Id/ods-organization-code";
  std::vector<std::string> observation_ids, patient_ids;
  for (int p = 0; p < patients; ++p) {
    const std::string pid = "pat-" + std::to_string(p);
    auto made = governed_service.Update(
        load, "Patient", pid,
        R"({"resourceType":"Patient","id":")" + pid + R"(","name":[{"family":"Bench","given":["P)" +
            std::to_string(p) + R"("]}],"managingOrganization":{"identifier":{"system":")" + kOds +
            R"(","value":"BENCH1"}}})",
        "");
    if (made.status >= 300) {
      std::cerr << "loading failed: " << made.body << "\n";
      return 1;
    }
    patient_ids.push_back(pid);
    for (int o = 0; o < 8; ++o) {
      const std::string id = pid + "-obs-" + std::to_string(o);
      const char* code = o % 2 ? "8867-4" : "29463-7";
      auto response = governed_service.Update(
          load, "Observation", id,
          R"({"resourceType":"Observation","id":")" + id +
              R"(","status":"final","subject":{"reference":"Patient/)" + pid +
              R"("},"code":{"coding":[{"system":"http://loinc.org","code":")" + code +
              R"("}]},"valueQuantity":{"value":)" + std::to_string(60 + o) + R"(,"unit":"kg"}})",
          "");
      if (response.status >= 300) {
        std::cerr << "loading failed: " << response.body << "\n";
        return 1;
      }
      observation_ids.push_back(id);
    }
  }

  audit::AuditLogOptions audit_options;
  audit_options.directory = work;
  auto audit_log = audit::AuditLog::Open(audit_options);
  if (!audit_log.ok()) {
    std::cerr << audit_log.error().message << "\n";
    return 1;
  }
  audit::AuditLogRequestSink durable_sink(*audit_log.value());
  InMemoryAuditSink memory_sink;
  http::FhirRoutes governed_routes(governed_service, {"", &durable_sink});
  http::FhirRoutes permissive_routes(permissive_service, {"", &memory_sink});
  // --split: which of the two costs what (the policy with the in-memory sink; the permissive
  // policy with the durable audit).
  http::FhirRoutes policy_only_routes(governed_service, {"", &memory_sink});
  http::FhirRoutes audit_only_routes(permissive_service, {"", &durable_sink});

  auto scopes =
      std::make_shared<const access::ScopeSet>(access::ScopeSet::Parse("user/*.rs").value());
  access::AccessContext clinician;
  clinician.kind = access::PrincipalKind::kUser;
  clinician.principal = "user:bench-clinician";
  clinician.user = "bench-clinician";
  clinician.client_id = "bench-app";
  clinician.organisation = "BENCH1";
  clinician.role = "clinician";
  clinician.fhir_user = "Practitioner/bench-clinician";
  clinician.scopes = scopes;

  // As `serve` runs them: a read by id on the io thread, a search on the worker pool; the
  // answer is sent once its entry is durable, and no thread waits for the sync.
  http::ServerOptions options;
  options.io_threads = 1;
  options.worker_threads = 32;
  options.runs_on_io_thread = &http::FhirRoutes::IsQuickRead;
  auto error = [](int status, std::string message, std::string_view) {
    return http::FhirRoutes::ErrorResponse(status, message);
  };
  http::HttpServer governed(
      options,
      [&](const http::HttpRequest& r) { return governed_routes.HandleDeferred(r, clinician); },
      error);
  http::HttpServer permissive(
      options,
      [&](const http::HttpRequest& r) { return permissive_routes.HandleDeferred(r, clinician); },
      error);
  http::HttpServer policy_only(
      options,
      [&](const http::HttpRequest& r) { return policy_only_routes.HandleDeferred(r, clinician); },
      error);
  http::HttpServer audit_only(
      options,
      [&](const http::HttpRequest& r) { return audit_only_routes.HandleDeferred(r, clinician); },
      error);
  const uint16_t governed_port = governed.Start().value();
  const uint16_t policy_port = split ? policy_only.Start().value() : 0;
  const uint16_t audit_port = split ? audit_only.Start().value() : 0;
  const uint16_t permissive_port = permissive.Start().value();

  std::string ids_lua = "local ids = {";
  for (const std::string& id : observation_ids) ids_lua += "\"" + id + "\",";
  ids_lua += "}\nlocal patients = {";
  for (const std::string& id : patient_ids) ids_lua += "\"" + id + "\",";
  ids_lua += "}\nlocal n = 0\n";
  const fs::path by_id = work / "read.lua", search = work / "search.lua";
  bench::WriteScript(by_id, ids_lua +
                                "request = function()\n  n = n + 1\n  return wrk.format(\"GET\", "
                                "\"/fhir/Observation/\" .. ids[(n % #ids) + 1])\nend\n");
  bench::WriteScript(search,
                     ids_lua +
                         "request = function()\n  n = n + 1\n  return wrk.format(\"GET\", "
                         "\"/fhir/Observation?patient=\" .. patients[(n % #patients) + 1] .. "
                         "\"&code=http://loinc.org|8867-4\")\nend\n");

  // One run under wrk, its CPU per request counted until the search index has caught up with
  // the entries the run made (the index's thread works behind the requests: its rounds would
  // otherwise fall into the next run's figure).
  audit::AuditLog& log = *audit_log.value();
  // Also the entries per commit of the durable audit in the run (0 when it wrote none), and the
  // CPU per request of the audit's threads ("cr-audit 12.3 cr-audit-index 4.5 ...").
  double per_commit = 0;
  std::string by_thread;
  auto Measured = [&](int run_seconds, uint16_t port, const fs::path& script) {
    const double cpu = bench::ProcessCpuSeconds();
    const std::map<std::string, double> threads_before = ThreadCpuSeconds();
    const audit::AuditLog::CommitCounts before = log.commit_counts();
    bench::WrkRun run = bench::RunWrk(run_seconds, port, script);
    log.WaitIndexed(log.head_seq(), std::chrono::seconds(30));
    if (run.ok) run.cpu_us = (bench::ProcessCpuSeconds() - cpu) * 1e6 / (run.rps * run_seconds);
    const audit::AuditLog::CommitCounts after = log.commit_counts();
    per_commit = after.commits > before.commits
                     ? static_cast<double>(after.entries - before.entries) /
                           static_cast<double>(after.commits - before.commits)
                     : 0;
    by_thread.clear();
    if (run.ok) {
      for (const auto& [name, seconds_after] : ThreadCpuSeconds()) {
        auto was = threads_before.find(name);
        const double used = seconds_after - (was == threads_before.end() ? 0 : was->second);
        char text[64];
        std::snprintf(text, sizeof text, "%s%s %.1f", by_thread.empty() ? "" : " ", name.c_str(),
                      used * 1e6 / (run.rps * run_seconds));
        by_thread += text;
      }
    }
    return run;
  };

  const double sync_ms = SyncMillis(work);
  std::printf(
      "audited_read_bench: clinician reads, wrk -t1 -c32 -d%ds, %d patients, %zu Observations, "
      "%u cores\n  one 4 KiB write + fdatasync here: %.2f ms (32 connections each waiting for a "
      "sync: at most ~%.0f req/s)\n",
      seconds, patients, observation_ids.size(), std::thread::hardware_concurrency(), sync_ms,
      sync_ms > 0 ? 32 / (sync_ms / 1000) : 0.0);
  for (auto [name, script] :
       {std::pair{"read by id", by_id}, {"Observation?patient&code", search}}) {
    bench::RunWrk(2, permissive_port, script);  // warm up both
    bench::RunWrk(2, governed_port, script);
    double sum_ratio = 0, worst_p99 = 0, sum_open_cpu = 0, sum_gov_cpu = 0;
    for (int round = 1; round <= rounds; ++round) {
      bench::WrkRun open = Measured(seconds, permissive_port, script);
      bench::WrkRun gov = Measured(seconds, governed_port, script);
      const double gov_per_commit = per_commit;
      const std::string gov_threads = by_thread;
      if (!open.ok || !gov.ok || open.non_2xx || gov.non_2xx) {
        std::fprintf(stderr, "wrk failed or saw errors (non-2xx %ld / %ld)\n", open.non_2xx,
                     gov.non_2xx);
        return 1;
      }
      std::printf(
          "  %s, round %d: permissive+memory %8.0f req/s p50 %.2f p99 %.2f ms %.1f us CPU | "
          "policy+durable audit %8.0f req/s p50 %.2f p99 %.2f ms %.1f us CPU | ratio %.3f "
          "(CPU %.3f), %.1f entries per commit\n    governed CPU us per request by thread: %s\n",
          name, round, open.rps, open.p50_ms, open.p99_ms, open.cpu_us, gov.rps, gov.p50_ms,
          gov.p99_ms, gov.cpu_us, gov.rps / open.rps, open.cpu_us / gov.cpu_us, gov_per_commit,
          gov_threads.c_str());
      sum_ratio += gov.rps / open.rps;
      sum_open_cpu += open.cpu_us;
      sum_gov_cpu += gov.cpu_us;
      worst_p99 = std::max(worst_p99, gov.p99_ms);
      std::fflush(stdout);
    }
    std::printf(
        "  %s: mean ratio %.3f (goal >= 0.80), worst p99 %.2f ms (goal < 5 ms); server CPU per "
        "request: permissive %.1f us, governed %.1f us (ratio %.3f)\n",
        name, sum_ratio / rounds, worst_p99, sum_open_cpu / rounds, sum_gov_cpu / rounds,
        sum_open_cpu / sum_gov_cpu);
    if (split) {
      bench::WrkRun policy = Measured(seconds, policy_port, script);
      bench::WrkRun audited = Measured(seconds, audit_port, script);
      std::printf(
          "  %s, split: policy+memory %8.0f req/s p99 %.2f ms %.1f us CPU | permissive+durable "
          "audit %8.0f req/s p99 %.2f ms %.1f us CPU\n",
          name, policy.rps, policy.p99_ms, policy.cpu_us, audited.rps, audited.p99_ms,
          audited.cpu_us);
    }
  }
  governed.Stop();
  permissive.Stop();
  if (split) {
    policy_only.Stop();
    audit_only.Stop();
  }
  audit_log.value()->Close();
  store->Close();
  fs::remove_all(work);
  return 0;
}
