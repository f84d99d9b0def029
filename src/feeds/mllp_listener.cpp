// Boost.Asio: one io_context on `io_threads` threads, each connection on a strand of its own.
// A connection reads chunks into an MllpDecoder, queues the frames (up to max_frames_ahead, then
// stops reading), and takes up to max_in_flight of them at once: parse, commit to the inbox (the
// writer thread calls back; the answer is posted to the connection's strand); the answers are
// written in the order the messages came.

#include "feeds/mllp_listener.h"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <type_traits>
#include <vector>

#include "hl7v2/message.h"
#include "hl7v2/mllp.h"

namespace carerecord::feeds {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using TlsStream = asio::ssl::stream<tcp::socket>;

constexpr size_t kReadChunk = 64 << 10;

void LogLine(const std::string& line) {
  std::fprintf(stderr, "carerecord mllp: %s\n", line.c_str());
}

class ConnectionBase : public std::enable_shared_from_this<ConnectionBase> {
 public:
  virtual ~ConnectionBase() = default;
  // Posts the close onto the connection's strand.
  virtual void PostClose() = 0;
};

// What connections share with the listener.
struct ListenerState {
  ListenerState(MllpListenerOptions o, Inbox& i) : options(std::move(o)), inbox(i) {
    parse_options.limits.max_message_bytes = options.max_message_bytes;
  }
  MllpListenerOptions options;
  Inbox& inbox;
  hl7v2::ParseOptions parse_options;
  std::atomic<int> connections{0};
  std::atomic<int> at_inbox{0};  // receives submitted whose callback has not yet run
};

template <class Stream>
class Connection final : public ConnectionBase {
 public:
  Connection(ListenerState& state, Stream stream)
      : state_(state),
        stream_(std::move(stream)),
        timer_(stream_.get_executor()),
        decoder_(state.options.max_message_bytes),
        buffer_(kReadChunk) {
    state_.connections.fetch_add(1);
  }
  ~Connection() override { state_.connections.fetch_sub(1); }

