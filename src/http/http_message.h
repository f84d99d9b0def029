// HttpRequest and HttpResponse: the plain values the HTTP server hands to handlers and sends back.
// No I/O here and no Beast types, so any layer may include this. Values; not synchronised.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace carerecord::http {

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

struct HttpResponse {
  int status = 200;
  // The server adds Date, Content-Length and Connection itself and ignores handler-set ones (a
  // HEAD handler may set Content-Length with an empty body).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

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

}  // namespace carerecord::http
