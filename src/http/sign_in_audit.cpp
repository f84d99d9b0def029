#include "http/sign_in_audit.h"

#include "access/passwords.h"
#include "http/fhir_routes.h"

namespace carerecord::http {

namespace {

std::string UnknownNameLabel(access::Directory& directory, std::string label,
                             std::string_view name) {
  auto key = directory.AuditLabelKey();
  if (!key.ok()) return label;
  auto digest = access::HmacSha256(key.value(), name);
  if (!digest) return label;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (size_t i = 0; i < digest->size() && hex.size() < 12; ++i) {
    const auto byte = static_cast<unsigned char>((*digest)[i]);
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 15]);
  }
  return label + " " + hex;
}

}  // namespace

std::string UnknownUserLabel(access::Directory& directory, std::string_view name) {
  return UnknownNameLabel(directory, "unknown user", name);
}

std::string UnknownClientLabel(access::Directory& directory, std::string_view client_id) {
  return UnknownNameLabel(directory, "unknown client", client_id);
}

access::AuditedRequest AuditedSignIn(const HttpRequest& request, const SignInEvent& event) {
  access::AuditedRequest entry;
  access::AccessContext& who = entry.disclosure.who;
  who.principal = !event.user.empty()     ? "user:" + event.user
                  : !event.client.empty() ? "client:" + event.client
                                          : std::string();
  who.user = event.user;
  who.client_id = event.client;
  who.organisation = event.organisation;
  who.role = event.role;
  who.client_address = request.remote_address;
  entry.action = event.succeeded ? "sign-in" : "sign-in-failed";
  entry.outcome = event.succeeded ? "success" : event.status >= 500 ? "failed" : "refused";
  entry.detail = event.reason;
  entry.status = event.status;
  entry.method = request.method;
  // The path only: a client may put a secret in a query string, which must not be kept.
  entry.path = request.target.substr(0, request.target.find('?'));
  return entry;
}

std::optional<HttpResponse> RecordSignIn(access::RequestAuditLog* log, const HttpRequest& request,
                                         const SignInEvent& event) {
  if (log == nullptr) return std::nullopt;
  if (log->Append(AuditedSignIn(request, event)).ok()) return std::nullopt;
  HttpResponse refused = FhirRoutes::ErrorResponse(
      503,
      "this sign-in could not be recorded in the audit log, so it is not answered; retry "
      "shortly");
  refused.SetHeader("Retry-After", "1");
  return refused;
}

}  // namespace carerecord::http
