// The MLLP listener over real sockets: ACKs after the inbox commit, framing in pieces, junk,
// unreadable and oversize messages, timeouts, resends and conflicting resends, unknown
// facilities, enhanced mode, many connections, the connection limit, a flooding sender beside
// a polite one, and TLS.
#include "feeds/mllp_listener.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <random>
#include <thread>

#include "feeds/inbox.h"
#include "tests/mllp_client.h"

namespace carerecord::feeds {
namespace {

namespace fs = std::filesystem;
using carerecord::testing::MllpClient;
using carerecord::testing::MsaOf;
using namespace std::chrono_literals;

std::string Adt(std::string_view control_id, std::string_view facility = "RDZ",
                std::string_view extra_msh = "", std::string_view pid = "PID|1||123^^^RDZ^MR") {
  return "MSH|^~\\&|PAS|" + std::string(facility) + "|CR|CR|20260101120000||ADT^A01^ADT_A01|" +
         std::string(control_id) + "|P|2.5" + std::string(extra_msh) + "\r" + std::string(pid) +
         "\r";
}

class MllpListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() /
           ("carerecord-mllp-" + std::to_string(random()) + std::to_string(random()));
    InboxOptions inbox_options;
    inbox_options.durable = false;
    inbox_ = std::move(OpenInbox(dir_.string(), inbox_options)).value();
    FeedRecord feed;
    feed.name = "rdz-pas";
    feed.facility = "RDZ";
    feed.ods_code = "RDZ";
    ASSERT_TRUE(inbox_->AddFeed(feed).ok());
  }
  void TearDown() override {
    if (listener_) listener_->Stop();
    listener_.reset();
    inbox_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Start(MllpListenerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    options.responder.facility = "CARERECORD";
    listener_ = std::make_unique<MllpListener>(options, *inbox_);
    auto bound = listener_->Start();
    ASSERT_TRUE(bound.ok()) << bound.error().message;
    port_ = bound.value();
  }
  // What another connection to the file sees: committed rows only.
  std::vector<InboxMessage> Committed() {
    auto other = OpenInbox(dir_.string());
    return std::move((*other)->NextReceived(0, 100000)).value();
  }

  fs::path dir_;
  std::unique_ptr<Inbox> inbox_;
  std::unique_ptr<MllpListener> listener_;
  uint16_t port_ = 0;
};

TEST_F(MllpListenerTest, AckIsSentOnlyAfterCommit) {
  Start();
  MllpClient client(port_);
  auto ack = client.Exchange(Adt("C1"));
  ASSERT_TRUE(ack);
  EXPECT_EQ(MsaOf(*ack), "MSA|AA|C1");
  // MSH-5/6 are the sender's MSH-3/4.
  EXPECT_EQ(ack->rfind("MSH|^~\\&|carerecord|CARERECORD|PAS|RDZ|", 0), 0u) << *ack;
  auto committed = Committed();
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0].raw, Adt("C1"));
}

TEST_F(MllpListenerTest, FrameSplitAcrossWritesIsOneMessage) {
  Start();
  MllpClient client(port_);
  const std::string frame = MllpClient::Frame(Adt("C1"));
  for (char c : frame) {
    ASSERT_TRUE(client.SendRaw(std::string_view(&c, 1)));
    if (c == '|') std::this_thread::sleep_for(1ms);  // let some bytes arrive on their own
  }
  auto ack = client.ReadFrame();
  ASSERT_TRUE(ack);
  EXPECT_EQ(MsaOf(*ack), "MSA|AA|C1");
}

TEST_F(MllpListenerTest, PipelinedFramesAreAnsweredInOrder) {
  Start();
  MllpClient client(port_);
  std::string all;
  for (int i = 0; i < 40; ++i) all += MllpClient::Frame(Adt("P" + std::to_string(i)));
  ASSERT_TRUE(client.SendRaw(all));
  for (int i = 0; i < 40; ++i) {
    auto ack = client.ReadFrame();
    ASSERT_TRUE(ack) << i;
    EXPECT_EQ(MsaOf(*ack), "MSA|AA|P" + std::to_string(i));
  }
  EXPECT_EQ(Committed().size(), 40u);
}

