// End-to-end benchmarks of the FHIR server on the embedded store, printing figures and the
// issue's goals beside them: ingest, small concurrent transactions, read by id, patient search
// at two sizes, $everything, stored bytes per resource, and the disk's fsync rate.
//
//   build/bench/fhir_server_bench --synthea ../shared/data/synthea-r4 [--large 64000]
//                                 [--copies 4] [--loaders 2] [--only ingest|search]
//
// Every store is durable (synchronous=FULL: a commit is on disk before its response) except
// where a line says the data was bulk-built without fsync to save time; the measured requests
// then run on a durable store.

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "access/access_context.h"
#include "http/client.h"
#include "http/fhir_routes.h"
#include "http/server.h"
#include "interactions/fhir_json.h"
#include "interactions/fhir_service.h"
#include "interactions/write_preparation.h"
#include "store/store.h"

namespace {

using namespace carerecord;
namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Percentiles {
  double p50_ms, p99_ms;
};
Percentiles Summarise(std::vector<double> micros) {
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) {
    return micros.empty() ? 0.0 : micros[std::min(micros.size() - 1, size_t(q * micros.size()))];
  };
  return {at(0.50) / 1000.0, at(0.99) / 1000.0};
}

void Line(const std::string& what, const std::string& figure, const std::string& goal) {
  std::printf("  %-58s %-28s %s\n", what.c_str(), figure.c_str(), goal.c_str());
  std::fflush(stdout);
}
std::string Fmt(const char* format, double a, double b = 0, double c = 0) {
  char buffer[128];
  std::snprintf(buffer, sizeof buffer, format, a, b, c);
  return buffer;
}

// User and system CPU time of the whole process so far (server and loaders alike).
double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double FsyncRate(const fs::path& dir) {
  fs::path file = dir / "fsync-probe";
  int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd < 0) return 0;
  std::string block(4096, 'x');
  auto start = Clock::now();
  int n = 0;
  while (Seconds(start) < 2.0) {
    if (::write(fd, block.data(), block.size()) < 0) break;
    ::fdatasync(fd);
    ++n;
  }
  double rate = n / Seconds(start);
  ::close(fd);
  fs::remove(file);
  return rate;
}

struct Server {
  std::unique_ptr<store::Store> store;
  access::OpenPolicy policy;
  std::unique_ptr<interactions::FhirService> service;
  std::unique_ptr<http::FhirRoutes> routes;
  std::unique_ptr<http::HttpServer> http;
  uint16_t port = 0;

  explicit Server(const fs::path& dir, bool durable = true) {
    store::SqliteOptions options;
    options.directory = dir.string();
    options.durable = durable;
    // A connection for every thread that may read at once (io threads, 80 workers, large-body
    // threads), as `serve` sizes it, so that none waits for one.
    options.reader_connections = 2 + 80 + 2 + 2;
    store = std::move(store::OpenSqliteStore(options)).value();
    service = std::make_unique<interactions::FhirService>(*store, policy, nullptr);
  }
  void Listen() {
    routes = std::make_unique<http::FhirRoutes>(*service, http::FhirRouteOptions{});
    http::ServerOptions options;
    options.max_body_bytes = 64 << 20;
    options.worker_threads = 80;
    options.io_threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()) - 1);
    options.runs_on_io_thread = &http::FhirRoutes::IsQuickRead;
    http = std::make_unique<http::HttpServer>(
        options,
        [this](const http::HttpRequest& r) {
          access::AccessContext who;  // measures the store and the service: no token to check
          who.principal = "system:bench";
          return routes->Handle(r, who);
        },
        [](int status, std::string message, std::string_view) {
          return http::FhirRoutes::ErrorResponse(status, message);
        });
    port = http->Start().value();
  }
  ~Server() {
    if (http) http->Stop();
    http.reset();
    store->Close();
  }
};

interactions::RequestContext LoadContext() {
  interactions::RequestContext ctx;
  ctx.who.principal = "bench";
  ctx.base_url = "http://localhost/fhir";
  ctx.prefer_return = interactions::PreferReturn::kMinimal;
  return ctx;
}

