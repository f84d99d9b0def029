// Enforces SMART's search-style scope restrictions
// ("patient/Observation.rs?category=...|laboratory") on one resource: which restrictions this
// server can enforce, and whether a resource matches all of a scope's. Used by ScopeLimitedPolicy
// (reads, per item), the write path and the token endpoint (which grants no scope it cannot
// enforce). Pure functions; RestrictedItem belongs to one call on one thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "access/scopes.h"
#include "fhir/index_extraction.h"
#include "store/store.h"

namespace carerecord::access {

// Why this server cannot enforce `scope`'s restrictions (naming the parameter and what it does
// support), or nothing when it can (a scope without restrictions always can). Enforced: token
// parameters (code, system|code, |code, system|), string parameters (plain: starts with, case-
// and accent-insensitive; :exact; :contains), reference parameters (Type/id, or id), uri
// parameters (exact) and _id; a comma inside one value ORs, parameters AND. Not enforced: dates,
// numbers, quantities, composites, _lastUpdated, chains and every other modifier.
std::optional<std::string> UnenforceableRestriction(const ClinicalScope& scope);

// One resource version under the eye of restricted scopes: its body is read, parsed and indexed
// once, on the first restricted scope asked about, and never for a decision that needs none.
class RestrictedItem {
 public:
  // `type`, `id`: the item's; `body`: its JSON, read when first needed (null: no body).
  RestrictedItem(std::string_view type, std::string_view id, store::ItemBody* body)
      : type_(type), id_(id), body_(body) {}
  explicit RestrictedItem(const store::ItemFacts& item)
      : RestrictedItem(item.type, item.id, item.body) {}

  // Whether the item matches every restriction of `scope` (true when it has none). An item
  // without a body (a deletion, or none given), or a restriction not enforced, matches nothing.
  bool Matches(const ClinicalScope& scope);

 private:
  bool Load();
  bool MatchesOne(const ScopeRestriction& restriction) const;

  std::string_view type_;
  std::string_view id_;
  store::ItemBody* body_;
  bool loaded_ = false;
  bool has_body_ = false;
  fhir::IndexEntries entries_;
};

}  // namespace carerecord::access
