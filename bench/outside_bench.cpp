// The real server measured from outside, as a client sees it: `carerecord serve` on a store
// loaded with the Synthea sample, driven by wrk (1 thread, 32 keep-alive connections), with a
// trivial epoll HTTP server in this process (a fixed 1 KiB body) measured in the same run as the
// baseline, so figures taken on a busy machine can still be compared as ratios.
//
//   build/bench/outside_bench [--carerecord build/carerecord] [--synthea ../shared/data/synthea-r4]
//                             [--io-threads 1,2] [--seconds 8] [--rounds 2]
//                             [--write-seconds 0] [--workers 64] [--only read|write]
//                             [--write-load bundles|observations]
//
// Part 1, read by id: for each --io-threads setting, `rounds` times, wrk against the baseline
// then against GET /fhir/Observation/{id} (1,000 ids in turn); req/s, p50, p99 of both and the
// ratios. Part 2 (when --write-seconds > 0), memory under writes: wrk posts the Synthea patient
// bundles as transactions (--write-load bundles) or PUTs small Observations (observations) on
// 64 connections for that long, printing the server's resident memory every 10 s.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "http/client.h"

namespace {

using namespace carerecord;
namespace fs = std::filesystem;
namespace json = boost::json;

// A single-threaded epoll HTTP/1.1 server answering every request with the same 1 KiB body:
// the most a server can do per request on this machine, as a yardstick for the real one.
class TrivialEpollServer {
 public:
  TrivialEpollServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(listen_fd_, 1024);
    socklen_t length = sizeof address;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    std::string body(1024, 'x');
    response_ = "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body;
    epoll_fd_ = ::epoll_create1(0);
    if (::pipe2(wake_pipe_, O_NONBLOCK) == 0) wake_fd_ = wake_pipe_[0];
    Watch(listen_fd_);
    Watch(wake_fd_);
    thread_ = std::thread([this] { Run(); });
  }
  ~TrivialEpollServer() {
    stop_ = true;
    char byte = 1;
    (void)::write(wake_pipe_[1], &byte, 1);
    thread_.join();
    for (auto& [fd, pending] : pending_) ::close(fd);
    ::close(listen_fd_);
    ::close(epoll_fd_);
    ::close(wake_pipe_[0]);
    ::close(wake_pipe_[1]);
  }
  uint16_t port() const { return port_; }

 private:
  void Watch(int fd) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }
  void Run() {
    epoll_event events[64];
    char buffer[16384];
    while (!stop_) {
      int n = ::epoll_wait(epoll_fd_, events, 64, 100);
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == wake_fd_) continue;
        if (fd == listen_fd_) {
          for (int client;
               (client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
            int one = 1;
            ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            pending_[client];
            Watch(client);
          }
          continue;
        }
        ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got <= 0) {
          ::close(fd);  // also leaves the epoll set
          pending_.erase(fd);
          continue;
        }
        // Answers once per complete header block; these requests have no body.
        std::string& pending = pending_[fd];
        pending.append(buffer, static_cast<size_t>(got));
        size_t answered = 0;
        std::string out;
        for (size_t end; (end = pending.find("\r\n\r\n", answered)) != std::string::npos;) {
          out += response_;
          answered = end + 4;
        }
        pending.erase(0, answered);
        if (!out.empty()) (void)::write(fd, out.data(), out.size());
      }
    }
  }

  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int wake_fd_ = -1;
  uint16_t port_ = 0;
  std::string response_;
  std::unordered_map<int, std::string> pending_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// `carerecord serve` in a child process; stopped with SIGTERM, as an operator would.
class ServeProcess {
 public:
  ServeProcess(const std::string& binary, const std::vector<std::string>& arguments) {
    int out[2];
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(binary.c_str()));
      for (const std::string& a : arguments) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      std::perror("exec carerecord");
      ::_exit(127);
    }
    ::close(out[1]);
    FILE* output = ::fdopen(out[0], "r");
    char line[512];
    while (output && std::fgets(line, sizeof line, output)) {  // "port N" once it listens
      if (std::strncmp(line, "port ", 5) == 0) {
        port_ = static_cast<uint16_t>(std::atoi(line + 5));
        break;
      }
    }
    // Keep draining its output so the server never blocks on a full pipe.
    drain_ = std::thread([output] {
      char rest[512];
      while (output && std::fgets(rest, sizeof rest, output)) {
      }
      if (output) std::fclose(output);
    });
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (drain_.joinable()) drain_.join();
  }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::thread drain_;
};