  void Begin() {
    started_ = last_activity_ = Clock::now();
    ArmTimer();
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      handshaking_ = true;
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = Self()](const boost::system::error_code& ec) {
                                self->handshaking_ = false;
                                if (ec) return self->Close();
                                self->last_activity_ = Clock::now();
                                self->Pump();
                              });
    } else {
      Read();
    }
  }

  void PostClose() override {
    asio::post(stream_.get_executor(), [self = Self()] { self->Close(); });
  }

 private:
  std::shared_ptr<Connection> Self() {
    return std::static_pointer_cast<Connection>(shared_from_this());
  }

  tcp::socket& Socket() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    // Application ACKs that can no longer be sent here: recorded as not delivered.
    if (ApplicationAcks* acks = state_.options.application_acks) {
      for (uint64_t token : awaiting_) acks->Cancel(token);
      for (const auto& [number, held] : held_) acks->Delivered(held.message_id, false);
      for (const AppAck& ready : app_out_) acks->Delivered(ready.message_id, false);
    }
    awaiting_.clear();
    held_.clear();
    app_out_.clear();
    boost::system::error_code ignored;
    Socket().shutdown(tcp::socket::shutdown_both, ignored);
    Socket().close(ignored);
  }

  void ArmTimer() {
    const auto& o = state_.options;
    auto tick = std::min({std::chrono::milliseconds(1000), o.idle_timeout / 4, o.read_timeout / 4});
    tick = std::max(tick, std::chrono::milliseconds(10));
    timer_.expires_after(tick);
    timer_.async_wait([self = Self()](const boost::system::error_code& ec) {
      if (ec || self->closed_) return;
      if (self->TimedOut()) return self->Close();
      self->ArmTimer();
    });
  }

  bool TimedOut() const {
    const auto now = Clock::now();
    const auto& o = state_.options;
    if (handshaking_) return now - started_ > o.read_timeout;
    if (writing_since_) return now - *writing_since_ > o.read_timeout;  // the peer stopped reading
    if (decoder_.InFrame() && frame_since_) return now - *frame_since_ > o.read_timeout;
    const bool waiting = in_flight_.empty() && frames_.empty() && !decoder_.InFrame();
    return waiting && now - last_activity_ > o.idle_timeout;
  }

  void Read() {
    // Frames decoded ahead are bounded in number and in bytes (about one largest message), so
    // a connection holds at most a few messages' worth of memory whatever it sends.
    if (closed_ || reading_ || peer_done_ || frames_.size() >= state_.options.max_frames_ahead ||
        frame_bytes_ahead_ >= state_.options.max_message_bytes) {
      return;
    }
    reading_ = true;
    stream_.async_read_some(asio::buffer(buffer_),
                            [self = Self()](const boost::system::error_code& ec, size_t bytes) {
                              self->reading_ = false;
                              if (ec) {
                                // The peer is done (or gone): answer what was received whole, then
                                // close.
                                self->peer_done_ = true;
                                if (self->AllAnswered()) self->Close();
                                return;
                              }
                              self->OnRead(bytes);
                            });
  }

  void OnRead(size_t bytes) {
    last_activity_ = Clock::now();
    std::vector<hl7v2::MllpEvent> events;
    decoder_.Feed(std::string_view(buffer_.data(), bytes), events);
    bool completed = false;
    for (hl7v2::MllpEvent& event : events) {
      if (event.kind == hl7v2::MllpEvent::Kind::kJunk) {
        junk_bytes_ += event.bytes;
        if (junk_bytes_ > state_.options.max_junk_bytes) {
          LogLine("closing a connection that sent " + std::to_string(junk_bytes_) +
                  " bytes outside MLLP frames");
          return Close();
        }
        continue;
      }
      if (event.kind == hl7v2::MllpEvent::Kind::kFrame) completed = true;
      frame_bytes_ahead_ += event.payload.size();
      frames_.push_back(std::move(event));
    }
    if (!decoder_.InFrame()) {
      frame_since_.reset();
    } else if (completed || !frame_since_) {
      frame_since_ = last_activity_;
    }
    Pump();
  }

  // A message from the time its frame is taken until its answer is written.
  struct InFlight {
    uint64_t number = 0;  // its place in the connection's arrivals, from 1
    std::string payload;
    std::optional<hl7v2::Message> message;  // views payload
    bool answered = false;
    std::string ack_frame;  // empty: answered with silence
  };

  // Starts what the window allows, retires answers at the front in order (writing each ACK,
  // dropping the silent ones), then reads on if there is room. Called after every event.
  void Pump() {
    for (bool progress = true; progress && !closed_;) {
      progress = false;
      while (in_flight_.size() < state_.options.max_in_flight && !frames_.empty()) {
        StartNext();
        progress = true;
      }
      if (!writing_ && !in_flight_.empty() && in_flight_.front()->answered) {
        if (in_flight_.front()->ack_frame.empty()) {
          RetireFront();  // enhanced mode, no accept ACK asked for
          progress = true;
        } else {
          WriteFront();
        }
      }
    }
    if (closed_) return;
    if (!writing_ && !app_out_.empty() && (in_flight_.empty() || !in_flight_.front()->answered)) {
      WriteApplicationAck();
    }
    if (AllAnswered() && peer_done_) return Close();
    Read();
  }

  // Every message received is answered (accept or original-mode ACK written). Once the peer
  // has closed its side the connection closes then: an application ACK still to come cannot be
  // delivered and is recorded so (Close).
  bool AllAnswered() const { return in_flight_.empty() && frames_.empty() && !writing_; }

  void StartNext() {
    hl7v2::MllpEvent event = std::move(frames_.front());
    frames_.pop_front();
    frame_bytes_ahead_ -= event.payload.size();
    in_flight_.push_back(std::make_unique<InFlight>());
    InFlight* item = in_flight_.back().get();  // stays put until its answer is written
    item->number = ++arrived_;
    if (event.kind == hl7v2::MllpEvent::Kind::kOversize) {
      auto error = hl7v2::MakeHl7Error(hl7v2::ErrorCondition::kValueTooLong, {},
                                       "the message is larger than " +
                                           std::to_string(state_.options.max_message_bytes) +
                                           " bytes, the most this receiver accepts",
                                       base::ErrorCode::kTooLarge);
      return Answer(
          item, hl7v2::BuildRejectForUnreadable(event.payload, error, state_.options.responder));
    }
    item->payload = std::move(event.payload);
    auto parsed = hl7v2::ParseMessage(std::string_view(item->payload), state_.parse_options);
    if (!parsed.ok()) {
      return Answer(item, hl7v2::BuildRejectForUnreadable(item->payload, parsed.error(),
                                                          state_.options.responder));
    }
    item->message.emplace(std::move(parsed).value());
    const hl7v2::MessageHeader& h = item->message->header();
    IncomingMessage incoming{item->payload, h.sending_application, h.sending_facility, h.control_id,
                             h.message_code + "^" + h.trigger_event};
    state_.at_inbox.fetch_add(1);
    state_.inbox.ReceiveAsync(std::move(incoming), [self = Self(),
                                                    item](base::Result<ReceiveResult> result) {
      asio::post(self->stream_.get_executor(), [self, item, result = std::move(result)]() mutable {
        self->OnStored(item, std::move(result));
      });
      self->state_.at_inbox.fetch_sub(1);
    });
  }

  // `ack` empty: nothing is sent for this message.
  void Answer(InFlight* item, const std::string& ack) {
    item->answered = true;
    item->message.reset();  // before the bytes it views
    item->payload = std::string();
    if (ack.empty()) return;
    auto frame = hl7v2::EncodeMllpFrame(ack);
    if (!frame.ok()) {
      LogLine("an ACK could not be framed: " + frame.error().message);
      return Close();
    }
    item->ack_frame = std::move(frame).value();
  }

  void OnStored(InFlight* item, base::Result<ReceiveResult> result) {
    if (closed_) return;
    const hl7v2::Message& message = *item->message;
    const hl7v2::AckPolicy policy = hl7v2::ReadAckPolicy(message.header());
    hl7v2::AckDetails details;
    bool accepted = false;
    bool reject = true;  // AR/CR (refused, not for its content) rather than AE/CE
    if (!result.ok()) {
      details.errors.push_back(hl7v2::MakeHl7Error(
          hl7v2::ErrorCondition::kApplicationInternalError, {},
          "the message could not be stored (" + result.error().message + "); send it again"));
    } else {
      switch (result->outcome) {
        case ReceiveOutcome::kStored:
        case ReceiveOutcome::kDuplicate:
          accepted = true;
          break;
        case ReceiveOutcome::kConflictingDuplicate:
          reject = false;
          details.errors.push_back(
              hl7v2::MakeHl7Error(hl7v2::ErrorCondition::kDuplicateKeyIdentifier,
                                  message.segment(0).Location(10), result->reason));
          break;
        case ReceiveOutcome::kNoFeed:
          details.errors.push_back(hl7v2::MakeHl7Error(hl7v2::ErrorCondition::kUnknownKeyIdentifier,
                                                       message.segment(0).Location(4),
                                                       result->reason));
          break;
      }
    }
    std::string ack;
    if (policy.enhanced) {
      // Application ACKs in enhanced mode go back on a connection of the receiver's own, which
      // this listener does not open: the accept ACK is the answer on this connection.
      if (policy.WantsAcceptAck(accepted)) {
        details.code = accepted ? hl7v2::AckCode::kCA
                       : reject ? hl7v2::AckCode::kCR
                                : hl7v2::AckCode::kCE;
        ack = hl7v2::BuildAck(message, details, state_.options.responder);
      }
    } else {
      details.code = accepted ? hl7v2::AckCode::kAA
                     : reject ? hl7v2::AckCode::kAR
                              : hl7v2::AckCode::kAE;
      ack = hl7v2::BuildAck(message, details, state_.options.responder);
    }
    if (policy.enhanced && accepted && result.ok() && result->message_id > 0 &&
        state_.options.application_acks != nullptr &&
        (policy.WantsApplicationAck(true) || policy.WantsApplicationAck(false))) {
      AwaitApplicationAck(item->number, result->message_id, item->payload, policy);
    }
    Answer(item, ack);
    Pump();
  }

  // Registers for message `message_id`'s outcome; its application ACK is built from its MSH
  // (kept alone: the rest of the message is not needed for it).
  void AwaitApplicationAck(uint64_t number, int64_t message_id, std::string_view payload,
                           const hl7v2::AckPolicy& policy) {
    std::string msh(payload.substr(0, payload.find_first_of("\r\n")));
    auto self = Self();
    auto token = std::make_shared<uint64_t>(0);
    *token = state_.options.application_acks->Await(
        message_id, [self, token, number, message_id, msh = std::move(msh),
                     policy](const std::optional<base::Error>& error) mutable {
          asio::post(self->stream_.get_executor(),
                     [self, token, number, message_id, msh = std::move(msh), policy, error] {
                       self->OnProcessed(*token, number, message_id, msh, policy, error);
                     });
        });
    awaiting_.insert(*token);
  }

  void OnProcessed(uint64_t token, uint64_t number, int64_t message_id, const std::string& msh,
                   const hl7v2::AckPolicy& policy, const std::optional<base::Error>& error) {
    ApplicationAcks* acks = state_.options.application_acks;
    awaiting_.erase(token);
    if (closed_) {
      acks->Delivered(message_id, false);
      return;
    }
    const bool successful = !error.has_value();
    if (!policy.WantsApplicationAck(successful))
      return Pump();  // ER and a success, SU and an error
    auto header = hl7v2::ParseMessage(std::string_view(msh), state_.parse_options);
    if (!header.ok()) {  // it was read whole when it came
      acks->Delivered(message_id, false);
      return Pump();
    }
    hl7v2::AckDetails details;
    if (successful) {
      details.code = hl7v2::AckCode::kAA;
    } else {
      // The error queue keeps why and where (ERR-2), not the table 0357 condition: a message
      // type or event that is not mapped is refused (AR, 200/201, named at MSH-9); anything
      // else is an application error (AE, 207) at the place the reason names.
      hl7v2::ErrorLocation where = LocationFrom(error->location);
      const bool refused = where.segment_id == "MSH" && where.field == 9;
      details.code = refused ? hl7v2::AckCode::kAR : hl7v2::AckCode::kAE;
      details.errors.push_back(hl7v2::MakeHl7Error(
          refused ? (where.component == 2 ? hl7v2::ErrorCondition::kUnsupportedEventCode
                                          : hl7v2::ErrorCondition::kUnsupportedMessageType)
                  : hl7v2::ErrorCondition::kApplicationInternalError,
          where, error->message));
    }
    auto frame =
        hl7v2::EncodeMllpFrame(hl7v2::BuildAck(header.value(), details, state_.options.responder));
    if (!frame.ok()) {
      LogLine("an application ACK could not be framed: " + frame.error().message);
      acks->Delivered(message_id, false);
      return Pump();
    }
    // After its accept ACK: held until that one is written (or dropped, when none was asked).
    if (number <= retired_) {
      app_out_.push_back({message_id, std::move(frame).value()});
    } else {
      held_[number] = AppAck{message_id, std::move(frame).value()};
    }
    Pump();
  }

  // "PID (segment 3) field 7 repetition 1 component 1" (ErrorLocation::ToString) read back.
  static hl7v2::ErrorLocation LocationFrom(std::string_view text) {
    hl7v2::ErrorLocation where;
    if (text.empty() || text == "the message") return where;
    std::istringstream words{std::string(text)};
    std::string word;
    words >> word;
    if (word != "segment") where.segment_id = word;
    for (std::string name; words >> name;) {
      if (!name.empty() && name[0] == '(') name = name.substr(1);
      std::string number;
      if (!(words >> number)) break;
      if (!number.empty() && number.back() == ')') number.pop_back();
      int value = 0;
      try {
        value = std::stoi(number);
      } catch (...) {
        break;
      }
      if (name == "segment") where.segment_sequence = value;
      if (name == "field") where.field = value;
      if (name == "repetition") where.repetition = value;
      if (name == "component") where.component = value;
      if (name == "sub-component") where.subcomponent = value;
    }
    return where;
  }

  // The front message's accept ACK is written (or none was asked for): its application ACK, if
  // it came first, may follow.
  void RetireFront() {
    retired_ = in_flight_.front()->number;
    in_flight_.pop_front();
    while (!held_.empty() && held_.begin()->first <= retired_) {
      app_out_.push_back(std::move(held_.begin()->second));
      held_.erase(held_.begin());
    }
  }

  void WriteApplicationAck() {
    writing_ = true;
    writing_since_ = Clock::now();
    asio::async_write(stream_, asio::buffer(app_out_.front().frame),
                      [self = Self()](const boost::system::error_code& ec, size_t) {
                        self->writing_ = false;
                        self->writing_since_.reset();
                        if (ec || self->closed_) return self->Close();
                        self->state_.options.application_acks->Delivered(
                            self->app_out_.front().message_id, true);
                        self->app_out_.pop_front();
                        self->last_activity_ = Clock::now();
                        self->Pump();
                      });
  }

  void WriteFront() {
    writing_ = true;
    writing_since_ = Clock::now();
    asio::async_write(stream_, asio::buffer(in_flight_.front()->ack_frame),
                      [self = Self()](const boost::system::error_code& ec, size_t) {
                        self->writing_ = false;
                        self->writing_since_.reset();
                        if (ec) return self->Close();
                        self->RetireFront();
                        self->last_activity_ = Clock::now();
                        self->Pump();
                      });
  }

  ListenerState& state_;
  Stream stream_;
  asio::steady_timer timer_;
  hl7v2::MllpDecoder decoder_;
  std::vector<char> buffer_;
  std::deque<hl7v2::MllpEvent> frames_;
  std::deque<std::unique_ptr<InFlight>> in_flight_;  // in order of arrival
  // Enhanced-mode application ACKs: registrations waiting for their message's outcome, ACKs
  // built before their accept ACK was written (by arrival number), and ACKs ready to write.
  struct AppAck {
    int64_t message_id = 0;
    std::string frame;
  };
  std::set<uint64_t> awaiting_;
  std::map<uint64_t, AppAck> held_;
  std::deque<AppAck> app_out_;
  uint64_t arrived_ = 0;  // messages taken
  uint64_t retired_ = 0;  // the last whose accept ACK is written (or was not asked for)
  size_t junk_bytes_ = 0;
  size_t frame_bytes_ahead_ = 0;  // payload bytes in frames_
  bool closed_ = false, reading_ = false, writing_ = false, peer_done_ = false,
       handshaking_ = false;
  Clock::time_point started_, last_activity_;
  std::optional<Clock::time_point> frame_since_, writing_since_;
};

}  // namespace

