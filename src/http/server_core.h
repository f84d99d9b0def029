// Internal to the HTTP server (server.cpp, server_connection.cpp): ServerCore, which owns the
// listener, io threads and worker pool and runs the stop sequence, and the few calls it makes on
// the Connections it accepts. Includes Asio, so only src/http/ may include it.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "base/status.h"
#include "http/http_message.h"
#include "http/server.h"

namespace carerecord::http::server_internal {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

// One line on stderr, prefixed so operators can tell the server's own messages apart.
void LogLine(std::string_view line);

// Marks threads owned by a server, so Stop() from a handler does not wait on itself.
inline thread_local const void* t_owning_server = nullptr;

// Defined in server_connection.cpp; the server reaches it only through the functions below.
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

// Everything the server owns: the listener, the io threads, the worker pool and the stop sequence.
// Kept apart from HttpServer::Impl, which is private to HttpServer, so that connections can name
// it. Start, Stop and Wait may be called from any thread; the rest is called by connections.
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
  asio::thread_pool& large_body_pool() { return *large_body_pool_; }
  HttpResponse InvokeHandler(const HttpRequest& request) noexcept;
  HttpResponse MakeErrorResponse(int status, std::string message,
                                 std::string_view target = {}) noexcept;
  void OnConnectionOpened() { open_connections_.fetch_add(1, std::memory_order_relaxed); }
  void OnConnectionClosed() { open_connections_.fetch_sub(1, std::memory_order_relaxed); }
  // An answer waiting for its ResponseHold, counted so that Stop keeps the io threads until each
  // has been posted to its thread.
  void OnHoldStarted() {
    std::lock_guard lock(holds_mutex_);
    ++holds_;
  }
  void OnHoldEnded() {
    std::lock_guard lock(holds_mutex_);
    if (--holds_ == 0) holds_done_.notify_all();
  }

 private:
  // Answers a connection over options_.max_connections with a 503 and closes it.
  void RefuseConnection(tcp::socket socket);

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
  std::optional<asio::thread_pool> large_body_pool_;  // see ServerOptions::large_body_bytes
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_connections_{0};
  std::shared_ptr<const std::string> refusal_;  // the bytes RefuseConnection sends

  std::mutex holds_mutex_;
  std::condition_variable holds_done_;
  int holds_ = 0;

  std::mutex state_mutex_;
  std::condition_variable state_changed_;
  State state_ = State::kNotStarted;
  std::thread shutdown_thread_;
};

// Takes over an accepted socket and starts serving it on `io`'s thread.
void StartConnection(ServerCore& server, IoThread& io, tcp::socket socket);

// These run on the connection's io thread only.
// Whether the connection's current deadline (idle, request, write or linger) has passed.
bool ConnectionExpired(const Connection& connection, Clock::time_point now);
// Ends a connection whose deadline has passed: a request received in part gets a 408 first.
void ExpireConnection(Connection& connection);
// Closes the socket at once, abandoning any request in progress.
void CloseConnection(Connection& connection);
// Closes a connection with no request in progress; others close after their response.
void CloseConnectionIfIdle(Connection& connection);

}  // namespace carerecord::http::server_internal
