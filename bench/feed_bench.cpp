// Hospital feeds end to end, mapping on: 8 MLLP connections (each waiting for its ACK, as most
// senders do) stream the mappable samples of ../shared/data/hl7v2 into an in-process listener,
// inbox, inbox worker and MappingProcessor over one durable data folder (synchronous=FULL), as
// `serve --mllp` runs them. Every message is made unique: MSH-4 is the bench's facility, and
// MSH-10 and the identities it states (PID-3 and MRG-1 MRNs, PV1-19 visit, ORC/OBR order numbers,
// TXA-12/13 documents) get a suffix of their own, so each message writes new resources. Each A40
// is preceded by an A28 of its loser (so --messages counts the samples; the rates count every
// message sent and mapped).
//
// Prints messages/s acknowledged (while sending), messages/s mapped (from the first send until
// the inbox is drained and every message mapped), ACK p50/p99, the messages in error, the CPU
// time the process spent a mapped message (user + system, the senders' threads left out), and the
// ratio to the goal (5,000 messages/s, ACK p99 <= 20 ms), for the mapping on each of
// `--parallel` threads (MappingProcessorOptions::parallel), each writing up to
// `--per-transaction` messages of different chains in one transaction, a fresh folder each.
//
//   build/bench/feed_bench [--samples ../shared/data/hl7v2] [--messages 4000] [--parallel 1,2,4,8]
//                          [--per-transaction 64] [--connections 8] [--dir /tmp] [--keep 1]
// `--keep 1` leaves each run's data folder in place (its path on stderr) to look at what was
// written (rows a message in carerecord.db's tables).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "access/access_context.h"
#include "feeds/inbox.h"
#include "feeds/inbox_worker.h"
#include "feeds/mapping_processor.h"
#include "feeds/mllp_listener.h"
#include "hl7v2/message.h"
#include "interactions/fhir_service.h"
#include "mapping/hl7v2_mapping.h"
#include "store/store.h"

namespace {

using namespace carerecord;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

std::string Join(const std::vector<std::string>& parts, char separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += separator;
    out += parts[i];
  }
  return out;
}

// A sample as a template: segments split, with its delimiters.
struct Sample {
  std::vector<std::vector<std::string>> segments;  // fields; MSH's field 1 is the separator
  char field = '|', component = '^', repetition = '~';
};

Sample Load(const std::string& bytes) {
  Sample s;
  std::string text = bytes.substr(0, 3) == "\xEF\xBB\xBF" ? bytes.substr(3) : bytes;
  for (char& c : text) {
    if (c == '\n') c = '\r';
  }
  s.field = text.size() > 3 ? text[3] : '|';
  if (text.size() > 5) s.component = text[4], s.repetition = text[5];
  for (const std::string& segment : Split(text, '\r')) {
    if (!segment.empty()) s.segments.push_back(Split(segment, s.field));
  }
  return s;
}

// The first component of each repetition of a field gets `suffix` (when not empty); with
// `skip_nhs`, a repetition whose identifier type (component 5) is NH keeps its number.
std::string Suffixed(const Sample& s, const std::string& field, const std::string& suffix,
                     bool skip_nhs) {
  std::vector<std::string> repetitions = Split(field, s.repetition);
  for (std::string& r : repetitions) {
    std::vector<std::string> components = Split(r, s.component);
    if (components[0].empty()) continue;
    if (skip_nhs && components.size() > 4 && components[4] == "NH") continue;
    components[0] += suffix;
    r = Join(components, s.component);
  }
  return Join(repetitions, s.repetition);
}

