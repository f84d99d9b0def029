#include "http/audited_request.h"

#include <algorithm>
#include <boost/json.hpp>

namespace carerecord::http {
namespace {

// Larger answers to a search hold entries, whose count the gates gave.
constexpr size_t kMaxTotalBody = 64 * 1024;

std::string_view PathOf(const HttpRequest& request) {
  std::string_view path = request.target;
  return path.substr(0, path.find('?'));
}

bool IsSearchPost(const HttpRequest& request) {
  return request.method == "POST" && PathOf(request).find("/_search") != std::string_view::npos;
}

// A POST that only reads: a `_search`, or `$everything` or `$access-log` by POST.
bool IsReadingPost(const HttpRequest& request) {
  std::string_view path = PathOf(request);
  if (path.ends_with('/')) path.remove_suffix(1);
  return IsSearchPost(request) || (request.method == "POST" && (path.ends_with("/$everything") ||
                                                                path.ends_with("/$access-log")));
}

// A reason as the entry keeps it: whole up to kMaxReasonBytes (1,000 characters of up to four
// bytes, the most an accepted reason has); a longer one, which the operation refuses, is cut at a
// character boundary and marked, so a refused 200,000-character reason costs the log 4 KB.
constexpr size_t kMaxReasonBytes = 4000;
std::string CappedReason(std::string_view reason) {
  if (reason.size() <= kMaxReasonBytes) return std::string(reason);
  size_t cut = kMaxReasonBytes;
  while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xc0) == 0x80) --cut;
  return std::string(reason.substr(0, cut)) + " [cut: " + std::to_string(reason.size()) + " bytes]";
}

}  // namespace

std::vector<std::string> PatientsReferredTo(const HttpRequest& request, size_t max) {
  std::vector<std::string> patients;
  if (request.body.empty() || max == 0) return patients;
  boost::system::error_code ec;
  const boost::json::value body = boost::json::parse(request.body, ec);
  if (ec) return patients;
  auto add = [&](std::string_view reference) {
    // "Patient/ID", "https://host/fhir/Patient/ID", "Patient/ID/_history/2".
    for (size_t at = reference.find("Patient/"); at != std::string_view::npos;
         at = reference.find("Patient/", at + 1)) {
      if (at != 0 && reference[at - 1] != '/') continue;
      std::string_view id = reference.substr(at + 8);
      id = id.substr(0, id.find('/'));
      if (id.empty() || id.find('?') != std::string_view::npos) return;
      if (std::find(patients.begin(), patients.end(), id) == patients.end()) {
        patients.emplace_back(id);
      }
      return;
    }
  };
  std::vector<const boost::json::value*> pending{&body};
  while (!pending.empty() && patients.size() < max) {
    const boost::json::value* value = pending.back();
    pending.pop_back();
    if (const auto* object = value->if_object()) {
      for (const auto& [key, member] : *object) {
        if (key == "reference" && member.is_string()) {
          add(member.as_string());
        } else if (member.is_object() || member.is_array()) {
          pending.push_back(&member);
        }
      }
    } else if (const auto* array = value->if_array()) {
      for (const auto& member : *array) {
        if (member.is_object() || member.is_array()) pending.push_back(&member);
      }
    }
  }
  if (patients.size() > max) patients.resize(max);
  return patients;
}

bool IsMetadata(const HttpRequest& request) {
  std::string_view path = PathOf(request);
  if (path.ends_with('/')) path.remove_suffix(1);
  return path == "/fhir/metadata";
}

