// Turns a resource into the search index entries of every indexed parameter of its type, by
// evaluating the compiled search parameter paths. Pure; thread-safe.
#pragma once

#include <boost/json/fwd.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace carerecord::fhir {

struct TokenEntry {
  uint32_t param_id;
  std::string system;  // empty when the value has none (a code, a boolean)
  std::string code;    // the code, identifier value, "true"/"false", contact point value
  std::string text;    // display / CodeableConcept.text / Identifier.type.text, for :text
  // An identifier's type, for :of-type: then `system` is "type-system|type-code" and `code` the
  // identifier's value, kept apart from the parameter's plain tokens.
  bool of_type = false;
};
struct StringEntry {
  uint32_t param_id;
  std::string value;  // as written (for :exact); the store normalises for the default match
};
struct DateEntry {
  uint32_t param_id;
  int64_t low_ms;   // inclusive; INT64_MIN when open
  int64_t high_ms;  // exclusive; INT64_MAX when open
};
struct NumberEntry {
  uint32_t param_id;
  double value;
};
struct QuantityEntry {
  uint32_t param_id;
  double value;
  std::string system;
  std::string code;
  std::string unit;
};
struct ReferenceEntry {
  uint32_t param_id;
  std::string target_type;  // "Patient"; empty for an absolute URL we cannot split
  std::string target_id;    // "123"; or the whole URL when not a local reference
};
struct UriEntry {
  uint32_t param_id;
  std::string value;
};

// One value of a composite parameter: its components read from the same element (Observation
// code-value-quantity: the code and the value of one Observation, or of one of its components).
struct CompositeEntry {
  uint32_t param_id;
  // The first component: a token's system and code, or a reference as "Type/id" or its URL.
  std::string key_system;
  std::string key;
  // The second: a token's system and code; a quantity's value (low = high) with its unit's
  // system and code (or, without a code, its unit); a number (low = high); a date's range in ms
  // (high exclusive); a string as written, in `code`.
  std::string system;
  std::string code;
  double low = 0;
  double high = 0;
  // The third, where there is one (a number; MolecularSequence's coordinates).
  double low2 = 0;
  double high2 = 0;
};

struct IndexEntries {
  std::vector<TokenEntry> tokens;
  std::vector<StringEntry> strings;
  std::vector<DateEntry> dates;
  std::vector<NumberEntry> numbers;
  std::vector<QuantityEntry> quantities;
  std::vector<ReferenceEntry> references;
  std::vector<UriEntry> uris;
  std::vector<CompositeEntry> composites;
};

// Index entries one resource may have: the single writer inserts each as a B-tree row, so one
// resource with hundreds of thousands (90,000 given names: 270,000 rows, about half a second of
// the writer) stalls every other write. The largest Synthea resource at hand has 2,691.
inline constexpr size_t kMaxIndexEntries = 20'000;

size_t IndexEntryCount(const IndexEntries& entries);

// `resource` is a whole resource whose resourceType is `resource_type`. Values that do not parse
// (a malformed date) are skipped, not errors: validation rejects them before this is called.
IndexEntries ExtractIndexEntries(const boost::json::object& resource,
                                 std::string_view resource_type);

// Splits a reference string ("Patient/123", "Patient/123/_history/2", "http://x/fhir/Patient/1",
// "urn:uuid:...") into type and id when it is a relative or matching absolute reference.
struct ParsedReference {
  std::string type;
  std::string id;
  std::string version;  // empty when none
};
std::optional<ParsedReference> ParseReference(std::string_view reference);

}  // namespace carerecord::fhir
