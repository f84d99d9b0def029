#include "http/server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <future>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

namespace carerecord::http {
namespace {

namespace asio = boost::asio;
namespace beast_http = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr uint32_t kHeaderLimitBytes = 64 * 1024;
constexpr auto kWriteTimeout = std::chrono::seconds(30);  // a client that stops reading
// Large bodies get extra time at this rate on top of the timeouts, so a slow link can move 16 MiB
// while a client trickling bytes still cannot hold a connection open indefinitely.
constexpr uint64_t kMinTransferBytesPerSecond = 64 * 1024;
constexpr auto kLingerTimeout = std::chrono::seconds(2);  // see Connection::LingerAndClose
constexpr auto kDrainTimeout = std::chrono::seconds(10);
constexpr auto kSweepInterval = std::chrono::seconds(1);
constexpr size_t kReadChunkBytes = 16 * 1024;
// A client may announce a huge Content-Length and send nothing; grow past this only as bytes come.
constexpr size_t kMaxBodyReserveBytes = 1 << 20;
// Buffers grown by one large request are released rather than pinned by an idle connection.
constexpr size_t kKeepBufferCapacityBytes = 64 * 1024;

void LogLine(std::string_view line) {
  std::fprintf(stderr, "carerecord http: %.*s\n", static_cast<int>(line.size()), line.data());
}

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

// Marks threads owned by a server, so Stop() from a handler does not wait on itself.
thread_local const void* t_owning_server = nullptr;

class Connection;

// One io_context per io thread: a connection lives on one thread for its whole life, so its
// state needs no locks and its executor serves as its strand.
struct IoThread {
  std::unordered_set<Connection*> connections;  // touched only on this thread
  asio::io_context context{1};                  // destroyed before `connections`; see ~Connection
  asio::steady_timer sweep_timer{context};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
};

// Everything the server owns. Kept apart from HttpServer::Impl, which is private to HttpServer,
// so that connections in this file can name it.
class ServerCore {
 public:
  ServerCore(ServerOptions options, Handler handler, ErrorResponder error_responder)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        error_responder_(std::move(error_responder)) {}
  ~ServerCore();

  base::Result<uint16_t> Start();
  void Stop();
  void Wait();

  // Used by connections.
  const ServerOptions& options() const { return options_; }
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  asio::thread_pool& worker_pool() { return *worker_pool_; }
  HttpResponse InvokeHandler(const HttpRequest& request) noexcept;
  HttpResponse MakeErrorResponse(int status, std::string message) noexcept;
  void OnConnectionOpened() { open_connections_.fetch_add(1, std::memory_order_relaxed); }
  void OnConnectionClosed() { open_connections_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  enum class State { kNotStarted, kRunning, kStopping, kStopped };

  base::Result<tcp::endpoint> ResolveListenEndpoint();
  void AcceptNext();
  void ScheduleSweep(IoThread& io);
  void RunIoThread(IoThread& io);
  void Shutdown();
  void RunOnEveryIoThreadAndWait(const std::function<void(IoThread&)>& action);

  const ServerOptions options_;
  const Handler handler_;
  const ErrorResponder error_responder_;

  std::vector<std::unique_ptr<IoThread>> io_threads_;
  std::optional<tcp::acceptor> acceptor_;             // lives on io_threads_[0]
  std::optional<asio::steady_timer> accept_backoff_;  // after EMFILE and the like
  size_t next_io_thread_ = 0;
  std::optional<asio::thread_pool> worker_pool_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_connections_{0};

  std::mutex state_mutex_;
  std::condition_variable state_changed_;
  State state_ = State::kNotStarted;
  std::thread shutdown_thread_;
};

// One client connection. Reads a request, runs the handler (inline for GET/HEAD, on the worker
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

