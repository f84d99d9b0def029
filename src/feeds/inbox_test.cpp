// The inbox: what a receive commits, how resends and conflicting resends are answered, messages
// no feed names, feed changes from another connection, the error queue and reprocessing, the
// figures, concurrent receives (group commit) and the worker (processing, errors, resuming).
#include "feeds/inbox.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "feeds/inbox_worker.h"

namespace carerecord::feeds {
namespace {

namespace fs = std::filesystem;

IncomingMessage Message(std::string facility, std::string control_id, std::string body = "A") {
  IncomingMessage m;
  m.sending_application = "PAS";
  m.sending_facility = facility;
  m.control_id = control_id;
  m.message_type = "ADT^A01";
  m.raw =
      "MSH|^~\\&|PAS|" + facility + "|||20260101||ADT^A01|" + control_id + "|P|2.5\rPID|" + body;
  return m;
}

class InboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() /
           ("carerecord-inbox-" + std::to_string(random()) + std::to_string(random()));
    InboxOptions options;
    options.durable = false;
    inbox_ = std::move(OpenInbox(dir_.string(), options)).value();
    FeedRecord feed;
    feed.name = "rdz-pas";
    feed.facility = "RDZ";
    feed.ods_code = "RDZ";
    ASSERT_TRUE(inbox_->AddFeed(feed).ok());
  }
  void TearDown() override {
    inbox_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::unique_ptr<Inbox> Reopen() {
    inbox_.reset();
    InboxOptions options;
    options.durable = false;
    return std::move(OpenInbox(dir_.string(), options)).value();
  }

  fs::path dir_;
  std::unique_ptr<Inbox> inbox_;
};

TEST_F(InboxTest, ReceivedMessageIsStoredWithItsBytesAndFeed) {
  auto result = inbox_->Receive(Message("RDZ", "C1"));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->outcome, ReceiveOutcome::kStored);
  auto pending = inbox_->NextReceived(0, 10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  const InboxMessage& m = pending->front();
  EXPECT_EQ(m.id, result->message_id);
  EXPECT_EQ(m.raw, Message("RDZ", "C1").raw);
  EXPECT_EQ(m.feed_name, "rdz-pas");
  EXPECT_EQ(m.ods_code, "RDZ");
  EXPECT_EQ(m.control_id, "C1");
  EXPECT_EQ(m.message_type, "ADT^A01");
  EXPECT_GT(m.received_ms, 0);
}

TEST_F(InboxTest, CommittedMessageSurvivesReopening) {
  ASSERT_TRUE(inbox_->Receive(Message("RDZ", "C1")).ok());
  inbox_ = Reopen();
  auto pending = inbox_->NextReceived(0, 10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().raw, Message("RDZ", "C1").raw);
}

TEST_F(InboxTest, IdenticalResendIsADuplicateAndStoresNothingNew) {
  auto first = inbox_->Receive(Message("RDZ", "C1"));
  auto again = inbox_->Receive(Message("RDZ", "C1"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, ReceiveOutcome::kDuplicate);
  EXPECT_EQ(again->message_id, first->message_id);
  EXPECT_EQ(inbox_->NextReceived(0, 10)->size(), 1u);
  auto stats = inbox_->Stats();
  ASSERT_EQ(stats->size(), 1u);
  EXPECT_EQ(stats->front().received, 1);
  EXPECT_EQ(stats->front().duplicates, 1);
}

TEST_F(InboxTest, SameControlIdWithOtherContentIsAConflictAndChangesNothing) {
  ASSERT_TRUE(inbox_->Receive(Message("RDZ", "C1", "first")).ok());
  auto conflict = inbox_->Receive(Message("RDZ", "C1", "second"));
  ASSERT_TRUE(conflict.ok());
  EXPECT_EQ(conflict->outcome, ReceiveOutcome::kConflictingDuplicate);
  EXPECT_NE(conflict->reason.find("conflicting duplicate"), std::string::npos);
  auto pending = inbox_->NextReceived(0, 10);
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().raw, Message("RDZ", "C1", "first").raw);
  EXPECT_EQ(inbox_->Stats()->front().duplicates, 0);
}

TEST_F(InboxTest, SameControlIdFromAnotherFacilityIsAnotherMessage) {
  FeedRecord other;
  other.name = "rbd-lab";
  other.facility = "RBD";
  other.ods_code = "RBD";
  ASSERT_TRUE(inbox_->AddFeed(other).ok());
  EXPECT_EQ(inbox_->Receive(Message("RDZ", "C1"))->outcome, ReceiveOutcome::kStored);
  EXPECT_EQ(inbox_->Receive(Message("RBD", "C1"))->outcome, ReceiveOutcome::kStored);
  EXPECT_EQ(inbox_->NextReceived(0, 10)->size(), 2u);
}

TEST_F(InboxTest, UnknownFacilityIsRejectedAndKeptInTheErrorQueue) {
  auto result = inbox_->Receive(Message("NOWHERE", "C9"));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->outcome, ReceiveOutcome::kNoFeed);
  EXPECT_NE(result->reason.find("NOWHERE"), std::string::npos);
  EXPECT_TRUE(inbox_->NextReceived(0, 10)->empty());
  auto errors = inbox_->ListErrors(10);
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ(errors->front().state, "rejected");
  EXPECT_EQ(errors->front().sending_facility, "NOWHERE");
  EXPECT_EQ(errors->front().reason, result->reason);
  // Still no feed: a resend is refused again, and reprocessing leaves it where it is.
  EXPECT_EQ(inbox_->Receive(Message("NOWHERE", "C9"))->outcome, ReceiveOutcome::kNoFeed);
  EXPECT_EQ(inbox_->Reprocess(std::nullopt).value(), 0);
}

