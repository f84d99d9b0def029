// The JSON answers of the OAuth endpoints (RFC 6749 section 5): the token endpoint's, the launch
// endpoint's. Shared by AuthRoutes and AuthorizeRoutes. Pure; thread-safe.
#pragma once

#include <boost/json.hpp>
#include <string_view>

#include "base/ascii.h"
#include "http/http_message.h"

namespace carerecord::http {

using base::StartsWithIgnoringCase;  // an Authorization scheme, a media type

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