 private:
  enum class Phase { kIdle, kReadingRequest, kHandling, kWriting, kLingering, kClosed };

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
                        if (ec) return self->Close();
                        self->ReadMore();
                      });
  }

  void FailParse(error_code ec) {
    int status = 400;
    std::string message;
    if (ec == beast_http::error::body_limit) {
      status = 413;
      message = "request body exceeds the limit of " +
                std::to_string(server_.options().max_body_bytes) + " bytes";
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
    SendResponse(server_.MakeErrorResponse(status, std::move(message)));
  }

  void Dispatch() {
    phase_ = Phase::kHandling;
    deadline_ = Clock::time_point::max();
    keep_alive_ = parser_->keep_alive();
    http_version_ = parser_->http_version();
    head_only_ = request_.method == "HEAD";
    if (head_only_ || request_.method == "GET") {
      // Reads are fast: a thread hop would cost more than it saves.
      return SendResponse(server_.InvokeHandler(request_));
    }
    asio::post(server_.worker_pool(), [self = shared_from_this()]() mutable {
      t_owning_server = &self->server_;
      HttpResponse response = self->server_.InvokeHandler(self->request_);
      auto executor = self->socket_.get_executor();
      // Moving `self` along means the io thread, not this worker, drops the last reference.
      asio::post(executor, [self = std::move(self), response = std::move(response)]() mutable {
        self->SendResponse(std::move(response));
      });
    });
  }

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

ServerCore::~ServerCore() {
  if (shutdown_thread_.joinable()) shutdown_thread_.join();
  // Handlers still queued on the stopped io_contexts hold connections, whose destructors use the
  // counters and registries; destroy them while everything else is still alive.
  acceptor_.reset();
  accept_backoff_.reset();
  worker_pool_.reset();
  io_threads_.clear();
}

HttpResponse ServerCore::InvokeHandler(const HttpRequest& request) noexcept {
  try {
    return handler_(request);
  } catch (const std::exception& e) {
    LogLine("handler threw for " + request.method + " " + request.target + ": " + e.what());
  } catch (...) {
    LogLine("handler threw a non-exception for " + request.method + " " + request.target);
  }
  return MakeErrorResponse(500, "internal error");
}

HttpResponse ServerCore::MakeErrorResponse(int status, std::string message) noexcept {
  try {
    if (error_responder_) return error_responder_(status, message);
  } catch (const std::exception& e) {
    LogLine(std::string("error responder threw: ") + e.what());
  } catch (...) {
    LogLine("error responder threw a non-exception");
  }
  HttpResponse response;
  response.status = status;
  response.SetHeader("Content-Type", "text/plain; charset=utf-8");
  response.body = std::move(message);
  return response;
}

base::Result<tcp::endpoint> ServerCore::ResolveListenEndpoint() {
  error_code ec;
  auto address = asio::ip::make_address(options_.host, ec);
  if (!ec) return tcp::endpoint(address, options_.port);
  tcp::resolver resolver(io_threads_[0]->context);
  auto results =
      resolver.resolve(options_.host, std::to_string(options_.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return base::Invalid("cannot resolve listen host '" + options_.host + "': " + ec.message(),
                         "host");
  }
  return results.begin()->endpoint();
}

base::Result<uint16_t> ServerCore::Start() {
  std::lock_guard lock(state_mutex_);
  if (state_ != State::kNotStarted) {
    return base::MakeError(base::ErrorCode::kInternal, "HTTP server already started");
  }
  for (int i = 0; i < std::max(1, options_.io_threads); ++i) {
    io_threads_.push_back(std::make_unique<IoThread>());
  }
  auto endpoint = ResolveListenEndpoint();
  if (!endpoint.ok()) {
    io_threads_.clear();
    return endpoint.error();
  }
  std::string where = options_.host + ":" + std::to_string(options_.port);
  acceptor_.emplace(io_threads_[0]->context);
  error_code ec;
  acceptor_->open(endpoint->protocol(), ec);
  if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(*endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor_.reset();
    io_threads_.clear();
    return base::MakeError(base::ErrorCode::kInternal,
                           "cannot listen on " + where + ": " + ec.message(), "listen");
  }
  uint16_t port = acceptor_->local_endpoint(ec).port();
  accept_backoff_.emplace(io_threads_[0]->context);
  worker_pool_.emplace(static_cast<size_t>(std::max(1, options_.worker_threads)));
  AcceptNext();
  for (auto& io : io_threads_) {
    io->work.emplace(io->context.get_executor());
    ScheduleSweep(*io);
    io->thread = std::thread([this, &io = *io] { RunIoThread(io); });
  }
  state_ = State::kRunning;
  return port;
}

void ServerCore::RunIoThread(IoThread& io) {
  t_owning_server = this;
  for (;;) {
    try {
      io.context.run();
      return;
    } catch (const std::exception& e) {  // a bug somewhere; keep serving the other connections
      LogLine(std::string("io thread caught: ") + e.what());
    }
  }
}

void ServerCore::AcceptNext() {
  IoThread& io = *io_threads_[next_io_thread_++ % io_threads_.size()];
  acceptor_->async_accept(io.context, [this, &io](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping()) return;
    if (ec) {
      // Usually out of file descriptors: retrying at once would spin.
      LogLine("accept failed: " + ec.message());
      accept_backoff_->expires_after(std::chrono::milliseconds(50));
      accept_backoff_->async_wait([this](error_code wait_ec) {
        if (!wait_ec && !stopping()) AcceptNext();
      });
      return;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto connection = std::make_shared<Connection>(*this, io, std::move(socket));
    asio::post(io.context, [connection] { connection->Start(); });
    AcceptNext();
  });
}

// One timer per thread checks every connection's deadline, cheaper than a timer per read.
void ServerCore::ScheduleSweep(IoThread& io) {
  io.sweep_timer.expires_after(kSweepInterval);
  io.sweep_timer.async_wait([this, &io](error_code ec) {
    if (ec) return;
    auto now = Clock::now();
    std::vector<Connection*> expired;
    for (Connection* connection : io.connections) {
      if (connection->IsExpired(now)) expired.push_back(connection);
    }
    for (Connection* connection : expired) connection->Close();
    ScheduleSweep(io);
  });
}

void ServerCore::RunOnEveryIoThreadAndWait(const std::function<void(IoThread&)>& action) {
  std::vector<std::future<void>> done;
  for (auto& io : io_threads_) {
    auto promise = std::make_shared<std::promise<void>>();
    done.push_back(promise->get_future());
    asio::post(io->context, [&action, &io = *io, promise] {
      action(io);
      promise->set_value();
    });
  }
  for (auto& future : done) future.wait();
}

void ServerCore::Stop() {
  {
    std::lock_guard lock(state_mutex_);
    if (state_ == State::kNotStarted) {
      state_ = State::kStopped;
      state_changed_.notify_all();
      return;
    }
    if (state_ == State::kRunning) {
      state_ = State::kStopping;
      stopping_.store(true);
      shutdown_thread_ = std::thread([this] { Shutdown(); });
    }
  }
  if (t_owning_server != this) Wait();
}

void ServerCore::Shutdown() {
  RunOnEveryIoThreadAndWait([this](IoThread& io) {
    if (&io == io_threads_[0].get()) {
      error_code ignored;
      acceptor_->close(ignored);
      accept_backoff_->cancel();
    }
    std::vector<Connection*> connections(io.connections.begin(), io.connections.end());
    for (Connection* connection : connections) connection->OnStopRequested();
  });
  auto deadline = Clock::now() + kDrainTimeout;
  while (open_connections_.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (int left = open_connections_.load(); left > 0) {
    LogLine("stop: closing " + std::to_string(left) + " connection(s) still busy after 10 s");
  }
  RunOnEveryIoThreadAndWait([](IoThread& io) {
    std::vector<Connection*> connections(io.connections.begin(), io.connections.end());
    for (Connection* connection : connections) connection->Close();
    io.sweep_timer.cancel();
  });
  // A handler still running finishes here; its response finds its connection closed.
  worker_pool_->join();
  for (auto& io : io_threads_) {
    io->work.reset();
    io->context.stop();
    io->thread.join();
  }
  std::lock_guard lock(state_mutex_);
  state_ = State::kStopped;
  state_changed_.notify_all();
}

void ServerCore::Wait() {
  std::unique_lock lock(state_mutex_);
  state_changed_.wait(lock,
                      [this] { return state_ == State::kStopped || state_ == State::kNotStarted; });
}

}  // namespace

class HttpServer::Impl : public ServerCore {
 public:
  using ServerCore::ServerCore;
};

HttpServer::HttpServer(ServerOptions options, Handler handler, ErrorResponder error_responder)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler),
                                   std::move(error_responder))) {}

HttpServer::~HttpServer() { impl_->Stop(); }

base::Result<uint16_t> HttpServer::Start() { return impl_->Start(); }
void HttpServer::Stop() { impl_->Stop(); }
void HttpServer::Wait() { impl_->Wait(); }

}  // namespace carerecord::http
