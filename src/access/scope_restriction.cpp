#include "access/scope_restriction.h"

#include <algorithm>
#include <boost/json.hpp>
#include <vector>

#include "fhir/search_parameters.h"
#include "fhir/search_text.h"

namespace carerecord::access {

namespace {

// Splits `text` at each `separator` not escaped with '\', and undoes the search escapes (\, \|
// \$ \\) in each part, as a search value is read.
std::vector<std::string> SplitEscaped(std::string_view text, char separator, size_t max_parts) {
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      parts.back().push_back(text[++i]);
    } else if (c == separator && parts.size() < max_parts) {
      parts.emplace_back();
    } else {
      parts.back().push_back(c);
    }
  }
  return parts;
}

struct Parameter {
  const fhir::SearchParamDef* def = nullptr;
  std::string modifier;
};

// The parameter `name` ("category", "name:exact") names on `type`; no def when it names none.
Parameter Resolve(std::string_view type, std::string_view name) {
  Parameter out;
  const size_t colon = name.find(':');
  if (colon != std::string_view::npos) out.modifier = std::string(name.substr(colon + 1));
  out.def = fhir::FindSearchParam(type, name.substr(0, colon));
  return out;
}

// Why `restriction` cannot be enforced on `type`, or nothing when it can.
std::optional<std::string> Unenforceable(std::string_view type,
                                         const ScopeRestriction& restriction) {
  const std::string& name = restriction.name;
  if (name.find('.') != std::string::npos) {
    return "'" + name + "' is a chained parameter, which scope restrictions do not support";
  }
  const Parameter parameter = Resolve(type, name);
  if (parameter.def == nullptr) {
    return "'" + name + "' is not a search parameter of " + std::string(type);
  }
  const fhir::SearchParamDef& def = *parameter.def;
  for (const std::string& value : SplitEscaped(restriction.value, ',', SIZE_MAX)) {
    if (value.empty()) return "'" + name + "' has an empty value";
  }
  auto with_modifier =
      [&](std::initializer_list<std::string_view> allowed) -> std::optional<std::string> {
    if (std::find(allowed.begin(), allowed.end(), parameter.modifier) != allowed.end()) {
      return std::nullopt;
    }
    return "the modifier ':" + parameter.modifier + "' of '" + name +
           "' is not supported in scope restrictions";
  };
  if (def.code == "_id") return with_modifier({""});
  if (def.handled_by_store || (!def.indexed && def.union_of.empty())) {
    return "'" + name + "' is not supported in scope restrictions";
  }
  switch (def.type) {
    case fhir::SearchParamType::kToken:
      for (const std::string& value : SplitEscaped(restriction.value, ',', SIZE_MAX)) {
        if (value == "|") return "'" + name + "' has a value with neither system nor code";
      }
      return with_modifier({""});
    case fhir::SearchParamType::kString:
      return with_modifier({"", "exact", "contains"});
    case fhir::SearchParamType::kReference:
    case fhir::SearchParamType::kUri:
      return with_modifier({""});
    default:
      return "'" + name + "' is a " + std::string(fhir::SearchParamTypeName(def.type)) +
             " parameter; scope restrictions support token, string, reference and uri "
             "parameters and _id";
  }
}

// The ids whose index entries hold `def`'s values (a union parameter's are its parts').
bool HoldsValuesOf(const fhir::SearchParamDef& def, uint32_t param_id) {
  if (def.union_of.empty()) return param_id == def.id;
  return std::any_of(def.union_of.begin(), def.union_of.end(),
                     [&](const fhir::SearchParamDef* part) { return part->id == param_id; });
}

bool TokenMatches(const fhir::TokenEntry& entry, std::string_view value) {
  if (entry.of_type) return false;
  std::vector<std::string> parts = SplitEscaped(value, '|', 2);
  if (parts.size() == 1) return !parts[0].empty() && entry.code == parts[0];
  const std::string& system = parts[0];
  const std::string& code = parts[1];
  if (code.empty()) return !system.empty() && entry.system == system;  // system|
  return entry.system == system && entry.code == code;                 // system|code, |code
}

