#include "http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/deferred_batch.h"
#include "http/client.h"
#include "http/fhir_routes.h"
#include "http/server_error_response.h"

namespace carerecord::http {
namespace {

using namespace std::chrono_literals;

HttpResponse ErrorAsText(int status, std::string message, std::string_view) {
  HttpResponse response;
  response.status = status;
  response.SetHeader("Content-Type", "text/plain");
  response.body = "error " + std::to_string(status) + ": " + message;
  return response;
}

HttpResponse Echo(const HttpRequest& request) {
  HttpResponse response;
  response.SetHeader("Content-Type", "text/plain");
  response.SetHeader("X-Echo-Test", std::string(request.Header("x-test")));
  response.body = request.method + " " + request.target + "\n" + request.body;
  return response;
}

// A raw socket, for what HttpClient will not send: garbage, pipelining, partial requests.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{5, 0};  // a broken server fails the test instead of hanging it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~RawConnection() { ::close(fd_); }

  bool connected() const { return connected_; }
  void Write(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  struct Response {
    int status = 0;
    std::string head;  // status line and headers, as received
    std::string body;
  };

  // Reads one response whose body length is given by Content-Length (absent means none).
  Response ReadResponse() {
    Response response;
    size_t head_end;
    while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadSome()) return response;
    }
    response.head = pending_.substr(0, head_end + 4);
    pending_.erase(0, head_end + 4);
    response.status = std::stoi(response.head.substr(9, 3));
    size_t length = 0;
    if (auto at = response.head.find("Content-Length: "); at != std::string::npos) {
      length = std::stoul(response.head.substr(at + 16));
    }
    while (pending_.size() < length) {
      if (!ReadSome()) return response;
    }
    response.body = pending_.substr(0, length);
    pending_.erase(0, length);
    return response;
  }

