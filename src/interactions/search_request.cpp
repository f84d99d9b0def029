#include "interactions/search_request.h"

#include <algorithm>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <climits>
#include <cmath>

#include "fhir/fhir_date.h"
#include "fhir/index_extraction.h"
#include "fhir/search_parameters.h"
#include "interactions/search_filter.h"
#include "interactions/search_has.h"

namespace carerecord::interactions {
namespace {

using base::Invalid;
using fhir::SearchParamType;
using store::Condition;
using store::Modifier;
using store::Prefix;
using store::SearchValue;

// Each link of a chain (patient.organization.name) is an inner search run before the outer one.
constexpr int kMaxChainLinks = 4;
// Each _has link is an inner search too, parsed by recursion: bounded before any is parsed, so
// a deep nesting can neither exhaust the stack nor cost time quadratic in its length.
constexpr size_t kMaxHasLinks = 4;

size_t CountOccurrences(std::string_view text, std::string_view what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

// Splits on `separator` where it is not escaped with a backslash, and unescapes \, \| \$ \\.
std::vector<std::string> SplitEscaped(std::string_view text, char separator) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      out.back().push_back(text[++i]);
    } else if (c == separator) {
      out.emplace_back();
    } else {
      out.back().push_back(c);
    }
  }
  return out;
}

// Splits on unescaped commas, keeping every escape in the parts for the value parser.
std::vector<std::string> SplitValues(std::string_view text) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      if (text[i + 1] != ',') out.back().push_back('\\');
      out.back().push_back(text[++i]);
    } else if (text[i] == ',') {
      out.emplace_back();
    } else {
      out.back().push_back(text[i]);
    }
  }
  return out;
}

// Splits on unescaped `separator`, keeping every escape in the parts for the value parser.
std::vector<std::string_view> SplitKeepingEscapes(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == separator) {
      out.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(text.substr(start));
  return out;
}

// The first unescaped '|', or npos.
size_t FindBar(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '|') {
      return i;
    }
  }
  return std::string_view::npos;
}

std::string Unescape(std::string_view text) { return SplitEscaped(text, '\0').front(); }

Prefix TakePrefix(std::string_view& value) {
  static const std::pair<const char*, Prefix> kPrefixes[] = {
      {"eq", Prefix::kEq}, {"ne", Prefix::kNe}, {"gt", Prefix::kGt},
      {"lt", Prefix::kLt}, {"ge", Prefix::kGe}, {"le", Prefix::kLe},
      {"sa", Prefix::kSa}, {"eb", Prefix::kEb}, {"ap", Prefix::kAp}};
  if (value.size() > 2) {
    for (const auto& [text, prefix] : kPrefixes) {
      if (value.substr(0, 2) == text) {
        value.remove_prefix(2);
        return prefix;
      }
    }
  }
  return Prefix::kEq;
}

// `mantissa` x 10^-`scale` as the double nearest to it, as a JSON parser reads that decimal.
double DecimalToDouble(int64_t mantissa, int scale) {
  std::string text = std::to_string(mantissa) + "e-" + std::to_string(scale);
  double out = 0;
  std::from_chars(text.data(), text.data() + text.size(), out);
  return out;
}

base::Status ParseNumber(std::string_view text, SearchValue& out, const std::string& where) {
  double number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Invalid("'" + std::string(text) + "' is not a number", where);
  }
  out.number = number;
  size_t exponent = text.find_first_of("eE");
  if (exponent != std::string_view::npos) {
    double half = std::fabs(number) * 1e-12;
    out.number_low = number - half;
    out.number_high = number + half;
    return base::Status::Ok();
  }
  // "5.4" means [5.35, 5.45): half a unit of the last digit either side. The bounds are made
  // from decimal digits, not by subtracting doubles, so that a stored 5.35 (the double nearest
  // 5.35) is inside: 5.4 - 0.05 in doubles is a little above it.
  size_t dot = text.find('.');
  int scale = dot == std::string_view::npos ? 0 : static_cast<int>(text.size() - dot - 1);
  std::string digits;
  for (char c : text) {
    if (c != '.' && c != '+') digits.push_back(c);
  }
  int64_t mantissa = 0;
  auto parsed = std::from_chars(digits.data(), digits.data() + digits.size(), mantissa);
  if (parsed.ec != std::errc() || mantissa > INT64_MAX / 10 - 5 || mantissa < INT64_MIN / 10 + 5) {
    double half = 0.5 * std::pow(10.0, -scale);  // too many digits to be exact anyway
    out.number_low = number - half;
    out.number_high = number + half;
    return base::Status::Ok();
  }
  out.number_low = DecimalToDouble(mantissa * 10 - 5, scale + 1);
  out.number_high = DecimalToDouble(mantissa * 10 + 5, scale + 1);
  return base::Status::Ok();
}