struct WrkFigures {
  bool ok = false;
  double rps = 0, p50_ms = 0, p99_ms = 0;
  long non_2xx = 0;
  double server_cpu_us = 0;  // the server's CPU time per request, set by the caller
};

// CPU seconds (user + system) used so far by process `pid`, or by this process when 0: less
// disturbed by other load on the machine than latency is.
double CpuSecondsOf(pid_t pid) {
  if (pid == 0) {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
  }
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::atof(field.c_str());  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// "845.00us", "5.49ms", "1.02s" -> milliseconds.
double WrkMillis(const std::string& text) {
  double value = std::atof(text.c_str());
  if (text.find("us") != std::string::npos) return value / 1000.0;
  if (text.find("ms") != std::string::npos) return value;
  if (text.find('s') != std::string::npos) return value * 1000.0;
  return value;
}

WrkFigures RunWrk(int connections, int seconds, uint16_t port, const fs::path& script,
                  const std::string& script_arguments = {}) {
  std::string command = "wrk -t1 -c" + std::to_string(connections) + " -d" +
                        std::to_string(seconds) + "s --latency " +
                        (script.empty() ? "" : "-s " + script.string() + " ") +
                        "http://127.0.0.1:" + std::to_string(port) + "/" +
                        (script_arguments.empty() ? "" : " --" + script_arguments) + " 2>&1";
  WrkFigures figures;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return figures;
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  figures.ok = ::pclose(pipe) == 0;
  auto grab = [&](const std::string& key) {
    size_t at = output.find(key);
    if (at == std::string::npos) return std::string();
    std::istringstream in(output.substr(at + key.size()));
    std::string value;
    in >> value;
    return value;
  };
  figures.rps = std::atof(grab("Requests/sec:").c_str());
  figures.p50_ms = WrkMillis(grab(" 50%"));
  figures.p99_ms = WrkMillis(grab(" 99%"));
  figures.non_2xx = std::atol(grab("Non-2xx or 3xx responses:").c_str());
  figures.ok = figures.ok && figures.rps > 0;
  return figures;
}

std::string Figures(const WrkFigures& f) {
  char text[128];
  std::snprintf(text, sizeof text, "%8.0f req/s  p50 %5.2f ms  p99 %6.2f ms  %5.1f us CPU%s", f.rps,
                f.p50_ms, f.p99_ms, f.server_cpu_us, f.non_2xx ? "  (errors!)" : "");
  return text;
}

// A field of /proc/PID/status in KiB: VmRSS (all resident memory), RssAnon (the heap and
// SQLite's page caches) or RssFile (mapped files: readers map the database).
long StatusKiB(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return 0;
}

std::string MemoryLine(pid_t pid) {
  char text[96];
  std::snprintf(text, sizeof text, "%10.0f %10.0f %10.0f", StatusKiB(pid, "VmRSS") / 1024.0,
                StatusKiB(pid, "RssAnon") / 1024.0, StatusKiB(pid, "RssFile") / 1024.0);
  return text;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five;
  in >> one >> five;
  return one + " " + five;
}

std::vector<int> ParseList(const std::string& text) {
  std::vector<int> values;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) values.push_back(std::stoi(item));
  return values;
}

