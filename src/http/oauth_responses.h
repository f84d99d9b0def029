// The JSON answers of the OAuth endpoints (RFC 6749 section 5): the token endpoint's, the launch
// endpoint's. Shared by AuthRoutes and AuthorizeRoutes. Pure; thread-safe.
#pragma once

#include <boost/json.hpp>
#include <cctype>
#include <string_view>

#include "http/http_message.h"

namespace carerecord::http {

// Whether `text` begins with `prefix`, ASCII letters compared without case (an Authorization
// scheme, a media type).
inline bool StartsWithIgnoringCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

inline HttpResponse OAuthJsonResponse(int status, const boost::json::value& body) {
  HttpResponse response;
  response.status = status;
  response.SetHeader("Content-Type", "application/json");
  response.body = boost::json::serialize(body);
  return response;
}

// {"error", "error_description"}, never cached.
inline HttpResponse OAuthError(int status, std::string_view error, std::string_view description) {
  HttpResponse response = OAuthJsonResponse(
      status, boost::json::object{{"error", error}, {"error_description", description}});
  response.SetHeader("Cache-Control", "no-store");
  response.SetHeader("Pragma", "no-cache");
  return response;
}

}  // namespace carerecord::http