// near=latitude|longitude|distance|units (Location): kilometres when no units are given, and
// 10 km when no distance is.
base::Status ParseNear(std::string_view text, SearchValue& out, const std::string& where) {
  auto parts = SplitEscaped(text, '|');
  if (parts.size() < 2 || parts.size() > 4) {
    return Invalid("near is latitude|longitude|distance|units", where);
  }
  auto number = [&](const std::string& part, const char* what, double low, double high,
                    double& value) -> base::Status {
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (ec != std::errc() || end != part.data() + part.size() || part.empty() ||
        !std::isfinite(value) || value < low || value > high) {
      return Invalid("'" + part + "' is not a " + what, where);
    }
    return base::Status::Ok();
  };
  CR_RETURN_IF_ERROR(number(parts[0], "latitude (-90 to 90)", -90, 90, out.latitude));
  CR_RETURN_IF_ERROR(number(parts[1], "longitude (-180 to 180)", -180, 180, out.longitude));
  out.distance_km = 10;
  if (parts.size() >= 3 && !parts[2].empty()) {
    CR_RETURN_IF_ERROR(number(parts[2], "distance", 0, 1e9, out.distance_km));
  }
  const std::string units = parts.size() == 4 ? parts[3] : "km";
  if (units == "m") {
    out.distance_km /= 1000;
  } else if (units == "[mi_i]" || units == "mi") {
    out.distance_km *= 1.609344;
  } else if (units != "km" && !units.empty()) {
    return Invalid("near takes the units km, m or [mi_i], not '" + units + "'", where);
  }
  out.distance_km = std::min(out.distance_km, 20100.0);  // half way round is everywhere
  return base::Status::Ok();
}

// The type a chain through reference parameter `def` searches: the one named (subject:Patient),
// the only target, or Patient for `patient`; else a 400 showing how to name one.
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

class SearchParser {
 public:
  SearchParser(bool strict, const SearchLimits& limits, std::string_view base_url)
      : strict_(strict), limits_(limits), base_url_(base_url) {}
  base::Result<ParsedSearch> Parse(std::string_view type, const QueryParams& params);

 private:
  base::Status ParseCondition(const std::string& type, std::string_view name,
                              std::string_view value, store::SearchSpec& spec, bool top_level);
  base::Status ParseHas(const std::string& type, std::string_view name, std::string_view value,
                        store::SearchSpec& spec, const std::string& where);
  base::Status ParseFilterParameter(const std::string& type, std::string_view value,
                                    store::SearchSpec& spec);
  base::Result<store::FilterNode> FilterTree(const std::string& type, const FilterExpression& e);
  base::Result<Condition> FilterCondition(const std::string& type, const FilterExpression& leaf);
  base::Status ParseValue(const fhir::SearchParamDef& def, Modifier modifier,
                          const std::string& modifier_type, std::string_view text, SearchValue& out,
                          const std::string& where);
  base::Status Ignore(std::string name, std::string why) {
    if (strict_) return Invalid(why, name);
    parsed_.ignored.push_back(name + ": " + why);
    return base::Status::Ok();
  }
  base::Status ParseInclude(const std::string& type, std::string_view name, std::string_view value,
                            bool reverse);

  bool strict_;
  SearchLimits limits_;
  std::string base_url_;
  ParsedSearch parsed_;
};

