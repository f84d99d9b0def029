// What the record holds for a mapped resource's identity, and the transaction entry that writes
// it: the reads and the write form shared by applying a message and planning a merge.
#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <utility>

#include "feeds/apply_mapped_internal.h"
#include "fhir/fhir_date.h"
#include "interactions/fhir_json.h"

namespace carerecord::feeds::internal {

namespace json = boost::json;
using base::ErrorCode;
using mapping::MappedResource;

// A search value for a token: FHIR's escapes (\ , $ |) in the value, then percent-encoding
// for a query string when `for_url`.
std::string TokenValue(const std::string& system, const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == ',' || c == '$' || c == '|') escaped += '\\';
    escaped += c;
  }
  return system + "|" + escaped;
}

std::string PercentEncode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

base::Result<json::object> ParseBody(std::string_view text) {
  auto parsed = interactions::ParseJson(text);
  if (!parsed.ok()) return parsed.error();
  if (!parsed->is_object()) return base::MakeError(ErrorCode::kInternal, "not a JSON object");
  return std::move(parsed->as_object());
}

base::Error ResponseError(const interactions::Response& response, std::string_view what) {
  std::string detail = response.body;
  if (auto parsed = ParseBody(response.body); parsed.ok()) {
    if (auto* issues = parsed->if_contains("issue"); issues && issues->is_array()) {
      detail.clear();
      for (const auto& issue : issues->as_array()) {
        if (auto* text = issue.as_object().if_contains("diagnostics")) {
          if (!detail.empty()) detail += "; ";
          detail += text->as_string().c_str();
        }
      }
    }
  }
  const ErrorCode code = response.status == 503   ? ErrorCode::kUnavailable
                         : response.status == 409 ? ErrorCode::kConflict
                         : response.status == 412 ? ErrorCode::kPreconditionFailed
                         : response.status >= 500 ? ErrorCode::kInternal
                                                  : ErrorCode::kUnprocessable;
  return base::MakeError(
      code, std::string(what) + " (HTTP " + std::to_string(response.status) + "): " + detail);
}

int64_t VersionOf(const json::object& body) {
  if (auto* meta = body.if_contains("meta"); meta && meta->is_object()) {
    if (auto* v = meta->as_object().if_contains("versionId"); v && v->is_string()) {
      return std::atoll(v->as_string().c_str());
    }
  }
  return 0;
}

// The event time a stored version carries; 0 when it has none (written by another path).
int64_t EventTimeOf(const json::object& body) {
  auto* meta = body.if_contains("meta");
  if (!meta || !meta->is_object()) return 0;
  auto* extensions = meta->as_object().if_contains("extension");
  if (!extensions || !extensions->is_array()) return 0;
  for (const auto& e : extensions->as_array()) {
    const auto& ext = e.as_object();
    auto* url = ext.if_contains("url");
    auto* when = ext.if_contains("valueDateTime");
    if (url && url->is_string() && url->as_string() == mapping::kEventTimeExtension && when &&
        when->is_string()) {
      auto range = fhir::ParseFhirDate(std::string_view(when->as_string()));
      if (range.ok()) return range->low_ms;
    }
  }
  return 0;
}

// The current version of a mapped resource: by id for a Binary, else by its identity.
base::Result<std::optional<Stored>> FindCurrent(interactions::FhirService& service,
                                                const interactions::RequestContext& ctx,
                                                const MappedResource& resource) {
  if (!resource.fixed_id.empty()) {
    auto response = service.Read(ctx, resource.type, resource.fixed_id);
    if (response.status == 404 || response.status == 410) return std::optional<Stored>();
    if (response.status != 200) return ResponseError(response, "reading " + resource.type);
    auto body = ParseBody(response.body);
    if (!body.ok()) return body.error();
    Stored stored{resource.fixed_id, VersionOf(body.value()), std::move(body.value())};
    return std::optional<Stored>(std::move(stored));
  }
  auto response = service.Search(
      ctx, resource.type,
      {{"identifier", TokenValue(resource.identity_system, resource.identity_value)}});
  if (response.status != 200) return ResponseError(response, "finding " + resource.type);
  auto bundle = ParseBody(response.body);
  if (!bundle.ok()) return bundle.error();
  std::optional<Stored> found;
  if (auto* entries = bundle->if_contains("entry")) {
    for (auto& entry : entries->as_array()) {
      auto& e = entry.as_object();
      if (e.at("search").as_object().at("mode").as_string() != "match") continue;
      if (found) {
        return base::MakeError(ErrorCode::kUnprocessable,
                               "two " + resource.type + " resources hold the identifier " +
                                   resource.identity_system + "|" + resource.identity_value);
      }
      json::object body = std::move(e.at("resource").as_object());
      found = Stored{std::string(body.at("id").as_string()), VersionOf(body), std::move(body)};
    }
  }
  return found;
}

std::string IdentityKey(const MappedResource& r) {
  return r.type + '\x1f' + r.identity_system + '\x1f' + r.identity_value;
}

// Whether `body` holds the identifier system|value (as the store's token match does: both
// exactly).
bool HoldsIdentifier(const json::object& body, const std::string& system,
                     const std::string& value) {
  auto* identifiers = body.if_contains("identifier");
  if (!identifiers || !identifiers->is_array()) return false;
  for (const auto& identifier : identifiers->as_array()) {
    if (!identifier.is_object()) continue;
    auto* s = identifier.as_object().if_contains("system");
    auto* v = identifier.as_object().if_contains("value");
    if (s && v && s->is_string() && v->is_string() && s->as_string() == system &&
        v->as_string() == value) {
      return true;
    }
  }
  return false;
}

