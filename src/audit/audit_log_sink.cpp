#include "audit/audit_log_sink.h"

#include <set>

namespace carerecord::audit {

AuditRecord RecordOfRequest(const access::AuditedRequest& request) {
  const access::Disclosure& d = request.disclosure;
  AuditRecord record;
  record.principal = d.who.principal;
  record.user = d.who.user;
  record.client = d.who.client_id;
  record.organisation = d.who.organisation;
  record.role = d.who.role;
  record.patients.assign(d.patients.begin(), d.patients.end());  // a std::set: sorted
  record.action = request.action;
  std::set<std::string> listed;
  for (const auto* list : {&request.changed, &d.resources}) {
    for (const std::string& resource : *list) {
      if (listed.insert(resource).second) record.resources.push_back(resource);
    }
  }
  record.items = d.items;
  record.withheld = d.withheld;
  record.purpose = request.action == "break-glass" ? "BTG"
                   : d.purpose_of_use.empty()      ? "TREAT"
                                                   : d.purpose_of_use;
  record.reason = request.reason;
  record.outcome = request.outcome;
  record.status = request.status;
  record.method = request.method;
  record.path = request.path;
  record.address = d.who.client_address;
  record.detail = request.detail;
  return record;
}

}  // namespace carerecord::audit