base::Status SearchParser::ParseValue(const fhir::SearchParamDef& def, Modifier modifier,
                                      const std::string& modifier_type, std::string_view text,
                                      SearchValue& out, const std::string& where) {
  SearchParamType type = modifier == Modifier::kIdentifier ? SearchParamType::kToken : def.type;
  switch (type) {
    case SearchParamType::kToken: {
      if (modifier == Modifier::kOfType) {
        auto parts = SplitEscaped(text, '|');
        if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[2].empty()) {
          return Invalid(":of-type takes type-system|type-code|value", where);
        }
        out.system = parts[0] + "|" + parts[1];
        out.system_given = true;
        out.code = parts[2];
        return base::Status::Ok();
      }
      if (modifier == Modifier::kText) {
        out.text = Unescape(text);
        return base::Status::Ok();
      }
      if (modifier == Modifier::kIn || modifier == Modifier::kNotIn) {
        out.text = Unescape(text);  // the ValueSet: a canonical URL or ValueSet/id
        return base::Status::Ok();
      }
      size_t bar = FindBar(text);
      if (bar == std::string_view::npos) {
        out.code = Unescape(text);
        out.code_given = true;
      } else {
        out.system_given = true;
        out.system = Unescape(text.substr(0, bar));
        out.code = Unescape(text.substr(bar + 1));
        out.code_given = !out.code.empty();
        if (out.system.empty() && out.code.empty()) return Invalid("an empty token", where);
      }
      if ((modifier == Modifier::kAbove || modifier == Modifier::kBelow) &&
          (out.system.empty() || out.code.empty())) {
        return Invalid(":above and :below on a token take system|code", where);
      }
      return base::Status::Ok();
    }
    case SearchParamType::kString:
    case SearchParamType::kUri:
      out.text = Unescape(text);
      return base::Status::Ok();
    case SearchParamType::kDate: {
      out.prefix = TakePrefix(text);
      auto range = fhir::ParseFhirDate(text);
      if (!range.ok()) {
        return Invalid("'" + std::string(text) + "' is not a valid date: " + range.error().message,
                       where);
      }
      out.low_ms = range->low_ms;
      out.high_ms = range->high_ms;
      return base::Status::Ok();
    }
    case SearchParamType::kNumber:
      out.prefix = TakePrefix(text);
      return ParseNumber(Unescape(text), out, where);
    case SearchParamType::kQuantity: {
      out.prefix = TakePrefix(text);
      auto parts = SplitEscaped(text, '|');
      if (parts.size() != 1 && parts.size() != 3) {
        return Invalid("a quantity is number, number|system|code or number||code", where);
      }
      CR_RETURN_IF_ERROR(ParseNumber(parts[0], out, where));
      if (parts.size() == 3) {
        out.system = parts[1];
        out.system_given = !parts[1].empty();
        out.code = parts[2];
      }
      return base::Status::Ok();
    }
    case SearchParamType::kReference: {
      std::string value = Unescape(text);
      out.target_type = modifier_type;
      if (value.find("://") != std::string::npos || value.rfind("urn:", 0) == 0) {
        // An absolute reference: local when it is on this server's base, else kept whole.
        bool local = !base_url_.empty() && value.rfind(base_url_ + "/", 0) == 0;
        auto parsed =
            local ? fhir::ParseReference(value.substr(base_url_.size() + 1)) : std::nullopt;
        if (parsed && fhir::IsResourceType(parsed->type)) {
          out.target_type = parsed->type;
          out.target_id = parsed->id;
        } else {
          out.target_id = value;
        }
        return base::Status::Ok();
      }
      size_t slash = value.find('/');
      if (slash != std::string::npos) {
        out.target_type = value.substr(0, slash);
        std::string rest = value.substr(slash + 1);
        out.target_id = rest.substr(0, rest.find('/'));  // drops /_history/n
        if (!fhir::IsResourceType(out.target_type)) {
          return Invalid("'" + out.target_type + "' is not a resource type", where);
        }
      } else {
        out.target_id = value;
      }
      if (out.target_id.empty()) return Invalid("an empty reference", where);
      if (!out.target_type.empty() && !def.targets.empty()) {
        bool allowed = false;
        for (const auto& t : def.targets) allowed = allowed || t == out.target_type;
        if (!allowed) {
          return Invalid(def.code + " cannot refer to a " + out.target_type, where);
        }
      }
      return base::Status::Ok();
    }
    case SearchParamType::kSpecial:
      if (def.code == "near") return ParseNear(text, out, where);
      break;
    case SearchParamType::kComposite: {
      // code$value: each part is a value of the component's own parameter.
      std::vector<std::string_view> parts = SplitKeepingEscapes(text, '$');
      if (parts.size() != def.components.size()) {
        std::string names;
        for (const fhir::SearchParamDef* component : def.components) {
          names += (names.empty() ? "" : "$") + component->code;
        }
        return Invalid(def.code + " takes " + std::to_string(def.components.size()) +
                           " values separated by '$': " + names,
                       where);
      }
      for (size_t i = 0; i < parts.size(); ++i) {
        SearchValue& part = out.components.emplace_back();
        CR_RETURN_IF_ERROR(ParseValue(*def.components[i], Modifier::kNone, {}, parts[i], part,
                                      where + " (" + def.components[i]->code + ")"));
      }
      return base::Status::Ok();
    }
    default:
      break;
  }
  return Invalid("parameters of type " + std::string(fhir::SearchParamTypeName(def.type)) +
                     " are not supported",
                 where);
}

