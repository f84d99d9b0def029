// The R4 search parameters and patient compartment, from tables generated out of the official
// definitions (tools/gen_fhir_tables.py). Immutable after static initialisation; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace carerecord::fhir {

enum class SearchParamType {
  kNumber,
  kDate,
  kString,
  kToken,
  kReference,
  kComposite,
  kQuantity,
  kUri,
  kSpecial
};

std::string_view SearchParamTypeName(SearchParamType type);

// One search parameter as it applies to one resource type.
struct SearchParamDef {
  uint32_t id;                // stable within a build: index into AllSearchParams()
  std::string resource_type;  // "Observation"; "Resource" for _id, _lastUpdated, ...
  std::string code;           // "patient"
  SearchParamType type;
  std::string expression;            // the FHIRPath terms for this resource type, as published
  std::vector<std::string> targets;  // reference targets ("Patient", ...)
  bool indexed;                      // false when the expression could not be compiled
  // _id and _lastUpdated: answered from the store's own columns, never from index entries.
  bool handled_by_store = false;
  bool single_valued = false;  // at most one value per resource (generated from the schema)
  // When this parameter's expression is exactly the union of others' (Observation combo-code =
  // code | component-code), it is not indexed itself: a search on it reads theirs.
  std::vector<const SearchParamDef*> union_of;
  // A composite parameter's components, in order: each one's own parameter (Observation
  // code-value-quantity: code, value-quantity), which gives the type its value part parses as.
  std::vector<const SearchParamDef*> components;
  std::string component_expressions;  // ';'-separated, as compiled; tells composite unions apart
};

// True for a parameter whose rows are its union_of parameters' (see SearchParamDef::union_of).
bool IsUnionParam(uint32_t param_id);

// Every resource type R4 defines, sorted.
std::span<const std::string> AllResourceTypes();
bool IsResourceType(std::string_view type);

std::span<const SearchParamDef> AllSearchParams();
// The parameter `code` of `resource_type`, or nullptr. Looks in the type's own parameters first,
// then in the common ones (Resource, DomainResource).
const SearchParamDef* FindSearchParam(std::string_view resource_type, std::string_view code);
// The parameters of one resource type (own and common), for the CapabilityStatement.
std::vector<const SearchParamDef*> SearchParamsOf(std::string_view resource_type);

// Changes whenever the generated search tables change (a new parameter, a different path), so a
// store can tell that its indexes were written by other tables.
std::string_view SearchTablesFingerprint();

// The patient compartment: the parameters that put a resource of `resource_type` in a patient's
// compartment (e.g. Observation: subject, performer). Empty when the type is not in it.
std::span<const std::string> PatientCompartmentParams(std::string_view resource_type);

}  // namespace carerecord::fhir
