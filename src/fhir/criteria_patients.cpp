#include "fhir/criteria_patients.h"

#include <algorithm>
#include <boost/url/parse_query.hpp>
#include <cctype>

#include "fhir/index_extraction.h"
#include "fhir/resource_validation.h"
#include "fhir/search_parameters.h"

namespace carerecord::fhir {
namespace {

// A chain may go through parameters that point at any type (Composition.subject): each link
// tries every target, so the work is bounded, and a search past the bound is unresolved.
constexpr int kMaxSteps = 20'000;
constexpr int kMaxDepth = 6;

bool MayPointAtPatient(const std::vector<std::string>& targets) {
  return std::find(targets.begin(), targets.end(), "Patient") != targets.end();
}

class CriteriaReader {
 public:
  SearchedPatients out;

  void AddId(std::string_view id) {
    if (std::find(out.ids.begin(), out.ids.end(), id) == out.ids.end()) out.ids.emplace_back(id);
  }

  // Reads one parameter `key` = `values` of a search on `type`. False when `type` has no such
  // parameter (one target of a chain that cannot continue there).
  bool Param(std::string_view type, std::string_view key, std::string_view values, int depth) {
    if (++steps_ > kMaxSteps || depth > kMaxDepth) {
      out.unresolved = true;
      return true;
    }
    if (key.starts_with("_has:")) return ReverseChain(key.substr(5), values, depth);
    const size_t dot = key.find('.');
    const std::string_view link = key.substr(0, dot);
    const std::string_view rest =
        dot == std::string_view::npos ? std::string_view() : key.substr(dot + 1);
    const size_t colon = link.find(':');
    const std::string_view name = link.substr(0, colon);
    const std::string_view modifier =
        colon == std::string_view::npos ? std::string_view() : link.substr(colon + 1);
    if (name == "_id") {
      if (!rest.empty()) {
        out.unresolved = true;
      } else if (type == "Patient" && modifier != "missing") {
        EachValue(values, [&](std::string_view value) { Identify(value); });
      }
      return true;
    }
    if (name == "_filter" || name == "_query") {
      out.unresolved = true;  // can say `patient eq ID`, or anything: not read here
      return true;
    }
    if (name.starts_with('_')) {
      // Result and common parameters (_count, _sort, _include, _lastUpdated, _tag, ...); free
      // text on a Patient search may select one person by name.
      if (type == "Patient" && (name == "_text" || name == "_content")) out.unresolved = true;
      return true;
    }
    const SearchParamDef* def = FindSearchParam(type, name);
    if (def == nullptr) return false;
    if (type == "Patient") {
      // A Patient search by a name, an identifier, a birth date, a link, an address...: it may
      // select one person, whom no record names.
      out.unresolved = true;
      return true;
    }
    if (def->type != SearchParamType::kReference) {
      if (!rest.empty()) out.unresolved = true;  // a chain through what is no reference
      return true;
    }
    std::vector<std::string> targets = def->targets;
    if (!modifier.empty()) {
      if (IsResourceType(modifier)) {
        targets.assign(1, std::string(modifier));
      } else if (modifier == "identifier") {
        if (MayPointAtPatient(targets)) out.unresolved = true;
        return true;
      } else if (modifier == "missing") {
        return true;
      }
    }
    if (rest.empty()) {
      const bool patient = MayPointAtPatient(targets);
      EachValue(values, [&](std::string_view value) {
        if (auto parsed = ParseReference(value)) {
          if (parsed->type == "Patient") AddId(parsed->id);
        } else if (patient) {
          Identify(value);
        }
      });
      return true;
    }
    bool known = false;
    for (const std::string& target : targets) {
      known = Param(target, rest, values, depth + 1) || known;
      if (steps_ > kMaxSteps) break;
    }
    if (!known) out.unresolved = true;  // no target has the next link: not a search read here
    return true;
  }

 private:
  // "_has:Type:reference:rest": the rest is a parameter of Type.
  bool ReverseChain(std::string_view has, std::string_view values, int depth) {
    const size_t first = has.find(':');
    const size_t second = first == std::string_view::npos ? first : has.find(':', first + 1);
    if (second == std::string_view::npos || !IsResourceType(has.substr(0, first))) {
      out.unresolved = true;
      return true;
    }
    const std::string_view type = has.substr(0, first);
    if (!Param(type, has.substr(second + 1), values, depth + 1)) out.unresolved = true;
    return true;
  }

  // A value that should be a Patient id (or a reference to one).
  void Identify(std::string_view value) {
    if (auto parsed = ParseReference(value)) {
      if (parsed->type == "Patient") AddId(parsed->id);
    } else if (IsValidId(value)) {
      AddId(value);
    } else if (!value.empty()) {
      out.unresolved = true;
    }
  }

  template <typename Visit>
  static void EachValue(std::string_view values, Visit&& visit) {
    while (!values.empty()) {
      const size_t comma = values.find(',');
      visit(values.substr(0, comma));
      values = comma == std::string_view::npos ? std::string_view() : values.substr(comma + 1);
    }
  }

  int steps_ = 0;
};

// Criteria are written as FHIR shows searches, with characters RFC 3986 does not allow in a query
// left as they are (`code=http://loinc.org|8867-4`, a space): those are escaped before Boost.URL
// reads the query, as is a '%' that begins no escape. What was escaped decodes to itself.
std::string EscapeForQuery(std::string_view query) {
  constexpr std::string_view kAllowed = "-._~!$&'()*+,;=:@/?";
  constexpr char kHex[] = "0123456789ABCDEF";
  const auto is_hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  std::string out;
  out.reserve(query.size());
  for (size_t i = 0; i < query.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(query[i]);
    const bool escape_start =
        c == '%' && i + 2 < query.size() && is_hex(query[i + 1]) && is_hex(query[i + 2]);
    const bool alphanumeric =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alphanumeric || kAllowed.find(static_cast<char>(c)) != std::string_view::npos ||
        escape_start) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

SearchedPatients PatientsSearchedBy(std::string_view criteria) {
  CriteriaReader reader;
  const size_t question = criteria.find('?');
  const std::string_view path = criteria.substr(0, question);
  if (auto parsed = ParseReference(path)) {  // a read ("Patient/ID"), not a search
    if (parsed->type == "Patient") reader.AddId(parsed->id);
    return std::move(reader.out);
  }
  const std::string_view type = path.substr(path.rfind('/') + 1);
  if (question == std::string_view::npos || question + 1 == criteria.size()) {
    if (!IsResourceType(type)) reader.out.unresolved = true;
    return std::move(reader.out);  // a whole type
  }
  const std::string query = EscapeForQuery(criteria.substr(question + 1));
  auto params = boost::urls::parse_query(query);
  if (!params || !IsResourceType(type)) {
    reader.out.unresolved = true;
    return std::move(reader.out);
  }
  for (const auto& param : *params) {
    const std::string key = param.key.decode();
    const std::string value = param.has_value ? param.value.decode() : std::string();
    // A literal Patient reference names its patient whatever the parameter.
    std::string_view values = value;
    while (!values.empty()) {
      const size_t comma = values.find(',');
      if (auto parsed = ParseReference(values.substr(0, comma));
          parsed && parsed->type == "Patient") {
        reader.AddId(parsed->id);
      }
      values = comma == std::string_view::npos ? std::string_view() : values.substr(comma + 1);
    }
    if (!reader.Param(type, key, value, 0)) reader.out.unresolved = true;
  }
  return std::move(reader.out);
}

}  // namespace carerecord::fhir