base::Status SearchParser::ParseCondition(const std::string& type, std::string_view name,
                                          std::string_view value, store::SearchSpec& spec,
                                          bool top_level) {
  std::string where(name);
  // name[:modifier][.chain]
  std::string_view head = name;
  std::string_view chain;
  size_t dot = name.find('.');
  if (dot != std::string_view::npos) {
    head = name.substr(0, dot);
    chain = name.substr(dot + 1);
  }
  std::string_view code = head;
  std::string_view modifier_text;
  size_t colon = head.find(':');
  if (colon != std::string_view::npos) {
    code = head.substr(0, colon);
    modifier_text = head.substr(colon + 1);
  }

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
  const fhir::SearchParamDef* def = condition.param;
  SearchParamType param_type = def ? def->type
                               : condition.special == Condition::Special::kId
                                   ? SearchParamType::kToken
                               : condition.special == Condition::Special::kLastUpdated
                                   ? SearchParamType::kDate
                                   : SearchParamType::kSpecial;  // _text, _content: no modifiers

  std::string modifier_type;
  if (!modifier_text.empty()) {
    std::string m(modifier_text);
    auto bad = [&] {
      return Invalid("the modifier :" + m + " does not apply to " + std::string(code), where);
    };
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
      return Ignore(where, "the modifier :" + m + " is not supported by this server");
    } else {
      return bad();
    }
  }

  if (condition.modifier == Modifier::kMissing) {
    if (value != "true" && value != "false") {
      return Invalid(":missing takes true or false", where);
    }
    condition.missing = value == "true";
    if (!def) return Ignore(where, ":missing is not supported on " + std::string(code));
    spec.conditions.push_back(std::move(condition));
    return base::Status::Ok();
  }

  if (!chain.empty()) {
    if (param_type != SearchParamType::kReference) {
      return Invalid("only reference parameters can be chained", where);
    }
    if (std::count(name.begin(), name.end(), '.') > kMaxChainLinks) {
      return Invalid(
          "a chain of more than " + std::to_string(kMaxChainLinks) + " references is not searched",
          where);
    }
    // patient.identifier=X: the inner search runs on the target type.
    auto target = ChainTarget(*def, modifier_type, chain, where);
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

  std::vector<std::string> parts = SplitValues(value);
  constexpr size_t kMaxValues = 500;  // each value is one OR term of the query
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
      CR_RETURN_IF_ERROR(ParseValue(*def, condition.modifier, modifier_type, part, v, where));
    }
    condition.values.push_back(std::move(v));
  }
  spec.conditions.push_back(std::move(condition));
  if (top_level) parsed_.applied.emplace_back(std::string(name), std::string(value));
  return base::Status::Ok();
}

