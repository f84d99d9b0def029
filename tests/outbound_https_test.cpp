// The relying party's outbound client against one-shot servers on loopback: TLS with the
// certificate chain and the host name checked, http only to loopback, the response size bound.
#include "http/outbound_https.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

namespace carerecord::http {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;

// Answers one connection with `response` (over TLS when a certificate is given), then stops.
class OneShotServer {
 public:
  OneShotServer(std::string response, std::string cert = {}, std::string key = {})
      : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        response_(std::move(response)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, cert, key] {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      if (cert.empty()) {
        Serve(socket);
        return;
      }
      asio::ssl::context context(asio::ssl::context::tls_server);
      context.use_certificate_chain_file(cert);
      context.use_private_key_file(key, asio::ssl::context::pem);
      asio::ssl::stream<tcp::socket&> tls(socket, context);
      tls.handshake(asio::ssl::stream_base::server, ec);
      if (!ec) Serve(tls);
    });
  }
  ~OneShotServer() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  template <typename Stream>
  void Serve(Stream& stream) {
    boost::system::error_code ec;
    std::string request;
    asio::read_until(stream, asio::dynamic_buffer(request), "\r\n\r\n", ec);
    if (!ec) asio::write(stream, asio::buffer(response_), ec);
  }
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::string response_;
  uint16_t port_ = 0;
  std::thread thread_;
};

std::string Answer(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

class OutboundHttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() /
           ("carerecord-outbound-" + std::to_string(random()) + std::to_string(random()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A self-signed certificate for `name`: cert and key paths.
  std::pair<std::string, std::string> Certificate(const std::string& name) {
    const std::string cert = (dir_ / (name + ".pem")).string();
    const std::string key = (dir_ / (name + ".key")).string();
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=" +
        name + " -addext subjectAltName=DNS:" + name + " -keyout " + key + " -out " + cert +
        " >/dev/null 2>&1";
    EXPECT_EQ(std::system(command.c_str()), 0);
    return {cert, key};
  }
  fs::path dir_;
};

TEST_F(OutboundHttpsTest, TlsWithATrustedCertificateForTheHostAnswers) {
  auto [cert, key] = Certificate("localhost");
  OneShotServer server(Answer(R"({"ok":true})"), cert, key);
  OutboundHttpsClient client({std::chrono::seconds(5), 1 << 20, cert});
  auto got = client.Get("https://localhost:" + std::to_string(server.port()) + "/jwks");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, R"({"ok":true})");
}

TEST_F(OutboundHttpsTest, CertificateForAnotherHostIsRefused) {
  auto [cert, key] = Certificate("idp.example.org");
  OneShotServer server(Answer("{}"), cert, key);
  OutboundHttpsClient client({std::chrono::seconds(5), 1 << 20, cert});
  auto got = client.Get("https://localhost:" + std::to_string(server.port()) + "/jwks");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, base::ErrorCode::kUnavailable);
  EXPECT_NE(got.error().message.find("TLS handshake"), std::string::npos) << got.error().message;
}

TEST_F(OutboundHttpsTest, UntrustedCertificateIsRefused) {
  auto [cert, key] = Certificate("localhost");
  OneShotServer server(Answer("{}"), cert, key);
  OutboundHttpsClient client({std::chrono::seconds(5), 1 << 20, ""});  // the system's CAs
  auto got = client.Get("https://localhost:" + std::to_string(server.port()) + "/jwks");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message.find("TLS handshake"), std::string::npos) << got.error().message;
}

TEST_F(OutboundHttpsTest, HttpOnlyToLoopback) {
  OneShotServer server(Answer(R"({"a":1})"));
  OutboundHttpsClient client;
  auto got = client.Get("http://127.0.0.1:" + std::to_string(server.port()) + "/x");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->body, R"({"a":1})");
  auto refused = client.Get("http://idp.example.org/x");  // refused before any lookup
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, base::ErrorCode::kInvalid);
}

TEST_F(OutboundHttpsTest, LargerAnswerThanTheLimitIsRefused) {
  OneShotServer server(Answer(std::string(5000, 'x')));
  OutboundHttpsClient client({std::chrono::seconds(5), 1000, ""});
  auto got = client.Get("http://127.0.0.1:" + std::to_string(server.port()) + "/x");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message.find("larger than 1000 bytes"), std::string::npos)
      << got.error().message;
}

}  // namespace
}  // namespace carerecord::http
