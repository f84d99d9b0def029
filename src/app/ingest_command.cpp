#include "app/ingest_command.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "access/access_context.h"
#include "access/scope_policy.h"
#include "feeds/inbox.h"
#include "feeds/mapping_processor.h"
#include "hl7v2/batch.h"
#include "hl7v2/message.h"
#include "hl7v2/mllp.h"
#include "interactions/fhir_service.h"
#include "store/store.h"

namespace carerecord::app {
namespace {

struct IngestOptions {
  std::string data_dir = "data";
  std::string feed;
  std::vector<std::string> files;
};

// Messages committed to the inbox together (one fsync), then mapped together.
constexpr size_t kChunk = 256;

// One message read from a file, with where it is for error messages.
struct Item {
  std::string where;  // "FILE:LINE" or "FILE frame N"
  std::string raw;
  feeds::IncomingMessage incoming;
};

// The 1-based line of byte `offset`: a line ends at \r\n, \r or \n.
size_t LineAt(std::string_view bytes, size_t offset) {
  size_t line = 1;
  for (size_t i = 0; i < offset && i < bytes.size(); ++i) {
    if (bytes[i] == '\n' || (bytes[i] == '\r' && (i + 1 >= bytes.size() || bytes[i + 1] != '\n'))) {
      ++line;
    }
  }
  return line;
}

// The byte offset of the `sequence`-th (1-based) non-empty segment from `from`.
size_t SegmentOffset(std::string_view bytes, size_t from, int sequence) {
  size_t at = from;
  for (int n = 1; at < bytes.size(); ++n) {
    while (at < bytes.size() && (bytes[at] == '\r' || bytes[at] == '\n')) ++at;
    if (n >= sequence) return at;
    while (at < bytes.size() && bytes[at] != '\r' && bytes[at] != '\n') ++at;
  }
  return at;
}

struct Counts {
  size_t read = 0, accepted = 0, duplicates = 0, in_error = 0;
};

void Report(Counts& counts, const std::string& where, const std::string& reason) {
  ++counts.in_error;
  std::cerr << where << ": " << reason << "\n";
}

// Splits one file into messages; what cannot be read is reported (and counted) as an error.
void ReadFile(const std::string& path, std::vector<Item>& items, Counts& counts) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Report(counts, path, std::string("cannot be read: ") + std::strerror(errno));
    return;
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::string bytes = text.str();
  auto add = [&](std::string where, std::string_view message, size_t message_offset,
                 bool line_numbers) {
    ++counts.read;
    auto parsed = hl7v2::ParseMessage(message);
    if (!parsed.ok()) {
      const hl7v2::Hl7Error& error = parsed.error();
      if (line_numbers && error.location.segment_sequence > 0) {
        where = path + ":" +
                std::to_string(LineAt(
                    bytes, SegmentOffset(bytes, message_offset, error.location.segment_sequence)));
      }
      Report(counts, where, "not a readable HL7 v2 message: " + error.ToString());
      return;
    }
    const hl7v2::MessageHeader& h = parsed->header();
    Item item;
    item.where = std::move(where);
    item.incoming =
        feeds::IncomingMessage{std::string(message), h.sending_application, h.sending_facility,
                               h.control_id, h.message_code + "^" + h.trigger_event};
    items.push_back(std::move(item));
  };
  if (bytes.find(hl7v2::kMllpStart) != std::string::npos) {
    // MLLP-framed, as a sender would put it on the wire.
    hl7v2::MllpDecoder decoder;
    std::vector<hl7v2::MllpEvent> events;
    decoder.Feed(bytes, events);
    size_t frame = 0;
    for (hl7v2::MllpEvent& event : events) {
      if (event.kind != hl7v2::MllpEvent::Kind::kFrame) {
        Report(counts, path + " after frame " + std::to_string(frame),
               event.kind == hl7v2::MllpEvent::Kind::kJunk
                   ? std::to_string(event.bytes) + " byte(s) outside any MLLP frame"
                   : "an MLLP frame larger than the largest message accepted");
        continue;
      }
      ++frame;
      add(path + " frame " + std::to_string(frame), event.payload, 0, false);
    }
    if (decoder.InFrame()) {
      Report(counts, path + " frame " + std::to_string(frame + 1),
             "the file ends inside an MLLP frame (no 0x1C 0x0D)");
    }
    return;
  }
  auto batch = hl7v2::SplitBatch(bytes);
  if (!batch.ok()) {
    const hl7v2::Hl7Error& error = batch.error();
    const size_t line =
        error.location.segment_sequence > 0
            ? LineAt(bytes, SegmentOffset(bytes, 0, error.location.segment_sequence))
            : 1;
    Report(counts, path + ":" + std::to_string(line),
           "cannot be split into HL7 v2 messages: " + error.ToString());
    return;
  }
  for (const hl7v2::Hl7Error& problem : batch->problems) {
    std::cerr << path << ": warning: " << problem.ToString() << "\n";
  }
  for (std::string_view message : batch->messages) {
    const size_t offset = static_cast<size_t>(message.data() - bytes.data());
    add(path + ":" + std::to_string(LineAt(bytes, offset)), message, offset, true);
  }
}

class Progress {
 public:
  explicit Progress(size_t total) : total_(total), on_(isatty(STDERR_FILENO) == 1) {}
  void Show(size_t done, double seconds) {
    if (!on_ || total_ == 0) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * done / total_);
    std::fprintf(stderr, "\r[%s%s] %zu/%zu messages, %.0f msg/s ",
                 std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(kWidth - filled), '.').c_str(), done, total_,
                 seconds > 0 ? static_cast<double>(done) / seconds : 0.0);
    std::fflush(stderr);
    shown_ = true;
  }
  void End() {
    if (shown_) std::fprintf(stderr, "\n");
  }

 private:
  size_t total_;
  bool on_;
  bool shown_ = false;
};

