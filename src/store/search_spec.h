// A search compiled to the store's terms: conditions on indexed parameters with typed values,
// sort, paging and includes. Built by the FHIR search layer; executed by a Store backend.
// Plain values.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/search_parameters.h"
#include "store/token_set.h"

namespace carerecord::store {

// Comparison prefixes of number, date and quantity parameters.
enum class Prefix { kEq, kNe, kGt, kLt, kGe, kLe, kSa, kEb, kAp };

enum class Modifier {
  kNone,
  kMissing,     // value "true"/"false" in missing
  kExact,       // string
  kEquals,      // string, _filter's eq: the whole value, case- and accent-insensitive
  kContains,    // string
  kText,        // token: search the display/text
  kNot,         // token
  kIdentifier,  // reference:identifier
  kOfType,      // token (Identifier) :of-type=type-system|type-code|value
  kType,        // reference:[Type]
  kBelow,       // uri; token: the code and its descendants (value.codes holds them)
  kAbove,       // uri; token: the code and its ancestors (value.codes holds them)
  kIn,          // token: a code of the ValueSet (value.codes holds its expansion)
  kNotIn,       // token: no code of the ValueSet (the :not of kIn)
};

struct SearchSpec;

// One value of a condition; which fields are used depends on the parameter type.
struct SearchValue {
  Prefix prefix = Prefix::kEq;
  // token: system/code; system_given distinguishes "|code" (no system) from "code" (any system)
  std::string system;
  std::string code;
  bool system_given = false;
  bool code_given = true;
  // token :in/:not-in/:above/:below: what the FHIR layer expanded the value to from terminology
  // stored in the server (the store never expands it); for :in, `text` is the ValueSet.
  std::shared_ptr<const TokenSet> codes;
  // string, uri, token :text, reference by URL
  std::string text;
  // date: the range the value covers
  int64_t low_ms = 0;
  int64_t high_ms = 0;
  // number, quantity
  double number = 0;
  double number_low = 0;  // the range implied by the value's precision (for eq / ap)
  double number_high = 0;
  // reference: local target
  std::string target_type;  // may be empty: any type
  std::string target_id;
  // reference chain: the inner search on the target type (patient.identifier=...)
  std::shared_ptr<SearchSpec> chain;
  // composite: one value per component, in the parameter's order (code$value)
  std::vector<SearchValue> components;
  // Location near: the point and the distance from it, in kilometres
  double latitude = 0;
  double longitude = 0;
  double distance_km = 0;
};

struct FilterNode;

// All values of one parameter occurrence are ORed; conditions are ANDed.
struct Condition {
  const fhir::SearchParamDef* param = nullptr;  // nullptr for the special ones but kHas
  // kHas (_has:Type:param:...): `param` is Type's reference parameter and values[0].chain the
  // search on Type; the condition holds for the resources its matches refer to by `param`.
  // _text (the narrative) and _content (all of the resource's text) match every word of a
  // value in the stored body; they only filter what other conditions find.
  // kFilter: the or / not parts of a _filter, as a tree of conditions in `filter`.
  enum class Special {
    kNone,
    kId,
    kLastUpdated,
    kHas,
    kText,
    kContent,
    kFilter
  } special = Special::kNone;
  std::shared_ptr<FilterNode> filter;
  Modifier modifier = Modifier::kNone;
  bool missing = false;  // for kMissing
  std::vector<SearchValue> values;
};

// A _filter subtree: a condition, or and / or / not of subtrees.
struct FilterNode {
  enum class Kind { kCondition, kAnd, kOr, kNot } kind = Kind::kCondition;
  std::vector<Condition> condition;  // kCondition: exactly one
  std::vector<FilterNode> children;
};

struct SortKey {
  const fhir::SearchParamDef* param = nullptr;  // nullptr: _id or _lastUpdated
  enum class Special { kNone, kId, kLastUpdated } special = Special::kNone;
  bool descending = false;
};

struct IncludeSpec {
  std::string source_type;                      // Observation in Observation:patient
  const fhir::SearchParamDef* param = nullptr;  // nullptr for "*"
  std::string target_type;                      // optional restriction
  bool iterate = false;
  bool reverse = false;  // _revinclude
};

enum class TotalMode { kNone, kAccurate };

// What one search may cost, all of it: the store enforces every limit in one place and answers
// a search that would pass one with a 400 naming it, never with a partial answer. The inner
// searches of chains and _has, their matches, the values bound to SQL, the resources included
// and the database work of every statement the search runs count against the one budget.
// The location of the error that says a search spent its work or time budget.
inline constexpr std::string_view kSearchBudgetSpent = "search budget";

struct SearchBudget {
  size_t max_depth = 8;                   // inner searches nested in one another
  size_t max_inner_matches = 10000;       // matches of one inner search (chain, _has)
  size_t max_all_inner_matches = 100000;  // of all the inner searches of one search together
  size_t max_bound_values = 10000;        // values bound to one SQL statement
  size_t max_included = 5000;             // _include / _revinclude resources on one page
  // Bytes of the resources on one page. Matches stop early once they reach it (at least one is
  // returned; the next link goes on from there); included resources past it are refused.
  size_t max_page_bytes = 8 << 20;
  int64_t max_work = 250'000'000;   // database steps (SQLite VM instructions; ~2-5 s), all told
  int64_t max_milliseconds = 5000;  // wall-clock time, all told
};

struct SearchSpec {
  std::string type;
  std::vector<Condition> conditions;
  std::vector<SortKey> sort;
  std::vector<IncludeSpec> includes;
  size_t count = 50;
  bool count_only = false;  // _summary=count
  TotalMode total = TotalMode::kNone;
  std::string cursor;  // opaque, from the previous page's next link
  // A compartment search (Patient/123/Observation): only resources in this patient's
  // compartment. Empty: no compartment.
  std::string compartment_patient;
  // The budget of the whole search; that of an inner search (a chain's) is not read.
  SearchBudget budget;
  // A commit check: only resources with a version written after this vid (0: all). For a
  // condition that matched nothing at that vid and reads nothing but its own type's resources,
  // these are the only ones that can match now.
  int64_t changed_after_vid = 0;
};

}  // namespace carerecord::store
