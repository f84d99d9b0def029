#include "http/server_error_response.h"

#include "http/authorize_page.h"
#include "http/fhir_routes.h"
#include "http/oauth_responses.h"

namespace carerecord::http {
namespace {

// The endpoints that answer OAuth's JSON (RFC 6749 section 5.2) and the discovery documents.
bool AnswersOAuthJson(std::string_view path) {
  return path == "/auth/token" || path == "/auth/launch" || path == "/auth/jwks" ||
         path == "/.well-known/openid-configuration" ||
         path == "/fhir/.well-known/smart-configuration";
}

}  // namespace

HttpResponse ServerErrorResponse(int status, const std::string& message, std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  if (AnswersOAuthJson(path)) {
    // A server error is the server's; anything else the request's fault.
    return OAuthError(status, status >= 500 ? "server_error" : "invalid_request", message);
  }
  // Every other /auth/ path is a page a browser shows (authorize, the regional IdP's pages).
  if (path.starts_with("/auth/")) return AuthorizeErrorPage(status, message);
  return FhirRoutes::ErrorResponse(status, message);
}

}  // namespace carerecord::http
