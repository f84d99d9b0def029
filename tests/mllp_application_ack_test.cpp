// Enhanced-mode application ACKs over a real socket (issue 18): MSH-16 AL/ER/SU/NE decide whether
// the sender hears AA (mapped), AE (in the error queue, ERR naming segment, field and reason) or
// AR (a message type that is not mapped) after the accept ACK, on the same connection; whether it
// reached the sender is kept in the inbox, and a connection gone before the outcome is counted
// as not delivered.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "feeds/application_acks.h"
#include "feeds/inbox.h"
#include "feeds/inbox_worker.h"
#include "feeds/mllp_listener.h"
#include "hl7v2/error.h"
#include "tests/mllp_client.h"

namespace carerecord::feeds {
namespace {

namespace fs = std::filesystem;
using carerecord::testing::MllpClient;
using carerecord::testing::MsaOf;

std::string Adt(std::string_view control_id, std::string_view msh15_16) {
  return "MSH|^~\\&|PAS|RDZ|CR|CR|20260101120000||ADT^A01^ADT_A01|" + std::string(control_id) +
         "|P|2.5|||" + std::string(msh15_16) + "\rPID|1||123^^^RDZ^MR\r";
}

// Maps every message but those whose control id starts with BAD (an error at PID-7, as the
// mapping names it) or TYPE (a message type that is not mapped, named at MSH-9); waits while
// held.
class TestProcessor final : public MessageProcessor {
 public:
  base::Status Process(const InboxMessage& message) override {
    std::unique_lock lock(mutex_);
    released_.wait(lock, [this] { return !held_; });
    if (message.control_id.starts_with("BAD")) {
      hl7v2::ErrorLocation where;
      where.segment_id = "PID";
      where.segment_sequence = 2;
      where.field = 7;
      return hl7v2::MakeHl7Error(hl7v2::ErrorCondition::kDataTypeError, where,
                                 "birth date (PID-7) '21000101' is in the future")
          .ToError();
    }
    if (message.control_id.starts_with("TYPE")) {
      hl7v2::ErrorLocation where;
      where.segment_id = "MSH";
      where.segment_sequence = 1;
      where.field = 9;
      return hl7v2::MakeHl7Error(hl7v2::ErrorCondition::kUnsupportedMessageType, where,
                                 "message type ADT^A01 is not mapped")
          .ToError();
    }
    return base::Status::Ok();
  }
  void Hold(bool held) {
    {
      std::lock_guard lock(mutex_);
      held_ = held;
    }
    released_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  bool held_ = false;
};

class MllpApplicationAckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() /
           ("carerecord-appack-" + std::to_string(random()) + std::to_string(random()));
    InboxOptions inbox_options;
    inbox_options.durable = false;
    inbox_ = std::move(OpenInbox(dir_.string(), inbox_options)).value();
    FeedRecord feed;
    feed.name = "rdz-pas";
    feed.facility = "RDZ";
    feed.ods_code = "RDZ";
    ASSERT_TRUE(inbox_->AddFeed(feed).ok());
    acks_ = std::make_unique<ApplicationAcks>(*inbox_);
    worker_ = std::make_unique<InboxWorker>(*inbox_, processor_, std::chrono::milliseconds(50));
    worker_->SetProcessedHook(
        [this](const std::vector<ProcessedMessage>& processed) { acks_->Processed(processed); });
    inbox_->SetReceivedHook([this] { worker_->Wake(); });
    worker_->Start();
    MllpListenerOptions options;
    options.host = "127.0.0.1";
    options.responder.facility = "CARERECORD";
    options.application_acks = acks_.get();
    listener_ = std::make_unique<MllpListener>(options, *inbox_);
    auto bound = listener_->Start();
    ASSERT_TRUE(bound.ok()) << bound.error().message;
    port_ = bound.value();
  }
  void TearDown() override {
    processor_.Hold(false);
    listener_->Stop();
    acks_->Stop();
    inbox_->StopWriter();
    worker_->Stop();
    listener_.reset();
    worker_.reset();
    acks_.reset();
    inbox_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Polls the inbox (another thread records it) for a bounded time: not a timing assertion.
  std::string ApplicationAckOf(const std::string& control_id, const std::string& expected) {
    std::string seen;
    for (int i = 0; i < 400; ++i) {
      for (int64_t id = 1; id <= 64; ++id) {
        auto found = inbox_->FindMessage(id);
        if (found.ok() && *found && (*found)->control_id == control_id) {
          seen = (*found)->application_ack;
        }
      }
      if (seen == expected) return seen;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return seen;
  }
  int64_t Undelivered() {
    auto stats = inbox_->Stats();
    for (const FeedStats& s : *stats) {
      if (s.feed_name == "rdz-pas") return s.application_acks_undelivered;
    }
    return -1;
  }

  fs::path dir_;
  TestProcessor processor_;
  std::unique_ptr<Inbox> inbox_;
  std::unique_ptr<ApplicationAcks> acks_;
  std::unique_ptr<InboxWorker> worker_;
  std::unique_ptr<MllpListener> listener_;
  uint16_t port_ = 0;
};

TEST_F(MllpApplicationAckTest, AnApplicationAckFollowsTheAcceptAckOnceMapped) {
  MllpClient client(port_);
  // AL/AL: the accept ACK, then AA once mapped.
  ASSERT_TRUE(client.Send(Adt("A1", "AL|AL")));
  auto accept = client.ReadFrame();
  ASSERT_TRUE(accept);
  EXPECT_EQ(MsaOf(*accept), "MSA|CA|A1");
  auto application = client.ReadFrame();
  ASSERT_TRUE(application);
  EXPECT_EQ(MsaOf(*application), "MSA|AA|A1");
  EXPECT_EQ(application->rfind("MSH|^~\\&|carerecord|CARERECORD|PAS|RDZ|", 0), 0u) << *application;
  EXPECT_NE(application->find("|ACK^A01^ACK|"), std::string::npos) << *application;
  EXPECT_EQ(ApplicationAckOf("A1", "sent"), "sent");

  // NE/AL: no accept ACK, the application ACK only.
  auto only = client.Exchange(Adt("A2", "NE|AL"));
  ASSERT_TRUE(only);
  EXPECT_EQ(MsaOf(*only), "MSA|AA|A2");

  // AL/ER and an error: AE naming PID-7 and why.
  ASSERT_TRUE(client.Send(Adt("BAD3", "AL|ER")));
  auto bad_accept = client.ReadFrame();
  ASSERT_TRUE(bad_accept);
  EXPECT_EQ(MsaOf(*bad_accept), "MSA|CA|BAD3");
  auto error = client.ReadFrame();
  ASSERT_TRUE(error);
  EXPECT_EQ(MsaOf(*error), "MSA|AE|BAD3");
  EXPECT_NE(error->find("\rERR||PID^2^7|207"), std::string::npos) << *error;
  EXPECT_NE(error->find("is in the future"), std::string::npos) << *error;

  // AL/ER and a success: the accept ACK alone (the next frame is the next message's).
  ASSERT_TRUE(client.Send(Adt("A4", "AL|ER")));
  auto a4 = client.ReadFrame();
  ASSERT_TRUE(a4);
  EXPECT_EQ(MsaOf(*a4), "MSA|CA|A4");
  // AL/SU and an error: the accept ACK alone.
  ASSERT_TRUE(client.Send(Adt("BAD5", "AL|SU")));
  auto bad5 = client.ReadFrame();
  ASSERT_TRUE(bad5);
  EXPECT_EQ(MsaOf(*bad5), "MSA|CA|BAD5");
  // AL/NE: the accept ACK alone.
  ASSERT_TRUE(client.Send(Adt("A6", "AL|NE")));
  auto a6 = client.ReadFrame();
  ASSERT_TRUE(a6);
  EXPECT_EQ(MsaOf(*a6), "MSA|CA|A6");
  // AL/SU and a success: both.
  ASSERT_TRUE(client.Send(Adt("A7", "AL|SU")));
  auto a7 = client.ReadFrame();
  ASSERT_TRUE(a7);
  EXPECT_EQ(MsaOf(*a7), "MSA|CA|A7");
  auto a7_done = client.ReadFrame();
  ASSERT_TRUE(a7_done);
  EXPECT_EQ(MsaOf(*a7_done), "MSA|AA|A7");

  // A message type that is not mapped: AR naming MSH-9.
  auto refused = client.Exchange(Adt("TYPE8", "NE|AL"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(MsaOf(*refused), "MSA|AR|TYPE8");
  EXPECT_NE(refused->find("\rERR||MSH^1^9|200"), std::string::npos) << *refused;

  // A resend of a message mapped long ago hears its outcome again.
  auto again = client.Exchange(Adt("A2", "NE|AL"));
  ASSERT_TRUE(again);
  EXPECT_EQ(MsaOf(*again), "MSA|AA|A2");
  EXPECT_EQ(Undelivered(), 0);
}

TEST_F(MllpApplicationAckTest, AConnectionGoneBeforeTheOutcomeIsCountedAsNotDelivered) {
  processor_.Hold(true);
  {
    MllpClient client(port_);
    auto accept = client.Exchange(Adt("G1", "AL|AL"));
    ASSERT_TRUE(accept);
    EXPECT_EQ(MsaOf(*accept), "MSA|CA|G1");
  }  // closed before the message is mapped
  EXPECT_EQ(ApplicationAckOf("G1", "undelivered"), "undelivered");
  processor_.Hold(false);
  EXPECT_EQ(Undelivered(), 1);
}

}  // namespace
}  // namespace carerecord::feeds
