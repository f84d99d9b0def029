// HttpServer: an HTTP/1.1 keep-alive server that turns each request into one call of a Handler.
// Start, Stop and Wait may be called from any thread; the Handler is called concurrently from
// several threads (io threads for GET/HEAD, a worker pool for other methods) and must be
// thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "http/http_message.h"

namespace carerecord::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port; Start() returns the one bound
  int io_threads = 2;
  // Non-GET handlers block on a group commit, so this bounds how many writers wait at once.
  int worker_threads = 32;
  // Requests with a body of at least large_body_bytes run on threads of their own, at most
  // large_body_threads at once: each holds several times its body while it is prepared, so 64
  // workers on 64 large Bundles took gigabytes, and small writes never queue behind them.
  size_t large_body_bytes = 256 << 10;
  int large_body_threads = 2;
  size_t max_body_bytes = 16 << 20;
  // A connection is closed when a keep-alive wait, or the receipt of one whole request (against
  // slowloris), takes longer than these; the latter is answered 408 first. Checked about once a
  // second.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  std::chrono::milliseconds request_timeout = std::chrono::seconds(30);
  // Which requests run on the io thread that read them: only those known to be quick (a read
  // by id), since one slow request there stalls every connection of its thread. The rest run
  // on the worker pool. Null: GET and HEAD run on the io thread.
  std::function<bool(const HttpRequest&)> runs_on_io_thread;
  // Connections served at once. One more is answered 503 with Retry-After and closed at once, so
  // a flood of idle connections cannot take the file descriptors the store needs to read.
  int max_connections = 10000;
};

// May block (e.g. on a database commit) except for what ServerOptions::runs_on_io_thread names.
using Handler = std::function<HttpResponse(const HttpRequest&)>;
// Builds the response for errors the server detects itself (400, 408, 413, 414, 431, 500), e.g. a
// FHIR OperationOutcome. `target`: the request target as far as it was read (may be empty or cut
// short), so the answer can take the form of what was asked for (an OAuth endpoint's JSON, a
// sign-in page's HTML). Called on io or worker threads; must be thread-safe.
using ErrorResponder =
    std::function<HttpResponse(int status, std::string message, std::string_view target)>;

class HttpServer {
 public:
  HttpServer(ServerOptions options, Handler handler, ErrorResponder error_responder);
  ~HttpServer();  // Stops and waits; must not be called from a handler.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving. Returns the bound port, or an error if the address is invalid or
  // in use. A server can be started once.
  base::Result<uint16_t> Start();

  // Stops accepting, lets requests already received finish (at most ~10 s), then closes every
  // connection. Idempotent. Blocks until stopped, except when called from one of this server's
  // own threads (a handler), where it only begins the shutdown.
  void Stop();

  // Blocks until the server has stopped (returns at once if it never started).
  void Wait();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace carerecord::http
