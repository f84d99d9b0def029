// An audit entry as a FHIR R4 AuditEvent (IHE Basic Audit Log Patterns), and the search keys an
// entry is indexed under (audit_search.h). Pure functions; AgentDirectory implementations say
// their own thread-safety (the server's is thread-safe).
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_entry.h"

namespace carerecord::audit {

inline constexpr std::string_view kRestfulInteractionSystem =
    "http://hl7.org/fhir/restful-interaction";
inline constexpr std::string_view kAuditActionSystem =
    "https://carerecord.example/CodeSystem/audit-action";
inline constexpr std::string_view kClientIdSystem = "https://carerecord.example/Id/client-id";

// The FHIR codes of an entry: the restful interaction (read, vread, search-type, history-instance,
// create, update, delete, transaction, operation; empty for a sign-in), AuditEvent.action (C, R,
// U, D, E) and AuditEvent.outcome (0 success, 4 refused or a 4xx, 8 a 5xx; empty while pending).
struct AuditEventCodes {
  std::string interaction;
  std::string action;
  std::string outcome;
};
AuditEventCodes CodesOf(const AuditRecord& record);
bool IsSignIn(const AuditRecord& record);

// The keys an entry is found by, one per searchable value: "p|PATIENT", "a|PRINCIPAL", "l|ALTID"
// (username, client id), "s|SUBTYPE" (restful interaction and carerecord action), "o|OUTCOME",
// "e|ENTITY-TYPE" (1 for a patient, 2 for data, and each resource type returned or changed).
std::vector<std::string> SearchKeysOf(const AuditRecord& record);

// Who an agent is in the record: a user's Practitioner (or a patient user's Patient) as the
// directory makes them, and back.
class AgentDirectory {
 public:
  virtual ~AgentDirectory() = default;
  // "Practitioner/carerecord-user-12", "Patient/p1"; empty when the user is unknown.
  virtual std::string ReferenceOfUser(std::string_view username) const = 0;
  // The username a "Practitioner/..." or "Patient/..." reference stands for, if any.
  virtual std::optional<std::string> UserOfReference(std::string_view reference) const = 0;
};

struct AuditEventView {
  const AgentDirectory* agents = nullptr;  // null: agents by identifier only
  // False (a patient reading their access log): no user names, ids of items, queries, addresses
  // or detail; organisation, role, time, purpose, outcome and the kinds of data stay.
  bool show_staff_names = true;
  // A patient user's view (non-empty: their own Patient id): no other patient is named, and items
  // are shown only by their type, never by id, and without the query, whatever show_staff_names.
  std::string only_patient;
  std::string observer = "carerecord";  // this server, AuditEvent.source.observer.display
};

// Entry `seq` as an AuditEvent with id "SEQ".
boost::json::object AuditEventJson(const AuditRecord& record, int64_t seq,
                                   const AuditEventView& view);

}  // namespace carerecord::audit
