// Maps HTTP requests under /fhir/ onto the FHIR interactions: routing, content negotiation,
// Prefer / If-Match / If-None-Exist headers, and the scope check of each interaction (a 403
// naming the missing scope) for a caller the AuthRoutes gate has identified. Thread-safe
// (stateless over a FhirService).
#pragma once

#include <string>

#include "access/access_context.h"
#include "access/request_audit.h"
#include "http/http_message.h"
#include "interactions/fhir_service.h"

namespace carerecord::http {

class PatientAccessOperations;
class AuditRoutes;

struct FhirRouteOptions {
  // The public base URL (e.g. "https://record.example.org/fhir"). Empty: "http://" and the
  // address the connection reached, then "/fhir". Never from the Host header, which would let a
  // client choose which URLs count as this server's own (references made relative, checked).
  std::string public_base_url;
  // Where each request (but metadata) is recorded before it is answered, and a request that may
  // change data also before it runs; a failure to record turns the answer into a 503 (fail
  // closed; a write whose intent cannot be recorded is not run). Null: not audited (tests and
  // tools that run no audit log).
  access::RequestAuditLog* audit = nullptr;
  // POST Patient/ID/$declare-relationship and $break-glass (patient_access_operations.h). Null:
  // not offered (404).
  PatientAccessOperations* patient_access = nullptr;
  // AuditEvent, Patient/ID/AuditEvent and Patient/ID/$access-log, from the audit log
  // (http/audit_routes.h). Null: AuditEvent is searched in the record like any type.
  const AuditRoutes* audit_events = nullptr;
};

class FhirRoutes {
 public:
  FhirRoutes(interactions::FhirService& service, FhirRouteOptions options)
      : service_(service), options_(std::move(options)) {}

  // `who` is the verified caller (AuthRoutes fills it from the access token); its scopes, when
  // it has any, must allow the interaction the request names, else the answer is a 403. With
  // an audit log, the request's entry is durable before this returns.
  HttpResponse Handle(const HttpRequest& request, const access::AccessContext& who) const;
  // The same, but the answer may come back before its entry is durable, with a ResponseHold
  // (http_message.h) that completes once it is, or that puts the 503 in its place when it cannot
  // be written: for the HTTP server, which sends it only then, while the thread goes on to other
  // requests instead of waiting for the sync. (A write's intent entry is still durable before it
  // runs.)
  HttpResponse HandleDeferred(const HttpRequest& request, const access::AccessContext& who) const;

  // Whether a request is a quick read, to run on the io thread (ServerOptions::runs_on_io_thread):
  // a GET or HEAD of metadata, of a resource by id, or of one version of it. Searches, history
  // and operations can run long and go to the worker pool.
  static bool IsQuickRead(const HttpRequest& request);

  // An OperationOutcome response for errors found by the server itself (413, 400, 500).
  static HttpResponse ErrorResponse(int status, const std::string& message);

  // Where the sign-in routes record sign-in events (null: not audited).
  access::RequestAuditLog* audit() const { return options_.audit; }

 private:
  HttpResponse Route(const HttpRequest& request, const access::AccessContext& who) const;

  interactions::FhirService& service_;
  FhirRouteOptions options_;
};

}  // namespace carerecord::http
