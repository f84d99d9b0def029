// Search parameters by name: name[:modifier][.chain]=value, the special _id, _lastUpdated,
// _text and _content, chains (patient.identifier=X) and _has (reverse chains), each chained or
// reverse-chained part an inner search parsed by the same rules.

#include <algorithm>

#include "fhir/fhir_date.h"
#include "fhir/search_parameters.h"
#include "interactions/search_has.h"
#include "interactions/search_parser.h"
#include "interactions/search_values.h"

namespace carerecord::interactions {

using base::Invalid;
using fhir::SearchParamType;
using store::Condition;
using store::Modifier;
using store::SearchValue;

base::Result<std::string> ChainTarget(const fhir::SearchParamDef& def, std::string_view named,
                                      std::string_view rest, const std::string& where) {
  if (!named.empty()) return std::string(named);
  if (def.targets.size() == 1) return def.targets.front();
  if (def.code == "patient" &&
      std::find(def.targets.begin(), def.targets.end(), "Patient") != def.targets.end()) {
    return std::string("Patient");
  }
  return Invalid("the chain on " + def.code + " needs a target type, e.g. " + def.code + ":" +
                     (def.targets.empty() ? "Patient" : def.targets.front()) + "." +
                     std::string(rest),
                 where);
}

namespace {

// The type the values of `condition` are parsed as: the parameter's, or the special one's.
SearchParamType ValueType(const Condition& condition) {
  if (condition.param) return condition.param->type;
  if (condition.special == Condition::Special::kId) return SearchParamType::kToken;
  if (condition.special == Condition::Special::kLastUpdated) return SearchParamType::kDate;
  return SearchParamType::kSpecial;  // _text, _content: no modifiers
}

}  // namespace

// The modifier after the colon, checked against the parameter's type; one this server lacks is
// refused, never dropped.
base::Status SearchParser::ParseModifier(std::string_view modifier_text, std::string_view code,
                                         const std::string& where, Condition& condition,
                                         std::string& modifier_type) {
  const fhir::SearchParamDef* def = condition.param;
  const SearchParamType param_type = ValueType(condition);
  std::string m(modifier_text);
  if (m == "missing") {
    condition.modifier = Modifier::kMissing;
  } else if (m == "exact" && param_type == SearchParamType::kString) {
    condition.modifier = Modifier::kExact;
  } else if (m == "contains" && param_type == SearchParamType::kString) {
    condition.modifier = Modifier::kContains;
  } else if (m == "text" && param_type == SearchParamType::kToken && def) {
    condition.modifier = Modifier::kText;
  } else if (m == "not" && param_type == SearchParamType::kToken) {
    condition.modifier = Modifier::kNot;
  } else if ((m == "below" || m == "above") && param_type == SearchParamType::kUri) {
    condition.modifier = m == "below" ? Modifier::kBelow : Modifier::kAbove;
  } else if ((m == "in" || m == "not-in" || m == "below" || m == "above") &&
             param_type == SearchParamType::kToken && def) {
    // Expanded from stored terminology before the search runs (terminology_expansion.h).
    condition.modifier = m == "in"       ? Modifier::kIn
                         : m == "not-in" ? Modifier::kNotIn
                         : m == "below"  ? Modifier::kBelow
                                         : Modifier::kAbove;
  } else if (param_type == SearchParamType::kReference && fhir::IsResourceType(m)) {
    condition.modifier = Modifier::kType;
    modifier_type = m;
  } else if (m == "identifier" && param_type == SearchParamType::kReference) {
    condition.modifier = Modifier::kIdentifier;
  } else if (m == "of-type" && param_type == SearchParamType::kToken && def) {
    condition.modifier = Modifier::kOfType;
  } else if (m == "identifier" || m == "in" || m == "not-in" || m == "of-type" || m == "below" ||
             m == "above" || m == "iterate") {
    // R4: a search with a modifier the server does not support is rejected, not run without
    // it (link:below=x would otherwise return every resource).
    return Invalid(
        "the modifier :" + m + " is not supported on " + std::string(code) + " by this server",
        where);
  } else {
    return Invalid("the modifier :" + m + " does not apply to " + std::string(code), where);
  }
  return base::Status::Ok();
}

// patient.identifier=X: the inner search runs on the target type.
base::Status SearchParser::ParseChain(const std::string& where, std::string_view name,
                                      std::string_view chain, std::string_view value,
                                      const std::string& modifier_type, Condition condition,
                                      store::SearchSpec& spec, bool top_level) {
  if (ValueType(condition) != SearchParamType::kReference) {
    return Invalid("only reference parameters can be chained", where);
  }
  if (std::count(name.begin(), name.end(), '.') > kMaxChainLinks) {
    return Invalid(
        "a chain of more than " + std::to_string(kMaxChainLinks) + " references is not searched",
        where);
  }
  auto target = ChainTarget(*condition.param, modifier_type, chain, where);
  if (!target.ok()) return target.error();
  auto inner = std::make_shared<store::SearchSpec>();
  inner->type = *target;
  CR_RETURN_IF_ERROR(ParseCondition(*target, chain, value, *inner, false));
  if (inner->conditions.empty()) return base::Status::Ok();  // the chained part was ignored
  SearchValue v;
  v.chain = std::move(inner);
  condition.values.push_back(std::move(v));
  spec.conditions.push_back(std::move(condition));
  if (top_level) parsed_.applied.emplace_back(std::string(name), std::string(value));
  return base::Status::Ok();
}

// The comma-separated values of one occurrence, ORed.
base::Status SearchParser::ParseValues(const std::string& where, std::string_view value,
                                       const std::string& modifier_type, Condition& condition) {
  std::vector<std::string> parts = SplitValues(value);
  constexpr size_t kMaxValues = 200;  // each value is one OR term of the query
  if (parts.size() > kMaxValues) {
    return Invalid("more than " + std::to_string(kMaxValues) + " values for one parameter", where);
  }
  for (const std::string& part : parts) {
    if (part.empty()) return Invalid("an empty value", where);
    SearchValue v;
    if (condition.special == Condition::Special::kId) {
      v.code = Unescape(part);
    } else if (condition.special == Condition::Special::kText ||
               condition.special == Condition::Special::kContent) {
      v.text = Unescape(part);
    } else if (condition.special == Condition::Special::kLastUpdated) {
      std::string unescaped = Unescape(part);
      std::string_view text = unescaped;
      v.prefix = TakePrefix(text);
      auto range = fhir::ParseFhirDate(text);
      if (!range.ok()) {
        return Invalid("'" + std::string(text) + "' is not a valid date: " + range.error().message,
                       where);
      }
      v.low_ms = range->low_ms;
      v.high_ms = range->high_ms;
    } else {
      CR_RETURN_IF_ERROR(ParseValue(*condition.param, condition.modifier, modifier_type, part, v,
                                    where, base_url_));
    }
    condition.values.push_back(std::move(v));
  }
  return base::Status::Ok();
}

base::Status SearchParser::ParseCondition(const std::string& type, std::string_view name,
                                          std::string_view value, store::SearchSpec& spec,
                                          bool top_level) {
  std::string where(name);
  // name[:modifier][.chain]
  const size_t dot = name.find('.');
  std::string_view head = name.substr(0, dot);
  std::string_view chain = dot == std::string_view::npos ? "" : name.substr(dot + 1);
  const size_t colon = head.find(':');
  std::string_view code = head.substr(0, colon);
  std::string_view modifier_text = colon == std::string_view::npos ? "" : head.substr(colon + 1);

  Condition condition;
  if (code == "_id") {
    condition.special = Condition::Special::kId;
  } else if (code == "_lastUpdated") {
    condition.special = Condition::Special::kLastUpdated;
  } else if (code == "_text" || code == "_content") {
    condition.special = code == "_text" ? Condition::Special::kText : Condition::Special::kContent;
  } else {
    condition.param = fhir::FindSearchParam(type, code);
    if (!condition.param) {
      return Ignore(where, "'" + std::string(code) + "' is not a search parameter of " + type);
    }
    if (!condition.param->indexed) {
      return Ignore(where, "the search parameter '" + std::string(code) + "' of " + type +
                               " is not supported by this server");
    }
  }
  std::string modifier_type;
  if (!modifier_text.empty()) {
    CR_RETURN_IF_ERROR(ParseModifier(modifier_text, code, where, condition, modifier_type));
  }
  if (condition.modifier == Modifier::kMissing) {
    if (value != "true" && value != "false") {
      return Invalid(":missing takes true or false", where);
    }
    condition.missing = value == "true";
    if (!condition.param) {  // a modifier the server lacks is refused, never dropped
      return Invalid(":missing is not supported on " + std::string(code) + " by this server",
                     where);
    }
    spec.conditions.push_back(std::move(condition));
    // Into the self and paging links too: a next page without it once returned what it excludes.
    if (top_level) parsed_.applied.emplace_back(std::string(name), std::string(value));
    return base::Status::Ok();
  }
  if (!chain.empty()) {
    return ParseChain(where, name, chain, value, modifier_type, std::move(condition), spec,
                      top_level);
  }
  CR_RETURN_IF_ERROR(ParseValues(where, value, modifier_type, condition));
  spec.conditions.push_back(std::move(condition));
  if (top_level) parsed_.applied.emplace_back(std::string(name), std::string(value));
  return base::Status::Ok();
}

// _has:Observation:patient:code=X, nested (at most kMaxHasLinks deep): the inner search runs on
// the referring type, and its matches' references by the named parameter are the matches of
// this condition.
base::Status SearchParser::ParseHas(const std::string& type, std::string_view name,
                                    std::string_view value, store::SearchSpec& spec,
                                    const std::string& where) {
  auto link = ParseHasLink(type, name, where);
  if (!link.ok()) return link.error();
  if (!link->reference) return Ignore(where, link->unknown);
  if (value.empty()) return Invalid(where + " needs a value to search " + link->rest, where);
  auto inner = std::make_shared<store::SearchSpec>();
  inner->type = link->referring_type;
  size_t ignored_before = parsed_.ignored.size();
  base::Status status = link->rest.rfind("_has", 0) == 0
                            ? ParseHas(inner->type, link->rest, value, *inner, where)
                            : ParseCondition(inner->type, link->rest, value, *inner, false);
  if (!status.ok()) {
    base::Error error = status.error();
    error.location = where;  // the inner parser names only its own part
    return error;
  }
  for (size_t i = ignored_before; i < parsed_.ignored.size(); ++i) {
    std::string& entry = parsed_.ignored[i];  // "name: why", where name is the inner part
    if (entry.rfind(where, 0) != 0) entry = where + entry.substr(entry.find(": "));
  }
  if (inner->conditions.empty()) return base::Status::Ok();  // the inner part was ignored
  Condition condition;
  condition.special = Condition::Special::kHas;
  condition.param = link->reference;
  SearchValue v;
  v.chain = std::move(inner);
  condition.values.push_back(std::move(v));
  spec.conditions.push_back(std::move(condition));
  return base::Status::Ok();
}

}  // namespace carerecord::interactions