bool StringMatches(const fhir::StringEntry& entry, std::string_view modifier,
                   std::string_view value) {
  if (modifier == "exact") return entry.value == value;
  const std::string have(fhir::IndexedPrefix(fhir::NormalizeForSearch(entry.value)));
  const std::string want = fhir::NormalizeForSearch(value);
  if (modifier == "contains") return have.find(want) != std::string::npos;
  return have.rfind(want, 0) == 0;
}

bool ReferenceMatches(const fhir::ReferenceEntry& entry, std::string_view value) {
  const size_t slash = value.find('/');
  if (value.find(':') != std::string_view::npos || slash == std::string_view::npos) {
    return entry.target_id == value;  // an id of any target type, or an absolute URL
  }
  return entry.target_type == value.substr(0, slash) && entry.target_id == value.substr(slash + 1);
}

}  // namespace

std::optional<std::string> UnenforceableRestriction(const ClinicalScope& scope) {
  const std::string_view type =
      scope.resource_type == "*" ? std::string_view("Resource") : scope.resource_type;
  for (const ScopeRestriction& restriction : scope.restrictions) {
    if (auto why = Unenforceable(type, restriction)) {
      return "scope '" + scope.text + "': " + *why;
    }
  }
  return std::nullopt;
}

bool RestrictedItem::Load() {
  if (loaded_) return has_body_;
  loaded_ = true;
  if (body_ == nullptr) return false;
  auto json = body_->Json();
  if (!json.ok() || json->empty()) return false;
  boost::system::error_code error;
  boost::json::value parsed = boost::json::parse(*json, error);
  if (error || !parsed.is_object()) return false;
  entries_ = fhir::ExtractIndexEntries(parsed.as_object(), type_);
  has_body_ = true;
  return true;
}

bool RestrictedItem::Matches(const ClinicalScope& scope) {
  if (scope.restrictions.empty()) return true;
  // A `*` scope's parameters are the common ones: its check is made on Resource.
  const std::string_view type =
      scope.resource_type == "*" ? std::string_view("Resource") : std::string_view(type_);
  for (const ScopeRestriction& restriction : scope.restrictions) {
    if (Unenforceable(type, restriction)) return false;
  }
  if (!Load()) return false;
  return std::all_of(scope.restrictions.begin(), scope.restrictions.end(),
                     [this](const ScopeRestriction& r) { return MatchesOne(r); });
}

bool RestrictedItem::MatchesOne(const ScopeRestriction& restriction) const {
  const Parameter parameter = Resolve(type_, restriction.name);
  if (parameter.def == nullptr) return false;
  const fhir::SearchParamDef& def = *parameter.def;
  const std::vector<std::string> values = SplitEscaped(restriction.value, ',', SIZE_MAX);
  auto any_value = [&](auto matches_value) {
    return std::any_of(values.begin(), values.end(), matches_value);
  };
  if (def.code == "_id") {
    return any_value([this](const std::string& value) { return value == id_; });
  }
  auto any_entry = [&](const auto& entries, auto matches) {
    return std::any_of(entries.begin(), entries.end(), [&](const auto& entry) {
      return HoldsValuesOf(def, entry.param_id) &&
             any_value([&](const std::string& value) { return matches(entry, value); });
    });
  };
  switch (def.type) {
    case fhir::SearchParamType::kToken:
      return any_entry(entries_.tokens, TokenMatches);
    case fhir::SearchParamType::kString:
      return any_entry(entries_.strings,
                       [&](const fhir::StringEntry& entry, const std::string& value) {
                         return StringMatches(entry, parameter.modifier, value);
                       });
    case fhir::SearchParamType::kReference:
      return any_entry(entries_.references, ReferenceMatches);
    case fhir::SearchParamType::kUri:
      return any_entry(entries_.uris, [](const fhir::UriEntry& entry, const std::string& value) {
        return entry.value == value;
      });
    default:
      return false;
  }
}

}  // namespace carerecord::access
