// Does a costly condition, or a large resource, hold up other writers? One client creates small
// Patients one after another, alone, then while two others post conditional creates whose
// If-None-Exist (gender=male&_content=WORD) reads the body of every male Patient in the store,
// then while another posts 16 MB resources (sixteen 1 MB strings of letters that compress
// poorly). Prints the plain creates' latency in each phase and what the others answered.
//
//   build/bench/writer_stall_bench [--patients 20000] [--seconds 4] [--work DIR]
//
// The store is durable (synchronous=FULL), as served; the FHIR service is called in process.

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "access/access_context.h"
#include "interactions/fhir_service.h"
#include "store/store.h"

namespace {

using namespace carerecord;
namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

std::string PatientJson(int i, const std::string& word) {
  json::object patient{
      {"resourceType", "Patient"},
      {"gender", i % 2 ? "female" : "male"},
      {"name", json::array{json::object{{"family", "Family" + std::to_string(i % 977)},
                                        {"given", json::array{"Given" + std::to_string(i)}}}}},
      {"birthDate", "19" + std::to_string(40 + i % 60) + "-0" + std::to_string(1 + i % 9) + "-1" +
                        std::to_string(i % 10)},
      {"text", json::object{{"status", "generated"},
                            {"div", "<div xmlns=\"http://www.w3.org/1999/xhtml\">Patient " +
                                        std::to_string(i) + " seen at the clinic on Tuesday, " +
                                        word + "</div>"}}}};
  return json::serialize(patient);
}

struct Figures {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  size_t count = 0;
};

Figures Summarise(std::vector<double> ms) {
  Figures f;
  if (ms.empty()) return f;
  std::sort(ms.begin(), ms.end());
  f.count = ms.size();
  f.p50_ms = ms[ms.size() / 2];
  f.p99_ms = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  f.max_ms = ms.back();
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  int patients = 20000;
  double seconds = 4;
  fs::path work = fs::current_path() / "writer-stall-data";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--patients") patients = std::stoi(argv[i + 1]);
    if (flag == "--seconds") seconds = std::stod(argv[i + 1]);
    if (flag == "--work") work = argv[i + 1];
  }
  fs::remove_all(work);
  store::SqliteOptions options;
  options.directory = work.string();
  auto store = std::move(store::OpenSqliteStore(options)).value();
  access::OpenPolicy policy;
  interactions::FhirService service(*store, policy, nullptr);
  interactions::RequestContext ctx;
  ctx.base_url = "http://localhost/fhir";
  ctx.prefer_return = interactions::PreferReturn::kMinimal;

  for (int first = 0; first < patients; first += 500) {
    json::array entries;
    for (int i = first; i < std::min(patients, first + 500); ++i) {
      entries.push_back(
          json::object{{"resource", json::parse(PatientJson(i, "routine"))},
                       {"request", json::object{{"method", "POST"}, {"url", "Patient"}}}});
    }
    auto response = service.ProcessBundle(
        ctx, json::serialize(json::object{
                 {"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}}));
    if (response.status != 200) {
      std::fprintf(stderr, "load failed: %s\n", response.body.substr(0, 300).c_str());
      return 1;
    }
  }

  // The conditional create alone: what its search costs on the request thread.
  std::vector<double> alone;
  for (int i = 0; i < 5; ++i) {
    auto t0 = Clock::now();
    std::string word = "solo" + std::to_string(i);
    service.Create(ctx, "Patient", PatientJson(patients + i, word), "gender=male&_content=" + word);
    alone.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  auto costly = Summarise(alone);

  auto plain_writes = [&](std::atomic<bool>& stop) {
    std::vector<double> ms;
    for (int i = 0; !stop.load(); ++i) {
      auto t0 = Clock::now();
      auto response = service.Create(ctx, "Patient", PatientJson(i, "plain"), "");
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (response.status != 201) std::fprintf(stderr, "plain create: %d\n", response.status);
    }
    return ms;
  };

  std::atomic<bool> stop{false};
  std::thread timer([&] {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
  });
  auto quiet = Summarise(plain_writes(stop));
  timer.join();

  stop = false;
  std::mutex mutex;
  std::map<int, int> statuses;
  std::vector<std::thread> conditional;
  for (int t = 0; t < 2; ++t) {
    conditional.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        std::string word = "word" + std::to_string(t) + "x" + std::to_string(i);
        auto response =
            service.Create(ctx, "Patient", PatientJson(i, word), "gender=male&_content=" + word);
        std::lock_guard lock(mutex);
        if (response.status >= 300 && statuses[response.status] == 0) {
          std::fprintf(stderr, "conditional create: %d %s\n", response.status,
                       response.body.substr(0, 300).c_str());
        }
        ++statuses[response.status];
      }
    });
  }
  timer = std::thread([&] {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
  });
  auto busy = Summarise(plain_writes(stop));
  timer.join();
  for (auto& thread : conditional) thread.join();

  // Large resources beside the plain creates: their bodies are prepared and compressed while
  // the small ones commit.
  stop = false;
  std::string letters(16 << 20, 'a');
  uint64_t state = 88172645463325252ull;
  for (char& c : letters) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    c = static_cast<char>('a' + state % 26);
  }
  std::atomic<int> large_created{0};
  std::vector<double> large_ms;
  std::thread large([&] {
    for (int i = 0; !stop.load(); ++i) {
      json::array extensions;
      for (int part = 0; part < 16; ++part) {
        extensions.push_back(
            json::object{{"url", "http://example.org/large"},
                         {"valueString",
                          letters.substr(size_t(part) << 20, (1 << 20) - 8) + std::to_string(i)}});
      }
      std::string body = json::serialize(json::object{{"resourceType", "Basic"},
                                                      {"code", json::object{{"text", "large"}}},
                                                      {"extension", extensions}});
      auto t0 = Clock::now();
      auto response = service.Create(ctx, "Basic", body, "");
      large_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (response.status == 201) large_created.fetch_add(1);
    }
  });
  timer = std::thread([&] {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
  });
  auto beside_large = Summarise(plain_writes(stop));
  timer.join();
  large.join();
  auto large_figures = Summarise(large_ms);

  std::printf("writer stall (%d Patients, %u cores, durable)\n", patients,
              std::thread::hardware_concurrency());
  std::printf("  conditional create alone (gender=male&_content=W): p50 %.1f ms\n", costly.p50_ms);
  std::printf(
      "  plain creates alone:                    %6zu, p50 %.2f ms, p99 %.2f ms, max %.1f ms\n",
      quiet.count, quiet.p50_ms, quiet.p99_ms, quiet.max_ms);
  std::printf(
      "  plain creates beside 2 costly creators: %6zu, p50 %.2f ms, p99 %.2f ms, max %.1f ms\n",
      busy.count, busy.p50_ms, busy.p99_ms, busy.max_ms);
  std::printf("  p99 ratio (beside / alone): %.2fx\n", busy.p99_ms / quiet.p99_ms);
  std::printf("  conditional creates answered:");
  for (auto [status, n] : statuses) std::printf(" %d x%d", status, n);
  std::printf("\n");
  std::printf(
      "  plain creates beside 16 MB creates:     %6zu, p50 %.2f ms, p99 %.2f ms, max %.1f ms\n",
      beside_large.count, beside_large.p50_ms, beside_large.p99_ms, beside_large.max_ms);
  std::printf("  p99 ratio (beside 16 MB / alone): %.2fx; 16 MB creates: %d, p50 %.0f ms\n",
              beside_large.p99_ms / quiet.p99_ms, large_created.load(), large_figures.p50_ms);
  store->Close();
  fs::remove_all(work);
  return 0;
}