TEST_F(MllpListenerTest, PipelinedFramesBeyondTheByteBoundAreAllAnswered) {
  MllpListenerOptions options;
  options.max_message_bytes = 4096;  // reading pauses after about one such frame ahead
  Start(options);
  MllpClient client(port_);
  std::string all;
  for (int i = 0; i < 40; ++i) {
    all += MllpClient::Frame(
        Adt("L" + std::to_string(i), "RDZ", "", "PID|1||123^^^RDZ^MR|" + std::string(3000, 'x')));
  }
  ASSERT_TRUE(client.SendRaw(all));
  for (int i = 0; i < 40; ++i) {
    auto ack = client.ReadFrame();
    ASSERT_TRUE(ack) << i;
    EXPECT_EQ(MsaOf(*ack), "MSA|AA|L" + std::to_string(i));
  }
}

TEST_F(MllpListenerTest, JunkOutsideFramesIsIgnored) {
  Start();
  MllpClient client(port_);
  ASSERT_TRUE(client.SendRaw(std::string("hello\x00\xff junk\r\n", 14)));
  auto ack = client.Exchange(Adt("C1"));
  ASSERT_TRUE(ack);
  EXPECT_EQ(MsaOf(*ack), "MSA|AA|C1");
}

TEST_F(MllpListenerTest, EndlessJunkClosesTheConnection) {
  MllpListenerOptions options;
  options.max_junk_bytes = 4096;
  Start(options);
  MllpClient client(port_);
  client.SendRaw(std::string(10000, 'x'));
  EXPECT_TRUE(client.ClosedWithin(20s));
  MllpClient other(port_);
  EXPECT_EQ(MsaOf(*other.Exchange(Adt("C1"))), "MSA|AA|C1");
}

TEST_F(MllpListenerTest, UnreadableMessageGetsARejectAndTheConnectionLivesOn) {
  Start();
  MllpClient client(port_);
  auto reject = client.Exchange(std::string("\x01\x02 binary junk", 15));
  ASSERT_TRUE(reject);
  EXPECT_EQ(MsaOf(*reject), "MSA|AR|");
  EXPECT_NE(reject->find("\rERR|"), std::string::npos);
  // A truncated MSH: its control id is still echoed.
  auto truncated = client.Exchange("MSH|^~\\&|PAS|RDZ|CR|CR|20260101||ADT^A01|T1|P|9.9\r");
  ASSERT_TRUE(truncated);
  EXPECT_EQ(MsaOf(*truncated), "MSA|AR|T1");
  EXPECT_NE(truncated->find("203^"), std::string::npos) << *truncated;  // unsupported version
  EXPECT_EQ(MsaOf(*client.Exchange(Adt("C1"))), "MSA|AA|C1");
  EXPECT_EQ(Committed().size(), 1u);
}

TEST_F(MllpListenerTest, OversizeMessageIsRejectedAndSkipped) {
  MllpListenerOptions options;
  options.max_message_bytes = 4096;
  Start(options);
  MllpClient client(port_);
  auto reject = client.Exchange(Adt("BIG", "RDZ", "", "OBX|1|TX|||" + std::string(100000, 'a')));
  ASSERT_TRUE(reject);
  EXPECT_EQ(MsaOf(*reject), "MSA|AR|BIG");
  EXPECT_NE(reject->find("104^"), std::string::npos) << *reject;  // value too long
  EXPECT_EQ(MsaOf(*client.Exchange(Adt("C1"))), "MSA|AA|C1");
  auto committed = Committed();
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0].control_id, "C1");
}

TEST_F(MllpListenerTest, IdleConnectionIsClosed) {
  MllpListenerOptions options;
  options.idle_timeout = 200ms;
  Start(options);
  MllpClient client(port_);
  EXPECT_EQ(MsaOf(*client.Exchange(Adt("C1"))), "MSA|AA|C1");
  EXPECT_TRUE(client.ClosedWithin(20s));
}

