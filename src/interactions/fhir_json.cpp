#include "interactions/fhir_json.h"

#include <algorithm>

#include "base/utf8.h"
#include "fhir/json_number.h"
#include "fhir/json_parse.h"
#include "fhir/json_text.h"

namespace carerecord::interactions {
namespace {

namespace json = boost::json;

}  // namespace

base::Result<json::value> ParseJson(std::string_view text, json::storage_ptr storage) {
  fhir::JsonLimits limits;
  limits.max_depth = fhir::kMaxStoredJsonDepth;
  return fhir::ParseFhirJson(text, limits, std::move(storage));
}

base::Result<json::object> ParseResourceBody(std::string_view text, json::storage_ptr storage) {
  fhir::JsonLimits limits;
  limits.max_depth = kMaxJsonDepth;
  limits.max_array_items = kMaxJsonArrayItems;
  limits.max_values = kMaxJsonValues;
  limits.max_resource_values = kMaxResourceJsonValues;
  limits.fhir_rules = true;
  auto value = fhir::ParseFhirJson(text, limits, std::move(storage));
  if (!value.ok()) return value.error();
  if (!value->is_object()) return base::Invalid("the body must be a JSON object", "/");
  json::object& object = value->as_object();
  auto* type = object.if_contains("resourceType");
  if (!type || !fhir::IfText(*type)) {
    return base::Invalid("the resource has no resourceType", "/resourceType");
  }
  return std::move(object);
}

std::string Serialize(const json::value& value) { return fhir::WriteJson(value); }
std::string Serialize(const json::object& object) {
  std::string out;
  out.reserve(1024);
  fhir::AppendJson(out, object);
  return out;
}

std::string JsonString(std::string_view text) {
  std::string out;
  if (text.find(fhir::kExactNumberMark) != std::string_view::npos) {
    // A kept number read as a string by mistake ("the Bundle type must be ..., not '1.50'")
    // shows its text, never the mark.
    std::string unmarked(text);
    std::erase(unmarked, fhir::kExactNumberMark);
    return JsonString(unmarked);
  }
  if (base::IsValidUtf8(text)) {
    fhir::AppendJsonString(out, text);
  } else {
    fhir::AppendJsonString(out, base::ReplaceInvalidUtf8(text));
  }
  return out;
}

}  // namespace carerecord::interactions
