#include "http/audited_request.h"

#include <algorithm>
#include <boost/json.hpp>

namespace carerecord::http {

std::optional<access::AuditedRequest> AuditedRequestOf(const HttpRequest& request,
                                                       const access::AccessContext& who,
                                                       const access::RequestDisclosures& seen,
                                                       int status, std::string_view location) {
  const bool read = request.method == "GET" || request.method == "HEAD";
  const bool refused = status == 401 || status == 403;
  // A POST of _search reads; every other method that succeeded wrote.
  const bool wrote = !read && status >= 200 && status < 300 &&
                     request.target.find("/_search") == std::string::npos;
  if (!seen.seen() && !refused && !wrote) return std::nullopt;
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
          entry.reason = std::string(value->as_string());
        }
      }
    }
  }
  return entry;
}

}  // namespace carerecord::http
