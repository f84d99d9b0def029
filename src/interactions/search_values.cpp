#include "interactions/search_values.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>

#include "fhir/fhir_date.h"
#include "fhir/index_extraction.h"
#include "fhir/json_number.h"
#include "interactions/local_reference.h"

namespace carerecord::interactions {

using base::Invalid;
using fhir::SearchParamType;
using store::Modifier;
using store::Prefix;
using store::SearchValue;

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

namespace {

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

}  // namespace

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

namespace {

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
  // A FHIR decimal's grammar (JSON's): from_chars alone would take "nan" and "inf".
  const bool whole = end == text.data() + text.size() && fhir::IsJsonNumberText(text);
  // A well-formed number past what a double holds (1e400) is a number: say it is out of range.
  if (whole && (ec == std::errc::result_out_of_range || !std::isfinite(number))) {
    return Invalid("'" + std::string(text.substr(0, 64)) +
                       "' is out of range: a search number must lie within about 1e308",
                   where);
  }
  if (ec != std::errc() || !whole || !std::isfinite(number)) {
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

base::Status ParseTokenValue(Modifier modifier, std::string_view text, SearchValue& out,
                             const std::string& where) {
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
  if (modifier == Modifier::kText || modifier == Modifier::kIn || modifier == Modifier::kNotIn) {
    out.text = Unescape(text);  // :in, :not-in: the ValueSet, a canonical URL or ValueSet/id
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

base::Status ParseQuantityValue(std::string_view text, SearchValue& out, const std::string& where) {
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

base::Status ParseReferenceValue(const fhir::SearchParamDef& def, const std::string& modifier_type,
                                 std::string_view text, SearchValue& out, const std::string& where,
                                 std::string_view base_url) {
  std::string value = Unescape(text);
  out.target_type = modifier_type;
  if (value.find("://") != std::string::npos || value.rfind("urn:", 0) == 0) {
    // An absolute reference: local when it is on this server's base, else kept whole.
    // Compared as parsed URLs, as references are when written (LocalPathOf).
    auto local = LocalPathOf(value, base_url);
    if (!local.ok()) return Invalid(local.error().message, where);
    auto parsed =
        !base_url.empty() && local->has_value() ? fhir::ParseReference(**local) : std::nullopt;
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
  if (!out.target_type.empty() && !def.targets.empty() &&
      std::find(def.targets.begin(), def.targets.end(), out.target_type) == def.targets.end()) {
    return Invalid(def.code + " cannot refer to a " + out.target_type, where);
  }
  return base::Status::Ok();
}

// code$value: each part is a value of the component's own parameter.
base::Status ParseCompositeValue(const fhir::SearchParamDef& def, std::string_view text,
                                 SearchValue& out, const std::string& where,
                                 std::string_view base_url) {
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
                                  where + " (" + def.components[i]->code + ")", base_url));
  }
  return base::Status::Ok();
}

}  // namespace

base::Status ParseValue(const fhir::SearchParamDef& def, Modifier modifier,
                        const std::string& modifier_type, std::string_view text, SearchValue& out,
                        const std::string& where, std::string_view base_url) {
  SearchParamType type = modifier == Modifier::kIdentifier ? SearchParamType::kToken : def.type;
  switch (type) {
    case SearchParamType::kToken:
      return ParseTokenValue(modifier, text, out, where);
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
    case SearchParamType::kQuantity:
      return ParseQuantityValue(text, out, where);
    case SearchParamType::kReference:
      return ParseReferenceValue(def, modifier_type, text, out, where, base_url);
    case SearchParamType::kSpecial:
      if (def.code == "near") return ParseNear(text, out, where);
      break;
    case SearchParamType::kComposite:
      return ParseCompositeValue(def, text, out, where, base_url);
    default:
      break;
  }
  return Invalid("parameters of type " + std::string(fhir::SearchParamTypeName(def.type)) +
                     " are not supported",
                 where);
}

}  // namespace carerecord::interactions
