#include "audit/audit_event.h"

#include <openssl/evp.h>

#include <boost/json.hpp>
#include <set>

#include "access/roles.h"

namespace carerecord::audit {

namespace json = boost::json;

namespace {

constexpr std::string_view kDicom = "http://dicom.nema.org/resources/ontology/DCM";
constexpr std::string_view kEventTypeSystem =
    "http://terminology.hl7.org/CodeSystem/audit-event-type";
constexpr std::string_view kEntityTypeSystem =
    "http://terminology.hl7.org/CodeSystem/audit-entity-type";
constexpr std::string_view kObjectRoleSystem = "http://terminology.hl7.org/CodeSystem/object-role";
constexpr std::string_view kActReasonSystem = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
constexpr std::string_view kParticipationSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
constexpr std::string_view kRoleClassSystem = "http://terminology.hl7.org/CodeSystem/v3-RoleClass";
constexpr std::string_view kSourceTypeSystem =
    "http://terminology.hl7.org/CodeSystem/security-source-type";

json::object Coding(std::string_view system, std::string_view code, std::string_view display = {}) {
  json::object coding{{"system", system}, {"code", code}};
  if (!display.empty()) coding["display"] = display;
  return coding;
}

// The path's segments after /fhir, without its query.
std::vector<std::string_view> SegmentsOf(std::string_view path) {
  path = path.substr(0, path.find('?'));
  if (path.starts_with("/fhir")) path.remove_prefix(5);
  std::vector<std::string_view> segments;
  while (!path.empty()) {
    if (path[0] == '/') {
      path.remove_prefix(1);
      continue;
    }
    const size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return segments;
}

std::string InteractionOf(std::string_view action, const std::vector<std::string_view>& segments) {
  if (action == "read" || action == "vread" || action == "create" || action == "update" ||
      action == "delete") {
    return std::string(action);
  }
  // "/fhir?..." is a system search; "/fhir/Type?..." (and a compartment's) a type's.
  if (action == "search") return segments.empty() ? "search-system" : "search-type";
  if (action == "history") {
    return segments.size() >= 3   ? "history-instance"
           : segments.size() == 2 ? "history-type"
                                  : "history-system";
  }
  if (action == "bundle") return "transaction";
  return "operation";
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(bytes.data()),
                                      static_cast<int>(bytes.size()));
  out.resize(written < 0 ? 0 : static_cast<size_t>(written));
  return out;
}

std::string_view TypeOf(std::string_view resource) {
  return resource.substr(0, resource.find('/'));
}

}  // namespace

bool IsSignIn(const AuditRecord& record) {
  return record.action == "sign-in" || record.action == "sign-in-failed";
}

AuditEventCodes CodesOf(const AuditRecord& record) {
  AuditEventCodes codes;
  if (record.outcome == "success") {
    codes.outcome = "0";
  } else if (record.outcome == "refused") {
    codes.outcome = "4";
  } else if (record.outcome == "failed") {
    codes.outcome = record.status >= 500 ? "8" : "4";
  }
  if (IsSignIn(record)) {
    codes.action = "E";
    return codes;
  }
  std::string_view action = record.action;
  // An intent names the interaction it is the intent of ("intends create").
  if (action == "write-attempt" && record.detail.starts_with("intends ")) {
    action = std::string_view(record.detail).substr(8);
  }
  codes.interaction = InteractionOf(action, SegmentsOf(record.path));
  const std::string& i = codes.interaction;
  codes.action = i == "create"                                             ? "C"
                 : i == "update"                                           ? "U"
                 : i == "delete"                                           ? "D"
                 : i == "read" || i == "vread" || i.starts_with("history") ? "R"
                                                                           : "E";
  return codes;
}

std::vector<std::string> SearchKeysOf(const AuditRecord& record) {
  std::set<std::string> keys;
  for (const std::string& patient : record.patients) keys.insert("p|" + patient);
  if (!record.principal.empty()) keys.insert("a|" + record.principal);
  if (!record.user.empty()) keys.insert("l|" + record.user);
  if (!record.client.empty()) keys.insert("l|" + record.client);
  const AuditEventCodes codes = CodesOf(record);
  if (!codes.interaction.empty()) keys.insert("s|" + codes.interaction);
  if (!record.action.empty()) keys.insert("s|" + record.action);
  if (IsSignIn(record)) keys.insert("s|110122");
  if (!codes.outcome.empty()) keys.insert("o|" + codes.outcome);
  if (!record.patients.empty()) keys.insert("e|1");
  if (!record.resources.empty()) keys.insert("e|2");
  for (const std::string& resource : record.resources) {
    keys.insert("e|" + std::string(TypeOf(resource)));
  }
  return {keys.begin(), keys.end()};
}

json::object AuditEventJson(const AuditRecord& r, int64_t seq, const AuditEventView& view) {
  const AuditEventCodes codes = CodesOf(r);
  const bool sign_in = IsSignIn(r);
  json::object event{{"resourceType", "AuditEvent"}, {"id", std::to_string(seq)}};
  if (sign_in) {
    event["type"] = Coding(kDicom, "110114", "User Authentication");
    event["subtype"] = json::array{Coding(kDicom, "110122", "Login")};
  } else {
    event["type"] = Coding(kEventTypeSystem, "rest", "Restful Operation");
    json::array subtype{Coding(kRestfulInteractionSystem, codes.interaction)};
    subtype.push_back(Coding(kAuditActionSystem, r.action));
    event["subtype"] = std::move(subtype);
  }
  event["action"] = codes.action;
  event["recorded"] = UtcTimeText(r.time_ms);
  if (!codes.outcome.empty()) event["outcome"] = codes.outcome;
  if (view.show_staff_names) {
    std::string description = r.outcome;
    if (r.status != 0) description += " (HTTP " + std::to_string(r.status) + ")";
    if (!r.detail.empty()) description += ": " + r.detail;
    event["outcomeDesc"] = description;
  } else if (!r.outcome.empty()) {
    event["outcomeDesc"] = r.outcome;
  }
  if (!sign_in) {
    json::object purpose{
        {"coding", json::array{Coding(kActReasonSystem, r.purpose.empty() ? "TREAT" : r.purpose,
                                      r.purpose == "BTG" ? "break the glass" : "treatment")}}};
    if (!r.reason.empty()) purpose["text"] = r.reason;
    event["purposeOfEvent"] = json::array{std::move(purpose)};
  }

  json::array agents;
  // The one who asked: a user (their Practitioner, or a patient user's Patient) or a client.
  json::object requestor{{"requestor", true}};
  requestor["type"] = json::object{
      {"coding", json::array{Coding(kParticipationSystem, "IRCP", "information recipient")}}};
  if (!r.role.empty()) {
    requestor["role"] = json::array{json::object{
        {"coding", json::array{Coding(access::kRoleCodeSystem, r.role)}}, {"text", r.role}}};
  }
  if (!r.user.empty()) {
    if (view.show_staff_names) {
      json::object who;
      const std::string reference = view.agents ? view.agents->ReferenceOfUser(r.user) : "";
      if (!reference.empty()) who["reference"] = reference;
      who["identifier"] =
          json::object{{"system", access::kUsernameIdentifierSystem}, {"value", r.user}};
      who["display"] = r.user;
      requestor["who"] = std::move(who);
      requestor["altId"] = r.user;
      requestor["name"] = r.user;
    }
  } else if ((!r.client.empty() || r.principal.starts_with("client:")) && view.show_staff_names) {
    // No Device resource is kept for a client: a logical reference by its client id. (Not
    // shown to a patient: a client id can name a person or a machine of the staff.)
    const std::string client =
        !r.client.empty() ? r.client : r.principal.substr(std::string_view("client:").size());
    requestor["who"] =
        json::object{{"type", "Device"},
                     {"identifier", json::object{{"system", kClientIdSystem}, {"value", client}}},
                     {"display", client}};
    requestor["altId"] = client;
  } else if (!r.principal.empty() && view.show_staff_names) {
    requestor["who"] = json::object{{"display", r.principal}};
  }
  if (view.show_staff_names && !r.address.empty()) {
    requestor["network"] = json::object{{"address", r.address}, {"type", "2"}};
  }
  agents.push_back(std::move(requestor));
  if (!r.organisation.empty()) {
    agents.push_back(json::object{
        {"type", json::object{{"coding", json::array{Coding(kRoleClassSystem, "PROV",
                                                            "healthcare provider")}}}},
        {"who", json::object{{"reference", "Organization/ods-" + r.organisation},
                             {"identifier", json::object{{"system", access::kOdsIdentifierSystem},
                                                         {"value", r.organisation}}},
                             {"display", r.organisation}}},
        {"requestor", false}});
  }
  event["agent"] = std::move(agents);
  event["source"] =
      json::object{{"observer", json::object{{"display", view.observer}}},
                   {"type", json::array{Coding(kSourceTypeSystem, "4", "Application Server")}}};

  json::array entities;
  // A patient's view names no one else's record and no item by id (which could name another's).
  const bool item_ids = view.show_staff_names && view.only_patient.empty();
  for (const std::string& patient : r.patients) {
    if (!view.only_patient.empty() && patient != view.only_patient) continue;
    entities.push_back(json::object{{"what", json::object{{"reference", "Patient/" + patient}}},
                                    {"type", Coding(kEntityTypeSystem, "1", "Person")},
                                    {"role", Coding(kObjectRoleSystem, "1", "Patient")}});
  }
  if (item_ids) {
    for (const std::string& resource : r.resources) {
      entities.push_back(json::object{{"what", json::object{{"reference", resource}}},
                                      {"type", Coding(kEntityTypeSystem, "2", "System Object")},
                                      {"role", Coding(kObjectRoleSystem, "4", "Domain Resource")}});
    }
  } else {
    // The kinds of data only: an id could name an item the patient may not read.
    std::set<std::string_view> types;
    for (const std::string& resource : r.resources) types.insert(TypeOf(resource));
    for (std::string_view type : types) {
      entities.push_back(json::object{{"what", json::object{{"type", type}}},
                                      {"type", Coding(kEntityTypeSystem, "2", "System Object")},
                                      {"role", Coding(kObjectRoleSystem, "4", "Domain Resource")},
                                      {"description", type}});
    }
  }
  if (item_ids && !sign_in && !r.path.empty()) {
    json::object query{{"type", Coding(kEntityTypeSystem, "2", "System Object")},
                       {"role", Coding(kObjectRoleSystem, "24", "Query")},
                       {"query", Base64(r.path)},
                       {"description", r.method + " " + r.path}};
    if (r.items > 0 || r.withheld > 0) {
      query["detail"] = json::array{
          json::object{{"type", "items"}, {"valueString", std::to_string(r.items)}},
          json::object{{"type", "withheld"}, {"valueString", std::to_string(r.withheld)}}};
    }
    entities.push_back(std::move(query));
  } else if (sign_in && view.show_staff_names) {
    const std::string who_tried = !r.user.empty() ? r.user : r.client;
    entities.push_back(
        json::object{{"type", Coding(kEntityTypeSystem, "2", "System Object")},
                     {"role", Coding(kObjectRoleSystem, "11", "Security User Entity")},
                     {"name", who_tried},
                     {"description", r.detail}});
  }
  if (!entities.empty()) event["entity"] = std::move(entities);
  return event;
}

}  // namespace carerecord::audit