class MllpListener::Impl {
 public:
  Impl(MllpListenerOptions options, Inbox& inbox) : state_(std::move(options), inbox) {}

  base::Result<uint16_t> Start() {
    const auto& o = state_.options;
    if (o.tls_certificate_file.empty() != o.tls_private_key_file.empty()) {
      return base::Invalid("TLS needs both a certificate and a private key file");
    }
    try {
      if (!o.tls_certificate_file.empty()) {
        tls_.emplace(asio::ssl::context::tls_server);
        tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                          asio::ssl::context::no_tlsv1_1);
        tls_->use_certificate_chain_file(o.tls_certificate_file);
        tls_->use_private_key_file(o.tls_private_key_file, asio::ssl::context::pem);
      }
    } catch (const boost::system::system_error& e) {
      return base::Invalid("cannot use the TLS certificate or key (" + o.tls_certificate_file +
                           ", " + o.tls_private_key_file + "): " + e.what());
    }
    boost::system::error_code ec;
    auto address = asio::ip::make_address(o.host, ec);
    if (ec) return base::Invalid("not an IP address for --mllp: " + o.host);
    tcp::endpoint endpoint(address, o.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return base::MakeError(base::ErrorCode::kUnavailable, "cannot listen for MLLP on " + o.host +
                                                                ":" + std::to_string(o.port) +
                                                                ": " + ec.message());
    }
    const uint16_t bound = acceptor_.local_endpoint().port();
    Accept();
    for (int i = 0; i < std::max(1, o.io_threads); ++i) {
      threads_.emplace_back([this] { io_.run(); });
    }
    return bound;
  }

  void Stop() {
    if (threads_.empty() || stopped_) return;
    stopped_ = true;
    asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
    });
    {
      std::lock_guard lock(registry_mutex_);
      for (auto& weak : registry_) {
        if (auto connection = weak.lock()) connection->PostClose();
      }
    }
    // The inbox calls back for every receive submitted (its writer finishes each commit), and
    // the callback posts onto the connection's strand: wait for those before stopping io_.
    while (state_.at_inbox.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    work_.reset();
    io_.stop();
    for (auto& thread : threads_) thread.join();
  }

 private:
  void Accept() {
    acceptor_.async_accept(
        asio::make_strand(io_), [this](const boost::system::error_code& ec, tcp::socket socket) {
          if (!acceptor_.is_open()) return;
          if (ec) {
            // Out of file descriptors, most likely: wait a little rather than spin.
            backoff_.expires_after(std::chrono::milliseconds(100));
            backoff_.async_wait([this](const boost::system::error_code& e) {
              if (!e) Accept();
            });
            return;
          }
          if (state_.connections.load() >= state_.options.max_connections) {
            boost::system::error_code ignored;
            socket.close(ignored);
          } else {
            socket.set_option(tcp::no_delay(true));
            if (tls_) {
              Register(std::make_shared<Connection<TlsStream>>(
                  state_, TlsStream(std::move(socket), *tls_)));
            } else {
              Register(std::make_shared<Connection<tcp::socket>>(state_, std::move(socket)));
            }
          }
          Accept();
        });
  }

  template <class Stream>
  void Register(std::shared_ptr<Connection<Stream>> connection) {
    {
      std::lock_guard lock(registry_mutex_);
      if (registry_.size() > 64 && registry_.size() > 2 * size_t(state_.connections.load())) {
        registry_.remove_if([](const auto& weak) { return weak.expired(); });
      }
      registry_.push_back(connection);
    }
    connection->Begin();
  }

  ListenerState state_;
  std::optional<asio::ssl::context> tls_;
  std::mutex registry_mutex_;
  std::list<std::weak_ptr<ConnectionBase>> registry_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(io_)};
  tcp::acceptor acceptor_{io_};
  asio::steady_timer backoff_{io_};
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

MllpListener::MllpListener(MllpListenerOptions options, Inbox& inbox)
    : impl_(std::make_unique<Impl>(std::move(options), inbox)) {}

MllpListener::~MllpListener() { Stop(); }

base::Result<uint16_t> MllpListener::Start() { return impl_->Start(); }

void MllpListener::Stop() { impl_->Stop(); }

}  // namespace carerecord::feeds