  // True if the server closes the connection (EOF or reset) within the receive timeout, having
  // sent nothing more.
  bool ClosedByServer() {
    char byte;
    ssize_t n = ::recv(fd_, &byte, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  // Bytes received beyond the responses read so far, waiting at most `wait`.
  std::string Leftover(std::chrono::milliseconds wait) {
    timeval timeout{0, static_cast<suseconds_t>(wait.count() * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ReadSome();
    return pending_;
  }

 private:
  bool ReadSome() {
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    pending_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

// Starts a server for one test and stops it at the end.
class RunningServer {
 public:
  explicit RunningServer(Handler handler, ServerOptions options = {})
      : server_(std::move(options), std::move(handler), ErrorAsText) {
    auto port = server_.Start();
    EXPECT_TRUE(port.ok()) << (port.ok() ? "" : port.error().message);
    if (port.ok()) port_ = *port;
  }
  HttpServer& server() { return server_; }
  uint16_t port() const { return port_; }

 private:
  HttpServer server_;
  uint16_t port_ = 0;
};

TEST(HttpServerTest, EchoHandlerRoundTripsMethodTargetHeadersAndBody) {
  RunningServer running(Echo);
  HttpClient client("127.0.0.1", running.port());
  auto response = client.Send("POST", "/Patient?name=smith&_count=2", {{"X-Test", "hello"}},
                              R"({"resourceType":"Patient"})");
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "POST /Patient?name=smith&_count=2\n{\"resourceType\":\"Patient\"}");
  EXPECT_EQ(response->Header("x-echo-test"), "hello");
  EXPECT_EQ(response->Header("content-type"), "text/plain");
  EXPECT_EQ(response->Header("content-length"), std::to_string(response->body.size()));
  EXPECT_TRUE(response->Header("date").ends_with(" GMT")) << response->Header("date");
}

TEST(HttpServerTest, RequestHeaderNamesAreLowerCasedAndRemoteAddressIsSet) {
  RunningServer running([](const HttpRequest& request) {
    HttpResponse response;
    for (const auto& [name, value] : request.headers) response.body += name + "=" + value + ";";
    response.body += "from=" + request.remote_address;
    return response;
  });
  HttpClient client("127.0.0.1", running.port());
  auto response = client.Send("GET", "/", {{"X-Mixed-Case", "Value"}});
  ASSERT_TRUE(response.ok());
  EXPECT_NE(response->body.find("x-mixed-case=Value;"), std::string::npos) << response->body;
  EXPECT_NE(response->body.find("from=127.0.0.1"), std::string::npos) << response->body;
}

TEST(HttpServerTest, PortZeroReturnsTheRealBoundPort) {
  RunningServer running(Echo);
  ASSERT_NE(running.port(), 0);
  HttpClient client("127.0.0.1", running.port());
  auto response = client.Send("GET", "/ping");
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->body, "GET /ping\n");
}

TEST(HttpServerTest, StartFailsWhenThePortIsInUse) {
  RunningServer first(Echo);
  ServerOptions options;
  options.port = first.port();
  HttpServer second(options, Echo, ErrorAsText);
  auto port = second.Start();
  ASSERT_FALSE(port.ok());
  EXPECT_NE(port.error().message.find(std::to_string(first.port())), std::string::npos)
      << port.error().message;
}

TEST(HttpServerTest, StartFailsForAnInvalidHost) {
  ServerOptions options;
  options.host = "no-such-host.invalid";
  HttpServer server(options, Echo, ErrorAsText);
  EXPECT_FALSE(server.Start().ok());
}

TEST(HttpServerTest, KeepAliveServesSequentialAndPipelinedRequestsOnOneConnection) {
  RunningServer running(Echo);
  RawConnection connection(running.port());
  ASSERT_TRUE(connection.connected());
  for (int i = 0; i < 3; ++i) {
    connection.Write("GET /seq/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    auto response = connection.ReadResponse();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "GET /seq/" + std::to_string(i) + "\n");
    EXPECT_EQ(response.head.find("Connection: close"), std::string::npos);
  }
  connection.Write(
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(connection.ReadResponse().body, "POST /a\nabc");
  EXPECT_EQ(connection.ReadResponse().body, "GET /b\n");
}

TEST(HttpServerTest, ChunkedRequestBodyIsDecoded) {
  RunningServer running(Echo);
  RawConnection connection(running.port());
  connection.Write(
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_EQ(connection.ReadResponse().body, "POST /c\nabcde");
}

TEST(HttpServerTest, Http10ClosesUnlessKeepAliveIsAsked) {
  RunningServer running(Echo);
  {
    RawConnection connection(running.port());
    connection.Write("GET /old HTTP/1.0\r\n\r\n");
    auto response = connection.ReadResponse();
    EXPECT_EQ(response.body, "GET /old\n");
    EXPECT_NE(response.head.find("Connection: close"), std::string::npos);
    EXPECT_TRUE(connection.ClosedByServer());
  }
  RawConnection connection(running.port());
  connection.Write("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  auto response = connection.ReadResponse();
  EXPECT_NE(response.head.find("Connection: keep-alive"), std::string::npos);
  connection.Write("GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(connection.ReadResponse().body, "GET /2\n");
}

TEST(HttpServerTest, BodyOverLimitGets413FromErrorResponderAndServerServesNextConnection) {
  std::atomic<int> handler_calls = 0;
  ServerOptions options;
  options.max_body_bytes = 1024;
  RunningServer running(
      [&](const HttpRequest& request) {
        ++handler_calls;
        return Echo(request);
      },
      options);
  {
    // The announced length alone must be refused, before any of the body is read.
    RawConnection connection(running.port());
    connection.Write("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" +
                     std::string(4096, 'x'));
    auto response = connection.ReadResponse();
    EXPECT_EQ(response.status, 413);
    EXPECT_TRUE(response.body.starts_with("error 413: ")) << response.body;
    EXPECT_NE(response.head.find("Connection: close"), std::string::npos);
    EXPECT_TRUE(connection.ClosedByServer());
  }
  {
    RawConnection connection(running.port());
    connection.Write("POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 4; ++i) connection.Write("200\r\n" + std::string(512, 'y') + "\r\n");
    EXPECT_EQ(connection.ReadResponse().status, 413);
  }
  EXPECT_EQ(handler_calls.load(), 0);
  HttpClient client("127.0.0.1", running.port());
  auto at_limit = client.Send("POST", "/ok", {}, std::string(1024, 'z'));
  ASSERT_TRUE(at_limit.ok());
  EXPECT_EQ(at_limit->status, 200);
  auto over_limit = client.Send("POST", "/ok", {}, std::string(200000, 'z'));
  ASSERT_TRUE(over_limit.ok()) << over_limit.error().message;
  EXPECT_EQ(over_limit->status, 413);
}

TEST(HttpServerTest, MalformedRequestGets400AndConnectionIsClosed) {
  RunningServer running(Echo);
  RawConnection connection(running.port());
  connection.Write("GARBAGE\r\n\r\n");
  auto response = connection.ReadResponse();
  EXPECT_EQ(response.status, 400);
  EXPECT_TRUE(response.body.starts_with("error 400: malformed HTTP request")) << response.body;
  EXPECT_TRUE(connection.ClosedByServer());

  RawConnection bad_length(running.port());
  bad_length.Write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
  EXPECT_EQ(bad_length.ReadResponse().status, 400);
}

TEST(HttpServerTest, OversizedHeaderGets431) {
  RunningServer running(Echo);
  RawConnection connection(running.port());
  connection.Write("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70 * 1024, 'h') +
                   "\r\n\r\n");
  auto response = connection.ReadResponse();
  EXPECT_EQ(response.status, 431);
  EXPECT_TRUE(response.body.starts_with("error 431: ")) << response.body;
}

// A request target over the header limit is a URI too long, not a header too large.
TEST(HttpServerTest, OversizedRequestTargetGets414) {
  RunningServer running(Echo);
  RawConnection connection(running.port());
  connection.Write("GET /?q=" + std::string(70 * 1024, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
  auto response = connection.ReadResponse();
  EXPECT_EQ(response.status, 414);
  EXPECT_NE(response.body.find("too long"), std::string::npos) << response.body;
}

// A transfer coding the server does not undo is refused by name, not read as an empty body.
TEST(HttpServerTest, TransferCodingOtherThanChunkedGets501NamingIt) {
  RunningServer running(Echo);
  for (const char* coding : {"gzip", "gzip, chunked", "deflate"}) {
    RawConnection connection(running.port());
    connection.Write(std::string("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ") + coding +
                     "\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    auto response = connection.ReadResponse();
    EXPECT_EQ(response.status, 501) << coding << ": " << response.body;
    EXPECT_NE(response.body.find(std::string(coding).substr(0, 4)), std::string::npos)
        << response.body;
  }
  RawConnection chunked(running.port());
  chunked.Write(
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.ReadResponse().status, 200);
}

TEST(HttpServerTest, HandlerExceptionGives500AndServerStaysUp) {
  RunningServer running([](const HttpRequest& request) -> HttpResponse {
    if (request.target == "/throw") throw std::runtime_error("boom");
    return Echo(request);
  });
  HttpClient client("127.0.0.1", running.port());
  for (const char* method : {"GET", "POST"}) {  // inline and worker-pool paths
    auto failed = client.Send(method, "/throw");
    ASSERT_TRUE(failed.ok());
    EXPECT_EQ(failed->status, 500);
    EXPECT_EQ(failed->body, "error 500: internal error");
  }
  auto next = client.Send("GET", "/fine");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->status, 200);
}

TEST(HttpServerTest, HeadResponseHasHeadersButNoBody) {
  RunningServer running([](const HttpRequest&) {
    HttpResponse response;
    response.SetHeader("Content-Type", "application/fhir+json");
    response.body = std::string(100, 'b');
    return response;
  });
  RawConnection connection(running.port());
  // HEAD then GET on one connection: any body bytes after the HEAD would corrupt the GET.
  connection.Write("HEAD /r HTTP/1.1\r\nHost: x\r\n\r\nGET /r HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string all;
  for (int i = 0; i < 50 && all.find("bbbb") == std::string::npos; ++i) {
    all = connection.Leftover(100ms);
  }
  auto get_at = all.find("HTTP/1.1 200", 1);
  ASSERT_NE(get_at, std::string::npos) << all;
  std::string head_response = all.substr(0, get_at);
  EXPECT_NE(head_response.find("Content-Length: 100\r\n"), std::string::npos) << head_response;
  EXPECT_TRUE(head_response.ends_with("\r\n\r\n")) << head_response;
  EXPECT_EQ(all.substr(all.size() - 100), std::string(100, 'b'));

  HttpClient client("127.0.0.1", running.port());
  auto head = client.Send("HEAD", "/r");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  EXPECT_EQ(head->Header("content-type"), "application/fhir+json");
}

TEST(HttpServerTest, ExpectContinueGets100BeforeTheBodyIsSent) {
  RunningServer running(Echo);
  RawConnection connection(running.port());
  connection.Write(
      "PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  auto interim = connection.ReadResponse();
  EXPECT_EQ(interim.status, 100);
  connection.Write("hello");
  EXPECT_EQ(connection.ReadResponse().body, "PUT /p\nhello");
}

TEST(HttpServerTest, StopLetsARunningSlowPostFinishThenWaitReturns) {
  std::atomic<bool> handler_started = false;
  std::atomic<bool> handler_finished = false;
  auto running = std::make_unique<RunningServer>([&](const HttpRequest& request) {
    handler_started = true;
    std::this_thread::sleep_for(500ms);
    handler_finished = true;
    return Echo(request);
  });
  uint16_t port = running->port();
  base::Result<HttpResponse> response = base::Invalid("not sent");
  std::thread writer([&] {
    HttpClient client("127.0.0.1", port);
    response = client.Send("POST", "/slow", {}, "data");
  });
  while (!handler_started) std::this_thread::sleep_for(1ms);
  std::thread waiter([&] { running->server().Wait(); });
  running->server().Stop();
  EXPECT_TRUE(handler_finished);
  waiter.join();
  writer.join();
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "POST /slow\ndata");
  EXPECT_EQ(response->Header("connection"), "close");
  running->server().Stop();  // idempotent
  EXPECT_FALSE(HttpClient("127.0.0.1", port).Send("GET", "/").ok());
}

TEST(HttpServerTest, StopCalledFromAHandlerDoesNotDeadlock) {
  HttpServer* server_pointer = nullptr;
  RunningServer running([&](const HttpRequest& request) {
    server_pointer->Stop();
    return Echo(request);
  });
  server_pointer = &running.server();
  HttpClient client("127.0.0.1", running.port());
  auto response = client.Send("POST", "/shutdown");
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 200);
  running.server().Wait();
}

TEST(HttpServerTest, SixtyFourConcurrentSlowPostsRunInParallel) {
  RunningServer running([](const HttpRequest& request) {
    std::this_thread::sleep_for(100ms);  // stands in for a group-commit fsync
    return Echo(request);
  });
  std::atomic<int> succeeded = 0;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> writers;
  for (int i = 0; i < 64; ++i) {
    writers.emplace_back([&, i] {
      HttpClient client("127.0.0.1", running.port());
      auto response = client.Send("POST", "/w/" + std::to_string(i), {}, "x");
      if (response.ok() && response->body == "POST /w/" + std::to_string(i) + "\nx") ++succeeded;
    });
  }
  for (auto& writer : writers) writer.join();
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(succeeded.load(), 64);
  EXPECT_LT(elapsed, 3s);  // serially this would take 6.4 s
}

// Large bodies run on threads of their own, a few at a time: 64 at once once took gigabytes,
// and a small write queued behind them.
TEST(HttpServerTest, LargeBodiesRunAFewAtATimeAndSmallWritesDoNotQueueBehindThem) {
  std::mutex mutex;
  std::condition_variable changed;
  bool release = false;
  int large_running = 0, most_large_running = 0;
  ServerOptions options;
  options.worker_threads = 4;
  options.large_body_threads = 2;
  options.large_body_bytes = 1024;
  RunningServer running(
      [&](const HttpRequest& request) {
        if (request.body.size() >= 1024) {
          std::unique_lock lock(mutex);
          most_large_running = std::max(most_large_running, ++large_running);
          changed.notify_all();
          changed.wait(lock, [&] { return release; });
          --large_running;
        }
        return Echo(request);
      },
      options);
  std::vector<std::thread> large;
  std::atomic<int> large_ok = 0;
  for (int i = 0; i < 5; ++i) {  // more than the workers: they alone would all be held
    large.emplace_back([&] {
      HttpClient client("127.0.0.1", running.port());
      auto response = client.Send("POST", "/large", {}, std::string(4096, 'x'));
      if (response.ok() && response->status == 200) ++large_ok;
    });
  }
  {
    std::unique_lock lock(mutex);  // until two large ones hold their threads
    changed.wait(lock, [&] { return large_running >= 2; });
  }
  HttpClient small("127.0.0.1", running.port());
  small.SetTimeout(10s);  // a deadline against a hang, not a speed test
  auto response = small.Send("POST", "/small", {}, "x");
  int large_running_meanwhile;
  {
    std::lock_guard lock(mutex);
    large_running_meanwhile = large_running;
    release = true;
  }
  changed.notify_all();
  for (auto& thread : large) thread.join();
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->body, "POST /small\nx");
  EXPECT_EQ(large_running_meanwhile, 2);  // still held: the small write did not wait for them
  EXPECT_EQ(large_ok.load(), 5);
  EXPECT_EQ(most_large_running, 2);
}

// A slow search on the only io thread once stalled every connection of that thread: requests
// that are not quick reads run on the worker pool.
TEST(HttpServerTest, ASlowSearchDoesNotHoldTheIoThreadFromAQuickRead) {
  std::mutex mutex;
  std::condition_variable changed;
  bool slow_running = false, release = false;
  ServerOptions options;
  options.io_threads = 1;
  options.runs_on_io_thread = &FhirRoutes::IsQuickRead;
  RunningServer running(
      [&](const HttpRequest& request) {
        if (request.target.find("slow") != std::string::npos) {
          std::unique_lock lock(mutex);
          slow_running = true;
          changed.notify_all();
          changed.wait_for(lock, 20s, [&] { return release; });
        }
        return Echo(request);
      },
      options);
  std::thread slow([&] {
    HttpClient client("127.0.0.1", running.port());
    client.SetTimeout(30s);
    auto response = client.Send("GET", "/fhir/Observation?code=slow", {}, {});
    EXPECT_TRUE(response.ok() && response->status == 200);
  });
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return slow_running; });
  }
  HttpClient quick("127.0.0.1", running.port());
  quick.SetTimeout(5s);  // a deadline against a hang, not a speed test
  auto response = quick.Send("GET", "/fhir/Patient/p1", {}, {});
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  changed.notify_all();
  slow.join();
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->body, "GET /fhir/Patient/p1\n");
}

// An answer with a hold (an audit entry not yet durable) is not sent before the hold completes,
// and meanwhile the io thread serves other requests; a hold completed with another answer sends
// that one instead; Stop waits for a held answer.
TEST(HttpServerTest, AHeldAnswerIsSentOnlyOnceItsHoldCompletesAndTheIoThreadGoesOn) {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::shared_ptr<ResponseHold>> holds;
  ServerOptions options;
  options.io_threads = 1;
  options.worker_threads = 1;
  options.runs_on_io_thread = &FhirRoutes::IsQuickRead;
  RunningServer running(
      [&](const HttpRequest& request) {
        HttpResponse response = Echo(request);
        if (request.target.find("held") != std::string::npos) {
          response.hold = std::make_shared<ResponseHold>();
          std::lock_guard lock(mutex);
          holds.push_back(response.hold);
          changed.notify_all();
        }
        return response;
      },
      options);
  auto wait_for_holds = [&](size_t n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 20s, [&] { return holds.size() >= n; });
  };
  // Held on the io thread (a read by id) and on the worker (a search).
  RawConnection read(running.port()), search(running.port());
  read.Write("GET /fhir/Patient/held HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(wait_for_holds(1));
  search.Write("GET /fhir/Patient?name=held HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(wait_for_holds(2));
  // Neither answer has gone out, and the io thread and the worker both serve the next requests.
  EXPECT_EQ(read.Leftover(200ms), "");
  EXPECT_EQ(search.Leftover(10ms), "");
  HttpClient other("127.0.0.1", running.port());
  other.SetTimeout(5s);  // against a hang, not a speed test
  auto quick = other.Send("GET", "/fhir/Patient/p1", {}, {});
  ASSERT_TRUE(quick.ok()) << quick.error().message;
  EXPECT_EQ(quick->body, "GET /fhir/Patient/p1\n");
  auto worked = other.Send("GET", "/fhir/Patient?name=x", {}, {});
  ASSERT_TRUE(worked.ok()) << worked.error().message;
  // Completed from another thread, as the audit writer does: the answer, or the one put instead.
  std::thread([&] { holds[0]->Complete(std::nullopt); }).join();
  RawConnection::Response sent = read.ReadResponse();
  EXPECT_EQ(sent.status, 200);
  EXPECT_EQ(sent.body, "GET /fhir/Patient/held\n");
  HttpResponse refused;
  refused.status = 503;
  refused.body = "not recorded";
  std::thread([&] { holds[1]->Complete(refused); }).join();
  sent = search.ReadResponse();
  EXPECT_EQ(sent.status, 503);
  EXPECT_EQ(sent.body, "not recorded");
  // Stop with an answer still held: it waits for the hold, and the answer is sent.
  RawConnection last(running.port());
  last.Write("GET /fhir/Patient/held-at-stop HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(wait_for_holds(3));
  std::thread stopper([&] { running.server().Stop(); });
  std::this_thread::sleep_for(100ms);
  holds[2]->Complete(std::nullopt);
  stopper.join();
  sent = last.ReadResponse();
  EXPECT_EQ(sent.status, 200);
  EXPECT_EQ(sent.body, "GET /fhir/Patient/held-at-stop\n");
}

// As the audit writer releases a group commit's answers: inside one DeferredBatch. They go out
// once the batch closes (one post for the io thread), each to its own connection, a 503 put
// instead too.
TEST(HttpServerTest, AnswersReleasedInOneDeferredBatchAreSentWhenItCloses) {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::shared_ptr<ResponseHold>> holds;
  ServerOptions options;
  options.io_threads = 1;
  options.worker_threads = 1;
  options.runs_on_io_thread = &FhirRoutes::IsQuickRead;
  RunningServer running(
      [&](const HttpRequest& request) {
        HttpResponse response = Echo(request);
        if (request.target.find("probe") != std::string::npos) return response;
        response.hold = std::make_shared<ResponseHold>();
        std::lock_guard lock(mutex);
        holds.push_back(response.hold);
        changed.notify_all();
        return response;
      },
      options);
  constexpr size_t kConnections = 6;
  std::vector<std::unique_ptr<RawConnection>> connections;
  for (size_t i = 0; i < kConnections; ++i) {
    connections.push_back(std::make_unique<RawConnection>(running.port()));
    connections.back()->Write("GET /fhir/Patient/p" + std::to_string(i) +
                              " HTTP/1.1\r\nHost: x\r\n\r\n");
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, 20s, [&] { return holds.size() == i + 1; }));
  }
  // A read answered by the same io thread after them: it has handed each held answer to its
  // hold (a hold completed before that is sent at once, batch or not).
  HttpClient probe("127.0.0.1", running.port());
  probe.SetTimeout(5s);  // against a hang, not a speed test
  auto probed = probe.Send("GET", "/fhir/Patient/probe", {}, {});
  ASSERT_TRUE(probed.ok()) << probed.error().message;
  bool completed = false, looked = false;
  std::thread writer([&] {
    base::DeferredBatch batch;
    for (size_t i = 0; i < kConnections; ++i) {
      if (i == 3) {
        HttpResponse refused;
        refused.status = 503;
        refused.body = "not recorded";
        holds[i]->Complete(refused);
      } else {
        holds[i]->Complete(std::nullopt);
      }
    }
    std::unique_lock lock(mutex);
    completed = true;
    changed.notify_all();
    changed.wait(lock, [&] { return looked; });
  });
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, 20s, [&] { return completed; }));
  }
  // Complete, but the batch is still open: nothing has gone out yet.
  EXPECT_EQ(connections[0]->Leftover(200ms), "");
  for (size_t i = 1; i < kConnections; ++i) EXPECT_EQ(connections[i]->Leftover(10ms), "");
  {
    std::lock_guard lock(mutex);
    looked = true;
  }
  changed.notify_all();
  writer.join();
  for (size_t i = 0; i < kConnections; ++i) {
    RawConnection::Response sent = connections[i]->ReadResponse();
    if (i == 3) {
      EXPECT_EQ(sent.status, 503);
      EXPECT_EQ(sent.body, "not recorded");
    } else {
      EXPECT_EQ(sent.status, 200);
      EXPECT_EQ(sent.body, "GET /fhir/Patient/p" + std::to_string(i) + "\n");
    }
  }
}

TEST(HttpResponseTest, SettledWaitsForTheHoldAndTakesWhatItPutInstead) {
  HttpResponse plain;
  plain.body = "as is";
  EXPECT_EQ(Settled(plain).body, "as is");
  HttpResponse held;
  held.body = "read";
  held.hold = std::make_shared<ResponseHold>();
  std::thread completer([hold = held.hold] {
    HttpResponse instead;
    instead.status = 503;
    instead.body = "withheld";
    hold->Complete(instead);
  });
  HttpResponse settled = Settled(held);
  completer.join();
  EXPECT_EQ(settled.status, 503);
  EXPECT_EQ(settled.body, "withheld");
  EXPECT_EQ(settled.hold, nullptr);
}

// A flood of idle connections once took every file descriptor, and reads then failed: past
// max_connections a connection is answered 503 with Retry-After and closed.
TEST(HttpServerTest, AConnectionPastTheLimitGets503AndRoomReturnsWhenOneCloses) {
  ServerOptions options;
  options.max_connections = 2;
  RunningServer running(Echo, options);
  auto first = std::make_unique<RawConnection>(running.port());
  RawConnection second(running.port());
  first->Write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  second.Write("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(first->ReadResponse().status, 200);
  EXPECT_EQ(second.ReadResponse().status, 200);
  RawConnection third(running.port());
  auto refused = third.ReadResponse();
  EXPECT_EQ(refused.status, 503);
  EXPECT_NE(refused.head.find("Retry-After: "), std::string::npos) << refused.head;
  first.reset();
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {  // the close is seen a moment later
    RawConnection again(running.port());
    again.Write("GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    served = again.ReadResponse().status == 200;
    if (!served) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(served);
}

TEST(FhirRoutesTest, OnlyReadsByIdAndMetadataAreQuick) {
  auto quick = [](std::string method, std::string target) {
    HttpRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    return FhirRoutes::IsQuickRead(request);
  };
  EXPECT_TRUE(quick("GET", "/fhir/metadata"));
  EXPECT_TRUE(quick("GET", "/fhir/Patient/p1"));
  EXPECT_TRUE(quick("HEAD", "/fhir/Patient/p1/"));
  EXPECT_TRUE(quick("GET", "/fhir/Patient/p1/_history/3"));
  EXPECT_FALSE(quick("GET", "/fhir/Patient"));
  EXPECT_FALSE(quick("GET", "/fhir/Patient/p1?_elements=name"));
  EXPECT_FALSE(quick("GET", "/fhir/Patient/p1/$everything"));
  EXPECT_FALSE(quick("GET", "/fhir/Patient/p1/_history"));
  EXPECT_FALSE(quick("GET", "/fhir/Patient/p1/Observation"));
  EXPECT_FALSE(quick("GET", "/fhir/_history"));
  EXPECT_FALSE(quick("GET", "/fhir/Patient/_search"));
  EXPECT_FALSE(quick("POST", "/fhir/Patient/p1"));
  EXPECT_FALSE(quick("GET", "/fhir/Patient/p1/_history/3/x/y"));
}

TEST(HttpServerTest, SlowlorisRequestGets408ThenIsClosedAfterRequestTimeout) {
  ServerOptions options;
  options.request_timeout = 500ms;
  RunningServer running(Echo, options);
  RawConnection connection(running.port());
  connection.Write("GET / HTTP/1.1\r\nHost: x\r\n");  // never finishes the header
  auto start = std::chrono::steady_clock::now();
  auto response = connection.ReadResponse();
  EXPECT_EQ(response.status, 408);
  EXPECT_NE(response.head.find("Connection: close"), std::string::npos) << response.head;
  EXPECT_EQ(response.body,
            "error 408: the request was not received in full within 500 ms; "
            "send it again");
  EXPECT_TRUE(connection.ClosedByServer());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

// The server's own errors take the form of the endpoint asked: OAuth JSON at the token endpoint
// (and the other JSON ones), an HTML page at the sign-in pages, an OperationOutcome elsewhere;
// for a target too long to be read whole as well as for a body over the limit.
TEST(HttpServerTest, ServerErrorsTakeTheFormOfTheEndpointAsked) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  HttpServer server(options, Echo, &ServerErrorResponse);
  auto port = server.Start();
  ASSERT_TRUE(port.ok());
  const std::string big_body(4096, 'x');
  const std::string long_query = "?q=" + std::string(70 * 1024, 'a');
  struct Case {
    std::string method, target;
    int status;
    std::string form;  // "oauth", "html" or "fhir"
  };
  for (const Case& c : std::vector<Case>{
           {"POST", "/auth/token", 413, "oauth"},
           {"GET", "/auth/token" + long_query, 414, "oauth"},
           {"POST", "/auth/launch", 413, "oauth"},
           {"GET", "/.well-known/openid-configuration" + long_query, 414, "oauth"},
           {"GET", "/auth/authorize" + long_query, 414, "html"},
           {"POST", "/auth/authorize", 413, "html"},
           {"POST", "/auth/oidc/role", 413, "html"},
           {"POST", "/fhir/Patient", 413, "fhir"},
           {"GET", "/fhir/Patient" + long_query, 414, "fhir"},
       }) {
    SCOPED_TRACE(c.method + " " + c.target.substr(0, 40));
    RawConnection connection(*port);
    connection.Write(c.method + " " + c.target + " HTTP/1.1\r\nHost: x\r\n" +
                     (c.method == "POST" ? "Content-Length: " + std::to_string(big_body.size()) +
                                               "\r\n\r\n" + big_body
                                         : std::string("\r\n")));
    auto response = connection.ReadResponse();
    EXPECT_EQ(response.status, c.status) << response.body;
    boost::system::error_code ec;
    auto json = boost::json::parse(response.body, ec);
    if (c.form == "oauth") {
      ASSERT_FALSE(ec) << response.body;
      EXPECT_EQ(json.at("error"), "invalid_request") << response.body;
      EXPECT_TRUE(json.as_object().contains("error_description"));
      EXPECT_NE(response.head.find("application/json"), std::string::npos) << response.head;
    } else if (c.form == "html") {
      EXPECT_NE(response.head.find("text/html"), std::string::npos) << response.head;
      EXPECT_NE(response.body.find("<html"), std::string::npos) << response.body;
    } else {
      ASSERT_FALSE(ec) << response.body;
      EXPECT_EQ(json.at("resourceType"), "OperationOutcome");
    }
  }
}

TEST(HttpServerTest, UnfinishedBodyGets408AsAnOperationOutcome) {
  ServerOptions options;
  options.request_timeout = 500ms;
  HttpServer server(options, Echo, &ServerErrorResponse);
  auto port = server.Start();
  ASSERT_TRUE(port.ok());
  RawConnection connection(*port);
  connection.Write(
      "POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
      "Content-Length: 100\r\n\r\n{\"resourceType\":");  // 84 bytes short
  auto response = connection.ReadResponse();
  ASSERT_EQ(response.status, 408) << response.head << response.body;
  boost::system::error_code ec;
  auto outcome = boost::json::parse(response.body, ec);
  ASSERT_FALSE(ec) << response.body;
  EXPECT_EQ(outcome.at("resourceType"), "OperationOutcome");
  EXPECT_NE(response.body.find("not received in full within 500 ms"), std::string::npos);
  EXPECT_TRUE(connection.ClosedByServer());
  // The server goes on serving.
  HttpClient client("127.0.0.1", *port);
  auto next = client.Send("GET", "/fhir/still-up");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->body, "GET /fhir/still-up\n");
}

TEST(HttpServerTest, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
  ServerOptions options;
  options.idle_timeout = 500ms;
  RunningServer running(Echo, options);
  RawConnection connection(running.port());
  connection.Write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(connection.ReadResponse().status, 200);
  EXPECT_TRUE(connection.ClosedByServer());
}

TEST(HttpServerTest, AbruptDisconnectsDoNotDisturbOtherClients) {
  RunningServer running(Echo);
  for (int i = 0; i < 20; ++i) {
    RawConnection connection(running.port());
    connection.Write(i % 2 ? "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nab" : "GET / HT");
  }  // closed mid-request
  HttpClient client("127.0.0.1", running.port());
  auto response = client.Send("GET", "/still-up");
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->body, "GET /still-up\n");
}

TEST(HttpClientTest, ReconnectsAfterTheServerClosesTheConnection) {
  RunningServer running([](const HttpRequest& request) {
    HttpResponse response = Echo(request);
    if (request.target == "/close") response.SetHeader("Connection", "close");
    return response;
  });
  HttpClient client("127.0.0.1", running.port());
  ASSERT_TRUE(client.Send("GET", "/close").ok());
  auto after_close = client.Send("GET", "/again");
  ASSERT_TRUE(after_close.ok()) << after_close.error().message;
  EXPECT_EQ(after_close->body, "GET /again\n");
}

TEST(HttpClientTest, ReconnectsAfterIdleTimeoutClosedTheConnection) {
  ServerOptions options;
  options.idle_timeout = 200ms;
  RunningServer running(Echo, options);
  HttpClient client("127.0.0.1", running.port());
  ASSERT_TRUE(client.Send("GET", "/1").ok());
  std::this_thread::sleep_for(1500ms);  // the sweep runs once a second
  auto response = client.Send("GET", "/2");
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->body, "GET /2\n");
}

}  // namespace
}  // namespace carerecord::http