// An access token for a bench client (system/*.cruds) registered with the command line on
// `store` as an operator would, from the running server's token endpoint; empty on failure.
std::string BenchToken(const std::string& binary, const fs::path& store, uint16_t port) {
  const std::string data = " --data " + store.string();
  (void)std::system(
      (binary + " orgs add --ods BENCH1 --name Bench" + data + " >/dev/null 2>&1").c_str());
  FILE* pipe = ::popen((binary +
                        " clients add --name bench --org BENCH1 --role integration "
                        "--scope 'system/*.cruds' --secret" +
                        data + " 2>/dev/null")
                           .c_str(),
                       "r");
  if (!pipe) return "";
  std::string id, secret;
  char line[512];
  while (std::fgets(line, sizeof line, pipe)) {
    std::string text(line);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    if (text.rfind("client_id=", 0) == 0) id = text.substr(10);
    if (text.rfind("client_secret=", 0) == 0) secret = text.substr(14);
  }
  ::pclose(pipe);
  http::HttpClient client("127.0.0.1", port);
  auto response =
      client.Send("POST", "/auth/token", {{"Content-Type", "application/x-www-form-urlencoded"}},
                  "grant_type=client_credentials&client_id=" + id + "&client_secret=" + secret);
  if (!response.ok() || response->status != 200) return "";
  return std::string(json::parse(response->body).as_object().at("access_token").as_string());
}

// The ids of up to 1,000 stored Observations, read through the API.
std::vector<std::string> ObservationIds(uint16_t port, const std::string& token) {
  http::HttpClient client("127.0.0.1", port);
  auto response = client.Send("GET", "/fhir/Observation?_count=1000&_elements=id",
                              {{"Authorization", "Bearer " + token}});
  std::vector<std::string> ids;
  if (!response.ok() || response->status != 200) return ids;
  auto bundle = json::parse(response->body).as_object();
  for (auto& entry : bundle["entry"].as_array()) {
    ids.emplace_back(entry.as_object().at("resource").as_object().at("id").as_string());
  }
  return ids;
}

void BenchReadTails(const std::string& binary, const fs::path& store, const fs::path& work,
                    const std::vector<int>& io_threads, int seconds, int rounds) {
  TrivialEpollServer baseline;
  std::printf("read by id from outside: wrk -t1 -c32 -d%ds, %d round(s) per setting\n", seconds,
              rounds);
  for (int threads : io_threads) {
    ServeProcess server(binary,
                        {"serve", "--data", store.string(), "--http", "127.0.0.1:0", "--no-fsync",
                         "--io-threads", std::to_string(threads), "--token-ttl", "86400"});
    if (server.port() == 0) {
      std::fprintf(stderr, "carerecord serve did not start\n");
      return;
    }
    // Tokens live 300 s by default; --token-ttl is raised so that one outlives the run.
    const std::string token = BenchToken(binary, store, server.port());
    auto ids = ObservationIds(server.port(), token);
    if (ids.empty()) {
      std::fprintf(stderr, "no Observations in the store\n");
      return;
    }
    fs::path script = work / "read.lua";
    {
      std::ofstream lua(script);
      lua << "local ids = {";
      for (const std::string& id : ids) lua << "\"" << id << "\",";
      lua << "}\nlocal n = 0\nwrk.headers[\"Authorization\"] = \"Bearer " << token
          << "\"\nrequest = function()\n  n = n + 1\n"
             "  return wrk.format(\"GET\", \"/fhir/Observation/\" .. ids[(n % #ids) + 1])\nend\n";
    }
    RunWrk(32, 2, server.port(), script);  // warm up: connections, caches, pages
    for (int round = 1; round <= rounds; ++round) {
      double cpu = CpuSecondsOf(0);
      auto base = RunWrk(32, seconds, baseline.port(), {});
      base.server_cpu_us = (CpuSecondsOf(0) - cpu) * 1e6 / (base.rps * seconds);
      cpu = CpuSecondsOf(server.pid());
      auto real = RunWrk(32, seconds, server.port(), script);
      real.server_cpu_us = (CpuSecondsOf(server.pid()) - cpu) * 1e6 / (real.rps * seconds);
      if (!base.ok || !real.ok) {
        std::fprintf(stderr, "wrk failed (is it installed?)\n");
        return;
      }
      std::printf("  --io-threads %d, round %d (load %s)\n", threads, round, LoadAverage().c_str());
      std::printf("    trivial epoll server, 1 KiB body   %s\n", Figures(base).c_str());
      std::printf("    carerecord GET Observation/{id}    %s\n", Figures(real).c_str());
      std::printf(
          "    carerecord / trivial               %7.0f%% of req/s, p99 %.2fx, CPU per "
          "request %.1fx\n",
          100.0 * real.rps / base.rps, real.p99_ms / base.p99_ms,
          real.server_cpu_us / base.server_cpu_us);
      std::fflush(stdout);
    }
  }
}