std::string Instance(const Sample& s, const std::string& suffix) {
  std::vector<std::string> out;
  for (std::vector<std::string> fields : s.segments) {
    const std::string& name = fields[0];
    // MSH's fields are numbered from the separator: MSH-n is fields[n - 1].
    auto suffix_field = [&](size_t n, bool skip_nhs) {
      const size_t at = name == "MSH" ? n - 1 : n;
      if (at < fields.size()) fields[at] = Suffixed(s, fields[at], suffix, skip_nhs);
    };
    if (name == "MSH") {
      if (fields.size() > 3) fields[3] = "BENCH";
      suffix_field(10, false);
      // Original mode: every message is answered (MSH-15/16 may ask for no ACK).
      for (size_t at : {14, 15}) {
        if (at < fields.size()) fields[at].clear();
      }
    } else if (name == "PID") {
      suffix_field(3, true);
    } else if (name == "MRG") {
      suffix_field(1, false);
    } else if (name == "PV1") {
      suffix_field(19, false);
    } else if (name == "ORC" || name == "OBR") {
      suffix_field(2, false);
      suffix_field(3, false);
    } else if (name == "TXA") {
      suffix_field(12, false);
      suffix_field(13, false);
    }
    out.push_back(Join(fields, s.field));
  }
  return Join(out, '\r') + '\r';
}

// For an A40 sample: an A28 stating its loser (PID-3 := MRG-1, no MRG), sent just before each
// instance of it with the same suffix, so the merge finds its loser (an A40 of a patient the
// source never sent is refused); nullopt for any other sample.
std::optional<Sample> LoserOf(const Sample& s) {
  std::optional<Sample> out;
  const auto& in = s.segments;
  for (size_t i = 0; i < in.size(); ++i) {
    std::vector<std::string> fields = in[i];
    if (fields[0] == "MRG") continue;
    if (fields[0] == "MSH") {
      if (fields.size() > 8) fields[8] = "ADT^A28^ADT_A05";
      if (fields.size() > 9) fields[9] += "L";
    } else if (fields[0] == "EVN" && fields.size() > 1) {
      fields[1] = "A28";
    } else if (fields[0] == "PID" && i + 1 < in.size() && in[i + 1][0] == "MRG" &&
               in[i + 1].size() > 1 && !in[i + 1][1].empty() && fields.size() > 3) {
      fields[3] = in[i + 1][1];  // each PID's own MRG (an A40 may merge several pairs)
      if (!out) out.emplace(s), out->segments.clear();
    }
    if (!out) out.emplace(s), out->segments.clear();
    out->segments.push_back(std::move(fields));
  }
  bool merges = false;
  for (const auto& fields : in)
    merges |= fields[0] == "MRG" && fields.size() > 1 && !fields[1].empty();
  if (!merges) out.reset();
  return out;
}

std::vector<Sample> LoadMappable(const fs::path& dir) {
  std::vector<fs::path> paths;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".hl7") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<Sample> out;
  for (const fs::path& path : paths) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    Sample sample = Load(text.str());
    const std::string bytes = Instance(sample, "-probe");
    auto message = hl7v2::ParseMessage(std::string_view(bytes));
    if (!message.ok()) continue;
    mapping::FeedContext feed{"bench", "B0", "BENCH", 0, message->header().control_id};
    if (mapping::MapMessage(message.value(), feed).ok()) out.push_back(std::move(sample));
  }
  return out;
}

int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval timeout{30, 0};  // an ACK that never comes fails the sender, not the bench
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
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
  return buffer.find("MSA|AA|") != std::string::npos;
}

struct Figures {
  double acked_per_second = 0, mapped_per_second = 0;
  double mapped_alone_per_second = 0;  // after the last ACK: no inbox commits beside it
  double p50_ms = 0, p99_ms = 0;
  int64_t acked = 0, mapped = 0, in_error = 0;
  // CPU time of the process (user + system) from the first send until drained, a message,
  // without the senders' own threads: what the listener, inbox, mapping and store cost.
  double cpu_ms_per_message = 0;
  int send_failures = 0;
  std::string first_error;
};

