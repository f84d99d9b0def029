#include "http/outbound_https.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <optional>

namespace carerecord::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

base::Error Unreachable(const std::string& url, std::string_view stage, const std::string& why) {
  return base::MakeError(base::ErrorCode::kUnavailable,
                         std::string(stage) + " " + url.substr(0, 200) + " failed: " + why);
}

// Runs the io_context's queued operations to completion (each bounded by the stream's expiry).
void Run(asio::io_context& io) {
  io.restart();
  io.run();
}

template <typename Stream>
base::Result<access::OidcHttpResponse> Exchange(
    asio::io_context& io, Stream& stream, beast::tcp_stream& lowest,
    const beast_http::request<beast_http::string_body>& request,
    const OutboundHttpsOptions& options, const std::string& url) {
  error_code ec;
  lowest.expires_after(options.timeout);
  beast_http::async_write(stream, request, [&](error_code result, size_t) { ec = result; });
  Run(io);
  if (ec) return Unreachable(url, "sending to", ec.message());
  beast::flat_buffer buffer;
  beast_http::response_parser<beast_http::string_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(options.max_response_bytes);
  lowest.expires_after(options.timeout);
  beast_http::async_read(stream, buffer, parser, [&](error_code result, size_t) { ec = result; });
  Run(io);
  if (ec == beast_http::error::body_limit) {
    return Unreachable(
        url, "reading",
        "the answer is larger than " + std::to_string(options.max_response_bytes) + " bytes");
  }
  if (ec) return Unreachable(url, "reading from", ec.message());
  auto& message = parser.get();
  access::OidcHttpResponse response;
  response.status = static_cast<int>(message.result_int());
  response.content_type = std::string(message[beast_http::field::content_type]);
  response.body = std::move(message.body());
  return response;
}

}  // namespace

OutboundHttpsClient::OutboundHttpsClient(OutboundHttpsOptions options)
    : options_(std::move(options)) {}

base::Result<access::OidcHttpResponse> OutboundHttpsClient::Get(const std::string& url) {
  return Send("GET", url, {}, {});
}

base::Result<access::OidcHttpResponse> OutboundHttpsClient::PostForm(
    const std::string& url, const std::string& body, const std::string& authorization) {
  return Send("POST", url, body, authorization);
}

base::Result<access::OidcHttpResponse> OutboundHttpsClient::Send(const std::string& method,
                                                                 const std::string& url,
                                                                 const std::string& body,
                                                                 const std::string& authorization) {
  CR_RETURN_IF_ERROR(access::CheckIdpUrl(url, "the IdP URL"));
  auto parsed = boost::urls::parse_absolute_uri(url);
  const bool tls = parsed->scheme() == "https";
  const std::string host(parsed->host_address());
  const std::string port = parsed->has_port() ? std::string(parsed->port()) : (tls ? "443" : "80");
  std::string target(parsed->encoded_path());
  if (target.empty()) target = "/";
  if (parsed->has_query()) target += "?" + std::string(parsed->encoded_query());

  beast_http::request<beast_http::string_body> request;
  request.version(11);
  request.method_string(method);
  request.target(target);
  request.set(beast_http::field::host, std::string(parsed->encoded_authority()));
  request.set(beast_http::field::user_agent, "carerecord");
  request.set(beast_http::field::accept, "application/json");
  request.set(beast_http::field::connection, "close");
  if (!authorization.empty()) request.set(beast_http::field::authorization, authorization);
  if (method == "POST") {
    request.set(beast_http::field::content_type, "application/x-www-form-urlencoded");
    request.body() = body;
    request.prepare_payload();
  }

  asio::io_context io{1};
  error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) return Unreachable(url, "resolving the host of", ec.message());
  if (!tls) {
    // http is for a loopback IdP only: the name must not resolve anywhere else either.
    for (const auto& entry : endpoints) {
      if (!entry.endpoint().address().is_loopback()) {
        return base::Invalid("the IdP URL " + url.substr(0, 200) +
                             " is http but its host resolves to a non-loopback address");
      }
    }
    beast::tcp_stream stream(io);
    stream.expires_after(options_.timeout);
    stream.async_connect(endpoints, [&](error_code result, const tcp::endpoint&) { ec = result; });
    Run(io);
    if (ec) return Unreachable(url, "connecting to", ec.message());
    return Exchange(io, stream, stream, request, options_, url);
  }

  asio::ssl::context context(asio::ssl::context::tls_client);
  context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1);
  if (options_.ca_file.empty()) {
    context.set_default_verify_paths(ec);
  } else {
    context.load_verify_file(options_.ca_file, ec);
  }
  if (ec) return Unreachable(url, "loading the CA certificates for", ec.message());
  context.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, context);
  if (parsed->host_type() == boost::urls::host_type::name &&
      !SSL_set_tlsext_host_name(stream.native_handle(), host.c_str())) {
    return Unreachable(url, "naming the host (SNI) of", "OpenSSL refused the name");
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(host));
  beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
  lowest.expires_after(options_.timeout);
  lowest.async_connect(endpoints, [&](error_code result, const tcp::endpoint&) { ec = result; });
  Run(io);
  if (ec) return Unreachable(url, "connecting to", ec.message());
  lowest.expires_after(options_.timeout);
  stream.async_handshake(asio::ssl::stream_base::client, [&](error_code result) { ec = result; });
  Run(io);
  if (ec) return Unreachable(url, "the TLS handshake with", ec.message());
  auto response = Exchange(io, stream, lowest, request, options_, url);
  // The peer may close without close_notify; the answer is complete already (Content-Length).
  lowest.expires_after(std::chrono::seconds(1));
  stream.async_shutdown([](error_code) {});
  Run(io);
  return response;
}

}  // namespace carerecord::http