// _has:Observation:patient:code=X, nested to any depth: the inner search runs on the referring
// type, and its matches' references by the named parameter are the matches of this condition.
// The type of the parameter a _filter path (subject:Patient.name) ends on.
base::Result<SearchParamType> FilterPathType(std::string type, std::string_view path) {
  for (int links = 0;; ++links) {
    if (links > kMaxChainLinks) {
      return Invalid("_filter: " + std::string(path.substr(0, 64)) + " chains more than " +
                         std::to_string(kMaxChainLinks) + " references",
                     "_filter");
    }
    const size_t dot = path.find('.');
    std::string_view segment = path.substr(0, dot);
    std::string_view code = segment.substr(0, segment.find(':'));
    const bool last = dot == std::string_view::npos;
    if (last && segment.size() > code.size()) {
      return Invalid("_filter: the operator says how " + std::string(code) +
                         " is compared; a modifier is not used with it",
                     "_filter");
    }
    if (last && code == "_id") return SearchParamType::kToken;
    if (last && code == "_lastUpdated") return SearchParamType::kDate;
    const fhir::SearchParamDef* def = fhir::FindSearchParam(type, code);
    if (def == nullptr || !def->indexed) {
      return Invalid("_filter: '" + std::string(code) + "' is not a search parameter of " + type +
                         " that this server supports",
                     "_filter");
    }
    if (last) return def->type;
    if (def->type != SearchParamType::kReference) {
      return Invalid("_filter: only reference parameters can be chained, not " + def->code,
                     "_filter");
    }
    auto target = ChainTarget(*def, segment.substr(std::min(segment.size(), code.size() + 1)),
                              path.substr(dot + 1), "_filter");
    if (!target.ok()) return target.error();
    type = std::move(target).value();
    path.remove_prefix(dot + 1);
  }
}

base::Result<Condition> SearchParser::FilterCondition(const std::string& type,
                                                      const FilterExpression& leaf) {
  auto path_type = FilterPathType(type, leaf.path);
  if (!path_type.ok()) return path_type.error();
  auto parameter = FilterLeafAsParameter(leaf, *path_type);
  if (!parameter.ok()) return parameter.error();
  store::SearchSpec one;
  one.type = type;
  CR_RETURN_IF_ERROR(ParseCondition(type, parameter->name, parameter->value, one, false));
  if (one.conditions.size() != 1) {
    return Invalid("_filter: " + leaf.path + " " + leaf.op + " cannot be searched here", "_filter");
  }
  Condition& condition = one.conditions.front();
  // eq on a string is the whole value, as case- and accent-insensitive as any string search
  // (given eq "peter" finds Peter); in a chain, on the innermost condition.
  if (leaf.op == "eq" && *path_type == SearchParamType::kString) {
    Condition* innermost = &condition;
    while (!innermost->values.empty() && innermost->values.front().chain) {
      innermost = &innermost->values.front().chain->conditions.front();
    }
    innermost->modifier = Modifier::kEquals;
  }
  return std::move(condition);
}

base::Result<store::FilterNode> SearchParser::FilterTree(const std::string& type,
                                                         const FilterExpression& e) {
  store::FilterNode node;
  if (e.kind == FilterExpression::Kind::kLeaf) {
    auto condition = FilterCondition(type, e);
    if (!condition.ok()) return condition.error();
    node.condition.push_back(std::move(condition).value());
    return node;
  }
  node.kind = e.kind == FilterExpression::Kind::kAnd  ? store::FilterNode::Kind::kAnd
              : e.kind == FilterExpression::Kind::kOr ? store::FilterNode::Kind::kOr
                                                      : store::FilterNode::Kind::kNot;
  for (const FilterExpression& child : e.children) {
    auto subtree = FilterTree(type, child);
    if (!subtree.ok()) return subtree.error();
    node.children.push_back(std::move(subtree).value());
  }
  return node;
}

