// HL7 v2 parsing and MLLP framing throughput over the shared sample messages (139 real-format
// messages, segments ended by \r as on the wire), one core, each figure beside memchr over the
// same bytes in the same run so a busy machine still gives comparable ratios. Times are the
// thread's CPU time, not wall time:
//   memchr    counting \r over the corpus (the floor of any scan)
//   parse     ParseMessage (segment and field index, header read)
//   parse+text ParseMessage then Text() of every component of every field (unescaping all)
//   values    ParseMessage then ReadValues (every sub-component unescaped into values)
//   write     WriteMessage of those values
//   mllp      MllpDecoder over the corpus framed, fed in 64 KiB chunks
//
//   build/bench/hl7v2_bench [--samples ../shared/data/hl7v2] [--seconds 1]   (from the checkout)

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "hl7v2/message.h"
#include "hl7v2/mllp.h"
#include "hl7v2/writer.h"

namespace {

using namespace carerecord::hl7v2;
namespace fs = std::filesystem;

std::vector<std::string> LoadSamples(const fs::path& dir) {
  std::vector<fs::path> paths;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".hl7") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> samples;
  for (const fs::path& path : paths) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string message = text.str();
    if (message.rfind("\xEF\xBB\xBF", 0) == 0) message.erase(0, 3);
    // On the wire segments end with \r; the files use \n and some leave blank lines.
    std::string wire;
    for (char c : message) {
      if (c == '\n') c = '\r';
      if (c == '\r' && (wire.empty() || wire.back() == '\r')) continue;
      wire += c;
    }
    samples.push_back(std::move(wire));
  }
  return samples;
}

std::string g_only;  // --only

// CPU time of this thread: the machine is shared, and wall time would measure the neighbours.
double ThreadSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

struct Figure {
  double seconds = 0;
  size_t bytes = 0;
  size_t messages = 0;
};

// Runs `pass` (one pass over the corpus) until `min_seconds` have gone by; nothing when --only
// names another figure.
Figure Measure(const char* name, double min_seconds, size_t corpus_bytes, size_t corpus_messages,
               const std::function<void()>& pass) {
  if (!g_only.empty() && g_only != name && std::string_view(name) != "memchr") return Figure{};
  pass();  // warm up
  Figure figure;
  const double start = ThreadSeconds();
  do {
    pass();
    figure.bytes += corpus_bytes;
    figure.messages += corpus_messages;
    figure.seconds = ThreadSeconds() - start;
  } while (figure.seconds < min_seconds);
  return figure;
}

void Print(const char* name, const Figure& figure, const Figure& baseline) {
  if (figure.seconds == 0) return;
  const double mb_per_s = figure.bytes / figure.seconds / 1e6;
  const double baseline_mb_per_s = baseline.bytes / baseline.seconds / 1e6;
  std::printf("%-11s %9.1f MB/s %12.0f messages/s   %6.3f of memchr\n", name, mb_per_s,
              figure.messages / figure.seconds, mb_per_s / baseline_mb_per_s);
}

volatile size_t g_sink = 0;  // keeps results alive past the optimiser

}  // namespace

int main(int argc, char** argv) {
  fs::path samples_dir = "../shared/data/hl7v2";  // from the checkout, as the other benches
  double seconds = 1.0;
  std::string only;  // one figure (and memchr) alone, e.g. for a profiler
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--samples") {
      samples_dir = argv[i + 1];
    } else if (flag == "--only") {
      only = argv[i + 1];
    } else if (flag == "--seconds") {
      seconds = std::stod(argv[i + 1]);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (!fs::is_directory(samples_dir)) {
    std::fprintf(stderr, "no samples at %s\n", samples_dir.c_str());
    return 1;
  }
  const std::vector<std::string> samples = LoadSamples(samples_dir);
  size_t corpus_bytes = 0;
  for (const std::string& sample : samples) corpus_bytes += sample.size();
  std::vector<std::vector<SegmentValue>> values;
  for (const std::string& sample : samples) {
    auto message = ParseMessage(sample);
    if (!message.ok()) {
      std::fprintf(stderr, "sample does not parse: %s\n", message.error().ToString().c_str());
      return 1;
    }
    values.push_back(*ReadValues(*message));
  }
  g_only = only;
  std::printf("corpus: %zu messages, %zu bytes; at least %.1f s a figure\n", samples.size(),
              corpus_bytes, seconds);

  const size_t n = samples.size();
  const Figure baseline = Measure("memchr", seconds, corpus_bytes, n, [&] {
    size_t count = 0;
    for (const std::string& sample : samples) {
      const char* p = sample.data();
      const char* end = p + sample.size();
      while ((p = static_cast<const char*>(std::memchr(p, '\r', end - p))) != nullptr) {
        ++count;
        ++p;
      }
    }
    g_sink = g_sink + count;
  });
  Print("memchr", baseline, baseline);

  Print("parse",
        Measure("parse", seconds, corpus_bytes, n,
                [&] {
                  for (const std::string& sample : samples) {
                    auto message = ParseMessage(sample);
                    g_sink = g_sink + message->segment_count();
                  }
                }),
        baseline);

  Print("parse+text",
        Measure("parse+text", seconds, corpus_bytes, n,
                [&] {
                  for (const std::string& sample : samples) {
                    auto message = ParseMessage(sample);
                    for (const SegmentView segment : *message) {
                      for (size_t f = 1; f <= segment.field_count(); ++f) {
                        const size_t components =
                            CountPieces(segment.Get(f, 1), message->delimiters().component);
                        for (size_t c = 1; c <= components; ++c) {
                          g_sink = g_sink + segment.Text(f, 1, c, 0)->size();
                        }
                      }
                    }
                  }
                }),
        baseline);

  Print("values",
        Measure("values", seconds, corpus_bytes, n,
                [&] {
                  for (const std::string& sample : samples) {
                    auto message = ParseMessage(sample);
                    g_sink = g_sink + ReadValues(*message)->size();
                  }
                }),
        baseline);

  Print("write",
        Measure("write", seconds, corpus_bytes, n,
                [&] {
                  for (const auto& message : values) {
                    g_sink = g_sink + WriteMessage(message)->size();
                  }
                }),
        baseline);

  std::string stream;
  for (const std::string& sample : samples) stream += *EncodeMllpFrame(sample);
  Print("mllp",
        Measure("mllp", seconds, corpus_bytes, n,
                [&] {
                  MllpDecoder decoder;
                  std::vector<MllpEvent> events;
                  for (size_t i = 0; i < stream.size(); i += 65536) {
                    decoder.Feed(std::string_view(stream).substr(i, 65536), events);
                  }
                  g_sink = g_sink + events.size();
                }),
        baseline);
  return 0;
}
