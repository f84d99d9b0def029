#include "http/bundle_scopes.h"

#include <boost/json.hpp>
#include <vector>

#include "access/scope_policy.h"
#include "fhir/json_read.h"
#include "interactions/fhir_json.h"

namespace carerecord::http {

namespace json = boost::json;
using access::FhirInteraction;

namespace {

std::string TextMember(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  const json::string* text = value ? fhir::IfText(*value) : nullptr;
  return text ? std::string(*text) : std::string();
}

// The interaction and type an entry asks for, as the Bundle's processing will read its URL;
// nothing when it names none (the processing refuses such an entry).
std::optional<std::pair<FhirInteraction, std::string>> EntryInteraction(const std::string& method,
                                                                        std::string url,
                                                                        std::string_view base_url) {
  const std::string prefix = std::string(base_url) + "/";
  if (url.rfind(prefix, 0) == 0) url = url.substr(prefix.size());
  if (!url.empty() && url[0] == '/') url.erase(0, 1);
  const size_t question = url.find('?');
  const std::string path = url.substr(0, question);
  std::vector<std::string> segments;
  for (size_t start = 0; start <= path.size();) {
    size_t slash = path.find('/', start);
    segments.push_back(path.substr(start, slash == std::string::npos ? slash : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  const std::string& type = segments[0];
  if (method == "GET") {
    if (segments.size() == 1) return std::pair{FhirInteraction::kSearchType, type};
    if (segments.size() == 2) return std::pair{FhirInteraction::kRead, type};
    if (segments.size() == 4) return std::pair{FhirInteraction::kVread, type};
    return std::nullopt;
  }
  if (method == "POST") return std::pair{FhirInteraction::kCreate, type};
  if (method == "PUT") return std::pair{FhirInteraction::kUpdate, type};
  if (method == "DELETE") return std::pair{FhirInteraction::kDelete, type};
  return std::nullopt;
}

}  // namespace

std::optional<BundleScopeRefusal> CheckBundleScopes(const access::AccessContext& who,
                                                    std::string_view body,
                                                    std::string_view base_url) {
  if (!who.scopes) return std::nullopt;
  auto parsed = interactions::ParseResourceBody(body);
  if (!parsed.ok()) return std::nullopt;
  const json::value* entries = parsed->if_contains("entry");
  if (entries == nullptr || !entries->is_array()) return std::nullopt;
  size_t index = 0;
  for (const json::value& entry : entries->as_array()) {
    const std::string where = "Bundle.entry[" + std::to_string(index++) + "]";
    if (!entry.is_object()) continue;
    const json::value* request = entry.as_object().if_contains("request");
    if (request == nullptr || !request->is_object()) continue;
    auto asked = EntryInteraction(TextMember(request->as_object(), "method"),
                                  TextMember(request->as_object(), "url"), base_url);
    if (!asked) continue;
    if (auto refusal = access::CheckInteractionScope(who, asked->first, asked->second)) {
      return BundleScopeRefusal{std::move(refusal->message), where};
    }
  }
  return std::nullopt;
}

}  // namespace carerecord::http
