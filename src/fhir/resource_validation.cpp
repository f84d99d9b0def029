// Walks the JSON once against the generated element tables (binary search per property). The
// path to the current value is kept as a fixed stack of borrowed keys, and the pointer and the
// message are only built when something is wrong, so a valid resource costs no allocation.
#include "fhir/resource_validation.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fhir/fhir_date.h"
#include "fhir/generated/fhir_tables.h"
#include "fhir/json_number.h"
#include "fhir/narrative.h"

namespace carerecord::fhir {

namespace generated {

const DefinitionRow* FindDefinition(std::string_view name) {
  const DefinitionRow* begin = kDefinitions;
  const DefinitionRow* end = kDefinitions + kDefinitionCount;
  const DefinitionRow* it = std::lower_bound(
      begin, end, name,
      [](const DefinitionRow& row, std::string_view n) { return KeyLess(row.name, n); });
  return it != end && it->name == name ? it : nullptr;
}

const ElementRow* FindElement(const DefinitionRow& def, std::string_view name) {
  const ElementRow* begin = kElements + def.first_element;
  const ElementRow* end = begin + def.element_count;
  const ElementRow* it = std::lower_bound(
      begin, end, name,
      [](const ElementRow& row, std::string_view n) { return LengthFirstLess(row.name, n); });
  return it != end && it->name == name ? it : nullptr;
}

bool IsElementNamed(const DefinitionRow& def, std::string_view key, std::string_view name) {
  if (key.size() > 1 && key.front() == '_') key.remove_prefix(1);
  if (key == name) return true;
  if (key.size() <= name.size() || !key.starts_with(name)) return false;
  const ElementRow* element = FindElement(def, key);
  return element != nullptr && element->choice_base_length == name.size();
}

bool TakeListItem(std::string_view& list, std::string_view& name) {
  if (list.empty()) return false;
  const size_t bar = list.find('|');
  name = list.substr(0, bar);
  list = bar == std::string_view::npos ? std::string_view() : list.substr(bar + 1);
  return true;
}

}  // namespace generated

namespace {

namespace gen = generated;
namespace json = boost::json;
using gen::FindElement;
using gen::PrimitiveKind;

inline bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view ExpectedName(PrimitiveKind kind) {
  switch (kind) {
    case PrimitiveKind::kComplex:
      return "an object";
    case PrimitiveKind::kResource:
      return "a resource";
    case PrimitiveKind::kBoolean:
      return "a boolean";
    case PrimitiveKind::kInteger:
      return "an integer";
    case PrimitiveKind::kPositiveInt:
      return "a positive integer";
    case PrimitiveKind::kUnsignedInt:
      return "an unsigned integer";
    case PrimitiveKind::kDecimal:
      return "a decimal";
    case PrimitiveKind::kString:
      return "a string";
    case PrimitiveKind::kMarkdown:
      return "a markdown string";
    case PrimitiveKind::kCode:
      return "a code";
    case PrimitiveKind::kId:
      return "an id";
    case PrimitiveKind::kUri:
      return "a uri";
    case PrimitiveKind::kUrl:
      return "a url";
    case PrimitiveKind::kCanonical:
      return "a canonical URL";
    case PrimitiveKind::kOid:
      return "an oid (urn:oid:...)";
    case PrimitiveKind::kUuid:
      return "a uuid (urn:uuid:...)";
    case PrimitiveKind::kDate:
      return "a date";
    case PrimitiveKind::kDateTime:
      return "a dateTime";
    case PrimitiveKind::kInstant:
      return "an instant";
    case PrimitiveKind::kTime:
      return "a time";
    case PrimitiveKind::kBase64Binary:
      return "base64 data";
    case PrimitiveKind::kXhtml:
      return "xhtml";
  }
  return "a value";
}

std::string Describe(const json::value& v) {
  if (IsNumber(v)) {
    const std::string text = NumberText(v);
    return "the number " + (text.size() > 40 ? text.substr(0, 40) + "..." : text);
  }
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return v.get_bool() ? "the boolean true" : "the boolean false";
    case json::kind::string: {
      std::string_view s = v.get_string();
      std::string shown(s.substr(0, 40));
      // Cut at a character boundary: half a UTF-8 sequence is not text.
      if (s.size() > 40) {
        while (!shown.empty() && (static_cast<unsigned char>(shown.back()) & 0xC0) == 0x80) {
          shown.pop_back();
        }
        if (!shown.empty() && static_cast<unsigned char>(shown.back()) >= 0xC0) shown.pop_back();
      }
      return "the string " + json::serialize(json::value(shown)) + (s.size() > 40 ? "..." : "");
    }
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
    default:
      break;  // numbers, above
  }
  return "a value";
}

// The grammar checks fhir_date.cpp does not make: which parts each type requires.
bool HasDateShape(std::string_view s) { return s.find('T') == std::string_view::npos; }

// Whether a time ends with its zone: "Z" or "+hh:mm" / "-hh:mm".
bool HasZone(std::string_view time) {
  if (!time.empty() && time.back() == 'Z') return true;
  return time.size() >= 6 && (time[time.size() - 6] == '+' || time[time.size() - 6] == '-') &&
         time[time.size() - 3] == ':';
}

// R4's dateTime: a time, when given, has seconds and a zone (an instant without a zone is not
// one instant: it would mean different moments to different readers).
bool HasDateTimeShape(std::string_view s) {
  const size_t t = s.find('T');
  return t == std::string_view::npos ||
         (s.size() > t + 6 && s[t + 6] == ':' && HasZone(s.substr(t)));
}

bool HasInstantShape(std::string_view s) {
  if (s.size() < 20 || s[10] != 'T' || s[16] != ':') return false;
  const char last = s.back();
  return last == 'Z' || (s.size() >= 25 && (s[s.size() - 6] == '+' || s[s.size() - 6] == '-'));
}

bool IsTime(std::string_view s) {
  if (s.size() < 8 || !IsDigit(s[0]) || !IsDigit(s[1]) || s[2] != ':' || !IsDigit(s[3]) ||
      !IsDigit(s[4]) || s[5] != ':' || !IsDigit(s[6]) || !IsDigit(s[7])) {
    return false;
  }
  const int hour = (s[0] - '0') * 10 + (s[1] - '0');
  const int minute = (s[3] - '0') * 10 + (s[4] - '0');
  const int second = (s[6] - '0') * 10 + (s[7] - '0');
  if (hour > 23 || minute > 59 || second > 60) return false;
  if (s.size() == 8) return true;
  return s.size() > 9 && s[8] == '.' &&
         std::all_of(s.begin() + 9, s.end(), [](char c) { return IsDigit(c); });
}

// The FHIR code pattern: non-empty, no leading or trailing whitespace, single inner spaces.
bool IsCode(std::string_view s) {
  if (s.empty() || IsSpace(s.front()) || IsSpace(s.back())) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    if (IsSpace(s[i]) && IsSpace(s[i - 1])) return false;
  }
  return true;
}

