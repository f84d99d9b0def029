// The audit log over FHIR: `GET /fhir/AuditEvent/SEQ`, `GET /fhir/AuditEvent?...` (patient,
// agent, altid, date, entity-type, subtype, outcome, _count; newest first, with next links),
// `GET /fhir/Patient/ID/AuditEvent` and `GET /fhir/Patient/ID/$access-log`, served from
// DIR/audit.db (audit/audit_search.h); AuditEvent is read-only (405; FhirRoutes answers POST
// AuditEvent/_search and POST Patient/ID/$access-log as the GET). Who may read is the access
// policy's: a role whose read types hold AuditEvent (auditor, integration), a patient user only
// entries about their own record, naming no other patient and no item id (and without staff
// names, nor altid/agent filters (403), unless the region shows them). FhirRoutes sends these
// requests here, so reading the audit is audited like any read. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "access/access_context.h"
#include "audit/audit_event.h"
#include "audit/audit_search.h"
#include "interactions/fhir_service.h"
#include "interactions/search_query.h"

namespace carerecord::http {

struct AuditRouteOptions {
  access::AccessPolicy* policy = nullptr;         // the server's (role table and scopes)
  const audit::AgentDirectory* agents = nullptr;  // null: agents by identifier only
  bool access_log_shows_names = false;            // a patient user sees staff names
  int64_t default_count = 50;
  int64_t max_count = 1000;
};

class AuditRoutes {
 public:
  AuditRoutes(audit::AuditSearch& search, AuditRouteOptions options)
      : search_(search), options_(std::move(options)) {}

  // Whether the path (segments after /fhir) is one of these routes.
  static bool Handles(const std::vector<std::string>& segments);

  interactions::Response Handle(const std::string& method, const std::vector<std::string>& segments,
                                const interactions::QueryParams& params,
                                const interactions::RequestContext& ctx) const;

 private:
  interactions::Response Search(const interactions::QueryParams& params,
                                const interactions::RequestContext& ctx, std::string link_path,
                                const std::string& patient) const;

  audit::AuditSearch& search_;
  AuditRouteOptions options_;
};

}  // namespace carerecord::http