int Ingest(const IngestOptions& o) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto opened_inbox = feeds::OpenInbox(o.data_dir);
  if (!opened_inbox.ok()) {
    std::cerr << "carerecord: " << opened_inbox.error().message << "\n";
    return 1;
  }
  feeds::Inbox& inbox = *opened_inbox.value();
  auto feeds = inbox.ListFeeds();
  if (!feeds.ok()) {
    std::cerr << "carerecord: " << feeds.error().message << "\n";
    return 1;
  }
  const feeds::FeedRecord* feed = nullptr;
  for (const feeds::FeedRecord& f : *feeds) {
    if (f.name == o.feed) feed = &f;
  }
  if (!feed) {
    std::cerr << "carerecord: --feed: no feed is named " << o.feed
              << "; add it with `carerecord feeds add`\n";
    return 2;
  }
  if (!feed->enabled) {
    std::cerr << "carerecord: --feed: the feed " << o.feed
              << " is disabled; enable it with `carerecord feeds enable`\n";
    return 2;
  }

  // The record store: this process maps what it stores, unless a server holds the store.
  store::SqliteOptions store_options;
  store_options.directory = o.data_dir;
  const feeds::MappingProcessorOptions mapping_options;
  store_options.reader_connections = mapping_options.parallel + 2;
  std::unique_ptr<store::Store> store;
  if (auto opened = store::OpenSqliteStore(store_options); opened.ok()) {
    store = std::move(opened).value();
  } else if (opened.error().location != store::kDataFolderInUse) {
    std::cerr << "carerecord: " << opened.error().message << "\n";
    return 1;
  } else {
    std::cerr << "carerecord: a running server holds the record store: the messages are "
                 "committed to the inbox here and the server maps them (within about a "
                 "second; `carerecord feeds stats` and `feeds errors` show how they went)\n";
  }
  access::OpenPolicy open_policy;
  access::ScopeLimitedPolicy policy(open_policy);
  std::unique_ptr<interactions::FhirService> service;
  std::unique_ptr<feeds::MappingProcessor> processor;
  if (store) {
    service = std::make_unique<interactions::FhirService>(*store, policy, nullptr);
    processor = std::make_unique<feeds::MappingProcessor>(*service, mapping_options);
  }

  Counts counts;
  std::vector<Item> items;
  for (const std::string& path : o.files) ReadFile(path, items, counts);
  Progress progress(counts.read);
  size_t done = counts.read - items.size();  // the unreadable ones are done

  std::map<int64_t, const Item*> stored;  // inbox id -> item, waiting to be mapped
  // Maps what is `received` (ours, and any a crash left), in batches; records our outcomes.
  auto drain = [&]() -> bool {
    for (;;) {
      auto next = inbox.NextReceived(0, kChunk);
      if (!next.ok()) {
        std::cerr << "carerecord: " << next.error().message << "\n";
        return false;
      }
      if (next->empty()) return true;
      std::vector<base::Status> outcomes = processor->ProcessBatch(*next);
      std::vector<feeds::Inbox::Mark> marks;
      for (size_t i = 0; i < next->size(); ++i) {
        feeds::Inbox::Mark mark;
        mark.id = (*next)[i].id;
        if (!outcomes[i].ok()) mark.error = outcomes[i].error().message;
        marks.push_back(mark);
        auto ours = stored.find(mark.id);
        if (ours == stored.end()) continue;
        if (mark.error) {
          Report(counts, ours->second->where,
                 "control id " + ours->second->incoming.control_id + ": " + *mark.error);
        } else {
          ++counts.accepted;
        }
        stored.erase(ours);
      }
      if (auto marked = inbox.MarkProcessed(marks); !marked.ok()) {
        std::cerr << "carerecord: " << marked.error().message << "\n";
        return false;
      }
    }
  };
  if (processor && !drain()) return 1;  // messages an earlier run left unmapped

  bool failed = false;
  for (size_t begin = 0; begin < items.size() && !failed; begin += kChunk) {
    const size_t end = std::min(items.size(), begin + kChunk);
    // The chunk goes to the inbox's writer at once, so it shares group commits.
    std::mutex mutex;
    std::condition_variable all_done;
    size_t answered = 0;
    std::vector<base::Result<feeds::ReceiveResult>> results(
        end - begin, base::MakeError(base::ErrorCode::kInternal, "not answered"));
    for (size_t i = begin; i < end; ++i) {
      const Item& item = items[i];
      const bool facility = item.incoming.sending_facility == feed->facility;
      const bool application =
          feed->application.empty() || item.incoming.sending_application == feed->application;
      if (!facility || !application) {
        results[i - begin] = base::Invalid(
            "MSH-3/MSH-4 name application '" + item.incoming.sending_application +
            "' of facility '" + item.incoming.sending_facility + "', not the feed " + feed->name +
            "'s (facility '" + feed->facility + "'" +
            (feed->application.empty() ? "" : ", application '" + feed->application + "'") + ")");
        std::lock_guard lock(mutex);
        ++answered;
        continue;
      }
      inbox.ReceiveAsync(item.incoming,
                         [&, slot = i - begin](base::Result<feeds::ReceiveResult> result) {
                           std::lock_guard lock(mutex);
                           results[slot] = std::move(result);
                           ++answered;
                           all_done.notify_all();
                         });
    }
    {
      std::unique_lock lock(mutex);
      all_done.wait(lock, [&] { return answered == end - begin; });
    }
    for (size_t i = begin; i < end; ++i) {
      const Item& item = items[i];
      const auto& result = results[i - begin];
      if (!result.ok()) {
        Report(counts, item.where, result.error().message);
        if (result.error().code == base::ErrorCode::kUnavailable) failed = true;
        continue;
      }
      switch (result->outcome) {
        case feeds::ReceiveOutcome::kStored:
          if (processor) {
            stored.emplace(result->message_id, &item);
          } else {
            ++counts.accepted;  // the server maps it
          }
          break;
        case feeds::ReceiveOutcome::kDuplicate:
          ++counts.duplicates;
          break;
        case feeds::ReceiveOutcome::kConflictingDuplicate:
        case feeds::ReceiveOutcome::kNoFeed:
          Report(counts, item.where, result->reason);
          break;
      }
    }
    if (processor && !drain()) failed = true;
    done += end - begin;
    progress.Show(done, std::chrono::duration<double>(Clock::now() - start).count());
  }
  progress.End();
  inbox.StopWriter();
  if (store) store->Close();
  for (const auto& [id, item] : stored) {
    Report(counts, item->where,
           "stored in the inbox (id " + std::to_string(id) +
               ") but not mapped: the next server or ingest maps it");
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("read %zu, accepted %zu, duplicates %zu, in error %zu, %.0f msg/s\n", counts.read,
              counts.accepted, counts.duplicates, counts.in_error,
              seconds > 0 ? static_cast<double>(counts.read) / seconds : 0.0);
  std::fflush(stdout);
  return counts.in_error > 0 || failed ? 1 : 0;
}

}  // namespace

void RegisterIngestCommand(CLI::App& app) {
  auto o = std::make_shared<IngestOptions>();
  auto* ingest = app.add_subcommand("ingest", "Load messages from files into the record");
  ingest->require_subcommand(1);
  auto* hl7 = ingest->add_subcommand(
      "hl7",
      "Load HL7 v2 files (messages, FHS/BHS batches, MLLP-framed) through a feed's inbox and "
      "map them into the record");
  hl7->add_option("--data", o->data_dir, "Directory of the record store")->capture_default_str();
  hl7->add_option("--feed", o->feed, "The feed the messages come on (`carerecord feeds add`)")
      ->required();
  hl7->add_option("files", o->files, "HL7 v2 files, loaded in the order given")
      ->required()
      ->check(CLI::ExistingFile);
  hl7->callback([o] { throw CLI::RuntimeError(Ingest(*o)); });
}

}  // namespace carerecord::app