bool HasNoWhitespace(std::string_view s) {
  for (char c : s) {
    if (IsSpace(c)) return false;
  }
  return true;
}

bool IsBase64(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '+' || c == '/' ||
           c == '=' || IsSpace(c);
  });
}

bool IsUuidUrn(std::string_view s) {
  if (!s.starts_with("urn:uuid:") || s.size() != 45) return false;
  for (size_t i = 9; i < s.size(); ++i) {
    const size_t at = i - 9;
    const char c = s[i];
    const bool hyphen = at == 8 || at == 13 || at == 18 || at == 23;
    if (hyphen ? c != '-' : !(IsDigit(c) || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// R4's oid: urn:oid:[0-2](\.(0|[1-9][0-9]*))+ (no empty arc, no leading zero).
bool IsOidUrn(std::string_view s) {
  if (!s.starts_with("urn:oid:")) return false;
  s.remove_prefix(8);
  if (s.size() < 3 || s[0] < '0' || s[0] > '2' || s[1] != '.') return false;
  s.remove_prefix(2);
  for (size_t start = 0; start <= s.size();) {
    size_t dot = s.find('.', start);
    std::string_view arc = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (arc.empty() || !std::all_of(arc.begin(), arc.end(), IsDigit) ||
        (arc.size() > 1 && arc[0] == '0')) {
      return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

// Every string in `value` that starts with '#': a reference to a contained resource by its id
// (Reference.reference, or a canonical or uri), or "#", a reference to the container.
void CollectLocalReferences(const json::value& value, std::vector<std::string_view>& out) {
  switch (value.kind()) {
    case json::kind::string:
      if (const json::string* s = IfText(value); s != nullptr && s->starts_with('#')) {
        out.push_back(*s);
      }
      break;
    case json::kind::array:
      for (const json::value& item : value.get_array()) CollectLocalReferences(item, out);
      break;
    case json::kind::object:
      for (const auto& member : value.get_object()) CollectLocalReferences(member.value(), out);
      break;
    default:
      break;
  }
}

class ResourceValidator {
 public:
  base::Status Validate(const json::object& resource) {
    if (!ValidateResourceObject(resource)) return std::move(*error_);
    return base::Status::Ok();
  }

 private:
  // One step of the path to the value being checked: an object key, an array index, or the
  // start of a nested resource, where element names in messages restart at its type.
  struct Frame {  // no initialisers: the stack is not cleared per call
    std::string_view key;
    int64_t index;  // -1 for a key, -2 for a resource boundary
  };
  static constexpr size_t kMaxDepth = 96;

  // `contained`: the object is one of its container's contained resources, whose #id
  // references (ref-1) resolve among the container's; any other resource starts a new scope.
  bool ValidateResourceObject(const json::object& object, bool contained = false) {
    const json::array* const saved_contained = root_contained_;
    if (!contained) {
      const json::value* list = object.if_contains("contained");
      root_contained_ = list != nullptr ? list->if_array() : nullptr;
    }
    const bool ok = ValidateResourceIn(object);
    root_contained_ = saved_contained;
    return ok;
  }

  bool ValidateResourceIn(const json::object& object) {
    const json::value* type_value = object.if_contains("resourceType");
    const json::string* type = type_value != nullptr ? IfText(*type_value) : nullptr;
    if (type == nullptr) return FailResourceType("a resource needs a resourceType string");
    const gen::DefinitionRow* def = gen::FindDefinition(*type);
    if (def == nullptr || !def->is_resource) {
      return FailResourceType("'" + std::string(std::string_view(*type).substr(0, 64)) +
                              "' is not an R4 resource type");
    }
    const std::string_view saved = current_type_;
    current_type_ = *type;
    const bool ok = ValidateObject(object, *def, true) && ValidateContained(object);
    current_type_ = saved;
    return ok;
  }

  // dom-3, dom-4, dom-5 over each of the resource's contained resources (dom-2 is checked
  // where a contained resource is met).
  bool ValidateContained(const json::object& resource) {
    const json::value* contained_value = resource.if_contains("contained");
    const json::array* contained = contained_value ? contained_value->if_array() : nullptr;
    if (contained == nullptr) return true;
    std::vector<std::string_view> references;
    for (const auto& member : resource) {
      if (member.key() != "contained") CollectLocalReferences(member.value(), references);
    }
    std::vector<std::string_view> inner;  // references inside contained resources
    for (const json::value& item : *contained) CollectLocalReferences(item, inner);
    if (!Push("contained")) return false;
    for (size_t i = 0; i < contained->size(); ++i) {
      const json::object& object = (*contained)[i].as_object();  // validated as a resource
      if (!PushIndex(i)) return false;
      if (!ValidateContainedMeta(object)) return false;
      const json::value* id_value = object.if_contains("id");
      const json::string* id = id_value ? IfText(*id_value) : nullptr;
      if (id == nullptr) {
        return Fail("id", "dom-3: a contained resource needs an id, to be referred to as #id");
      }
      for (size_t j = 0; j < i; ++j) {
        const json::value* other = (*contained)[j].as_object().if_contains("id");
        if (other != nullptr && IfText(*other) != nullptr && *IfText(*other) == *id) {
          return Fail("id", "the contained resources " + std::to_string(j) + " and " +
                                std::to_string(i) + " have the same id '" +
                                std::string(std::string_view(*id).substr(0, 64)) +
                                "'; #id must name one");
        }
      }
      if (object.contains("text")) {
        return Fail("text",
                    "dom-1: a contained resource has no narrative (text); its container's "
                    "narrative describes it");
      }
      std::vector<std::string_view> own;
      CollectLocalReferences((*contained)[i], own);
      const auto refers_to_id = [&](std::string_view r) { return r.substr(1) == *id; };
      const bool referenced = std::any_of(references.begin(), references.end(), refers_to_id) ||
                              std::any_of(inner.begin(), inner.end(), refers_to_id) ||
                              std::find(own.begin(), own.end(), "#") != own.end();
      if (!referenced) {
        return Fail({}, "dom-3: the contained resource '" +
                            std::string(std::string_view(*id).substr(0, 64)) +
                            "' is not referred to (as \"#" +
                            std::string(std::string_view(*id).substr(0, 64)) +
                            "\") from elsewhere in the resource, nor refers to it (as \"#\")");
      }
      Pop();
    }
    Pop();
    return true;
  }

  bool ValidateContainedMeta(const json::object& object) {
    const json::value* meta_value = object.if_contains("meta");
    const json::object* meta = meta_value ? meta_value->if_object() : nullptr;
    if (meta == nullptr) return true;
    if (!Push("meta")) return false;
    for (std::string_view key : {"versionId", "lastUpdated"}) {
      if (meta->contains(key)) {
        return Fail(key, "dom-4: a contained resource has no " + std::string(key) +
                             " of its own; it is versioned with its container");
      }
    }
    if (meta->contains("security")) {
      return Fail("security", "dom-5: a contained resource must not have security labels");
    }
    Pop();
    return true;
  }

  bool ValidateObject(const json::object& object, const gen::DefinitionRow& def, bool is_resource) {
    if (object.empty()) return Fail({}, "an empty object is not allowed");
    // Choice elements seen so far (value[x]), to reject valueString next to valueQuantity.
    std::array<std::string_view, 8> choices;
    size_t choice_count = 0;
    for (const json::key_value_pair& member : object) {
      const std::string_view key = member.key();
      if (is_resource && key == "resourceType") continue;
      if (key.size() > 1 && key.front() == '_') {
        if (!ValidatePrimitiveExtension(object, def, key, member.value())) return false;
        continue;
      }
      const gen::ElementRow* element = FindElement(def, key);
      if (!Push(key)) return false;
      if (element == nullptr) return Fail({}, "unknown element");
      if (element->choice_base_length > 0) {
        const std::string_view base = key.substr(0, element->choice_base_length);
        for (size_t i = 0; i < choice_count; ++i) {
          if (choices[i] == base) {
            return Fail({},
                        "more than one value for the choice element " + std::string(base) + "[x]");
          }
        }
        if (choice_count < choices.size()) choices[choice_count++] = base;
      }
      if (!ValidateMember(object, *element, member.value())) return false;
      Pop();
    }
    if (&def == ExtensionDefinition() && !ValidateExtension(object)) return false;
    if (&def == ReferenceDefinition() && !ValidateLocalReference(object)) return false;
    if (&def == BundleEntryDefinition() && !ValidateFullUrl(object)) return false;
    return CheckRequired(object, def);
  }

  static const gen::DefinitionRow* ExtensionDefinition() {
    static const gen::DefinitionRow* const extension = gen::FindDefinition("Extension");
    return extension;
  }

  static const gen::DefinitionRow* ReferenceDefinition() {
    static const gen::DefinitionRow* const reference = gen::FindDefinition("Reference");
    return reference;
  }

  static const gen::DefinitionRow* BundleEntryDefinition() {
    static const gen::DefinitionRow* const entry = gen::FindDefinition("Bundle_Entry");
    return entry;
  }

  // ref-1: a reference "#id" names one of the (root) resource's contained resources; "#"
  // alone is the container itself.
  bool ValidateLocalReference(const json::object& object) {
    const json::value* value = object.if_contains("reference");
    const json::string* reference = value != nullptr ? IfText(*value) : nullptr;
    if (reference == nullptr || reference->size() < 2 || reference->front() != '#') return true;
    const std::string_view id = std::string_view(*reference).substr(1);
    if (root_contained_ != nullptr) {
      for (const json::value& item : *root_contained_) {
        const json::object* resource = item.if_object();
        const json::value* item_id = resource != nullptr ? resource->if_contains("id") : nullptr;
        if (item_id != nullptr && IfText(*item_id) != nullptr && *IfText(*item_id) == id) {
          return true;
        }
      }
    }
    return Fail("reference", "ref-1: the local reference '" +
                                 std::string(std::string_view(*reference).substr(0, 65)) +
                                 "' names no contained resource of this resource");
  }

  bool ValidateFullUrl(const json::object& object) {
    const json::value* value = object.if_contains("fullUrl");
    const json::string* full_url = value != nullptr ? IfText(*value) : nullptr;
    if (full_url == nullptr) return true;
    if (auto checked = CheckFullUrl(*full_url); !checked.ok()) {
      return Fail("fullUrl", checked.error().message);
    }
    return true;
  }

  // Extension.url is required (R4 schemas give it as an attribute, so the generated list of
  // required elements lacks it), and ext-1: extensions or a value[x], not both.
  bool ValidateExtension(const json::object& object) {
    const json::value* url = object.if_contains("url");
    if (url == nullptr) return Fail("url", "the required element url is missing");
    if (IfText(*url) == nullptr || url->get_string().empty()) {
      return Fail("url", "expected a uri, got " + Describe(*url));
    }
    if (!object.contains("extension")) {
      for (const auto& member : object) {
        if (member.key().starts_with("value")) return true;
      }
      return Fail({},
                  "ext-1: an extension has either extensions or a value[x]; this one has "
                  "neither");
    }
    for (const auto& member : object) {
      if (member.key().starts_with("value")) {
        return Fail({}, "ext-1: an extension has either extensions or a value[x], not both (" +
                            std::string(member.key()) + ")");
      }
    }
    return true;
  }

  // Every element R4 requires (minimum cardinality 1) is present: for a choice any of its
  // types, for a primitive its value or its `_name` extension (a data-absent reason).
  bool CheckRequired(const json::object& object, const gen::DefinitionRow& def) {
    std::string_view required = def.required;
    for (std::string_view name; gen::TakeListItem(required, name);) {
      if (!HasElement(object, def, name)) {
        return Fail(name.ends_with("[x]") ? std::string_view() : name,
                    "the required element " + std::string(name) + " is missing");
      }
    }
    return true;
  }

  static bool HasElement(const json::object& object, const gen::DefinitionRow& def,
                         std::string_view name) {
    if (name.ends_with("[x]")) name.remove_suffix(3);
    for (const json::key_value_pair& member : object) {
      if (gen::IsElementNamed(def, member.key(), name)) return true;
    }
    return false;
  }

  bool ValidateMember(const json::object& parent, const gen::ElementRow& element,
                      const json::value& value) {
    const bool primitive =
        element.kind != PrimitiveKind::kComplex && element.kind != PrimitiveKind::kResource;
    if (!(element.flags & gen::kArray)) {
      if (value.is_array()) return Fail({}, "expected a single value, got an array");
      return ValidateValue(element, value);
    }
    const json::array* array = value.if_array();
    if (array == nullptr) {
      return Fail({}, std::string("expected an array, got ") + Describe(value));
    }
    if (array->empty()) return Fail({}, "an empty array is not allowed");
    for (size_t i = 0; i < array->size(); ++i) {
      const json::value& item = (*array)[i];
      if (!PushIndex(i)) return false;
      // A null keeps array positions aligned with the `_name` array of primitive extensions.
      if (item.is_null() && primitive && HasExtensionSibling(parent, element.name)) {
        Pop();
        continue;
      }
      if (item.is_array()) return Fail({}, "expected a single value, got an array");
      if (!ValidateValue(element, item)) return false;
      Pop();
    }
    return true;
  }

  static bool HasExtensionSibling(const json::object& parent, std::string_view name) {
    for (const json::key_value_pair& member : parent) {
      const std::string_view key = member.key();
      if (key.size() == name.size() + 1 && key.front() == '_' && key.substr(1) == name) {
        return true;
      }
    }
    return false;
  }

  // `_birthDate`: the id and extensions of a primitive, an object (or for a repeating
  // primitive an array of objects and nulls).
  bool ValidatePrimitiveExtension(const json::object& parent, const gen::DefinitionRow& def,
                                  std::string_view key, const json::value& value) {
    if (!Push(key)) return false;
    const gen::ElementRow* element = FindElement(def, key.substr(1));
    if (element == nullptr || element->kind == PrimitiveKind::kComplex ||
        element->kind == PrimitiveKind::kResource) {
      return Fail({}, "unknown element");
    }
    const gen::DefinitionRow& element_def = gen::kDefinitions[gen::kElementDefinition];
    if (element->flags & gen::kArray) {
      const json::array* array = value.if_array();
      if (array == nullptr) return Fail({}, "expected an array, got " + Describe(value));
      const json::value* values = parent.if_contains(key.substr(1));
      if (values != nullptr && values->is_array() && values->get_array().size() != array->size()) {
        return Fail({}, "must have as many items as " + std::string(key.substr(1)));
      }
      const json::array* value_array =
          values != nullptr && values->is_array() ? &values->get_array() : nullptr;
      for (size_t i = 0; i < array->size(); ++i) {
        const json::value& item = (*array)[i];
        const bool has_value =
            value_array != nullptr && i < value_array->size() && !(*value_array)[i].is_null();
        if (!PushIndex(i)) return false;
        if (item.is_null()) {
          if (!has_value) return FailEle1(key.substr(1));
          Pop();
          continue;
        }
        const json::object* object = item.if_object();
        if (object == nullptr) return Fail({}, "expected an object, got " + Describe(item));
        if (!ValidateObject(*object, element_def, false)) return false;
        if (!has_value && !object->contains("extension")) return FailEle1(key.substr(1));
        Pop();
      }
    } else {
      const json::object* object = value.if_object();
      if (object == nullptr) return Fail({}, "expected an object, got " + Describe(value));
      if (!ValidateObject(*object, element_def, false)) return false;
      const json::value* primitive = parent.if_contains(key.substr(1));
      if ((primitive == nullptr || primitive->is_null()) && !object->contains("extension")) {
        return FailEle1(key.substr(1));
      }
    }
    Pop();
    return true;
  }

  // ele-1: a primitive has a value, or extensions (an id alone says nothing).
  bool FailEle1(std::string_view name) {
    return Fail({}, "ele-1: " + std::string(name) +
                        " has neither a value nor an extension (an id alone is not an element)");
  }

  bool ValidateValue(const gen::ElementRow& element, const json::value& value) {
    switch (element.kind) {
      case PrimitiveKind::kComplex: {
        const json::object* object = value.if_object();
        if (object == nullptr) return WrongKind(element.kind, value);
        return ValidateObject(*object, gen::kDefinitions[element.definition], false);
      }
      case PrimitiveKind::kResource: {
        const json::object* object = value.if_object();
        if (object == nullptr) return WrongKind(element.kind, value);
        if (element.name == "contained" && object->contains("contained")) {
          return Fail("contained", "dom-2: a contained resource must not contain resources");
        }
        if (!PushResource()) return false;
        if (!ValidateResourceObject(*object, element.name == "contained")) return false;
        Pop();
        return true;
      }
      case PrimitiveKind::kBoolean:
        return value.is_bool() || WrongKind(element.kind, value);
      case PrimitiveKind::kInteger:
      case PrimitiveKind::kPositiveInt:
      case PrimitiveKind::kUnsignedInt:
        return ValidateInteger(element.kind, value);
      case PrimitiveKind::kDecimal:
        return IsNumber(value) || WrongKind(element.kind, value);
      default:
        break;
    }
    const json::string* string = IfText(value);
    if (string == nullptr) return WrongKind(element.kind, value);
    if (!ValidateString(element.kind, *string)) return false;
    return element.codes.empty() || ValidateRequiredCode(element.codes, *string);
  }

  // A code bound to a required value set must be one of its codes.
  bool ValidateRequiredCode(std::string_view codes, std::string_view code) {
    for (std::string_view rest = codes; !rest.empty();) {
      size_t bar = rest.find('|');
      if (rest.substr(0, bar) == code) return true;
      if (bar == std::string_view::npos) break;
      rest.remove_prefix(bar + 1);
    }
    std::string allowed(codes);
    std::replace(allowed.begin(), allowed.end(), '|', ',');
    return Fail({},
                "'" + std::string(code) + "' is not one of the allowed codes (" + allowed + ")");
  }

  // FHIR's integer, positiveInt and unsignedInt are 32-bit, written without a fraction or an
  // exponent (2.0 and 1e2 are decimals).
  bool ValidateInteger(PrimitiveKind kind, const json::value& value) {
    if (!IsNumber(value)) return WrongKind(kind, value);
    const std::string text = NumberText(value);
    const bool integral = text.find_first_of(".eE") == std::string::npos;
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (!integral || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      return WrongKind(kind, value);
    }
    const int64_t min = kind == PrimitiveKind::kPositiveInt   ? 1
                        : kind == PrimitiveKind::kUnsignedInt ? 0
                                                              : INT32_MIN;
    if (ec == std::errc::result_out_of_range || n < min || n > INT32_MAX) {
      return Fail({}, "expected " + std::string(ExpectedName(kind)) + " from " +
                          std::to_string(min) + " to " + std::to_string(INT32_MAX) + ", got " +
                          Describe(value));
    }
    return true;
  }

  bool ValidateString(PrimitiveKind kind, std::string_view s) {
    if (s.empty()) return Fail({}, "an empty string is not allowed; leave the element out");
    // R4: "strings SHALL NOT exceed 1MB in size". Base64 data (attachments, Binary) is not a
    // string and is bounded by the body limit alone.
    constexpr size_t kMaxStringBytes = size_t{1} << 20;
    if (kind != PrimitiveKind::kBase64Binary && s.size() > kMaxStringBytes) {
      return Fail({}, "a string may hold at most 1 MB (1,048,576 bytes); this one has " +
                          std::to_string(s.size()));
    }
    bool ok = true;
    switch (kind) {
      case PrimitiveKind::kCode:
        ok = IsCode(s);
        break;
      case PrimitiveKind::kId:
        ok = IsValidId(s);
        break;
      case PrimitiveKind::kUri:
      case PrimitiveKind::kUrl:
      case PrimitiveKind::kCanonical:
        ok = HasNoWhitespace(s);
        break;
      case PrimitiveKind::kOid:
        ok = IsOidUrn(s);
        break;
      case PrimitiveKind::kUuid:
        ok = IsUuidUrn(s);
        break;
      case PrimitiveKind::kTime:
        ok = IsTime(s);
        break;
      case PrimitiveKind::kBase64Binary:
        ok = IsBase64(s);
        break;
      case PrimitiveKind::kDate:
      case PrimitiveKind::kDateTime:
      case PrimitiveKind::kInstant: {
        auto range = ParseFhirDate(s);
        if (!range.ok()) return Fail({}, range.error().message);
        ok = kind == PrimitiveKind::kDate       ? HasDateShape(s)
             : kind == PrimitiveKind::kDateTime ? HasDateTimeShape(s)
                                                : HasInstantShape(s);
        break;
      }
      case PrimitiveKind::kXhtml:
        if (auto problem = CheckNarrativeDiv(s)) return Fail({}, *problem);
        break;
      default:
        break;  // string, markdown: any non-empty text
    }
    if (!ok) return WrongKind(kind, json::value(s));
    return true;
  }

  bool WrongKind(PrimitiveKind kind, const json::value& value) {
    return Fail({}, "expected " + std::string(ExpectedName(kind)) + ", got " + Describe(value));
  }

  bool Push(std::string_view key) {
    if (depth_ == kMaxDepth) return Fail({}, "nested too deeply");
    frames_[depth_++] = Frame{key, -1};
    return true;
  }
  bool PushIndex(size_t index) {
    if (depth_ == kMaxDepth) return Fail({}, "nested too deeply");
    frames_[depth_++] = Frame{{}, static_cast<int64_t>(index)};
    return true;
  }
  // Marks where a contained resource starts; its element names restart at its type.
  bool PushResource() {
    if (depth_ == kMaxDepth) return Fail({}, "nested too deeply");
    frames_[depth_++] = Frame{{}, -2};
    return true;
  }
  void Pop() { --depth_; }

  // Records the error at the current path (plus `last_key` when given). Always false.
  bool Fail(std::string_view last_key, const std::string& problem) {
    // Element names restart at the innermost resource boundary: "Observation.code", not
    // "Bundle.entry.resource.code".
    size_t start = 0;
    for (size_t i = 0; i < depth_; ++i) {
      if (frames_[i].index == -2) start = i + 1;
    }
    std::string element(current_type_.empty() ? "Resource" : current_type_);
    for (size_t i = start; i < depth_; ++i) {
      if (frames_[i].index == -1) {
        element += '.';
        element += frames_[i].key;
      }
    }
    if (!last_key.empty()) {
      element += '.';
      element += last_key;
    }
    error_ = base::Invalid(element + ": " + problem, Pointer(last_key));
    return false;
  }

  // A missing or unknown resourceType: there is no type to name the element by.
  bool FailResourceType(const std::string& problem) {
    error_ = base::Invalid("resourceType: " + problem, Pointer("resourceType"));
    return false;
  }

  std::string Pointer(std::string_view last_key) const {
    std::string pointer;
    for (size_t i = 0; i < depth_; ++i) {
      const Frame& f = frames_[i];
      if (f.index == -2) continue;
      pointer += '/';
      if (f.index >= 0) {
        pointer += std::to_string(f.index);
      } else {
        AppendPointerToken(pointer, f.key);
      }
    }
    if (!last_key.empty()) {
      pointer += '/';
      AppendPointerToken(pointer, last_key);
    }
    return pointer;
  }

  static void AppendPointerToken(std::string& out, std::string_view token) {
    for (char c : token) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out += c;
      }
    }
  }

  Frame frames_[kMaxDepth];
  size_t depth_ = 0;
  std::string_view current_type_;
  const json::array* root_contained_ = nullptr;  // what "#id" references resolve among
  std::optional<base::Error> error_;
};

}  // namespace

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-' || c == '.';
  });
}

base::Status CheckFullUrl(std::string_view full_url) {
  // RFC 4122 reads hex digits in either case; FHIR's uuid type writes them in lower case.
  std::string lower(full_url.substr(0, 64));
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (full_url.starts_with("urn:uuid:") && (full_url.size() != 45 || !IsUuidUrn(lower))) {
    return base::Invalid(
        "a urn:uuid: fullUrl must be a UUID "
        "(urn:uuid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), not '" +
        std::string(full_url.substr(0, 80)) + "'");
  }
  if (full_url.starts_with("urn:oid:") && !IsOidUrn(full_url)) {
    return base::Invalid("a urn:oid: fullUrl must be an OID (urn:oid:1.2.3), not '" +
                         std::string(full_url.substr(0, 80)) + "'");
  }
  return base::Status::Ok();
}

base::Status ValidateResource(const boost::json::object& resource) {
  return ResourceValidator().Validate(resource);
}

}  // namespace carerecord::fhir
