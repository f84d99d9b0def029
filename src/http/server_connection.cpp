// Connection: one client socket, served on its io thread in a keep-alive loop: read, parsed
// straight into an HttpRequest, handled (inline when quick, on a worker pool otherwise) and
// answered, with a deadline guarding each phase and a lingering close after errors.

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "base/deferred_batch.h"
#include "http/server_core.h"

namespace carerecord::http::server_internal {
namespace {

namespace beast_http = boost::beast::http;

constexpr uint32_t kHeaderLimitBytes = 64 * 1024;
constexpr auto kWriteTimeout = std::chrono::seconds(30);  // a client that stops reading
// Large bodies get extra time at this rate on top of the timeouts, so a slow link can move 16 MiB
// while a client trickling bytes still cannot hold a connection open indefinitely.
constexpr uint64_t kMinTransferBytesPerSecond = 64 * 1024;
constexpr auto kLingerTimeout = std::chrono::seconds(2);  // see Connection::LingerAndClose
constexpr size_t kReadChunkBytes = 16 * 1024;
// A client may announce a huge Content-Length and send nothing; grow past this only as bytes come.
constexpr size_t kMaxBodyReserveBytes = 1 << 20;
// Buffers grown by one large request are released rather than pinned by an idle connection.
constexpr size_t kKeepBufferCapacityBytes = 64 * 1024;

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(a[i]) != ToLowerAscii(b[i])) return false;
  }
  return true;
}

void AppendNumber(std::string& out, uint64_t value) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof(digits), value).ptr;
  out.append(digits, end);
}

// The IMF-fixdate of the current second, formatted once per second per thread.
std::string_view CurrentHttpDate() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local std::time_t cached_second = -1;
  thread_local char text[32];
  thread_local size_t length = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    length = static_cast<size_t>(std::snprintf(
        text, sizeof(text), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
        kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec));
    cached_second = now;
  }
  return {text, length};
}

