#include "interactions/fhir_json.h"

#include <algorithm>

#include "fhir/json_number.h"
#include "fhir/json_parse.h"
#include "fhir/json_text.h"

namespace carerecord::interactions {
namespace {

namespace json = boost::json;

// The length of the well-formed UTF-8 sequence at the start of `text` (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 when there is none.
size_t Utf8SequenceLength(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

// Each byte that does not start a well-formed sequence becomes U+FFFD.
std::string ReplaceInvalidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size();) {
    const size_t length = Utf8SequenceLength(text.substr(i));
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.data() + i, length);
      i += length;
    }
  }
  return out;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t length = Utf8SequenceLength(text.substr(i));
    if (length == 0) return false;
    i += length;
  }
  return true;
}

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
  if (IsValidUtf8(text)) {
    fhir::AppendJsonString(out, text);
  } else {
    fhir::AppendJsonString(out, ReplaceInvalidUtf8(text));
  }
  return out;
}

}  // namespace carerecord::interactions