// User + system CPU seconds of the process (RUSAGE_SELF) or the calling thread (RUSAGE_THREAD).
double CpuSeconds(int who) {
  rusage usage{};
  getrusage(who, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

Figures Run(const fs::path& base, const std::vector<Sample>& corpus, int connections, int messages,
            int parallel, size_t per_transaction, int round, bool keep) {
  std::random_device random;
  const fs::path dir = base / ("carerecord-feed-bench-" + std::to_string(random()));
  store::SqliteOptions store_options;
  store_options.directory = dir.string();
  store_options.durable = true;
  store_options.reader_connections = parallel + 4;
  auto store = std::move(store::OpenSqliteStore(store_options)).value();
  access::OpenPolicy policy;
  interactions::FhirService service(*store, policy, nullptr);
  feeds::InboxOptions inbox_options;
  inbox_options.durable = true;
  auto inbox = std::move(feeds::OpenInbox(dir.string(), inbox_options)).value();
  feeds::FeedRecord feed;
  feed.name = "bench-pas";
  feed.facility = "BENCH";
  feed.ods_code = "RBN";
  (void)inbox->AddFeed(feed);
  feeds::MappingProcessorOptions mapping_options;
  mapping_options.parallel = parallel;
  mapping_options.per_transaction = per_transaction;
  feeds::MappingProcessor processor(service, mapping_options);
  feeds::InboxWorker worker(*inbox, processor);
  inbox->SetReceivedHook([&worker] { worker.Wake(); });
  worker.Start();
  feeds::MllpListener listener(feeds::MllpListenerOptions{}, *inbox);
  const uint16_t port = listener.Start().value();

  // The messages, made before the clock starts.
  std::vector<std::vector<std::string>> outgoing(connections);
  for (int n = 0; n < messages; ++n) {
    const Sample& sample = corpus[static_cast<size_t>(n) % corpus.size()];
    const std::string suffix = "-" + std::to_string(round) + "-" + std::to_string(n);
    if (auto loser = LoserOf(sample)) {  // on the same connection, acknowledged before the A40
      outgoing[n % connections].push_back(Instance(*loser, suffix));
    }
    outgoing[n % connections].push_back(Instance(sample, suffix));
  }
  std::vector<std::vector<double>> latencies(connections);
  std::vector<double> sender_cpu_seconds(connections, 0);
  std::atomic<int> failures{0};
  const double cpu_at_start = CpuSeconds(RUSAGE_SELF);
  const auto start = Clock::now();
  std::vector<std::thread> senders;
  for (int c = 0; c < connections; ++c) {
    senders.emplace_back([&, c] {
      int fd = Connect(port);
      if (fd < 0) {
        ++failures;
        return;
      }
      std::string buffer;
      for (const std::string& message : outgoing[c]) {
        const auto sent = Clock::now();
        if (!Exchange(fd, message, buffer)) {
          ++failures;
          break;
        }
        latencies[c].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
      }
      ::close(fd);
      sender_cpu_seconds[c] = CpuSeconds(RUSAGE_THREAD);
    });
  }
  for (auto& sender : senders) sender.join();
  const double acked_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Figures f;
  auto mapped_now = [&] {
    int64_t mapped = 0;
    if (auto stats = inbox->Stats(); stats.ok()) {
      for (const auto& s : *stats) mapped += s.accepted;
    }
    return mapped;
  };
  const int64_t mapped_at_acked = mapped_now();
  // Drained: nothing `received` is left (bounded: 10 minutes). One probe of the inbox's
  // (state, id) index each time: Stats() scans every message, and on this 2-core machine its
  // scans every 20 ms took 15% of the samples of a profile of the run it measured.
  for (;;) {
    auto next = inbox->NextReceived(0, 1);
    if (next.ok() && next->empty()) break;
    if (Clock::now() - start > std::chrono::minutes(10)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double mapped_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  double cpu_seconds = CpuSeconds(RUSAGE_SELF) - cpu_at_start;
  for (double s : sender_cpu_seconds) cpu_seconds -= s;
  if (auto stats = inbox->Stats(); stats.ok()) {
    for (const auto& s : *stats) {
      f.mapped += s.accepted;
      f.in_error += s.in_error;
    }
  }
  if (auto errors = inbox->ListErrors(1); errors.ok() && !errors->empty()) {
    f.first_error = errors->front().message_type + ": " + errors->front().reason;
  }
  listener.Stop();
  inbox->StopWriter();
  worker.Stop();
  inbox.reset();
  store->Close();
  store.reset();
  if (keep) {
    std::fprintf(stderr, "kept %s\n", dir.c_str());
  } else {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  f.send_failures = failures.load();
  f.acked = static_cast<int64_t>(all.size());
  if (all.empty()) return f;
  f.acked_per_second = static_cast<double>(all.size()) / acked_seconds;
  f.mapped_per_second = static_cast<double>(f.mapped) / mapped_seconds;
  if (mapped_seconds > acked_seconds) {
    f.mapped_alone_per_second =
        static_cast<double>(f.mapped - mapped_at_acked) / (mapped_seconds - acked_seconds);
  }
  if (f.mapped > 0) f.cpu_ms_per_message = 1000.0 * cpu_seconds / static_cast<double>(f.mapped);
  f.p50_ms = all[all.size() / 2];
  f.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  fs::path samples = "../shared/data/hl7v2";
  fs::path dir = fs::temp_directory_path();
  int messages = 4000, connections = 8;
  std::vector<int> parallel{1, 2, 4, 8};
  size_t per_transaction = feeds::MappingProcessorOptions{}.per_transaction;
  bool keep = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--samples") {
      samples = argv[i + 1];
    } else if (flag == "--messages") {
      messages = std::stoi(argv[i + 1]);
    } else if (flag == "--parallel") {
      parallel.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string item; std::getline(list, item, ',');) parallel.push_back(std::stoi(item));
    } else if (flag == "--per-transaction") {
      per_transaction = static_cast<size_t>(std::stoul(argv[i + 1]));
    } else if (flag == "--connections") {
      connections = std::stoi(argv[i + 1]);
    } else if (flag == "--dir") {
      dir = argv[i + 1];
    } else if (flag == "--keep") {
      keep = std::string_view(argv[i + 1]) != "0";
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (!fs::is_directory(samples)) {
    std::fprintf(stderr, "no samples at %s\n", samples.c_str());
    return 1;
  }
  const std::vector<Sample> corpus = LoadMappable(samples);
  if (corpus.empty()) {
    std::fprintf(stderr, "no mappable samples in %s\n", samples.c_str());
    return 1;
  }
  std::printf(
      "HL7 v2 feeds end to end, mapping on: %d connections each waiting for its ACK, %d "
      "messages (%zu mappable samples made unique), durable store and inbox in %s\n\n",
      connections, messages, corpus.size(), dir.c_str());
  std::printf(
      "| mapping | ACKed msg/s | mapped msg/s (inbox drained) | mapped msg/s after the last ACK | "
      "ACK p50 ms | ACK p99 ms | mapped / in error | CPU ms a message | mapped vs 5,000/s |\n"
      "|---|---|---|---|---|---|---|---|---|\n");
  int round = 0;
  for (int p : parallel) {
    Figures f = Run(dir, corpus, connections, messages, p, per_transaction, ++round, keep);
    std::printf(
        "| %d thread%s, up to %zu a transaction | %.0f | %.0f | %.0f | %.2f | %.2f | %lld / %lld | "
        "%.2f | %.3f |%s\n",
        p, p == 1 ? "" : "s", per_transaction, f.acked_per_second, f.mapped_per_second,
        f.mapped_alone_per_second, f.p50_ms, f.p99_ms, static_cast<long long>(f.mapped),
        static_cast<long long>(f.in_error), f.cpu_ms_per_message, f.mapped_per_second / 5000.0,
        f.send_failures ? " (a sender failed)" : "");
    if (!f.first_error.empty()) std::printf("  first error: %s\n", f.first_error.c_str());
  }
  return 0;
}
