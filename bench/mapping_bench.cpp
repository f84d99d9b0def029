// HL7 v2 to FHIR over the shared samples that map (ADT, ORU^R01, MDM):
//   map       ParseMessage + MapMessage, one core (thread CPU time: the machine is shared)
//   apply     map + ApplyMappedMessage into a durable SQLite store (synchronous=FULL), each
//             round under a new organisation so every message writes new resources; wall time,
//             with 1 and with 4 threads applying (the store commits groups with one fsync)
//   resend    the same messages again: found, compared, nothing written
//
//   build/bench/mapping_bench [--samples ../shared/data/hl7v2] [--seconds 2]   (from the checkout)

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "access/access_context.h"
#include "feeds/apply_mapped.h"
#include "hl7v2/message.h"
#include "interactions/fhir_service.h"
#include "mapping/hl7v2_mapping.h"
#include "store/store.h"

namespace {

namespace fs = std::filesystem;
using namespace carerecord;

std::vector<std::string> LoadMappable(const fs::path& dir) {
  std::vector<fs::path> paths;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".hl7") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> out;
  for (const fs::path& path : paths) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string bytes = text.str();
    auto message = hl7v2::ParseMessage(std::string_view(bytes));
    if (!message.ok()) continue;
    mapping::FeedContext feed{"bench", "B0", "", 0, message->header().control_id};
    if (mapping::MapMessage(message.value(), feed).ok()) out.push_back(std::move(bytes));
  }
  return out;
}

double ThreadSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Maps and applies `bytes` as organisation `ods`; false on any error.
bool MapAndApply(interactions::FhirService& service, const std::string& bytes,
                 const std::string& ods, size_t* written) {
  auto message = hl7v2::ParseMessage(std::string_view(bytes));
  if (!message.ok()) return false;
  mapping::FeedContext feed{"bench", ods, "", 1, message->header().control_id};
  auto mapped = mapping::MapMessage(message.value(), feed);
  if (!mapped.ok()) return false;
  auto applied = feeds::ApplyMappedMessage(service, mapped.value(), feed);
  if (!applied.ok()) {
    std::fprintf(stderr, "apply failed: %s\n", applied.error().message.c_str());
    return false;
  }
  *written += applied->written.size();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path samples = "../shared/data/hl7v2";
  double seconds = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--samples") samples = argv[i + 1];
    if (flag == "--seconds") seconds = std::stod(argv[i + 1]);
  }
  if (!fs::is_directory(samples)) {
    std::fprintf(stderr, "no samples at %s\n", samples.c_str());
    return 1;
  }
  const std::vector<std::string> corpus = LoadMappable(samples);
  std::printf("mappable samples: %zu\n", corpus.size());

  // 1. Mapping alone.
  {
    size_t messages = 0, resources = 0;
    const double start = ThreadSeconds();
    while (ThreadSeconds() - start < seconds) {
      for (const std::string& bytes : corpus) {
        auto message = hl7v2::ParseMessage(std::string_view(bytes));
        mapping::FeedContext feed{"bench", "B0", "", 1, message->header().control_id};
        auto mapped = mapping::MapMessage(message.value(), feed);
        resources += mapped->resources.size();
        ++messages;
      }
    }
    const double spent = ThreadSeconds() - start;
    std::printf(
        "map (parse + MapMessage), one core: %.0f messages/s, %.0f resources/s, %.1f us "
        "CPU a message\n",
        messages / spent, resources / spent, spent / messages * 1e6);
  }

  // 2. Mapped and applied into a durable store.
  std::random_device random;
  const fs::path dir =
      fs::temp_directory_path() / ("carerecord-mapping-bench-" + std::to_string(random()));
  store::SqliteOptions options;
  options.directory = dir.string();
  options.durable = true;
  auto opened = store::OpenSqliteStore(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "store: %s\n", opened.error().message.c_str());
    return 1;
  }
  std::unique_ptr<store::Store> store = std::move(opened).value();
  access::OpenPolicy policy;
  interactions::FhirService service(*store, policy, nullptr);
  std::atomic<int> round{0};
  for (int threads : {1, 4}) {
    std::atomic<size_t> messages{0}, written{0};
    std::atomic<bool> failed{false};
    const double start = WallSeconds();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        while (WallSeconds() - start < seconds && !failed) {
          const std::string ods = "B" + std::to_string(++round);
          size_t w = 0;
          for (size_t i = 0; i < corpus.size(); ++i) {
            // Each sample its own organisation: several share control ids and patient numbers.
            if (!MapAndApply(service, corpus[i], ods + "-" + std::to_string(i), &w)) failed = true;
            ++messages;
          }
          written += w;
        }
      });
    }
    for (auto& w : workers) w.join();
    const double spent = WallSeconds() - start;
    if (failed) std::printf("(some messages failed to apply)\n");
    std::printf("map + apply, durable, %d thread%s: %.0f messages/s, %.0f resources written/s\n",
                threads, threads == 1 ? "" : "s", messages / spent, written / spent);
  }
  // 3. Resend of the last round: every resource found and compared, nothing written.
  {
    const std::string ods = "B" + std::to_string(round.load());
    size_t messages = 0, written = 0;
    const double start = WallSeconds();
    while (WallSeconds() - start < seconds) {
      for (size_t i = 0; i < corpus.size(); ++i) {
        MapAndApply(service, corpus[i], ods + "-" + std::to_string(i), &written);
        ++messages;
      }
    }
    const double spent = WallSeconds() - start;
    std::printf("resend (map + find + compare, nothing written: %zu), 1 thread: %.0f messages/s\n",
                written, messages / spent);
  }
  store->Close();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
