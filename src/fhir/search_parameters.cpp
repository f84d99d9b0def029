// Lookups over the generated tables. The tables are sorted (types by name, parameters by type
// then code), so lookups are binary searches with nothing built at startup; the SearchParamDef
// objects callers hold pointers to are built once, on first use.
#include "fhir/search_parameters.h"

#include <algorithm>

#include "fhir/generated/fhir_tables.h"

namespace carerecord::fhir {

namespace generated {

const ResourceTypeRow* FindResourceTypeRow(std::string_view name) {
  const ResourceTypeRow* begin = kResourceTypes;
  const ResourceTypeRow* end = kResourceTypes + kResourceTypeCount;
  const ResourceTypeRow* it = std::lower_bound(
      begin, end, name,
      [](const ResourceTypeRow& row, std::string_view n) { return KeyLess(row.name, n); });
  return it != end && it->name == name ? it : nullptr;
}

}  // namespace generated

namespace {

namespace gen = generated;

struct Tables {
  std::vector<std::string> resource_types;
  std::vector<SearchParamDef> params;                  // parallel to gen::kParams
  std::vector<std::vector<std::string>> compartments;  // parallel to gen::kResourceTypes
};

std::vector<std::string> SplitTargets(std::string_view targets) {
  std::vector<std::string> out;
  while (!targets.empty()) {
    const size_t bar = targets.find('|');
    out.emplace_back(targets.substr(0, bar));
    if (bar == std::string_view::npos) break;
    targets.remove_prefix(bar + 1);
  }
  return out;
}

std::vector<std::string_view> Terms(std::string_view expression) {
  std::vector<std::string_view> out;
  while (!expression.empty()) {
    size_t bar = expression.find(" | ");
    out.push_back(expression.substr(0, bar));
    if (bar == std::string_view::npos) break;
    expression.remove_prefix(bar + 3);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Marks parameters whose terms are exactly the union of other indexed parameters' terms of the
// same resource and parameter type, so their values are not indexed twice.
void FindUnions(std::vector<SearchParamDef>& params) {
  for (SearchParamDef& candidate : params) {
    if (!candidate.indexed) continue;
    std::vector<std::string_view> terms = Terms(candidate.expression);
    if (terms.size() < 2) continue;
    std::vector<const SearchParamDef*> parts;
    std::vector<std::string_view> covered;
    for (const SearchParamDef& other : params) {
      if (&other == &candidate || !other.indexed || other.type != candidate.type ||
          other.resource_type != candidate.resource_type ||
          other.component_expressions != candidate.component_expressions) {
        continue;
      }
      std::vector<std::string_view> other_terms = Terms(other.expression);
      if (other_terms.empty() || other_terms.size() >= terms.size() ||
          !std::includes(terms.begin(), terms.end(), other_terms.begin(), other_terms.end())) {
        continue;
      }
      parts.push_back(&other);
      covered.insert(covered.end(), other_terms.begin(), other_terms.end());
    }
    std::sort(covered.begin(), covered.end());
    covered.erase(std::unique(covered.begin(), covered.end()), covered.end());
    if (!parts.empty() && covered == terms) candidate.union_of = std::move(parts);
  }
}

// The parameter `code` within a run of kParams (sorted by code within one type), or -1.
int FindInRange(uint16_t first, uint16_t count, std::string_view code) {
  const gen::ParamRow* begin = gen::kParams + first;
  const gen::ParamRow* end = begin + count;
  const gen::ParamRow* it = std::lower_bound(
      begin, end, code,
      [](const gen::ParamRow& row, std::string_view c) { return gen::KeyLess(row.code, c); });
  return it != end && it->code == code ? static_cast<int>(it - gen::kParams) : -1;
}

Tables BuildTables() {
  Tables t;
  t.resource_types.reserve(gen::kResourceTypeCount);
  t.compartments.reserve(gen::kResourceTypeCount);
  for (size_t i = 0; i < gen::kResourceTypeCount; ++i) {
    const gen::ResourceTypeRow& row = gen::kResourceTypes[i];
    t.resource_types.emplace_back(row.name);
    std::vector<std::string>& params = t.compartments.emplace_back();
    for (uint16_t c = 0; c < row.compartment_param_count; ++c) {
      params.emplace_back(gen::kCompartmentParams[row.first_compartment_param + c]);
    }
  }
  t.params.reserve(gen::kParamCount);
  for (size_t i = 0; i < gen::kParamCount; ++i) {
    const gen::ParamRow& row = gen::kParams[i];
    t.params.push_back(SearchParamDef{
        .id = static_cast<uint32_t>(i),
        .resource_type = std::string(row.resource_type),
        .code = std::string(row.code),
        .type = static_cast<SearchParamType>(row.type),
        .expression = std::string(row.expression),
        .targets = SplitTargets(row.targets),
        .indexed = row.handling == gen::ParamHandling::kIndexed,
        .handled_by_store = row.handling == gen::ParamHandling::kByStore,
        .single_valued = row.single_valued,
        .union_of = {},
        .components = {},  // filled below, once every definition exists
        .component_expressions = std::string(row.component_expressions),
    });
  }
  for (size_t i = 0; i < gen::kParamCount; ++i) {
    SearchParamDef& def = t.params[i];
    for (const std::string& code : SplitTargets(gen::kParams[i].components)) {
      // Components are parameters of the same type, so they sit in its run of kParams.
      const gen::ResourceTypeRow* row = gen::FindResourceTypeRow(def.resource_type);
      int found = row ? FindInRange(row->first_param, row->param_count, code) : -1;
      if (found >= 0) def.components.push_back(&t.params[found]);
    }
    if (def.type == SearchParamType::kComposite && def.components.size() < 2) def.indexed = false;
  }
  FindUnions(t.params);
  return t;
}

const Tables& GetTables() {
  static const Tables tables = BuildTables();  // thread-safe initialisation
  return tables;
}

std::vector<bool> BuildUnionFlags() {
  std::vector<bool> flags;
  for (const SearchParamDef& def : GetTables().params) flags.push_back(!def.union_of.empty());
  return flags;
}

}  // namespace

bool IsUnionParam(uint32_t param_id) {
  static const std::vector<bool> flags = BuildUnionFlags();
  return param_id < flags.size() && flags[param_id];
}

std::string_view SearchParamTypeName(SearchParamType type) {
  switch (type) {
    case SearchParamType::kNumber:
      return "number";
    case SearchParamType::kDate:
      return "date";
    case SearchParamType::kString:
      return "string";
    case SearchParamType::kToken:
      return "token";
    case SearchParamType::kReference:
      return "reference";
    case SearchParamType::kComposite:
      return "composite";
    case SearchParamType::kQuantity:
      return "quantity";
    case SearchParamType::kUri:
      return "uri";
    case SearchParamType::kSpecial:
      return "special";
  }
  return "unknown";
}

std::span<const std::string> AllResourceTypes() { return GetTables().resource_types; }

bool IsResourceType(std::string_view type) { return gen::FindResourceTypeRow(type) != nullptr; }

std::span<const SearchParamDef> AllSearchParams() { return GetTables().params; }

const SearchParamDef* FindSearchParam(std::string_view resource_type, std::string_view code) {
  bool domain_resource = resource_type == "DomainResource";
  if (resource_type != "Resource" && !domain_resource) {
    const gen::ResourceTypeRow* row = gen::FindResourceTypeRow(resource_type);
    if (row == nullptr) return nullptr;
    domain_resource = row->is_domain_resource;
    if (int i = FindInRange(row->first_param, row->param_count, code); i >= 0) {
      return &GetTables().params[i];
    }
  }
  if (int i = FindInRange(gen::kResourceParams.first, gen::kResourceParams.count, code); i >= 0) {
    return &GetTables().params[i];
  }
  if (domain_resource) {
    const gen::ParamRange& common = gen::kDomainResourceParams;
    if (int i = FindInRange(common.first, common.count, code); i >= 0) {
      return &GetTables().params[i];
    }
  }
  return nullptr;
}

std::vector<const SearchParamDef*> SearchParamsOf(std::string_view resource_type) {
  std::vector<const SearchParamDef*> out;
  const gen::ResourceTypeRow* row = gen::FindResourceTypeRow(resource_type);
  if (row == nullptr) return out;
  const std::vector<SearchParamDef>& params = GetTables().params;
  auto add_range = [&](uint16_t first, uint16_t count) {
    for (uint16_t i = 0; i < count; ++i) out.push_back(&params[first + i]);
  };
  add_range(row->first_param, row->param_count);
  add_range(gen::kResourceParams.first, gen::kResourceParams.count);
  if (row->is_domain_resource) {
    add_range(gen::kDomainResourceParams.first, gen::kDomainResourceParams.count);
  }
  return out;
}

std::string_view SearchTablesFingerprint() { return gen::kSearchTablesFingerprint; }

std::span<const std::string> PatientCompartmentParams(std::string_view resource_type) {
  const gen::ResourceTypeRow* row = gen::FindResourceTypeRow(resource_type);
  if (row == nullptr) return {};
  return GetTables().compartments[row - gen::kResourceTypes];
}

}  // namespace carerecord::fhir