// The load is Synthea's patient bundles as transactions (the issue's case), when `synthea` is
// given, else small Observations by PUT (100,000 ids: creates, then more and more updates).
void BenchWriteMemory(const std::string& binary, const fs::path& work, int seconds, int workers,
                      const fs::path& synthea) {
  fs::path store = work / "write-store";
  fs::remove_all(store);
  std::vector<std::string> providers, patients;
  if (!synthea.empty()) {
    for (const auto& entry : fs::directory_iterator(synthea)) {
      if (entry.path().extension() != ".json") continue;
      bool provider = entry.path().filename().string().rfind("0-", 0) == 0;
      (provider ? providers : patients).push_back(entry.path().string());
    }
    std::string load = binary + " load --data " + store.string();
    for (const std::string& file : providers) load += " " + file;
    if (std::system((load + " >/dev/null").c_str()) != 0) return;
  }
  ServeProcess server(binary, {"serve", "--data", store.string(), "--http", "127.0.0.1:0",
                               "--workers", std::to_string(workers), "--token-ttl", "86400"});
  if (server.port() == 0) {
    std::fprintf(stderr, "carerecord serve did not start\n");
    return;
  }
  const std::string authorization = "Bearer " + BenchToken(binary, store, server.port());
  fs::path script = work / "write.lua";
  std::string script_arguments, what;
  std::ofstream lua(script);
  if (!patients.empty()) {
    what = "POST Synthea patient bundles";
    for (const std::string& file : patients) script_arguments += " " + file;
    lua << "local bodies = {}\n"
           "init = function(args)\n"
           "  for _, path in ipairs(args) do\n"
           "    local f = io.open(path, \"rb\")\n"
           "    bodies[#bodies + 1] = f:read(\"*a\")\n"
           "    f:close()\n"
           "  end\n"
           "end\n"
           "local n = 0\n"
           "request = function()\n"
           "  n = n + 1\n"
           "  return wrk.format(\"POST\", \"/fhir\", {[\"Content-Type\"] = "
           "\"application/fhir+json\", [\"Prefer\"] = \"return=minimal\", "
           "[\"Authorization\"] = \""
        << authorization
        << "\"}, "
           "bodies[(n % #bodies) + 1])\n"
           "end\n";
  } else {
    what = "PUT small Observations";
    http::HttpClient client("127.0.0.1", server.port());  // the patient they all refer to
    auto made =
        client.Send("PUT", "/fhir/Patient/bench",
                    {{"Content-Type", "application/json"}, {"Authorization", authorization}},
                    R"({"resourceType":"Patient","id":"bench","gender":"female"})");
    if (!made.ok() || made->status >= 300) {
      std::fprintf(stderr, "cannot create Patient/bench\n");
      return;
    }
    lua << "math.randomseed(os.time())\n"
           "wrk.headers[\"Content-Type\"] = \"application/fhir+json\"\n"
           "wrk.headers[\"Prefer\"] = \"return=minimal\"\n"
           "wrk.headers[\"Authorization\"] = \""
        << authorization
        << "\"\n"
           "request = function()\n"
           "  local id = \"o\" .. math.random(1, 100000)\n"
           "  local body = '{\"resourceType\":\"Observation\",\"id\":\"' .. id .. '\",'\n"
           "    .. '\"status\":\"final\",\"subject\":{\"reference\":\"Patient/bench\"},'\n"
           "    .. "
           "'\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"8867-4\"}]},'\n"
           "    .. '\"valueQuantity\":{\"value\":' .. math.random(40, 180) .. "
           "',\"unit\":\"/min\"},'\n"
           "    .. '\"effectiveDateTime\":\"2024-05-1' .. math.random(0, 9) .. 'T10:00:00Z\"}'\n"
           "  return wrk.format(\"PUT\", \"/fhir/Observation/\" .. id, nil, body)\n"
           "end\n";
  }
  lua.close();
  std::printf("memory under writes: %s on 64 connections, --workers %d, %d s\n", what.c_str(),
              workers, seconds);
  std::printf("  %8s %10s %10s %10s\n", "seconds", "RSS MiB", "anon MiB", "file MiB");
  std::printf("  %8d %s\n", 0, MemoryLine(server.pid()).c_str());
  // One wrk run for the whole time (64 requests in flight at most), sampled every 10 s.
  WrkFigures figures;
  std::atomic<bool> done{false};
  std::thread load([&] {
    figures = RunWrk(64, seconds, server.port(), script, script_arguments);
    done = true;
  });
  constexpr int kStep = 10;
  long peak = 0;
  for (int elapsed = kStep; elapsed <= seconds && !done; elapsed += kStep) {
    for (int i = 0; i < kStep * 10 && !done; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      peak = std::max(peak, StatusKiB(server.pid(), "VmRSS"));
    }
    std::printf("  %8d %s\n", elapsed, MemoryLine(server.pid()).c_str());
    std::fflush(stdout);
  }
  load.join();
  std::printf("  %.0f requests (%.1f/s)%s, peak RSS %.0f MiB, after the load %s MiB\n",
              figures.rps * seconds, figures.rps, figures.non_2xx ? ", some failed!" : "",
              peak / 1024.0, MemoryLine(server.pid()).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  fs::path self = fs::canonical("/proc/self/exe");
  std::string binary = (self.parent_path().parent_path() / "carerecord").string();
  fs::path synthea = "../shared/data/synthea-r4";
  fs::path work = fs::current_path() / "outside-bench-data";
  std::string io_threads = "1,2";
  std::string only;
  std::string write_load = "bundles";  // or "observations"
  int seconds = 8, rounds = 2, write_seconds = 0, workers = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--carerecord") binary = argv[i + 1];
    if (flag == "--synthea") synthea = argv[i + 1];
    if (flag == "--work") work = argv[i + 1];
    if (flag == "--io-threads") io_threads = argv[i + 1];
    if (flag == "--seconds") seconds = std::stoi(argv[i + 1]);
    if (flag == "--rounds") rounds = std::stoi(argv[i + 1]);
    if (flag == "--write-seconds") write_seconds = std::stoi(argv[i + 1]);
    if (flag == "--workers") workers = std::stoi(argv[i + 1]);
    if (flag == "--only") only = argv[i + 1];
    if (flag == "--write-load") write_load = argv[i + 1];
  }
  std::signal(SIGPIPE, SIG_IGN);
  fs::remove_all(work);
  fs::create_directories(work);
  std::printf("carerecord from outside (%u cores, load %s)\n", std::thread::hardware_concurrency(),
              LoadAverage().c_str());
  if (only != "write") {
    if (!fs::exists(synthea)) {
      std::cerr << "no Synthea data at " << synthea << " (use --synthea DIR)\n";
      return 2;
    }
    fs::path store = work / "read-store";
    std::string load = binary + " load --data " + store.string();
    std::vector<fs::path> bundles;
    for (const auto& entry : fs::directory_iterator(synthea)) {
      if (entry.path().extension() == ".json") bundles.push_back(entry.path());
    }
    // Providers (0-*.json) first: the patients' bundles refer to them.
    std::sort(bundles.begin(), bundles.end());
    for (const fs::path& bundle : bundles) load += " " + bundle.string();
    if (std::system((load + " >/dev/null").c_str()) != 0) {
      std::cerr << "loading the Synthea sample failed: " << load << "\n";
      return 1;
    }
    BenchReadTails(binary, store, work, ParseList(io_threads), seconds, rounds);
  }
  if (only != "read" && write_seconds > 0) {
    BenchWriteMemory(binary, work, write_seconds, workers,
                     write_load == "bundles" ? synthea : fs::path());
  }
  fs::remove_all(work);
  return 0;
}