Clock::duration TransferAllowance(uint64_t bytes) {
  return std::chrono::nanoseconds(bytes * 1'000'000'000ull / kMinTransferBytesPerSecond);
}

// "127.0.0.1:8080" or "[::1]:8080" (an IPv6 zone, which a URL cannot hold as is, left out).
std::string HostAndPort(const tcp::endpoint& endpoint) {
  std::string address = endpoint.address().to_string();
  if (endpoint.address().is_v6()) address = "[" + address.substr(0, address.find('%')) + "]";
  return address + ":" + std::to_string(endpoint.port());
}

// Fills an HttpRequest straight from Beast's parser callbacks, skipping Beast's own field
// container: one copy per header instead of two, and names lower-cased as they arrive.
class RequestParser final : public beast_http::basic_parser<true> {
 public:
  explicit RequestParser(HttpRequest& request) : request_(request) {}
  int http_version() const { return http_version_; }
  bool expects_continue() const { return expects_continue_; }

 private:
  using string_view = boost::beast::string_view;

  void on_request_impl(beast_http::verb, string_view method, string_view target, int version,
                       error_code&) override {
    request_.method.assign(method.data(), method.size());
    request_.target.assign(target.data(), target.size());
    http_version_ = version;
  }
  void on_response_impl(int, string_view, int, error_code& ec) override {
    ec = beast_http::error::bad_version;  // never called for a request parser
  }
  void on_field_impl(beast_http::field field, string_view name, string_view value,
                     error_code&) override {
    auto& [lower_name, field_value] = request_.headers.emplace_back();
    lower_name.resize(name.size());
    std::transform(name.begin(), name.end(), lower_name.begin(), ToLowerAscii);
    field_value.assign(value.data(), value.size());
    if (field == beast_http::field::expect && EqualsIgnoringCase(field_value, "100-continue")) {
      expects_continue_ = true;
    }
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         error_code&) override {
    if (content_length) {
      request_.body.reserve(std::min<uint64_t>(*content_length, kMaxBodyReserveBytes));
    }
  }
  size_t on_body_impl(string_view body, error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  HttpRequest& request_;
  int http_version_ = 11;
  bool expects_continue_ = false;
};

}  // namespace

// One client connection. Reads a request, runs the handler (inline when quick, on a worker
// pool otherwise), writes the response, repeats. Every member is touched only on its io thread,
// except request_, which a worker reads while the io thread leaves the connection alone.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerCore& server, IoThread& io, tcp::socket socket)
      : server_(server), io_(io), socket_(std::move(socket)) {
    server_.OnConnectionOpened();
  }
  ~Connection() {
    if (phase_ != Phase::kClosed) {  // only when io_contexts are torn down at shutdown
      io_.connections.erase(this);
      server_.OnConnectionClosed();
    }
  }

  void Start() {
    io_.connections.insert(this);
    if (server_.stopping()) return Close();
    error_code ec;
    auto endpoint = socket_.remote_endpoint(ec);
    if (!ec) request_.remote_address = endpoint.address().to_string();
    if (auto local = socket_.local_endpoint(ec); !ec) request_.local_address = HostAndPort(local);
    BeginRequest();
  }

  void Close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    error_code ignored;
    socket_.close(ignored);  // completes pending operations with operation_aborted
    io_.connections.erase(this);
    server_.OnConnectionClosed();
  }

  // Closes a connection with no request in progress; others close after their response.
  void OnStopRequested() {
    if (phase_ == Phase::kIdle) Close();
  }

  bool IsExpired(Clock::time_point now) const { return now >= deadline_; }

  // The deadline has passed: a request received only in part is answered 408 (RFC 9110 15.5.9)
  // before the close, so the client learns why; an idle, stalled or lingering one just closes.
  void OnExpired() {
    if (phase_ != Phase::kReadingRequest) return Close();
    phase_ = Phase::kTimingOut;
    deadline_ = Clock::now() + kLingerTimeout;  // closes it should the cancel not complete
    error_code ignored;
    socket_.cancel(ignored);  // the pending read completes as aborted, then SendTimeout runs
  }

 private:
  // kTimingOut: the request deadline passed; waiting for the cancelled read to complete.
  enum class Phase { kIdle, kReadingRequest, kTimingOut, kHandling, kWriting, kLingering, kClosed };

  void BeginRequest() {
    request_.method.clear();
    request_.target.clear();
    request_.headers.clear();
    if (request_.body.capacity() > kKeepBufferCapacityBytes) {
      std::string().swap(request_.body);
    } else {
      request_.body.clear();
    }
    parser_.emplace(request_);
    parser_->header_limit(kHeaderLimitBytes);
    parser_->body_limit(server_.options().max_body_bytes);
    parser_->eager(true);
    continue_sent_ = false;
    if (buffer_.size() == 0) {
      if (server_.stopping()) return Close();
      phase_ = Phase::kIdle;
      deadline_ = Clock::now() + server_.options().idle_timeout;
    } else {  // the client pipelined the next request
      phase_ = Phase::kReadingRequest;
      deadline_ = Clock::now() + server_.options().request_timeout;
    }
    ProcessInput();
  }

  void ProcessInput() {
    while (buffer_.size() != 0) {
      error_code ec;
      size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == beast_http::error::need_more) break;
      if (ec) return FailParse(ec);
      if (parser_->is_done()) return Dispatch();
      if (used == 0) break;
    }
    if (parser_->is_header_done() && parser_->expects_continue() && !continue_sent_) {
      return SendContinue();
    }
    ReadMore();
  }

  void ReadMore() {
    socket_.async_read_some(
        buffer_.prepare(kReadChunkBytes),
        [self = shared_from_this()](error_code ec, size_t bytes) { self->OnRead(ec, bytes); });
  }

  void OnRead(error_code ec, size_t bytes) {
    if (phase_ == Phase::kClosed) return;
    if (phase_ == Phase::kTimingOut) return SendTimeout();  // bytes that came too late are dropped
    if (ec) return Close();  // EOF, reset or aborted: the client has gone
    buffer_.commit(bytes);
    if (phase_ == Phase::kIdle) {
      phase_ = Phase::kReadingRequest;
      deadline_ = Clock::now() + server_.options().request_timeout;
    } else if (parser_->is_header_done()) {
      deadline_ += TransferAllowance(bytes);
    }
    ProcessInput();
  }

  // Clients such as curl wait for this before sending a large body.
  void SendContinue() {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    continue_sent_ = true;
    asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this()](error_code ec, size_t) {
                        if (self->phase_ == Phase::kClosed) return;
                        if (ec) return self->Close();  // also when cancelled part-way: no 408
                        if (self->phase_ == Phase::kTimingOut) return self->SendTimeout();
                        self->ReadMore();
                      });
  }

  void SendTimeout() {
    auto limit = server_.options().request_timeout;
    std::string within = limit.count() % 1000 == 0 ? std::to_string(limit.count() / 1000) + " s"
                                                   : std::to_string(limit.count()) + " ms";
    keep_alive_ = false;
    head_only_ = false;
    http_version_ = 11;
    SendResponse(server_.MakeErrorResponse(
        408, "the request was not received in full within " + within + "; send it again",
        request_.target));
  }

  void FailParse(error_code ec) {
    int status = 400;
    std::string message;
    if (ec == beast_http::error::body_limit) {
      status = 413;
      message = "request body exceeds the limit of " +
                std::to_string(server_.options().max_body_bytes) + " bytes";
    } else if (ec == beast_http::error::header_limit && RequestLineIsTheExcess()) {
      status = 414;
      message = "the request target (URI) is too long: the request line and header may hold " +
                std::to_string(kHeaderLimitBytes) + " bytes; send a long search as POST _search";
    } else if (ec == beast_http::error::header_limit) {
      status = 431;
      message =
          "request header exceeds the limit of " + std::to_string(kHeaderLimitBytes) + " bytes";
    } else {
      message = "malformed HTTP request: " + ec.message();
    }
    keep_alive_ = false;
    head_only_ = false;
    http_version_ = 11;
    SendResponse(server_.MakeErrorResponse(status, std::move(message), TargetSoFar()));
  }

  // The request target, or when the parser stopped before it was whole (a target too long), as
  // much of it as the unparsed bytes hold after the method: enough to tell which endpoint it was
  // for. Never past the first line.
  std::string TargetSoFar() const {
    if (!request_.target.empty()) return request_.target;
    const char* bytes = static_cast<const char*>(buffer_.cdata().data());
    std::string_view line(bytes, std::min<size_t>(buffer_.size(), 4096));
    line = line.substr(0, line.find_first_of("\r\n"));
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) return {};
    std::string_view target = line.substr(space + 1);
    return std::string(target.substr(0, target.find(' ')));
  }

  // When the header went over its limit, whether the request target is what made it so: the
  // request line never ended (the parser reports it once whole), or it is over half the limit.
  bool RequestLineIsTheExcess() const {
    return request_.method.empty() || request_.target.size() > kHeaderLimitBytes / 2;
  }

  // A transfer coding other than chunked (gzip, deflate...) the parser does not undo: read as
  // it stands, the body was empty or compressed bytes. RFC 9112: 501, and the connection
  // closes, as the body's end is unknown.
  std::string UnsupportedTransferCoding() const {
    for (const auto& [name, value] : request_.headers) {
      if (name != "transfer-encoding") continue;
      for (size_t start = 0; start <= value.size();) {
        size_t comma = value.find(',', start);
        std::string_view coding = std::string_view(value).substr(
            start, comma == std::string::npos ? std::string::npos : comma - start);
        while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) {
          coding.remove_prefix(1);
        }
        while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) {
          coding.remove_suffix(1);
        }
        if (!coding.empty() && !EqualsIgnoringCase(coding, "chunked")) return std::string(coding);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    return {};
  }

  void Dispatch() {
    phase_ = Phase::kHandling;
    deadline_ = Clock::time_point::max();
    keep_alive_ = parser_->keep_alive();
    http_version_ = parser_->http_version();
    head_only_ = request_.method == "HEAD";
    if (std::string coding = UnsupportedTransferCoding(); !coding.empty()) {
      keep_alive_ = false;
      head_only_ = false;
      return SendResponse(
          server_.MakeErrorResponse(501,
                                    "the transfer coding '" + coding.substr(0, 64) +
                                        "' is not supported; send the body as it is, or chunked",
                                    request_.target));
    }
    const auto& runs_on_io_thread = server_.options().runs_on_io_thread;
    if (runs_on_io_thread ? runs_on_io_thread(request_) : head_only_ || request_.method == "GET") {
      // Quick reads: a thread hop would cost more than it saves.
      HttpResponse response = server_.InvokeHandler(request_);
      if (!response.hold) return SendResponse(std::move(response));
      return SendWhenReleased(shared_from_this(), std::move(response));
    }
    auto& pool = request_.body.size() >= server_.options().large_body_bytes
                     ? server_.large_body_pool()
                     : server_.worker_pool();
    asio::post(pool, [self = shared_from_this()]() mutable {
      t_owning_server = &self->server_;
      HttpResponse response = self->server_.InvokeHandler(self->request_);
      if (response.hold) return SendWhenReleased(std::move(self), std::move(response));
      auto executor = self->socket_.get_executor();
      // Moving `self` along means the io thread, not this worker, drops the last reference.
      asio::post(executor, [self = std::move(self), response = std::move(response)]() mutable {
        self->SendResponse(std::move(response));
      });
    });
  }

  // An answer with a hold (an audit entry still being made durable) is sent by the io thread once
  // the hold completes, and the thread that made it goes on meanwhile: no thread waits for the
  // sync. The server counts such answers, so it stops only once each has been handed to its io
  // thread.
  // Released inside a base::DeferredBatch (the audit writer opens one around a group commit's
  // completions), the answers for one io thread go to it in one post when the batch closes: one
  // wake-up of that thread per commit, not one per answer.
  static void SendWhenReleased(std::shared_ptr<Connection> self, HttpResponse response) {
    std::shared_ptr<ResponseHold> hold = std::move(response.hold);
    self->server_.OnHoldStarted();
    hold->Then([self = std::move(self),
                response = std::move(response)](std::optional<HttpResponse> instead) mutable {
      HttpResponse answer = instead ? std::move(*instead) : std::move(response);
      if (base::DeferredBatch* batch = base::DeferredBatch::Current()) {
        IoThread& io = self->io_;
        batch->GroupFor<ReleasedAnswers>(&io, [&] { return std::make_unique<ReleasedAnswers>(io); })
            .Add(std::move(self), std::move(answer));
        return;
      }
      ServerCore& server = self->server_;
      auto executor = self->socket_.get_executor();
      asio::post(executor, [self = std::move(self), answer = std::move(answer)]() mutable {
        self->SendResponse(std::move(answer));
      });
      server.OnHoldEnded();
    });
  }

  // Answers released for one io thread during a DeferredBatch, posted to it together.
  class ReleasedAnswers final : public base::DeferredBatch::Group {
   public:
    explicit ReleasedAnswers(IoThread& io) : io_(io) {}
    void Add(std::shared_ptr<Connection> connection, HttpResponse answer) {
      answers_.emplace_back(std::move(connection), std::move(answer));
    }
    void Flush() override {
      std::vector<ServerCore*> servers;
      servers.reserve(answers_.size());
      for (const auto& answer : answers_) servers.push_back(&answer.first->server_);
      asio::post(io_.context, [answers = std::move(answers_)]() mutable {
        for (auto& [connection, answer] : answers) connection->SendResponse(std::move(answer));
      });
      // As one at a time: each hold ends once its answer is with its io thread.
      for (ServerCore* server : servers) server->OnHoldEnded();
    }

   private:
    IoThread& io_;
    std::vector<std::pair<std::shared_ptr<Connection>, HttpResponse>> answers_;
  };

  void SendResponse(HttpResponse response) {
    if (phase_ == Phase::kClosed) return;
    response_ = std::move(response);
    bool send_body = SerializeHead();
    phase_ = Phase::kWriting;
    deadline_ = Clock::now() + kWriteTimeout + TransferAllowance(response_.body.size());
    std::array<asio::const_buffer, 2> buffers = {
        asio::buffer(head_), send_body ? asio::buffer(response_.body) : asio::const_buffer()};
    asio::async_write(socket_, buffers,
                      [self = shared_from_this()](error_code ec, size_t) { self->OnWritten(ec); });
  }

  // Writes the status line and headers into head_; returns whether a body follows them.
  bool SerializeHead() {
    int status = response_.status;
    if (status < 100 || status > 999) {
      LogLine("handler returned invalid status " + std::to_string(status) + "; sent 500");
      status = 500;
    }
    bool close = !keep_alive_ || server_.stopping();
    bool body_allowed = status >= 200 && status != 204 && status != 304;
    std::string_view handler_content_length;
    head_.clear();
    head_.append("HTTP/1.1 ");
    AppendNumber(head_, static_cast<uint64_t>(status));
    head_.push_back(' ');
    auto reason = beast_http::obsolete_reason(beast_http::int_to_status(status));
    head_.append(reason.data(), reason.size());
    head_.append("\r\nDate: ");
    head_.append(CurrentHttpDate());
    head_.append("\r\n");
    for (const auto& [name, value] : response_.headers) {
      if (EqualsIgnoringCase(name, "content-length")) {
        handler_content_length = value;
        continue;
      }
      if (EqualsIgnoringCase(name, "connection")) {
        if (EqualsIgnoringCase(value, "close")) close = true;
        continue;
      }
      if (EqualsIgnoringCase(name, "date") || EqualsIgnoringCase(name, "transfer-encoding")) {
        continue;
      }
      // A CR or LF would let a value smuggle in headers of its own.
      if (name.find_first_of("\r\n:") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos) {
        LogLine("dropped response header with CR/LF: " + name);
        continue;
      }
      head_.append(name).append(": ").append(value).append("\r\n");
    }
    if (body_allowed) {
      head_.append("Content-Length: ");
      if (head_only_ && response_.body.empty() && !handler_content_length.empty()) {
        head_.append(handler_content_length);  // a HEAD handler that skipped the body
      } else {
        AppendNumber(head_, response_.body.size());
      }
      head_.append("\r\n");
    }
    if (close) {
      head_.append("Connection: close\r\n");
    } else if (http_version_ == 10) {
      head_.append("Connection: keep-alive\r\n");
    }
    head_.append("\r\n");
    close_after_write_ = close;
    return body_allowed && !head_only_;
  }

  void OnWritten(error_code ec) {
    if (phase_ == Phase::kClosed) return;
    if (ec) return Close();
    response_ = HttpResponse();  // frees the body now rather than at the next response
    if (close_after_write_) return LingerAndClose();
    BeginRequest();
  }

  // Closing a socket with unread input makes the kernel send RST, which can destroy the response
  // we just wrote before the client reads it (typical after a 413 mid-upload). So: half-close,
  // discard input until the client closes too or a short deadline passes, then close.
  void LingerAndClose() {
    phase_ = Phase::kLingering;
    deadline_ = Clock::now() + kLingerTimeout;
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    buffer_.clear();
    DiscardInput();
  }

  void DiscardInput() {
    socket_.async_read_some(buffer_.prepare(kReadChunkBytes),
                            [self = shared_from_this()](error_code ec, size_t) {
                              if (self->phase_ == Phase::kClosed) return;
                              if (ec) return self->Close();
                              self->DiscardInput();
                            });
  }

  ServerCore& server_;
  IoThread& io_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;  // bytes read but not yet parsed
  HttpRequest request_;
  std::optional<RequestParser> parser_;  // Beast parsers parse one message; re-emplaced each time
  HttpResponse response_;
  std::string head_;  // serialized status line and headers; capacity reused across requests
  Phase phase_ = Phase::kIdle;
  Clock::time_point deadline_ = Clock::time_point::max();  // set by BeginRequest
  int http_version_ = 11;
  bool keep_alive_ = true;
  bool head_only_ = false;
  bool close_after_write_ = false;
  bool continue_sent_ = false;
};

void StartConnection(ServerCore& server, IoThread& io, tcp::socket socket) {
  auto connection = std::make_shared<Connection>(server, io, std::move(socket));
  asio::post(io.context, [connection] { connection->Start(); });
}

bool ConnectionExpired(const Connection& connection, Clock::time_point now) {
  return connection.IsExpired(now);
}

void ExpireConnection(Connection& connection) { connection.OnExpired(); }

void CloseConnection(Connection& connection) { connection.Close(); }

void CloseConnectionIfIdle(Connection& connection) { connection.OnStopRequested(); }

}  // namespace carerecord::http::server_internal