std::optional<access::AuditedRequest> AuditedRequestOf(const HttpRequest& request,
                                                       const access::AccessContext& who,
                                                       const access::RequestDisclosures& seen,
                                                       int status, std::string_view location,
                                                       std::string_view body) {
  const bool read = request.method == "GET" || request.method == "HEAD";
  const bool refused = status == 401 || status == 403;
  // A POST of _search or $everything reads; every other method that succeeded wrote.
  const bool wrote = !read && status >= 200 && status < 300 && !IsReadingPost(request);
  if (IsMetadata(request)) return std::nullopt;
  // A request without a caller (the server's own) is audited only when it touched data.
  if (who.principal.empty() && !seen.seen() && !refused && !wrote) return std::nullopt;
  access::AuditedRequest entry;
  entry.disclosure = seen.merged();
  entry.disclosure.who = who;
  entry.disclosure.who.request_audit = nullptr;
  entry.disclosure.who.client_address = request.remote_address;
  entry.method = request.method;
  entry.path = request.target;
  entry.status = status;
  entry.outcome = status < 400 ? "success" : refused ? "refused" : "failed";

  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  if (path.starts_with("/fhir")) path.remove_prefix(5);
  std::vector<std::string_view> segments;
  while (!path.empty()) {
    if (path[0] == '/') path.remove_prefix(1);
    const size_t slash = path.find('/');
    if (!path.substr(0, slash).empty()) segments.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  const size_t n = segments.size();
  auto has = [&](std::string_view segment) {
    return std::find(segments.begin(), segments.end(), segment) != segments.end();
  };
  if (n == 0) {
    entry.action = "bundle";
  } else if (segments.back().starts_with('$')) {
    entry.action = std::string(segments.back().substr(1));
  } else if (has("_history")) {
    entry.action = n == 4 ? "vread" : "history";
  } else if (has("_search") || (read && (n == 1 || n == 3))) {
    entry.action = "search";
  } else if (read) {
    entry.action = "read";
  } else {
    entry.action = request.method == "POST"     ? "create"
                   : request.method == "PUT"    ? "update"
                   : request.method == "DELETE" ? "delete"
                                                : "unknown";
  }
  if (n >= 2 && segments[0] == "Patient" && !segments[1].starts_with('$') &&
      !segments[1].starts_with('_')) {
    entry.disclosure.patients.emplace(segments[1]);
  }
  if (wrote && n >= 2 && !segments[1].starts_with('$') && !segments[1].starts_with('_')) {
    entry.changed.push_back(std::string(segments[0]) + "/" + std::string(segments[1]));
  }
  if (const size_t history = location.find("/_history/");
      wrote && history != std::string_view::npos) {
    std::string_view resource = location.substr(0, history);
    const size_t id_at = resource.rfind('/');
    const size_t type_at = id_at == std::string_view::npos ? id_at : resource.rfind('/', id_at - 1);
    if (type_at != std::string_view::npos) {
      const std::string changed(resource.substr(type_at + 1));
      if (std::find(entry.changed.begin(), entry.changed.end(), changed) == entry.changed.end()) {
        entry.changed.push_back(changed);
      }
    }
  }
  // The reason a break-glass or a declared relationship gives (a Parameters `reason`).
  if (request.method == "POST" && n >= 1 && segments.back().starts_with('$') &&
      !request.body.empty()) {
    boost::system::error_code ec;
    auto body = boost::json::parse(request.body, ec);
    const auto* parameters =
        !ec && body.is_object() ? body.as_object().if_contains("parameter") : nullptr;
    if (parameters && parameters->is_array()) {
      for (const auto& parameter : parameters->as_array()) {
        const auto* object = parameter.if_object();
        const auto* name = object ? object->if_contains("name") : nullptr;
        const auto* value = object ? object->if_contains("valueString") : nullptr;
        if (name && name->is_string() && name->as_string() == "reason" && value &&
            value->is_string()) {
          entry.reason = CappedReason(value->as_string());
        }
      }
    }
  }
  // What a search or history answered when no item was returned: its total (a count-only
  // search, one that matched nothing), read from the Bundle when the answer is small.
  if ((entry.action == "search" || entry.action == "history") && status == 200 &&
      entry.disclosure.items == 0 && !body.empty() && body.size() <= kMaxTotalBody) {
    boost::system::error_code ec;
    auto bundle = boost::json::parse(body, ec);
    const auto* object = !ec ? bundle.if_object() : nullptr;
    const auto* total = object ? object->if_contains("total") : nullptr;
    const auto* entries = object ? object->if_contains("entry") : nullptr;
    if (total && total->is_int64()) {
      entry.detail = "total " + std::to_string(total->as_int64());
    } else if (object && object->if_contains("resourceType") &&
               (!entries || (entries->is_array() && entries->as_array().empty()))) {
      entry.detail = "returned 0";  // the total was not asked for, nor known
    }
  }
  return entry;
}

std::optional<access::AuditedRequest> WriteIntentOf(const HttpRequest& request,
                                                    const access::AccessContext& who) {
  if (request.method == "GET" || request.method == "HEAD" || IsReadingPost(request) ||
      IsMetadata(request)) {
    return std::nullopt;
  }
  access::RequestDisclosures none;
  auto entry = AuditedRequestOf(request, who, none, 0, "");
  if (!entry) return std::nullopt;
  entry->detail = "intends " + entry->action;
  entry->action = "write-attempt";
  entry->outcome = "pending";
  entry->changed.clear();
  if (entry->detail == "intends break-glass") entry->disclosure.purpose_of_use = "BTG";
  return entry;
}

}  // namespace carerecord::http