TEST_F(InboxTest, FeedAddedLaterTakesRejectedMessagesOnReprocessOrResend) {
  ASSERT_EQ(inbox_->Receive(Message("RBD", "C1"))->outcome, ReceiveOutcome::kNoFeed);
  ASSERT_EQ(inbox_->Receive(Message("RBD", "C2"))->outcome, ReceiveOutcome::kNoFeed);
  // Added through another connection, as `feeds add` does while a server runs.
  {
    auto cli = OpenInbox(dir_.string());
    ASSERT_TRUE(cli.ok());
    FeedRecord feed;
    feed.name = "rbd";
    feed.facility = "RBD";
    feed.ods_code = "RBD";
    ASSERT_TRUE((*cli)->AddFeed(feed).ok());
  }
  EXPECT_EQ(inbox_->Receive(Message("RBD", "C1"))->outcome, ReceiveOutcome::kStored);
  EXPECT_EQ(inbox_->Reprocess(std::nullopt).value(), 1);
  auto pending = inbox_->NextReceived(0, 10);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ(pending->at(0).feed_name, "rbd");
  EXPECT_TRUE(inbox_->ListErrors(10)->empty());
}

TEST_F(InboxTest, DisabledFeedRefusesFromTheNextMessage) {
  EXPECT_EQ(inbox_->Receive(Message("RDZ", "C1"))->outcome, ReceiveOutcome::kStored);
  {
    auto cli = OpenInbox(dir_.string());
    ASSERT_TRUE((*cli)->SetFeedEnabled("rdz-pas", false).ok());
  }
  EXPECT_EQ(inbox_->Receive(Message("RDZ", "C2"))->outcome, ReceiveOutcome::kNoFeed);
  EXPECT_EQ(inbox_->SetFeedEnabled("nope", false).error().code, base::ErrorCode::kNotFound);
}

TEST_F(InboxTest, FeedNamingTheApplicationWinsOverTheWholeFacility) {
  FeedRecord lab;
  lab.name = "rdz-lab";
  lab.facility = "RDZ";
  lab.application = "LAB";
  lab.ods_code = "RDZ";
  ASSERT_TRUE(inbox_->AddFeed(lab).ok());
  IncomingMessage m = Message("RDZ", "L1");
  m.sending_application = "LAB";
  ASSERT_TRUE(inbox_->Receive(m).ok());
  ASSERT_TRUE(inbox_->Receive(Message("RDZ", "P1")).ok());
  auto pending = inbox_->NextReceived(0, 10);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ(pending->at(0).feed_name, "rdz-lab");
  EXPECT_EQ(pending->at(1).feed_name, "rdz-pas");
}

