// HttpClient: a small synchronous HTTP/1.1 keep-alive client for tests, benchmarks and tools.
// One connection per client; not thread-safe (use one client per thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "http/http_message.h"

namespace carerecord::http {

class HttpClient {
 public:
  HttpClient(std::string host, uint16_t port);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and reads the whole response. Connects on first use, and reconnects (once)
  // when the server has closed a kept-alive connection. Response header names are lower-cased.
  // Host and Content-Length are added unless given.
  base::Result<HttpResponse> Send(std::string method, std::string target,
                                  std::vector<std::pair<std::string, std::string>> headers = {},
                                  std::string body = {});

  // Bounds connecting, writing and reading each; 30 s by default.
  void SetTimeout(std::chrono::milliseconds timeout);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace carerecord::http
