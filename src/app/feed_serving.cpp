#include "app/feed_serving.h"

#include <iostream>

#include "app/host_port.h"
#include "feeds/metrics.h"

namespace carerecord::app {

void AddMllpServeOptions(CLI::App& serve, MllpServeSettings& settings) {
  serve.add_option("--mllp", settings.listen,
                   "Listen for HL7 v2 over MLLP at HOST:PORT (port 0 picks a free one and "
                   "prints it); feeds are configured with `carerecord feeds`");
  serve
      .add_option("--mllp-tls-cert", settings.tls_certificate_file,
                  "PEM certificate (chain) for MLLP over TLS; with --mllp-tls-key")
      ->check(CLI::ExistingFile);
  serve
      .add_option("--mllp-tls-key", settings.tls_private_key_file,
                  "PEM private key for MLLP over TLS")
      ->check(CLI::ExistingFile);
  serve
      .add_option("--mllp-max-connections", settings.max_connections,
                  "MLLP connections served at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  serve
      .add_option("--mllp-max-message", settings.max_message_bytes,
                  "Largest HL7 v2 message accepted, in bytes (a larger one is answered AR)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{64} << 20));
}

FeedServing::~FeedServing() {
  Stop();
  listener_.reset();
  worker_.reset();
  acks_.reset();
  inbox_.reset();
}

base::Status FeedServing::Start(const std::string& data_dir, const MllpServeSettings& settings,
                                bool durable, feeds::MessageProcessor* processor) {
  if (settings.listen.empty()) return base::Status::Ok();
  feeds::MllpListenerOptions options;
  if (!SplitHostPort(settings.listen, options.host, options.port)) {
    return base::Invalid("--mllp must be HOST:PORT, e.g. 127.0.0.1:2575, not '" + settings.listen +
                         "'");
  }
  if (settings.tls_certificate_file.empty() != settings.tls_private_key_file.empty()) {
    return base::Invalid("--mllp-tls-cert and --mllp-tls-key go together");
  }
  options.tls_certificate_file = settings.tls_certificate_file;
  options.tls_private_key_file = settings.tls_private_key_file;
  options.max_connections = settings.max_connections;
  options.max_message_bytes = settings.max_message_bytes;
  feeds::InboxOptions inbox_options;
  inbox_options.durable = durable;
  auto inbox = feeds::OpenInbox(data_dir, inbox_options);
  if (!inbox.ok()) return inbox.error();
  inbox_ = std::move(inbox).value();
  if (processor) {
    // Enhanced-mode application ACKs, once the worker has mapped each message.
    acks_ = std::make_unique<feeds::ApplicationAcks>(*inbox_);
    options.application_acks = acks_.get();
    worker_ = std::make_unique<feeds::InboxWorker>(*inbox_, *processor);
    worker_->SetProcessedHook(
        [acks = acks_.get()](const std::vector<feeds::ProcessedMessage>& processed) {
          acks->Processed(processed);
        });
    inbox_->SetReceivedHook([worker = worker_.get()] { worker->Wake(); });
    worker_->Start();
  }
  listener_ = std::make_unique<feeds::MllpListener>(options, *inbox_);
  auto bound = listener_->Start();
  if (!bound.ok()) {
    Stop();
    return bound.error();
  }
  const bool tls = !options.tls_certificate_file.empty();
  std::cout << "carerecord mllp listening on " << options.host << ":" << bound.value()
            << (tls ? " (TLS)" : "") << std::endl;
  std::cout << "mllp port " << bound.value() << std::endl;
  if (!processor) {
    std::cerr << "carerecord: mllp: no message processor: messages are committed to the inbox "
                 "and acknowledged, and stay 'received' (not mapped into the record)"
              << std::endl;
  }
  return base::Status::Ok();
}

void FeedServing::Stop() {
  if (listener_) listener_->Stop();
  if (acks_) acks_->Stop();  // records what the closed connections could not be sent
  if (inbox_) inbox_->StopWriter();
  if (worker_) worker_->Stop();
}

std::optional<http::HttpResponse> FeedServing::MetricsResponse() const {
  if (!inbox_) return std::nullopt;
  http::HttpResponse response;
  auto stats = inbox_->Stats();
  if (!stats.ok()) {
    response.status = 503;
    response.SetHeader("Content-Type", "text/plain; charset=utf-8");
    response.body = stats.error().message + "\n";
    return response;
  }
  response.SetHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  response.body = feeds::PrometheusText(*stats);
  return response;
}

}  // namespace carerecord::app
