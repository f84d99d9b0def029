#include "fhir/sealing_facts.h"

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include "fhir/category_facts.h"
#include "fhir/json_number.h"
#include "fhir/patient_facts.h"

namespace carerecord::fhir {
namespace {

namespace json = boost::json;

std::string_view TextOf(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  const json::string* text = value ? IfText(*value) : nullptr;
  return text ? std::string_view(*text) : std::string_view();
}

void AddCodings(const json::value* codings, char kind, std::string& out) {
  if (!codings || !codings->is_array()) return;
  for (const json::value& coding : codings->get_array()) {
    if (!coding.is_object()) continue;
    std::string_view system = TextOf(coding.get_object(), "system");
    std::string_view code = TextOf(coding.get_object(), "code");
    if (code.empty() || code.find('\n') != std::string_view::npos ||
        system.find_first_of("|\n") != std::string_view::npos) {
      continue;
    }
    out += kind;
    out.append(system);
    out += '|';
    out.append(code);
    out += '\n';
  }
}

bool HasLine(std::string_view facts, char kind, std::string_view system, std::string_view code) {
  while (!facts.empty()) {
    size_t end = facts.find('\n');
    std::string_view line = facts.substr(0, end);
    facts.remove_prefix(end == std::string_view::npos ? facts.size() : end + 1);
    if (line.size() != 2 + system.size() + code.size() || line[0] != kind) continue;
    if (line.substr(1, system.size()) == system && line[1 + system.size()] == '|' &&
        line.substr(2 + system.size()) == code) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string EncodeSealingFacts(const json::object& resource) {
  std::string out;
  if (const json::value* meta = resource.if_contains("meta"); meta && meta->is_object()) {
    AddCodings(meta->get_object().if_contains("security"), 'S', out);
  }
  if (const json::value* code = resource.if_contains("code"); code && code->is_object()) {
    AddCodings(code->get_object().if_contains("coding"), 'C', out);
  }
  // Categories, for the types the policy reads by category (fhir/category_facts.h).
  const json::value* category = resource.if_contains("category");
  if (category && category->is_array() && IsCategorizedType(TextOf(resource, "resourceType"))) {
    for (const json::value& concept_value : category->get_array()) {
      if (concept_value.is_object()) {
        AddCodings(concept_value.get_object().if_contains("coding"), 'K', out);
      }
    }
  }
  // The patients an item outside the compartments names (fhir/patient_facts.h).
  if (HasPatientLines(TextOf(resource, "resourceType"))) AddPatientLines(resource, out);
  return out;
}

bool HasSecurityLabel(std::string_view facts, std::string_view system, std::string_view code) {
  return HasLine(facts, 'S', system, code);
}

bool HasCoding(std::string_view facts, std::string_view system, std::string_view code) {
  return HasLine(facts, 'C', system, code);
}

std::vector<Coding> SecurityLabels(std::string_view facts) {
  std::vector<Coding> out;
  while (!facts.empty()) {
    size_t end = facts.find('\n');
    std::string_view line = facts.substr(0, end);
    facts.remove_prefix(end == std::string_view::npos ? facts.size() : end + 1);
    if (line.empty() || line[0] != 'S') continue;
    size_t bar = line.find('|');
    if (bar == std::string_view::npos) continue;
    out.push_back({std::string(line.substr(1, bar - 1)), std::string(line.substr(bar + 1))});
  }
  return out;
}

}  // namespace carerecord::fhir
