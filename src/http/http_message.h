// HttpRequest and HttpResponse: the plain values the HTTP server hands to handlers and sends back.
// No I/O here and no Beast types, so any layer may include this. Values; not synchronised (but
// ResponseHold, shared between a handler's work and the server, is).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace carerecord::http {

struct HttpResponse;

struct HttpRequest {
  std::string method;  // as sent, e.g. "GET"; HTTP methods are case-sensitive
  std::string target;  // raw path and query, not decoded
  // Names are lower-cased by the server so lookups need not fold case; values are as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;  // peer IP address, e.g. "127.0.0.1"
  // The server's address and port as this connection reached them, e.g. "127.0.0.1:8080" or
  // "[::1]:8080": the listening address, never taken from what the client sent.
  std::string local_address;

  // The first value of a header, or "" if absent. `lower_name` must be lower case.
  std::string_view Header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers) {
      if (name == lower_name) return value;
    }
    return {};
  }
  // How many times the header was sent (a credential sent twice is ambiguous).
  size_t HeaderCount(std::string_view lower_name) const {
    size_t count = 0;
    for (const auto& [name, value] : headers) count += name == lower_name;
    return count;
  }
};

// What an answer waits for before its first byte may be sent: the audit entry of a FHIR request
// made durable (FhirRoutes::HandleDeferred). Whoever does that work calls Complete once, from any
// thread: with nothing (send the answer) or with the answer to send instead (e.g. a 503: the
// entry could not be written, so nothing read may go out). The HTTP server calls Then once, and
// sends the answer from `then`, which runs on Complete's thread (or at once when it is already
// complete) and must not block; a caller outside the server waits with Settled.
class ResponseHold {
 public:
  using Then_ = std::function<void(std::optional<HttpResponse> instead)>;
  void Complete(std::optional<HttpResponse> instead);
  void Then(Then_ then);
  std::optional<HttpResponse> Wait();  // blocks until complete
  bool complete() const {
    std::lock_guard lock(mutex_);
    return complete_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable completed_;
  bool complete_ = false;
  std::unique_ptr<HttpResponse> instead_;
  Then_ then_;
};

struct HttpResponse {
  int status = 200;
  // The server adds Date, Content-Length and Connection itself and ignores handler-set ones (a
  // HEAD handler may set Content-Length with an empty body).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Null, or what must complete before any of this is sent (see ResponseHold).
  std::shared_ptr<ResponseHold> hold;

  // Replaces a header of the same name (compared without case) or adds it.
  void SetHeader(std::string name, std::string value) {
    for (auto& [existing_name, existing_value] : headers) {
      if (EqualsIgnoringCase(existing_name, name)) {
        existing_value = std::move(value);
        return;
      }
    }
    headers.emplace_back(std::move(name), std::move(value));
  }

  // The value of a header (name compared without case), or "" if absent.
  std::string_view Header(std::string_view name) const {
    for (const auto& [existing_name, value] : headers) {
      if (EqualsIgnoringCase(existing_name, name)) return value;
    }
    return {};
  }

 private:
  static bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      char x = a[i], y = b[i];
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
      if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
      if (x != y) return false;
    }
    return true;
  }
};

inline void ResponseHold::Complete(std::optional<HttpResponse> instead) {
  Then_ then;
  {
    std::lock_guard lock(mutex_);
    if (complete_) return;
    complete_ = true;
    if (instead) instead_ = std::make_unique<HttpResponse>(std::move(*instead));
    then.swap(then_);
  }
  completed_.notify_all();
  if (then) then(instead_ ? std::optional<HttpResponse>(std::move(*instead_)) : std::nullopt);
}

inline void ResponseHold::Then(Then_ then) {
  {
    std::lock_guard lock(mutex_);
    if (!complete_) {
      then_ = std::move(then);
      return;
    }
  }
  then(instead_ ? std::optional<HttpResponse>(std::move(*instead_)) : std::nullopt);
}

inline std::optional<HttpResponse> ResponseHold::Wait() {
  std::unique_lock lock(mutex_);
  completed_.wait(lock, [this] { return complete_; });
  return instead_ ? std::optional<HttpResponse>(*instead_) : std::nullopt;
}

// The answer as it may be sent: waits for its hold (if any) and gives the answer, or what the
// hold put instead. For callers that send or read an answer outside the HTTP server.
inline HttpResponse Settled(HttpResponse response) {
  if (!response.hold) return response;
  std::optional<HttpResponse> instead = response.hold->Wait();
  response.hold.reset();
  return instead ? std::move(*instead) : std::move(response);
}

}  // namespace carerecord::http