TEST_F(MllpListenerTest, MessageThatNeverEndsIsClosedAfterTheReadTimeout) {
  MllpListenerOptions options;
  options.read_timeout = 200ms;
  Start(options);
  MllpClient client(port_);
  ASSERT_TRUE(client.SendRaw("\x0b" + Adt("C1")));  // no end block
  EXPECT_TRUE(client.ClosedWithin(20s));
  EXPECT_TRUE(Committed().empty());
}

TEST_F(MllpListenerTest, ResendIsAcknowledgedAgainAndStoredOnce) {
  Start();
  MllpClient client(port_);
  EXPECT_EQ(MsaOf(*client.Exchange(Adt("C1"))), "MSA|AA|C1");
  MllpClient again(port_);  // as after a lost ACK: a new connection
  EXPECT_EQ(MsaOf(*again.Exchange(Adt("C1"))), "MSA|AA|C1");
  EXPECT_EQ(Committed().size(), 1u);
  EXPECT_EQ(inbox_->Stats()->front().duplicates, 1);
}

TEST_F(MllpListenerTest, ConflictingDuplicateGetsAnErrorAndChangesNothing) {
  Start();
  MllpClient client(port_);
  EXPECT_EQ(MsaOf(*client.Exchange(Adt("C1"))), "MSA|AA|C1");
  auto ack = client.Exchange(Adt("C1", "RDZ", "", "PID|1||999^^^RDZ^MR"));
  ASSERT_TRUE(ack);
  EXPECT_EQ(MsaOf(*ack), "MSA|AE|C1");
  EXPECT_NE(ack->find("conflicting duplicate"), std::string::npos) << *ack;
  EXPECT_NE(ack->find("ERR||MSH^1^10|205^"), std::string::npos) << *ack;
  auto committed = Committed();
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0].raw, Adt("C1"));
}

TEST_F(MllpListenerTest, UnknownFacilityIsRefusedAndKeptInTheErrorQueue) {
  Start();
  MllpClient client(port_);
  auto ack = client.Exchange(Adt("X1", "ELSEWHERE"));
  ASSERT_TRUE(ack);
  EXPECT_EQ(MsaOf(*ack), "MSA|AR|X1");
  EXPECT_NE(ack->find("ELSEWHERE"), std::string::npos);
  auto errors = inbox_->ListErrors(10);
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ(errors->front().sending_facility, "ELSEWHERE");
  EXPECT_EQ(errors->front().state, "rejected");
}

TEST_F(MllpListenerTest, EnhancedModeSendsTheAcceptAckItAskedFor) {
  Start();
  MllpClient client(port_);
  // MSH-15 AL: an accept ACK after the commit.
  auto accept = client.Exchange(Adt("E1", "RDZ", "|||AL|NE"));
  ASSERT_TRUE(accept);
  EXPECT_EQ(MsaOf(*accept), "MSA|CA|E1");
  // MSH-15 NE: nothing on this connection; the next message's answer is the next frame.
  ASSERT_TRUE(client.Send(Adt("E2", "RDZ", "|||NE|AL")));
  // MSH-15 ER: nothing for a success, CE for a conflicting duplicate.
  ASSERT_TRUE(client.Send(Adt("E3", "RDZ", "|||ER|NE")));
  auto conflict = client.Exchange(Adt("E1", "RDZ", "|||ER|NE"));
  ASSERT_TRUE(conflict);
  EXPECT_EQ(MsaOf(*conflict), "MSA|CE|E1");
  EXPECT_EQ(Committed().size(), 3u);  // E1, E2 and E3, each committed though unanswered
}