TEST_F(InboxTest, FeedNamesAndEnabledFacilitiesAreUnique) {
  FeedRecord same_name;
  same_name.name = "rdz-pas";
  same_name.facility = "X";
  EXPECT_EQ(inbox_->AddFeed(same_name).error().code, base::ErrorCode::kConflict);
  FeedRecord same_facility;
  same_facility.name = "other";
  same_facility.facility = "RDZ";
  EXPECT_EQ(inbox_->AddFeed(same_facility).error().code, base::ErrorCode::kConflict);
}

TEST_F(InboxTest, ConcurrentReceivesAreEachStoredOnce) {
  constexpr int kThreads = 8, kEach = 200;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Every message twice: from this thread now, and (for half) from another thread.
        const std::string id = "C" + std::to_string(t * kEach + i);
        if (!inbox_->Receive(Message("RDZ", id)).ok()) ++failures;
        const std::string other = "C" + std::to_string(((t + 1) % kThreads) * kEach + i);
        if (i % 2 == 0 && !inbox_->Receive(Message("RDZ", other)).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<std::string> ids;
  auto pending = inbox_->NextReceived(0, 100000);
  for (const InboxMessage& m : *pending) ids.insert(m.control_id);
  EXPECT_EQ(pending->size(), size_t{kThreads * kEach});
  EXPECT_EQ(ids.size(), size_t{kThreads * kEach});
  EXPECT_EQ(inbox_->Stats()->front().duplicates, kThreads * kEach / 2);
}

TEST_F(InboxTest, ReceiveAfterStopFailsCleanly) {
  inbox_->StopWriter();
  auto result = inbox_->Receive(Message("RDZ", "C1"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, base::ErrorCode::kUnavailable);
}

// Maps a message whose PID holds "ok"; refuses any other with a reason.
class RecordingProcessor final : public MessageProcessor {
 public:
  base::Status Process(const InboxMessage& message) override {
    std::lock_guard lock(mutex_);
    seen_.push_back(message.control_id);
    if (message.raw.find("PID|ok") != std::string::npos) return base::Status::Ok();
    return base::Invalid("PID-3 has no MR identifier");
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> seen_;
};

bool WaitFor(const std::function<bool()>& condition) {
  for (int i = 0; i < 400 && !condition(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return condition();
}

TEST_F(InboxTest, WorkerMapsMessagesAndQueuesFailuresWithTheirReason) {
  RecordingProcessor processor;
  InboxWorker worker(*inbox_, processor);
  inbox_->SetReceivedHook([&worker] { worker.Wake(); });
  worker.Start();
  ASSERT_TRUE(inbox_->Receive(Message("RDZ", "C1", "ok")).ok());
  ASSERT_TRUE(inbox_->Receive(Message("RDZ", "C2", "bad")).ok());
  ASSERT_TRUE(WaitFor([&] { return inbox_->NextReceived(0, 10)->empty(); }));
  worker.Stop();
  auto stats = inbox_->Stats()->front();
  EXPECT_EQ(stats.accepted, 1);
  EXPECT_EQ(stats.in_error, 1);
  auto errors = inbox_->ListErrors(10);
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ(errors->front().control_id, "C2");
  EXPECT_EQ(errors->front().state, "error");
  EXPECT_EQ(errors->front().reason, "PID-3 has no MR identifier");
  EXPECT_EQ(errors->front().attempts, 1);
  // Reprocessing puts it back; the processor refuses it again, and it is back in the queue.
  EXPECT_EQ(inbox_->Reprocess(errors->front().id).value(), 1);
  worker.Start();
  ASSERT_TRUE(WaitFor([&] { return inbox_->NextReceived(0, 10)->empty(); }));
  worker.Stop();
  EXPECT_EQ(inbox_->ListErrors(10)->front().attempts, 2);
  EXPECT_EQ(processor.seen(), (std::vector<std::string>{"C1", "C2", "C2"}));
  // A mapped message is not in the error queue: reprocessing it names why.
  auto mapped = inbox_->Reprocess(1);
  ASSERT_FALSE(mapped.ok());
  EXPECT_NE(mapped.error().message.find("mapped"), std::string::npos);
  EXPECT_EQ(inbox_->Reprocess(999).error().code, base::ErrorCode::kNotFound);
}

TEST_F(InboxTest, WorkerResumesMessagesLeftReceivedByAnEarlierRun) {
  ASSERT_TRUE(inbox_->Receive(Message("RDZ", "C1", "ok")).ok());
  ASSERT_TRUE(inbox_->Receive(Message("RDZ", "C2", "ok")).ok());
  inbox_ = Reopen();  // as after a crash: nothing processed them
  RecordingProcessor processor;
  InboxWorker worker(*inbox_, processor);
  worker.Start();  // no hook, no new message: it must find them itself
  ASSERT_TRUE(WaitFor([&] { return inbox_->NextReceived(0, 10)->empty(); }));
  worker.Stop();
  EXPECT_EQ(processor.seen(), (std::vector<std::string>{"C1", "C2"}));
  EXPECT_EQ(inbox_->Stats()->front().accepted, 2);
}

// Finds the record unavailable for a message whose PID holds "flaky" its first `failures` times,
// and for one whose PID holds "down" always; maps the rest.
class UnavailableProcessor final : public MessageProcessor {
 public:
  explicit UnavailableProcessor(int failures) : failures_(failures) {}
  base::Status Process(const InboxMessage& message) override {
    std::lock_guard lock(mutex_);
    seen_.push_back(message.control_id);
    const bool down = message.raw.find("PID|down") != std::string::npos ||
                      (message.raw.find("PID|flaky") != std::string::npos && failures_-- > 0);
    if (down) return base::MakeError(base::ErrorCode::kUnavailable, "the disk is full");
    return base::Status::Ok();
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  std::mutex mutex_;
  int failures_;
  std::vector<std::string> seen_;
};

TEST_F(InboxTest, WorkerRetriesAMessageTheRecordWasUnavailableForWithoutAReprocess) {
  UnavailableProcessor processor(/*failures=*/2);
  InboxWorker worker(
      *inbox_, processor, std::chrono::seconds(1),
      InboxWorkerRetry{std::chrono::milliseconds(20), std::chrono::milliseconds(80), 12});
  inbox_->SetReceivedHook([&worker] { worker.Wake(); });
  worker.Start();
  ASSERT_TRUE(inbox_->Receive(Message("RDZ", "C1", "flaky")).ok());
  ASSERT_TRUE(WaitFor([&] { return inbox_->Stats()->front().accepted == 1; }));
  worker.Stop();
  // Tried three times, never in the error queue, marked once.
  EXPECT_EQ(processor.seen(), (std::vector<std::string>{"C1", "C1", "C1"}));
  EXPECT_TRUE(inbox_->ListErrors(10)->empty());
  auto found = inbox_->FindMessage(1);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->state, "mapped");
  EXPECT_EQ((*found)->attempts, 1);
}

TEST_F(InboxTest, WorkerGivesUpOnAnAlwaysUnavailableMessageAndMapsTheOthers) {
  UnavailableProcessor processor(0);
  InboxWorker worker(
      *inbox_, processor, std::chrono::seconds(1),
      InboxWorkerRetry{std::chrono::milliseconds(5), std::chrono::milliseconds(20), 3});
  inbox_->SetReceivedHook([&worker] { worker.Wake(); });
  ASSERT_TRUE(inbox_->Receive(Message("RDZ", "C1", "down")).ok());
  ASSERT_TRUE(inbox_->Receive(Message("RDZ", "C2", "ok")).ok());
  worker.Start();
  ASSERT_TRUE(WaitFor([&] { return inbox_->NextReceived(0, 10)->empty(); }));
  worker.Stop();
  auto errors = inbox_->ListErrors(10);
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ(errors->front().control_id, "C1");
  EXPECT_EQ(errors->front().reason, "the disk is full");
  EXPECT_EQ(inbox_->Stats()->front().accepted, 1);
  const auto seen = processor.seen();
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "C1"), 3);
}

TEST(ContentHashTest, IsTheHexSha256) {
  EXPECT_EQ(ContentHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace carerecord::feeds
