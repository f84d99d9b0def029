#include "http/server.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <future>

#include "http/server_core.h"

namespace carerecord::http {
namespace server_internal {
namespace {

constexpr auto kDrainTimeout = std::chrono::seconds(10);
constexpr auto kSweepInterval = std::chrono::seconds(1);

}  // namespace

void LogLine(std::string_view line) {
  std::fprintf(stderr, "carerecord http: %.*s\n", static_cast<int>(line.size()), line.data());
}

ServerCore::~ServerCore() {
  if (shutdown_thread_.joinable()) shutdown_thread_.join();
  // Handlers still queued on the stopped io_contexts hold connections, whose destructors use the
  // counters and registries; destroy them while everything else is still alive.
  acceptor_.reset();
  accept_backoff_.reset();
  worker_pool_.reset();
  large_body_pool_.reset();
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
  return MakeErrorResponse(500, "internal error", request.target);
}

HttpResponse ServerCore::MakeErrorResponse(int status, std::string message,
                                           std::string_view target) noexcept {
  try {
    if (error_responder_) return error_responder_(status, message, target);
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
  large_body_pool_.emplace(static_cast<size_t>(std::max(1, options_.large_body_threads)));
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
    if (open_connections_.load(std::memory_order_relaxed) >= options_.max_connections) {
      RefuseConnection(std::move(socket));
    } else {
      StartConnection(*this, io, std::move(socket));
    }
    AcceptNext();
  });
}

void ServerCore::RefuseConnection(tcp::socket socket) {
  if (!refusal_) {
    HttpResponse response = MakeErrorResponse(
        503, "the server is serving as many connections as it may; retry shortly");
    if (response.Header("Retry-After").empty()) response.SetHeader("Retry-After", "5");
    std::string bytes = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n";
    for (const auto& [name, value] : response.headers) bytes += name + ": " + value + "\r\n";
    bytes += "Content-Length: " + std::to_string(response.body.size()) + "\r\n\r\n";
    refusal_ = std::make_shared<const std::string>(bytes + response.body);
  }
  auto refused = std::make_shared<tcp::socket>(std::move(socket));
  asio::async_write(*refused, asio::buffer(*refusal_),
                    [refused, keep = refusal_](error_code, size_t) {
                      error_code ignored;
                      refused->shutdown(tcp::socket::shutdown_both, ignored);
                      refused->close(ignored);
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
      if (ConnectionExpired(*connection, now)) expired.push_back(connection);
    }
    for (Connection* connection : expired) ExpireConnection(*connection);
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
    for (Connection* connection : connections) CloseConnectionIfIdle(*connection);
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
    for (Connection* connection : connections) CloseConnection(*connection);
    io.sweep_timer.cancel();
  });
  // A handler still running finishes here; its response finds its connection closed.
  worker_pool_->join();
  large_body_pool_->join();
  {
    // Answers waiting for their holds (audit entries being made durable, which takes
    // milliseconds) are posted to the io threads, which must still be there to take them.
    std::unique_lock lock(holds_mutex_);
    if (!holds_done_.wait_for(lock, kDrainTimeout, [this] { return holds_ == 0; })) {
      LogLine("stop: waiting for " + std::to_string(holds_) + " answer(s) still held");
      holds_done_.wait(lock, [this] { return holds_ == 0; });
    }
  }
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

}  // namespace server_internal

class HttpServer::Impl : public server_internal::ServerCore {
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
