// The hospital feeds' part of `serve`: the `--mllp` options, and while the server runs the inbox,
// the MLLP listener and (when a MessageProcessor is given) the inbox worker, and the figures of
// `GET /metrics`. Serve() starts it before the HTTP server and stops it first.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "feeds/application_acks.h"
#include "feeds/inbox.h"
#include "feeds/inbox_worker.h"
#include "feeds/message_processor.h"
#include "feeds/mllp_listener.h"
#include "http/http_message.h"

namespace carerecord::app {

struct MllpServeSettings {
  std::string listen;  // HOST:PORT; empty: no listener
  std::string tls_certificate_file, tls_private_key_file;
  int max_connections = 1000;
  size_t max_message_bytes = size_t{64} << 20;
};

void AddMllpServeOptions(CLI::App& serve, MllpServeSettings& settings);

class FeedServing {
 public:
  FeedServing() = default;
  ~FeedServing();
  // Does nothing when settings.listen is empty. `processor` null: messages are committed and
  // acknowledged but stay `received` (said on stderr) until a server with one runs.
  base::Status Start(const std::string& data_dir, const MllpServeSettings& settings, bool durable,
                     feeds::MessageProcessor* processor);
  // Stops the listener, the inbox's writer and the worker; the figures stay readable until
  // destruction. Not concurrently with Start.
  void Stop();
  // `GET /metrics`: the per-feed figures in Prometheus text; nullopt when no listener runs.
  // Thread-safe between Start and destruction.
  std::optional<http::HttpResponse> MetricsResponse() const;

 private:
  std::unique_ptr<feeds::Inbox> inbox_;
  std::unique_ptr<feeds::ApplicationAcks> acks_;
  std::unique_ptr<feeds::MllpListener> listener_;
  std::unique_ptr<feeds::InboxWorker> worker_;
};

}  // namespace carerecord::app