TEST_F(MllpListenerTest, ManyConnectionsAtOnceAreAllAnswered) {
  Start();
  constexpr int kClients = 40, kEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> acked{0};
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      MllpClient client(port_);
      for (int i = 0; i < kEach; ++i) {
        const std::string id = "M" + std::to_string(c) + "-" + std::to_string(i);
        auto ack = client.Exchange(Adt(id));
        if (ack && MsaOf(*ack) == "MSA|AA|" + id) ++acked;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(acked.load(), kClients * kEach);
  EXPECT_EQ(Committed().size(), size_t{kClients * kEach});
}

TEST_F(MllpListenerTest, ConnectionsBeyondTheLimitAreClosed) {
  MllpListenerOptions options;
  options.max_connections = 2;
  Start(options);
  MllpClient first(port_), second(port_);
  EXPECT_EQ(MsaOf(*first.Exchange(Adt("C1"))), "MSA|AA|C1");
  EXPECT_EQ(MsaOf(*second.Exchange(Adt("C2"))), "MSA|AA|C2");
  MllpClient third(port_);
  EXPECT_TRUE(third.ClosedWithin(20s));
  EXPECT_EQ(MsaOf(*first.Exchange(Adt("C3"))), "MSA|AA|C3");
}

TEST_F(MllpListenerTest, FloodingSenderDoesNotStarveAnother) {
  Start();
  // The flooder writes thousands of messages and never reads its ACKs, from a thread of its
  // own (its writes block once the buffers fill).
  std::atomic<bool> stop{false};
  MllpClient flooder(port_);
  std::thread flood([&] {
    for (int i = 0; i < 20000 && !stop; ++i) {
      if (!flooder.Send(Adt("F" + std::to_string(i)))) break;
    }
  });
  MllpClient polite(port_);
  for (int i = 0; i < 20; ++i) {
    const std::string id = "Q" + std::to_string(i);
    auto ack = polite.Exchange(Adt(id));
    ASSERT_TRUE(ack) << i;
    EXPECT_EQ(MsaOf(*ack), "MSA|AA|" + id);
  }
  stop = true;
  listener_->Stop();  // closes the flooder, which unblocks its thread
  flood.join();
}

TEST_F(MllpListenerTest, ClosingMidMessageLosesNothingStored) {
  Start();
  {
    MllpClient client(port_);
    EXPECT_EQ(MsaOf(*client.Exchange(Adt("C1"))), "MSA|AA|C1");
    client.SendRaw("\x0b" + Adt("C2").substr(0, 20));
  }
  MllpClient client(port_);
  EXPECT_EQ(MsaOf(*client.Exchange(Adt("C3"))), "MSA|AA|C3");
  auto committed = Committed();
  ASSERT_EQ(committed.size(), 2u);
  EXPECT_EQ(committed[0].control_id, "C1");
  EXPECT_EQ(committed[1].control_id, "C3");
}

TEST_F(MllpListenerTest, TlsListenerAnswersOverTls) {
  const std::string cert = (dir_ / "cert.pem").string(), key = (dir_ / "key.pem").string();
  fs::create_directories(dir_);
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "
      "/CN=localhost -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  MllpListenerOptions options;
  options.tls_certificate_file = cert;
  options.tls_private_key_file = key;
  Start(options);

  namespace asio = boost::asio;
  asio::io_context io;
  asio::ssl::context context(asio::ssl::context::tls_client);
  context.load_verify_file(cert);
  context.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> stream(io, context);
  stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), port_});
  stream.handshake(asio::ssl::stream_base::client);
  asio::write(stream, asio::buffer(MllpClient::Frame(Adt("T1"))));
  std::string reply;
  asio::read_until(stream, asio::dynamic_buffer(reply), "\x1c\x0d");
  EXPECT_EQ(MsaOf(reply.substr(1)), "MSA|AA|T1");

  // A plain-text sender on the TLS port gets no ACK and nothing is stored.
  MllpClient plain(port_);
  plain.Send(Adt("P1"));
  EXPECT_FALSE(plain.ReadFrame(2s).has_value());
  auto committed = Committed();
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0].control_id, "T1");
}

TEST_F(MllpListenerTest, TlsNeedsReadableFiles) {
  MllpListenerOptions options;
  options.tls_certificate_file = (dir_ / "missing.pem").string();
  options.tls_private_key_file = (dir_ / "missing.key").string();
  MllpListener listener(options, *inbox_);
  auto bound = listener.Start();
  ASSERT_FALSE(bound.ok());
  EXPECT_NE(bound.error().message.find("missing.pem"), std::string::npos);
}

}  // namespace
}  // namespace carerecord::feeds