// Finds the identities of `wanted` (of one feed, no Binary) with one search per type and up
// to kIdentitiesPerSearch of them (`identifier=a,b,c`, through the gate as the feed, like
// FindCurrent's one search each) and notes each one's current version in `found`. Identities it
// cannot settle (two matches: FindCurrent's error; a page that may be cut short) are left out,
// so FindCurrent finds them alone as before.
base::Status FindAhead(interactions::FhirService& service, const interactions::RequestContext& ctx,
                       const std::vector<const MappedResource*>& wanted, FoundAhead& found) {
  constexpr size_t kIdentitiesPerSearch = 100;
  std::map<std::string, std::vector<const MappedResource*>> by_type;
  for (const MappedResource* r : wanted) {
    if (!r->fixed_id.empty() || found.count(IdentityKey(*r))) continue;
    auto& of_type = by_type[r->type];
    bool seen = false;
    for (const MappedResource* other : of_type) {
      seen = seen || (other->identity_system == r->identity_system &&
                      other->identity_value == r->identity_value);
    }
    if (!seen) of_type.push_back(r);
  }
  for (const auto& [type, all] : by_type) {
    for (size_t first = 0; first < all.size(); first += kIdentitiesPerSearch) {
      const size_t last = std::min(all.size(), first + kIdentitiesPerSearch);
      std::string values;
      for (size_t i = first; i < last; ++i) {
        if (!values.empty()) values += ',';
        values += TokenValue(all[i]->identity_system, all[i]->identity_value);
      }
      // Each identity matches at most one resource unless the record holds a duplicate; a
      // page this long that comes back full may have been cut: left to FindCurrent.
      const size_t page = 2 * (last - first) + 1;
      auto response =
          service.Search(ctx, type, {{"identifier", values}, {"_count", std::to_string(page)}});
      if (response.status != 200) return ResponseError(response, "finding " + type);
      auto bundle = ParseBody(response.body);
      if (!bundle.ok()) return bundle.error();
      std::vector<json::object> matches;
      if (auto* entries = bundle->if_contains("entry")) {
        for (auto& entry : entries->as_array()) {
          auto& e = entry.as_object();
          if (e.at("search").as_object().at("mode").as_string() != "match") continue;
          matches.push_back(std::move(e.at("resource").as_object()));
        }
      }
      if (matches.size() >= page) continue;
      bool has_next = false;
      if (auto* links = bundle->if_contains("link"); links && links->is_array()) {
        for (const auto& link : links->as_array()) {
          has_next = has_next || link.as_object().at("relation").as_string() == "next";
        }
      }
      if (has_next) continue;
      for (size_t i = first; i < last; ++i) {
        const MappedResource& r = *all[i];
        const json::object* holder = nullptr;
        int holders = 0;
        for (const json::object& body : matches) {
          if (HoldsIdentifier(body, r.identity_system, r.identity_value)) {
            holder = &body;
            ++holders;
          }
        }
        if (holders > 1) continue;  // FindCurrent reports it
        std::optional<Stored> current;
        if (holder) {
          current = Stored{std::string(holder->at("id").as_string()), VersionOf(*holder), *holder};
        }
        found.emplace(IdentityKey(r), std::move(current));
      }
    }
  }
  return base::Status::Ok();
}

// Replaces every "reference" whose value is a key of `targets` (a urn:uuid of the message) with
// its target; a reference to an unresolved urn is removed (the Reference keeps its identifier
// or display) or, if that would leave the Reference empty, the element is dropped.
void Rewrite(json::value& value, const std::map<std::string, std::string>& targets) {
  if (value.is_array()) {
    for (auto& item : value.as_array()) Rewrite(item, targets);
    return;
  }
  if (!value.is_object()) return;
  json::object& o = value.as_object();
  if (auto* ref = o.if_contains("reference"); ref && ref->is_string()) {
    auto found = targets.find(std::string(ref->as_string()));
    if (found != targets.end()) {
      if (found->second.empty()) {
        o.erase("reference");
      } else {
        *ref = found->second;
      }
    }
  }
  for (auto& [key, member] : o) Rewrite(member, targets);
}

bool SameContent(const json::object& a, const json::object& b) {
  // Compared in place: a resend compares every resource of its message, and copies of both
  // bodies cost more than the comparison.
  auto content_members = [](const json::object& o) {
    return o.size() - (o.contains("meta") ? 1 : 0) - (o.contains("id") ? 1 : 0);
  };
  if (content_members(a) != content_members(b)) return false;
  for (const auto& [key, value] : a) {
    if (key == "meta" || key == "id") continue;
    const json::value* other = b.if_contains(key);
    if (!other || *other != value) return false;
  }
  return true;
}

json::object TransactionEntry(Planned& p, const std::string& local_uuid) {
  json::object entry;
  entry["fullUrl"] = "urn:uuid:" + local_uuid;
  json::object body = std::move(p.body);
  json::object request;
  if (p.decision == Decision::kCreate) {
    if (!p.mapped->fixed_id.empty()) {
      body["id"] = p.mapped->fixed_id;
      request = {{"method", "PUT"}, {"url", p.mapped->type + "/" + p.mapped->fixed_id}};
    } else {
      request = {
          {"method", "POST"},
          {"url", p.mapped->type},
          {"ifNoneExist", "identifier=" + PercentEncode(TokenValue(p.mapped->identity_system,
                                                                   p.mapped->identity_value))}};
    }
  } else {
    body["id"] = p.current->id;
    request = {{"method", "PUT"},
               {"url", p.mapped->type + "/" + p.current->id},
               {"ifMatch", "W/\"" + std::to_string(p.current->version) + "\""}};
  }
  entry["resource"] = std::move(body);
  entry["request"] = std::move(request);
  return entry;
}

}  // namespace carerecord::feeds::internal
