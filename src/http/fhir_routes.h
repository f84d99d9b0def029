// Maps HTTP requests under /fhir/ onto the FHIR interactions: routing, content negotiation,
// Prefer / If-Match / If-None-Exist headers. Thread-safe (stateless over a FhirService).
#pragma once

#include <string>

#include "http/http_message.h"
#include "interactions/fhir_service.h"

namespace carerecord::http {

struct FhirRouteOptions {
  // The public base URL (e.g. "https://record.example.org/fhir"). Empty: "http://" and the
  // address the connection reached, then "/fhir". Never from the Host header, which would let a
  // client choose which URLs count as this server's own (references made relative, checked).
  std::string public_base_url;
};

class FhirRoutes {
 public:
  FhirRoutes(interactions::FhirService& service, FhirRouteOptions options)
      : service_(service), options_(std::move(options)) {}

  HttpResponse Handle(const HttpRequest& request) const;

  // Whether a request is a quick read, to run on the io thread (ServerOptions::runs_on_io_thread):
  // a GET or HEAD of metadata, of a resource by id, or of one version of it. Searches, history
  // and operations can run long and go to the worker pool.
  static bool IsQuickRead(const HttpRequest& request);

  // An OperationOutcome response for errors found by the server itself (413, 400, 500).
  static HttpResponse ErrorResponse(int status, const std::string& message);

 private:
  interactions::FhirService& service_;
  FhirRouteOptions options_;
};

}  // namespace carerecord::http
