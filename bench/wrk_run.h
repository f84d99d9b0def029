// wrk driven from a benchmark: one thread, 32 keep-alive connections against a server in this
// process, with its throughput, latency percentiles, non-2xx count and this process's (the
// servers') CPU per request. Shared by the benchmarks that compare two servers in one run.
#pragma once

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace carerecord::bench {

struct WrkRun {
  bool ok = false;
  double rps = 0;
  double p50_ms = 0, p99_ms = 0;
  long non_2xx = 0;
  double cpu_us = 0;  // this process's CPU per request
};

inline double ProcessCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

inline double WrkMillis(const std::string& text) {  // wrk's "1.23ms", "850.00us", "1.02s"
  double value = std::atof(text.c_str());
  if (text.find("us") != std::string::npos) return value / 1000;
  if (text.find("ms") != std::string::npos) return value;
  if (text.find('s') != std::string::npos) return value * 1000;
  return value;
}

inline WrkRun RunWrk(int seconds, uint16_t port, const std::filesystem::path& script) {
  const std::string command = "wrk -t1 -c32 --latency -d" + std::to_string(seconds) + "s -s " +
                              script.string() + " http://127.0.0.1:" + std::to_string(port) +
                              "/ 2>&1";
  const double cpu = ProcessCpuSeconds();
  WrkRun result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  result.ok = ::pclose(pipe) == 0;
  auto grab = [&](const std::string& key) {
    // Percentiles only after "Latency Distribution" (the thread stats have percentages too).
    const bool percentile = key.back() == '%';
    size_t from = percentile ? output.find("Latency Distribution") : 0;
    if (from == std::string::npos) return std::string();
    size_t at = output.find(key, from);
    if (at == std::string::npos) return std::string();
    std::istringstream in(output.substr(at + key.size()));
    std::string value;
    in >> value;
    return value;
  };
  result.rps = std::atof(grab("Requests/sec:").c_str());
  result.non_2xx = std::atol(grab("Non-2xx or 3xx responses:").c_str());
  result.p50_ms = WrkMillis(grab("50%"));
  result.p99_ms = WrkMillis(grab("99%"));
  result.ok = result.ok && result.rps > 0;
  if (result.ok) result.cpu_us = (ProcessCpuSeconds() - cpu) * 1e6 / (result.rps * seconds);
  return result;
}

inline void WriteScript(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

}  // namespace carerecord::bench
