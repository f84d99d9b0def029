#include "app/feed_commands.h"

#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "base/terminal_text.h"
#include "feeds/inbox.h"
#include "store/identity_records.h"

namespace carerecord::app {
namespace {

struct FeedOptions {
  std::string data_dir = "data";
  std::string name, facility, application, ods;
  std::string id;
  bool all = false;
  size_t limit = 100;
};

int Fail(const base::Error& error) {
  std::cerr << "carerecord: " << error.message << "\n";
  const bool input = error.code == base::ErrorCode::kInvalid ||
                     error.code == base::ErrorCode::kNotFound ||
                     error.code == base::ErrorCode::kConflict;
  return input ? 2 : 1;
}

std::string IsoTime(int64_t ms) {
  if (ms == 0) return "-";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

// An HD namespace id or feed name: printable ASCII without HL7's delimiters or spaces at the ends.
bool IsPlainName(const std::string& text) {
  if (text.empty() || text.size() > 200 || text.front() == ' ' || text.back() == ' ') return false;
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7e || c == '|' || c == '^' || c == '&' || c == '~' || c == '\\') {
      return false;
    }
  }
  return true;
}

int AddFeed(feeds::Inbox& inbox, const FeedOptions& o) {
  for (auto [value, option] :
       {std::pair{&o.name, "--name"}, std::pair{&o.facility, "--facility"}}) {
    if (!IsPlainName(*value)) {
      return Fail(base::Invalid(std::string(option) +
                                " must be printable ASCII without | ^ & ~ \\ or spaces at the "
                                "ends, not '" +
                                *value + "'"));
    }
  }
  if (!o.application.empty() && !IsPlainName(o.application)) {
    return Fail(base::Invalid("--application must be printable ASCII without | ^ & ~ \\, not '" +
                              o.application + "'"));
  }
  auto directory = store::OpenSqliteIdentityRecords(o.data_dir);
  if (!directory.ok()) return Fail(directory.error());
  auto org = (*directory)->FindOrganisation(o.ods);
  if (!org.ok()) return Fail(org.error());
  if (!org.value()) {
    return Fail(base::MakeError(
        base::ErrorCode::kNotFound,
        "no organisation has ODS code " + o.ods + "; add it first with `carerecord orgs add`"));
  }
  feeds::FeedRecord feed;
  feed.name = o.name;
  feed.facility = o.facility;
  feed.application = o.application;
  feed.ods_code = (*org)->ods_code;
  auto added = inbox.AddFeed(feed);
  if (!added.ok()) return Fail(added.error());
  std::cout << "feed " << added->name << " added: facility " << added->facility
            << (added->application.empty() ? "" : " application " + added->application)
            << " speaks for " << added->ods_code << "\n";
  return 0;
}

int ListFeeds(feeds::Inbox& inbox) {
  auto feeds = inbox.ListFeeds();
  if (!feeds.ok()) return Fail(feeds.error());
  for (const feeds::FeedRecord& f : *feeds) {
    std::cout << f.name << " facility=" << f.facility
              << " application=" << (f.application.empty() ? "*" : f.application)
              << " org=" << f.ods_code << " " << (f.enabled ? "enabled" : "disabled") << "\n";
  }
  return 0;
}

int ListErrors(feeds::Inbox& inbox, size_t limit) {
  auto errors = inbox.ListErrors(limit);
  if (!errors.ok()) return Fail(errors.error());
  for (const feeds::InboxEntry& e : *errors) {
    // What a message sent is quoted and escaped when it holds a control character (decoded from
    // an HL7 escape such as \.br\ or \X1B\): raw, it could fake a line of this listing or send
    // the terminal an escape sequence (hostile round 11).
    std::cout << e.id << " " << e.state << " " << IsoTime(e.received_ms)
              << " feed=" << (e.feed_name.empty() ? "-" : base::TerminalCell(e.feed_name))
              << " facility=" << base::TerminalCell(e.sending_facility)
              << " control_id=" << base::TerminalCell(e.control_id)
              << " type=" << base::TerminalCell(e.message_type) << " attempts=" << e.attempts
              << ": " << base::TerminalCell(e.reason) << "\n";
  }
  if (errors->empty()) std::cout << "the error queue is empty\n";
  return 0;
}

int Reprocess(feeds::Inbox& inbox, const FeedOptions& o) {
  std::optional<int64_t> id;
  if (o.all == !o.id.empty()) return Fail(base::Invalid("give a message ID or --all, not both"));
  if (!o.all) {
    size_t used = 0;
    try {
      id = std::stoll(o.id, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != o.id.size() || *id <= 0) {
      return Fail(base::Invalid("a message ID is a positive number, not '" + o.id + "'"));
    }
  }
  auto moved = inbox.Reprocess(id);
  if (!moved.ok()) return Fail(moved.error());
  std::cout << moved.value() << " message(s) queued again";
  if (id && moved.value() == 0) std::cout << " (still no enabled feed names its facility)";
  std::cout << "\n";
  return 0;
}

int PrintStats(feeds::Inbox& inbox) {
  auto stats = inbox.Stats();
  if (!stats.ok()) return Fail(stats.error());
  for (const feeds::FeedStats& s : *stats) {
    std::cout << s.feed_name << " received=" << s.received << " accepted=" << s.accepted
              << " pending=" << s.pending << " in_error=" << s.in_error
              << " duplicates=" << s.duplicates << " last=" << IsoTime(s.last_received_ms)
              << " app_acks_undelivered=" << s.application_acks_undelivered << "\n";
  }
  return 0;
}

template <typename Run>
void OnChosen(CLI::App* command, std::shared_ptr<FeedOptions> o, Run run) {
  command->add_option("--data", o->data_dir, "Directory of the record store")
      ->capture_default_str();
  command->callback([o, run] {
    auto inbox = feeds::OpenInbox(o->data_dir);
    if (!inbox.ok()) throw CLI::RuntimeError(Fail(inbox.error()));
    throw CLI::RuntimeError(run(**inbox, *o));
  });
}

}  // namespace

void RegisterFeedCommands(CLI::App& app) {
  auto o = std::make_shared<FeedOptions>();
  auto* feeds = app.add_subcommand("feeds", "HL7 v2 feeds, the inbox's error queue and figures");
  feeds->require_subcommand(1);

  auto* add =
      feeds->add_subcommand("add", "Name a sending facility as speaking for an organisation");
  add->add_option("--name", o->name, "The feed's name")->required();
  add->add_option("--facility", o->facility, "Sending facility, MSH-4.1")->required();
  add->add_option("--application", o->application,
                  "Sending application, MSH-3.1 (default: any of the facility's)");
  add->add_option("--org", o->ods, "ODS code of the organisation (in the directory)")->required();
  OnChosen(add, o, [](feeds::Inbox& inbox, const FeedOptions& o) { return AddFeed(inbox, o); });

  auto* list = feeds->add_subcommand("list", "List the feeds");
  OnChosen(list, o, [](feeds::Inbox& inbox, const FeedOptions&) { return ListFeeds(inbox); });

  for (bool enable : {true, false}) {
    auto* command = feeds->add_subcommand(
        enable ? "enable" : "disable",
        enable ? "Take messages from a feed again" : "Refuse (AR) a feed's messages from now on");
    command->add_option("--name", o->name, "The feed's name")->required();
    OnChosen(command, o, [enable](feeds::Inbox& inbox, const FeedOptions& o) {
      base::Status done = inbox.SetFeedEnabled(o.name, enable);
      if (!done.ok()) return Fail(done.error());
      std::cout << "feed " << o.name << (enable ? " enabled" : " disabled") << "\n";
      return 0;
    });
  }

  auto* errors = feeds->add_subcommand("errors", "List the error queue (error and rejected)");
  errors->add_option("--limit", o->limit, "At most this many")->capture_default_str();
  OnChosen(errors, o,
           [](feeds::Inbox& inbox, const FeedOptions& o) { return ListErrors(inbox, o.limit); });

  auto* reprocess = feeds->add_subcommand("reprocess", "Queue messages in error again");
  reprocess->add_option("id", o->id, "The message's id (from `feeds errors`)");
  reprocess->add_flag("--all", o->all, "Every message in the error queue");
  OnChosen(reprocess, o,
           [](feeds::Inbox& inbox, const FeedOptions& o) { return Reprocess(inbox, o); });

  auto* stats = feeds->add_subcommand("stats", "Per feed: received, accepted, in error...");
  OnChosen(stats, o, [](feeds::Inbox& inbox, const FeedOptions&) { return PrintStats(inbox); });
}

}  // namespace carerecord::app