// 1 and 6: Synthea patient bundles as transactions, `copies` times over, from `loaders` threads.
void BenchIngest(const fs::path& synthea, const fs::path& dir, int copies, int loaders,
                 std::vector<std::string>& observation_ids, std::string& big_patient) {
  Server server(dir);
  std::vector<std::string> providers, patients;
  for (const auto& entry : fs::directory_iterator(synthea)) {
    if (entry.path().extension() != ".json") continue;
    (entry.path().filename().string().rfind("0-", 0) == 0 ? providers : patients)
        .push_back(entry.path().string());
  }
  std::sort(providers.begin(), providers.end());
  std::sort(patients.begin(), patients.end());
  auto ctx = LoadContext();
  for (const auto& p : providers) server.service->ProcessBundle(ctx, ReadFile(p));
  std::vector<std::string> bodies;
  size_t resources_per_pass = 0;
  for (const auto& p : patients) {
    bodies.push_back(ReadFile(p));
    resources_per_pass += json::parse(bodies.back()).as_object()["entry"].as_array().size();
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  size_t total = bodies.size() * copies;
  const double cpu_start = CpuSeconds();
  auto start = Clock::now();
  std::vector<std::thread> threads;
  // The first copy's responses, read after the clock stops: the ids the later benchmarks use.
  std::vector<std::string> first_responses(bodies.size());
  for (int t = 0; t < loaders; ++t) {
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < total;) {
        auto response = server.service->ProcessBundle(ctx, bodies[i % bodies.size()]);
        if (response.status != 200) {
          failed = true;
          std::cerr << response.body.substr(0, 500) << "\n";
          continue;
        }
        if (i < bodies.size()) first_responses[i] = std::move(response.body);
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = Seconds(start);
  const double cpu = CpuSeconds() - cpu_start;
  size_t most = 0;
  for (const std::string& body : first_responses) {
    if (body.empty()) continue;
    auto result = json::parse(body).as_object();
    std::string patient;
    size_t count = 0;
    for (auto& e : result["entry"].as_array()) {
      std::string location(e.as_object()["response"].as_object()["location"].as_string());
      if (location.rfind("Observation/", 0) == 0) {
        observation_ids.push_back(location.substr(12, location.find('/', 12) - 12));
      }
      if (location.rfind("Patient/", 0) == 0)
        patient = location.substr(8, location.find('/', 8) - 8);
      ++count;
    }
    // The patient whose record is closest to 1,000 resources.
    if (big_patient.empty() || (count <= 1200 && count > most)) {
      most = count;
      big_patient = patient;
    }
  }
  size_t resources = resources_per_pass * copies;
  Line(Fmt("1. ingest, Synthea transactions (%.0f resources, %.0f loaders)", double(resources),
           double(loaders)),
       Fmt("%.0f resources/s (%.0f us CPU each)", resources / seconds, cpu * 1e6 / resources),
       ">= 10,000/s (HAPI 2,214/s on 8 vCPU)");
  if (failed) Line("   (some bundles failed: see stderr)", "", "");
  auto stats = server.store->Stats().value();
  Line(Fmt("6. stored bytes per resource (%.0f resources, %.0f MB)", double(stats.resources),
           stats.bytes / 1e6),
       Fmt("%.0f bytes", double(stats.bytes) / stats.resources), "<= 1,000 bytes");
}

// 2: 64 clients each posting a transaction of a Patient and an Observation.
void BenchSmallTransactions(Server& server) {
  constexpr int kClients = 64;
  constexpr double kSeconds = 5.0;
  std::vector<std::vector<double>> latencies(kClients);
  std::atomic<size_t> errors{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      http::HttpClient client("127.0.0.1", server.port);
      int n = 0;
      while (Seconds(start) < kSeconds) {
        std::string uuid =
            "urn:uuid:00000000-0000-4000-8000-" + std::to_string(1000000000000 + c * 1000000 + n++);
        std::string body =
            R"({"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":")" + uuid +
            R"(","resource":{"resourceType":"Patient","name":[{"family":"Bench","given":["Load"]}],"birthDate":"1980-01-01"},"request":{"method":"POST","url":"Patient"}},{"resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":")" +
            uuid +
            R"("},"effectiveDateTime":"2024-01-01T10:00:00Z","valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}},"request":{"method":"POST","url":"Observation"}}]})";
        auto t0 = Clock::now();
        auto response = client.Send(
            "POST", "/fhir",
            {{"Content-Type", "application/fhir+json"}, {"Prefer", "return=minimal"}}, body);
        latencies[c].push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        if (!response.ok() || response->status != 200) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = Seconds(start);
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  auto p = Summarise(all);
  Line("2. small transactions (Patient+Observation), 64 clients",
       Fmt("%.0f tx/s, p50 %.1f ms", all.size() / seconds, p.p50_ms), ">= 3,000 tx/s");
  if (errors) Line(Fmt("   errors: %.0f", double(errors)), "", "");
}

struct WrkFigures {
  bool ok = false;
  std::string rps, p50, p99;
};

// Runs wrk (the HTTP load generator) for `seconds` with `connections` keep-alive connections.
WrkFigures RunWrk(int connections, int seconds, const std::string& url,
                  const std::string& script = {}) {
  std::string command = "wrk -t" + std::to_string(std::min(connections, 2)) + " -c" +
                        std::to_string(connections) + " -d" + std::to_string(seconds) +
                        "s --latency " + (script.empty() ? "" : "-s " + script + " ") + "'" + url +
                        "' 2>&1";
  WrkFigures figures;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return figures;
  std::string output;
  char buffer[512];
  while (fgets(buffer, sizeof buffer, pipe)) output += buffer;
  figures.ok = pclose(pipe) == 0 && output.find("Non-2xx") == std::string::npos;
  auto grab = [&](const std::string& key) {
    size_t at = output.find(key);
    if (at == std::string::npos) return std::string("?");
    std::istringstream in(output.substr(at + key.size()));
    std::string value;
    in >> value;
    return value;
  };
  figures.rps = grab("Requests/sec:");
  figures.p50 = grab(" 50%");
  figures.p99 = grab(" 99%");
  return figures;
}

// 3: read by id, 32 keep-alive clients.
void BenchRead(Server& server, const std::vector<std::string>& ids, const fs::path& dir) {
  fs::path script = dir / "read.lua";
  {
    std::ofstream lua(script);
    lua << "local ids = {";
    for (size_t i = 0; i < std::min<size_t>(ids.size(), 5000); ++i) lua << "\"" << ids[i] << "\",";
    lua << "}\nlocal n = 0\nrequest = function()\n  n = n + 1\n"
           "  return wrk.format(\"GET\", \"/fhir/Observation/\" .. ids[(n % #ids) + 1])\nend\n";
  }
  auto figures = RunWrk(32, 8, "http://127.0.0.1:" + std::to_string(server.port), script.string());
  if (!figures.ok) {
    Line("3. read by id: wrk failed or is not installed", "", "");
    return;
  }
  Line("3. read by id over HTTP, 32 keep-alive clients (wrk)",
       figures.rps + " req/s, p50 " + figures.p50 + ", p99 " + figures.p99,
       ">= 20,000 req/s, p99 < 2 ms");
}

// 5: $everything?_count=1000 for one patient, whole body received (wrk reads every byte).
void BenchEverything(Server& server, const std::string& patient) {
  http::HttpClient client("127.0.0.1", server.port);
  std::string target = "/fhir/Patient/" + patient + "/$everything?_count=1000";
  auto first = client.Send("GET", target);
  size_t entries = first.ok() ? json::parse(first->body).as_object()["entry"].as_array().size() : 0;
  size_t bytes = first.ok() ? first->body.size() : 0;
  std::string url = "http://127.0.0.1:" + std::to_string(server.port) + target;
  auto latency = RunWrk(1, 5, url);
  auto throughput = RunWrk(2, 5, url);
  Line(Fmt("5. Patient/$everything?_count=1000 (%.0f resources, %.1f MB)", double(entries),
           bytes / 1e6),
       "p50 " + latency.p50 + ", p99 " + latency.p99 + ", " + throughput.rps + " req/s",
       "p50 <= 5 ms, >= 250 req/s");
}

// 4: a store of `patients` patients, each a Synthea Patient and its first 40 Observations,
// built directly through PrepareWrite and Store::Commit; then Observation?patient=X&code=Y.
Percentiles BenchSearchAt(const fs::path& synthea, const fs::path& dir, int patients) {
  std::string template_text = ReadFile(synthea / "098fc002-b87e-49dc-4b8e-8900a1bc8661.json");
  json::object bundle = json::parse(template_text).as_object();
  json::object patient_template;
  std::vector<json::object> observation_templates;
  for (auto& e : bundle["entry"].as_array()) {
    json::object& resource = e.as_object()["resource"].as_object();
    if (resource["resourceType"] == "Patient") patient_template = resource;
    if (resource["resourceType"] == "Observation" && observation_templates.size() < 40) {
      resource.erase("encounter");
      observation_templates.push_back(resource);
    }
  }
  std::vector<std::string> codes;
  for (auto& o : observation_templates) {
    codes.emplace_back(
        o["code"].as_object()["coding"].as_array()[0].as_object()["code"].as_string());
  }
  auto build_start = Clock::now();
  {
    Server builder(dir, /*durable=*/false);
    int64_t now = 1700000000000;
    const int kPerTransaction = 50;
    std::atomic<int> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&] {
        for (int first; (first = next.fetch_add(kPerTransaction)) < patients;) {
          store::WriteTransaction tx;
          tx.provenance = {"bench", "", now};
          for (int p = first; p < std::min(patients, first + kPerTransaction); ++p) {
            std::string pid = "p" + std::to_string(p);
            json::object patient = patient_template;
            auto write =
                interactions::PrepareWrite(patient, {"Patient", pid, 1, "PUT", now, ""}, nullptr);
            tx.writes.push_back(std::move(write).value());
            for (size_t o = 0; o < observation_templates.size(); ++o) {
              json::object observation = observation_templates[o];
              observation["subject"] = json::object{{"reference", "Patient/" + pid}};
              auto w = interactions::PrepareWrite(
                  observation, {"Observation", pid + "-o" + std::to_string(o), 1, "PUT", now, ""},
                  nullptr);
              tx.writes.push_back(std::move(w).value());
            }
          }
          auto committed = builder.store->Commit(std::move(tx));
          if (!committed.ok()) std::cerr << committed.error().message << "\n";
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  double build_seconds = Seconds(build_start);
  Server server(dir);
  server.Listen();
  http::HttpClient client("127.0.0.1", server.port);
  std::mt19937_64 random(42);
  std::vector<double> latencies;
  size_t matches = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string pid = "p" + std::to_string(random() % patients);
    const std::string& code = codes[random() % codes.size()];
    std::string target = "/fhir/Observation?patient=" + pid + "&code=http://loinc.org|" + code;
    auto t0 = Clock::now();
    auto response = client.Send("GET", target);
    latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (!response.ok() || response->status != 200) {
      std::cerr << "search failed: " << (response.ok() ? response->body : response.error().message)
                << "\n";
      break;
    }
    if (response->body.find("\"entry\"") != std::string::npos) ++matches;
  }
  auto p = Summarise(latencies);
  Line(Fmt("4. Observation?patient=X&code=Y at %.0f patients (%.0f resources)", patients,
           patients * (1.0 + observation_templates.size())),
       Fmt("p50 %.2f ms, p99 %.2f ms", p.p50_ms, p.p99_ms),
       Fmt("(built in %.0f s without fsync; %.0f%% of searches matched)", build_seconds,
           100.0 * matches / latencies.size()));
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path synthea = "../shared/data/synthea-r4";
  fs::path work = fs::current_path() / "bench-data";
  int large = 64000;
  int small = 1000;
  int copies = 4;
  int loaders = 2;   // concurrent feeds posting transaction bundles
  std::string only;  // "ingest": benchmarks 0, 1 and 6 alone; "search": 4 alone
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--synthea") synthea = argv[i + 1];
    if (flag == "--work") work = argv[i + 1];
    if (flag == "--large") large = std::stoi(argv[i + 1]);
    if (flag == "--copies") copies = std::stoi(argv[i + 1]);
    if (flag == "--only") only = argv[i + 1];
    if (flag == "--loaders") loaders = std::stoi(argv[i + 1]);
  }
  if (!fs::exists(synthea)) {
    std::cerr << "no Synthea data at " << synthea << " (use --synthea DIR)\n";
    return 2;
  }
  fs::remove_all(work);
  fs::create_directories(work);
  std::printf("carerecord benchmarks (%u cores; figures, then the goal)\n",
              std::thread::hardware_concurrency());
  double fsyncs = FsyncRate(work);
  Line("0. disk fsync rate (4 KiB write + fdatasync)", Fmt("%.0f fsyncs/s", fsyncs), "");

  std::vector<std::string> observation_ids;
  std::string big_patient;
  if (only == "search") {  // benchmark 4 alone
    auto small_only = BenchSearchAt(synthea, work / "search-small", small);
    auto large_only = BenchSearchAt(synthea, work / "search-large", large);
    Line("4. search growth from 1,000 to the large size (p50 ratio)",
         Fmt("%.2fx", large_only.p50_ms / small_only.p50_ms), "<= 1.5x, p50 <= 2 ms");
    fs::remove_all(work);
    return 0;
  }
  BenchIngest(synthea, work / "ingest", copies, loaders, observation_ids, big_patient);
  if (only == "ingest") {
    fs::remove_all(work);
    return 0;
  }
  {
    Server server(work / "ingest");
    server.Listen();
    BenchSmallTransactions(server);
    std::shuffle(observation_ids.begin(), observation_ids.end(), std::mt19937_64(7));
    BenchRead(server, observation_ids, work);
    BenchEverything(server, big_patient);
  }
  auto at_small = BenchSearchAt(synthea, work / "search-small", small);
  auto at_large = BenchSearchAt(synthea, work / "search-large", large);
  Line("4. search growth from 1,000 to the large size (p50 ratio)",
       Fmt("%.2fx", at_large.p50_ms / at_small.p50_ms), "<= 1.5x, p50 <= 2 ms");
  fs::remove_all(work);
  return 0;
}
