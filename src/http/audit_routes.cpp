#include "http/audit_routes.h"

#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <set>

#include "access/region_access_policy.h"
#include "access/roles.h"
#include "access/scope_policy.h"
#include "fhir/fhir_date.h"

namespace carerecord::http {

namespace json = boost::json;
using interactions::Response;

namespace {

constexpr std::string_view kType = "AuditEvent";

Response Refusal(base::ErrorCode code, std::string message, std::string where = {}) {
  return interactions::FhirService::ErrorResponse(
      base::MakeError(code, std::move(message), std::move(where)));
}

Response JsonAnswer(const json::object& body) {
  Response response;
  response.body = json::serialize(body);
  return response;
}

std::string Encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ',' || c == '|' ||
        c == ':' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::vector<std::string> SplitCommas(std::string_view value) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = value.find(',', start);
    out.emplace_back(value.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

// A token's code: "system|code" or "code".
std::string_view CodeOf(std::string_view token) {
  const size_t bar = token.find('|');
  return bar == std::string_view::npos ? token : token.substr(bar + 1);
}

std::optional<int64_t> ParseInt(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Who asks, as the audit routes see it.
struct Reader {
  bool patient_user = false;
  std::string own_patient;  // a patient user's
};

}  // namespace

bool AuditRoutes::Handles(const std::vector<std::string>& segments) {
  if (!segments.empty() && segments[0] == kType) return true;
  return segments.size() == 3 && segments[0] == "Patient" &&
         (segments[2] == "$access-log" || segments[2] == kType);
}

Response AuditRoutes::Handle(const std::string& method, const std::vector<std::string>& segments,
                             const interactions::QueryParams& params,
                             const interactions::RequestContext& ctx) const {
  const bool get = method == "GET" || method == "HEAD";
  const size_t n = segments.size();
  const bool by_id = n == 2 && segments[0] == kType;
  // AuditEvent/_history, AuditEvent/ID/_history[/V]: an interaction the log does not offer, said
  // so (not a 404 "there is no AuditEvent/_history", as if an entry of that id were missing).
  if (segments[0] == kType &&
      ((n == 2 && segments[1] == "_history") || (n >= 3 && segments[2] == "_history"))) {
    return Refusal(base::ErrorCode::kMethodNotAllowed,
                   "the audit log has no history interaction: its entries never change (each "
                   "is one version, read as AuditEvent/ID); search it with GET AuditEvent?... "
                   "(date, patient, agent, altid, entity-type, subtype, outcome)");
  }
  if (segments[0] == kType && n > 2) {
    return Refusal(base::ErrorCode::kNotFound,
                   "the audit log keeps no history of its entries: they never change");
  }
  if (!get) {
    return Refusal(base::ErrorCode::kMethodNotAllowed,
                   method +
                       " is not allowed on AuditEvent: the audit log is read-only (entries "
                       "are made by the server for each request, never by a client)");
  }
  const access::AccessContext& who = ctx.who;
  // The token's scopes, then the policy's role table: may this caller read AuditEvent at all?
  if (auto refusal = access::CheckInteractionScope(
          who, by_id ? access::FhirInteraction::kRead : access::FhirInteraction::kSearchType,
          kType)) {
    return Refusal(base::ErrorCode::kForbidden, std::move(refusal->message));
  }
  if (options_.policy && options_.policy->RefusesType(who, kType)) {
    return Refusal(base::ErrorCode::kForbidden,
                   "the role '" + who.role +
                       "' may not read the audit log (AuditEvent is not in the access policy's "
                       "roles." +
                       who.role + ".read)");
  }
  const bool patient_user = who.kind && who.role == access::RoleName(access::Role::kPatient);
  const std::string own =
      patient_user ? std::string(access::RegionAccessPolicy::OwnPatient(who)) : std::string();
  if (patient_user && own.empty()) {
    return Refusal(base::ErrorCode::kForbidden,
                   "this sign-in has no patient of its own, so it may read no audit entries");
  }
  audit::AuditEventView view;
  view.agents = options_.agents;
  view.show_staff_names = !patient_user || options_.access_log_shows_names;
  view.only_patient = own;

  if (by_id) {
    auto seq = ParseInt(segments[1]);
    const Response unknown =
        Refusal(base::ErrorCode::kNotFound, "there is no AuditEvent/" + segments[1] + " to read");
    if (!seq || *seq <= 0) return unknown;
    auto hit = search_.Read(*seq);
    if (!hit.ok()) return interactions::FhirService::ErrorResponse(hit.error());
    const bool own_entry =
        hit.value() && (!patient_user || std::find(hit.value()->record.patients.begin(),
                                                   hit.value()->record.patients.end(),
                                                   own) != hit.value()->record.patients.end());
    // A patient user's read of an entry about someone else is answered as one that is not there.
    if (!hit.value() || !own_entry ||
        (patient_user && hit.value()->record.action == "write-attempt")) {
      return unknown;
    }
    if (who.request_audit) {
      access::Disclosure seen;
      seen.items = 1;
      seen.resources.push_back("AuditEvent/" + segments[1]);
      if (patient_user) {
        seen.patients.insert(own);  // the only patient a patient's view shows
      } else {
        seen.patients.insert(hit.value()->record.patients.begin(),
                             hit.value()->record.patients.end());
      }
      who.request_audit->Record(seen);
    }
    return JsonAnswer(audit::AuditEventJson(hit.value()->record, *seq, view));
  }
  std::string patient;
  std::string link_path = "/AuditEvent";
  if (n == 3) {  // Patient/ID/$access-log, Patient/ID/AuditEvent
    patient = segments[1];
    link_path = "/Patient/" + segments[1] + "/" + segments[2];
    // Not the caller's own record: answered as a patient that does not exist (no leak).
    if (patient_user && patient != own) {
      return Refusal(base::ErrorCode::kNotFound, "there is no Patient/" + patient + " to read");
    }
  } else if (n != 1) {
    return Refusal(base::ErrorCode::kNotFound, "no FHIR interaction here");
  }
  if (patient_user && patient.empty()) patient = own;  // narrowed, never refused
  return Search(params, ctx, link_path, patient);
}

Response AuditRoutes::Search(const interactions::QueryParams& params,
                             const interactions::RequestContext& ctx, std::string link_path,
                             const std::string& patient) const {
  const access::AccessContext& who = ctx.who;
  const bool patient_user = who.kind && who.role == access::RoleName(access::Role::kPatient);
  audit::AuditQuery query;
  query.count = options_.default_count;
  // The groups, most selective first: the forced patient drives.
  std::vector<std::vector<std::string>> patients, agents, altids, entity_types, subtypes, outcomes;
  if (!patient.empty()) patients.push_back({"p|" + patient});
  std::string next_query;  // the parameters a next link repeats
  for (const auto& param : params) {
    // Named, not a structured binding: older clang cannot capture one in the lambda below.
    const std::string& name = param.first;
    const std::string& value = param.second;
    auto keys = [&](std::string_view prefix, bool token) {
      std::vector<std::string> group;
      for (const std::string& item : SplitCommas(value)) {
        group.push_back(std::string(prefix) + std::string(token ? CodeOf(item) : item));
      }
      return group;
    };
    bool repeat = true;
    // Filtering by who acted would tell a patient which staff saw the record, names hidden or not.
    if (patient_user && !options_.access_log_shows_names && (name == "agent" || name == "altid")) {
      return Refusal(base::ErrorCode::kForbidden,
                     "'" + name +
                         "' is not a search parameter of a patient's access log: it would tell "
                         "which staff acted, which this region does not show to patients",
                     name);
    }
    if (name == "patient" || name == "patient:Patient") {
      std::vector<std::string> group;
      for (std::string item : SplitCommas(value)) {
        if (item.starts_with("Patient/")) item = item.substr(8);
        // A patient's own record is the only one they may name: another id would count the
        // requests that disclosed both records, telling that the other exists (hostile 6a
        // finding 10). It matches nothing, whether the id exists or not.
        if (patient_user && item != patient) continue;
        group.push_back("p|" + item);
      }
      if (group.empty()) group.push_back("p|");  // no patient id is empty: matches nothing
      patients.push_back(std::move(group));
    } else if (name == "agent") {
      std::vector<std::string> group;
      for (const std::string& item : SplitCommas(value)) {
        auto user = options_.agents ? options_.agents->UserOfReference(item) : std::nullopt;
        // A reference to no user the directory knows finds nothing (not everything).
        group.push_back(user ? "a|user:" + *user : "a|\x01unknown:" + item);
      }
      agents.push_back(std::move(group));
    } else if (name == "altid") {
      altids.push_back(keys("l|", false));
    } else if (name == "entity-type") {
      entity_types.push_back(keys("e|", true));
    } else if (name == "subtype") {
      subtypes.push_back(keys("s|", true));
    } else if (name == "outcome") {
      outcomes.push_back(keys("o|", true));
    } else if (name == "date") {
      std::string_view text = value;
      std::string_view prefix = "eq";
      if (text.size() > 2 && std::isalpha(static_cast<unsigned char>(text[0])) &&
          std::isalpha(static_cast<unsigned char>(text[1]))) {
        prefix = text.substr(0, 2);
        text.remove_prefix(2);
      }
      auto range = fhir::ParseFhirDate(text);
      if (!range.ok()) {
        return Refusal(base::ErrorCode::kInvalid, "date: " + range.error().message, "date");
      }
      if (prefix == "eq") {
        query.from_ms = std::max(query.from_ms, range->low_ms);
        query.to_ms = std::min(query.to_ms, range->high_ms);
      } else if (prefix == "ge") {
        query.from_ms = std::max(query.from_ms, range->low_ms);
      } else if (prefix == "gt") {
        query.from_ms = std::max(query.from_ms, range->high_ms);
      } else if (prefix == "le") {
        query.to_ms = std::min(query.to_ms, range->high_ms);
      } else if (prefix == "lt") {
        query.to_ms = std::min(query.to_ms, range->low_ms);
      } else {
        return Refusal(base::ErrorCode::kInvalid,
                       "date: the prefix '" + std::string(prefix) +
                           "' is not one this search takes (eq, ge, gt, le, lt)",
                       "date");
      }
    } else if (name == "_count") {
      auto count = ParseInt(value);
      if (!count || *count < 0) {
        return Refusal(base::ErrorCode::kInvalid, "_count must be a whole number of 0 or more",
                       "_count");
      }
      query.count = std::min(*count, options_.max_count);
    } else if (name == "_cursor") {
      const size_t dot = value.find('.');
      auto time = ParseInt(std::string_view(value).substr(0, dot));
      auto seq = dot == std::string::npos ? std::nullopt
                                          : ParseInt(std::string_view(value).substr(dot + 1));
      if (!time || !seq) {
        return Refusal(base::ErrorCode::kInvalid,
                       "_cursor is not one this server made (follow the Bundle's next link)",
                       "_cursor");
      }
      query.before_time_ms = *time;
      query.before_seq = *seq;
      repeat = false;
    } else if (name == "_sort") {
      if (value != "-date") {
        return Refusal(base::ErrorCode::kInvalid,
                       "the audit log is searched newest first only (_sort=-date)", "_sort");
      }
    } else if (name == "_format" || name == "_pretty") {
      repeat = false;
    } else {
      return Refusal(base::ErrorCode::kInvalid,
                     "'" + name +
                         "' is not a search parameter of the audit log (it takes patient, agent, "
                         "altid, date, entity-type, subtype, outcome, _count, _sort=-date)",
                     name);
    }
    if (repeat && name != "_count") {
      next_query += (next_query.empty() ? "" : "&") + Encode(name) + "=" + Encode(value);
    }
  }
  for (auto* groups : {&patients, &agents, &altids, &entity_types, &subtypes, &outcomes}) {
    for (auto& group : *groups) query.all_of.push_back(std::move(group));
  }
  // A patient sees what was done with their record, not the server's notes of intent.
  if (patient_user) query.none_of.push_back("s|write-attempt");
  std::vector<audit::AuditHit> hits;
  if (query.count > 0) {
    auto found = search_.Find(query);
    if (!found.ok()) return interactions::FhirService::ErrorResponse(found.error());
    hits = std::move(found).value();
  }
  const bool more = static_cast<int64_t>(hits.size()) > query.count;
  if (more) hits.resize(static_cast<size_t>(query.count));

  audit::AuditEventView view;
  view.agents = options_.agents;
  view.show_staff_names = !patient_user || options_.access_log_shows_names;
  if (patient_user) view.only_patient = patient;
  const std::string base = ctx.base_url + link_path;
  std::string self_query = next_query;
  const std::string count_param = "_count=" + std::to_string(query.count);
  json::array links{json::object{
      {"relation", "self"},
      {"url", base + "?" + self_query + (self_query.empty() ? "" : "&") + count_param}}};
  if (more) {
    const audit::AuditHit& last = hits.back();
    links.push_back(
        json::object{{"relation", "next"},
                     {"url", base + "?" + next_query + (next_query.empty() ? "" : "&") +
                                 count_param + "&_cursor=" + std::to_string(last.record.time_ms) +
                                 "." + std::to_string(last.seq)}});
  }
  json::array entries;
  access::Disclosure seen;
  for (const audit::AuditHit& hit : hits) {
    entries.push_back(
        json::object{{"fullUrl", ctx.base_url + "/AuditEvent/" + std::to_string(hit.seq)},
                     {"resource", audit::AuditEventJson(hit.record, hit.seq, view)},
                     {"search", json::object{{"mode", "match"}}}});
    ++seen.items;
    if (seen.resources.size() < access::Disclosure::kAuditedResources) {
      seen.resources.push_back("AuditEvent/" + std::to_string(hit.seq));
    }
    if (patient_user) {
      seen.patients.insert(patient);  // the only patient a patient's view shows
    } else {
      seen.patients.insert(hit.record.patients.begin(), hit.record.patients.end());
    }
  }
  if (who.request_audit && seen.items > 0) who.request_audit->Record(seen);
  json::object bundle{
      {"resourceType", "Bundle"}, {"type", "searchset"}, {"link", std::move(links)}};
  if (!entries.empty()) bundle["entry"] = std::move(entries);
  return JsonAnswer(bundle);
}

}  // namespace carerecord::http
