#include "http/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>

namespace carerecord::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view text) {
  std::string lower(text.size(), '\0');
  for (size_t i = 0; i < text.size(); ++i) lower[i] = ToLowerAscii(text[i]);
  return lower;
}

// Errors meaning the server closed a kept-alive connection before we wrote or it answered.
bool IsStaleConnectionError(error_code ec) {
  return ec == beast_http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted;
}

}  // namespace

// Asynchronous operations run to completion on a private io_context, which is how Beast's
// tcp_stream gives each operation a timeout.
class HttpClient::Impl {
 public:
  Impl(std::string host, uint16_t port) : host_(std::move(host)), port_(port) {}

  base::Result<HttpResponse> Send(const beast_http::request<beast_http::string_body>& request,
                                  bool head_only) {
    bool reused = connected_;
    if (!connected_) {
      if (auto ec = Connect()) return Fail("connect", ec);
    }
    std::optional<beast_http::response_parser<beast_http::string_body>> parser;
    error_code ec = Exchange(request, head_only, parser);
    if (ec && reused && !parser->got_some() && IsStaleConnectionError(ec)) {
      Disconnect();
      if (auto connect_ec = Connect()) return Fail("connect", connect_ec);
      ec = Exchange(request, head_only, parser);
    }
    if (ec) {
      Disconnect();
      return Fail("exchange", ec);
    }
    auto& message = parser->get();
    HttpResponse response;
    response.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
      response.headers.emplace_back(ToLower(field.name_string()), std::string(field.value()));
    }
    response.body = std::move(message.body());
    if (!message.keep_alive()) Disconnect();
    return response;
  }

  std::string HostHeader() const { return host_ + ":" + std::to_string(port_); }

  std::chrono::milliseconds timeout = std::chrono::seconds(30);

 private:
  error_code Connect() {
    error_code ec;
    tcp::resolver resolver(io_context_);
    auto endpoints = resolver.resolve(host_, std::to_string(port_), ec);
    if (ec) return ec;
    stream_.expires_after(timeout);
    stream_.async_connect(endpoints, [&](error_code result, const tcp::endpoint&) { ec = result; });
    Run();
    if (ec) return ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    connected_ = true;
    buffer_.clear();
    return {};
  }

  void Disconnect() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    connected_ = false;
  }

  error_code Exchange(const beast_http::request<beast_http::string_body>& request, bool head_only,
                      std::optional<beast_http::response_parser<beast_http::string_body>>& parser) {
    parser.emplace();
    parser->body_limit(boost::none);
    parser->header_limit(1 << 20);
    if (head_only) parser->skip(true);
    error_code ec;
    stream_.expires_after(timeout);
    beast_http::async_write(stream_, request, [&](error_code result, size_t) { ec = result; });
    Run();
    if (ec) return ec;
    stream_.expires_after(timeout);
    beast_http::async_read(stream_, buffer_, *parser,
                           [&](error_code result, size_t) { ec = result; });
    Run();
    return ec;
  }

  void Run() {
    io_context_.restart();
    io_context_.run();
  }

  base::Error Fail(std::string_view stage, error_code ec) const {
    return base::MakeError(base::ErrorCode::kInternal, "HTTP " + std::string(stage) + " to " +
                                                           host_ + ":" + std::to_string(port_) +
                                                           " failed: " + ec.message());
  }

  std::string host_;
  uint16_t port_;
  asio::io_context io_context_{1};
  beast::tcp_stream stream_{io_context_};
  beast::flat_buffer buffer_;
  bool connected_ = false;
};

HttpClient::HttpClient(std::string host, uint16_t port)
    : impl_(std::make_unique<Impl>(std::move(host), port)) {}

HttpClient::~HttpClient() = default;

void HttpClient::SetTimeout(std::chrono::milliseconds timeout) { impl_->timeout = timeout; }

base::Result<HttpResponse> HttpClient::Send(
    std::string method, std::string target,
    std::vector<std::pair<std::string, std::string>> headers, std::string body) {
  beast_http::request<beast_http::string_body> request;
  request.version(11);
  request.method_string(method);
  request.target(target);
  bool has_host = false, has_length = false;
  for (auto& [name, value] : headers) {
    std::string lower = ToLower(name);
    has_host |= lower == "host";
    has_length |= lower == "content-length" || lower == "transfer-encoding";
    request.insert(name, value);
  }
  if (!has_host) request.set(beast_http::field::host, impl_->HostHeader());
  request.body() = std::move(body);
  if (!has_length && (!request.body().empty() || (method != "GET" && method != "HEAD" &&
                                                  method != "DELETE" && method != "OPTIONS"))) {
    request.content_length(request.body().size());
  }
  return impl_->Send(request, method == "HEAD");
}

}  // namespace carerecord::http
