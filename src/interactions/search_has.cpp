#include "interactions/search_has.h"

#include <algorithm>

namespace carerecord::interactions {

using base::Invalid;

base::Result<HasLink> ParseHasLink(std::string_view searched_type, std::string_view name,
                                   const std::string& where) {
  static constexpr std::string_view kPrefix = "_has:";
  const std::string usage =
      "_has takes _has:Type:reference-parameter:parameter=value, e.g. "
      "Patient?_has:Observation:patient:code=1234-5";
  if (name.substr(0, kPrefix.size()) != kPrefix) return Invalid(usage, where);
  std::string_view tail = name.substr(kPrefix.size());
  size_t first = tail.find(':');
  size_t second = first == std::string_view::npos ? first : tail.find(':', first + 1);
  if (second == std::string_view::npos || first == 0 || second == first + 1 ||
      second + 1 == tail.size()) {
    return Invalid(usage, where);
  }
  HasLink link;
  link.referring_type = std::string(tail.substr(0, first));
  std::string code(tail.substr(first + 1, second - first - 1));
  link.rest = std::string(tail.substr(second + 1));
  if (!fhir::IsResourceType(link.referring_type)) {
    return Invalid("'" + link.referring_type + "' in " + where + " is not a resource type", where);
  }
  const fhir::SearchParamDef* def = fhir::FindSearchParam(link.referring_type, code);
  if (!def) {
    link.unknown = "'" + code + "' is not a search parameter of " + link.referring_type;
    return link;
  }
  if (def->type != fhir::SearchParamType::kReference) {
    return Invalid(
        "'" + code + "' in " + where + " is not a reference parameter of " + link.referring_type,
        where);
  }
  if (!def->targets.empty() &&
      std::find(def->targets.begin(), def->targets.end(), searched_type) == def->targets.end()) {
    return Invalid(link.referring_type + "." + code + " cannot refer to a " +
                       std::string(searched_type) + ", so " + where + " cannot find one",
                   where);
  }
  if (!def->indexed) {
    link.unknown = "the search parameter '" + code + "' of " + link.referring_type +
                   " is not supported by this server";
    return link;
  }
  link.reference = def;
  return link;
}

}  // namespace carerecord::interactions