// A top-level `and` becomes ordinary conditions, so its parts can drive the search; or / not
// parts become one condition each holding their tree.
base::Status SearchParser::ParseFilterParameter(const std::string& type, std::string_view value,
                                                store::SearchSpec& spec) {
  auto expression = ParseFilter(value);
  if (!expression.ok()) return expression.error();
  std::vector<const FilterExpression*> parts;
  if (expression->kind == FilterExpression::Kind::kAnd) {
    for (const FilterExpression& child : expression->children) parts.push_back(&child);
  } else {
    parts.push_back(&*expression);
  }
  for (const FilterExpression* part : parts) {
    if (part->kind == FilterExpression::Kind::kLeaf) {
      auto condition = FilterCondition(type, *part);
      if (!condition.ok()) return condition.error();
      spec.conditions.push_back(std::move(condition).value());
      continue;
    }
    auto tree = FilterTree(type, *part);
    if (!tree.ok()) return tree.error();
    Condition condition;
    condition.special = Condition::Special::kFilter;
    condition.filter = std::make_shared<store::FilterNode>(std::move(tree).value());
    spec.conditions.push_back(std::move(condition));
  }
  parsed_.applied.emplace_back("_filter", std::string(value));
  return base::Status::Ok();
}

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

base::Status SearchParser::ParseInclude(const std::string& type, std::string_view name,
                                        std::string_view value, bool reverse) {
  std::string where(name);
  store::IncludeSpec include;
  include.reverse = reverse;
  std::string_view modifier =
      name.substr(name.find(':') == std::string_view::npos ? name.size() : name.find(':') + 1);
  if (!modifier.empty()) {
    if (modifier != "iterate" && modifier != "recurse") {
      return Invalid("unknown modifier :" + std::string(modifier), where);
    }
    include.iterate = true;
  }
  auto parts = SplitEscaped(value, ':');
  if (parts.size() < 2 || parts.size() > 3) {
    return Invalid("expected SourceType:parameter[:TargetType], got '" + std::string(value) + "'",
                   where);
  }
  include.source_type = parts[0];
  if (!fhir::IsResourceType(include.source_type)) {
    return Invalid("'" + include.source_type + "' is not a resource type", where);
  }
  if (!reverse && !include.iterate && include.source_type != type) {
    return Invalid(
        "_include must start with the searched type " + type + " (or use _include:iterate)", where);
  }
  if (parts[1] != "*") {
    include.param = fhir::FindSearchParam(include.source_type, parts[1]);
    if (!include.param || include.param->type != SearchParamType::kReference) {
      return Invalid("'" + parts[1] + "' is not a reference parameter of " + include.source_type,
                     where);
    }
  }
  if (parts.size() == 3) {
    include.target_type = parts[2];
    if (!fhir::IsResourceType(include.target_type)) {
      return Invalid("'" + include.target_type + "' is not a resource type", where);
    }
  }
  parsed_.spec.includes.push_back(std::move(include));
  parsed_.applied.emplace_back(where, std::string(value));
  return base::Status::Ok();
}

base::Result<ParsedSearch> SearchParser::Parse(std::string_view type_view,
                                               const QueryParams& params) {
  std::string type(type_view);
  store::SearchSpec& spec = parsed_.spec;
  spec.type = type;
  spec.count = limits_.default_count;
  for (const auto& [name, value] : params) {
    if (name == "_count") {
      size_t count = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), count);
      if (ec != std::errc() || end != value.data() + value.size()) {
        return Invalid("_count must be a whole number, got '" + value + "'", "_count");
      }
      spec.count = std::min(count, limits_.max_count);
      if (spec.count == 0) spec.count_only = true;
      parsed_.applied.emplace_back(name, std::to_string(spec.count));
    } else if (name == "_sort") {
      for (std::string key : SplitEscaped(value, ',')) {
        store::SortKey sort;
        if (!key.empty() && key[0] == '-') {
          sort.descending = true;
          key.erase(0, 1);
        }
        if (key == "_id") {
          sort.special = store::SortKey::Special::kId;
        } else if (key == "_lastUpdated") {
          sort.special = store::SortKey::Special::kLastUpdated;
        } else {
          sort.param = fhir::FindSearchParam(type, key);
          if (!sort.param || !sort.param->indexed) {
            return Invalid("cannot sort " + type + " by '" + key + "'", "_sort");
          }
        }
        spec.sort.push_back(sort);
      }
      parsed_.applied.emplace_back(name, value);
    } else if (name == "_include" || name.rfind("_include:", 0) == 0) {
      CR_RETURN_IF_ERROR(ParseInclude(type, name, value, false));
    } else if (name == "_revinclude" || name.rfind("_revinclude:", 0) == 0) {
      CR_RETURN_IF_ERROR(ParseInclude(type, name, value, true));
    } else if (name == "_summary") {
      static const std::pair<const char*, SummaryMode> kModes[] = {{"true", SummaryMode::kTrue},
                                                                   {"false", SummaryMode::kFalse},
                                                                   {"text", SummaryMode::kText},
                                                                   {"data", SummaryMode::kData},
                                                                   {"count", SummaryMode::kCount}};
      bool found = false;
      for (const auto& [text, mode] : kModes) {
        if (value == text) {
          parsed_.summary = mode;
          found = true;
        }
      }
      if (!found) return Invalid("_summary is one of true, false, text, data, count", "_summary");
      if (parsed_.summary == SummaryMode::kCount) {
        spec.count_only = true;
        spec.total = store::TotalMode::kAccurate;
      }
      parsed_.applied.emplace_back(name, value);
    } else if (name == "_elements") {
      for (const std::string& element : SplitEscaped(value, ',')) {
        if (!element.empty()) parsed_.elements.push_back(element);
      }
      parsed_.applied.emplace_back(name, value);
    } else if (name == "_total") {
      if (value == "accurate" || value == "estimate") {
        spec.total = store::TotalMode::kAccurate;
      } else if (value != "none") {
        return Invalid("_total is one of none, estimate, accurate", "_total");
      }
      parsed_.applied.emplace_back(name, value);
    } else if (name == "_cursor") {
      spec.cursor = value;
    } else if (name == "_format" || name == "_pretty") {
      // Content negotiation happens in the HTTP layer; JSON is the only format.
    } else if (name == "_has" || name.rfind("_has:", 0) == 0) {
      if (CountOccurrences(name, "_has:") > kMaxHasLinks) {
        return Invalid(
            "a _has nested more than " + std::to_string(kMaxHasLinks) + " deep is not searched",
            std::string(name.substr(0, 64)));
      }
      size_t before = parsed_.spec.conditions.size();
      CR_RETURN_IF_ERROR(ParseHas(type, name, value, spec, name));
      if (spec.conditions.size() > before) parsed_.applied.emplace_back(name, value);
    } else if (name == "_filter") {
      CR_RETURN_IF_ERROR(ParseFilterParameter(type, value, spec));
    } else if (name == "_contained" || name == "_containedType" || name == "_list" ||
               name == "_query" || name == "_type") {
      CR_RETURN_IF_ERROR(Ignore(name, name + " is not supported by this server"));
    } else {
      CR_RETURN_IF_ERROR(ParseCondition(type, name, value, spec, true));
    }
  }
  if (spec.count_only) spec.total = store::TotalMode::kAccurate;
  return std::move(parsed_);
}

}  // namespace

QueryParams DecodeQuery(std::string_view query) {
  QueryParams out;
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  std::string with_mark = "?" + std::string(query);
  auto parsed = boost::urls::parse_uri_reference(with_mark);
  if (!parsed) {
    // Not a valid URL query: fall back to splitting on & and = without decoding.
    size_t start = 0;
    while (start <= query.size()) {
      size_t amp = query.find('&', start);
      std::string_view pair =
          query.substr(start, amp == std::string_view::npos ? amp : amp - start);
      if (!pair.empty()) {
        size_t eq = pair.find('=');
        out.emplace_back(std::string(pair.substr(0, eq)),
                         eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1)));
      }
      if (amp == std::string_view::npos) break;
      start = amp + 1;
    }
    return out;
  }
  for (auto param : parsed->params()) {
    out.emplace_back(param.key, param.has_value ? param.value : std::string());
  }
  return out;
}

std::string EncodeQuery(const QueryParams& params) {
  static constexpr auto kSafe = boost::urls::unreserved_chars + ':' + ',' + '|' + '/' + '$';
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += boost::urls::encode(name, kSafe);
    out += '=';
    out += boost::urls::encode(value, kSafe);
  }
  return out;
}

base::Result<ParsedSearch> ParseSearch(std::string_view resource_type, const QueryParams& params,
                                       bool strict, const SearchLimits& limits,
                                       std::string_view base_url) {
  SearchParser parser(strict, limits, base_url);
  return parser.Parse(resource_type, params);
}

}  // namespace carerecord::interactions
