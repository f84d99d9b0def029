// SMART on FHIR scopes: v2 clinical scopes (`patient/Observation.rs`, `user/*.cruds`,
// `system/*.rs`, with search-style restrictions after '?'), v1's `.read`, `.write` and `.*` as
// aliases of v2's rs, cud and cruds, and the launch and identity scopes. Parses a scope string,
// narrows what a client asks for to what it may have, and answers whether a grant covers one
// interaction on one resource type. Values; pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace carerecord::access {

enum class ScopeLevel { kPatient, kUser, kSystem };
std::string_view ScopeLevelName(ScopeLevel level);

// v2 permissions, one bit each; a scope's letters are written in this order.
enum ScopePermission : uint8_t {
  kPermitCreate = 1,
  kPermitRead = 2,
  kPermitUpdate = 4,
  kPermitDelete = 8,
  kPermitSearch = 16,
};
inline constexpr uint8_t kAllPermissions = 31;

// The FHIR REST interactions, each needing one permission (SMART App Launch 2, "Scopes for
// requesting FHIR resources"): r covers read, vread and an instance's history; s covers searches
// and type or system history; u covers update and patch.
enum class FhirInteraction {
  kRead,
  kVread,
  kHistoryInstance,
  kSearchType,
  kSearchSystem,
  kHistoryType,
  kHistorySystem,
  kCreate,
  kUpdate,
  kPatch,
  kDelete,
};
ScopePermission PermissionFor(FhirInteraction interaction);
char PermissionLetter(ScopePermission permission);

// One parameter of a scope's restriction, percent-decoded ("category",
// "http://terminology.hl7.org/CodeSystem/observation-category|laboratory").
struct ScopeRestriction {
  std::string name;
  std::string value;
  bool operator==(const ScopeRestriction&) const = default;
};

struct ClinicalScope {
  ScopeLevel level = ScopeLevel::kUser;
  std::string resource_type;  // an R4 resource type, or "*"
  uint8_t permissions = 0;
  // The search-style restriction: every parameter must hold (they are ANDed, as in a search).
  // Enforced per item by the access policy (scope_restriction.h); empty when not restricted.
  std::vector<ScopeRestriction> restrictions;
  std::string restriction_text;  // as written after '?', for the v2 text
  std::string text;              // as the client wrote it (v1 or v2)

  // The v2 spelling: level/type.letters[?restriction].
  std::string V2Text() const;
  bool SameGrant(const ClinicalScope& other) const;
};

// What a grant says about one interaction on one type.
struct ScopeDecision {
  bool allowed = false;
  // The scopes that allow it. Any one of them suffices: when every one has restrictions, the
  // request may only see what matches one of them (alternatives, ORed); when one has none, the
  // scopes set no condition. The policy reads each one's level (a patient-level scope limits the
  // request to the token's patient).
  std::vector<const ClinicalScope*> allowing;
  // When not allowed: the scope that would have allowed it, for the 403's OperationOutcome
  // ("patient/Observation.s").
  std::string missing_scope;

  bool unrestricted() const;
};

class ScopeSet {
 public:
  ScopeSet() = default;

  // Space-separated scopes. A malformed clinical scope, an unknown resource type or search
  // parameter, or a scope this server does not know is an error naming it.
  static base::Result<ScopeSet> Parse(std::string_view text);

  // What may be granted of this request to a client allowed `allowed`: each requested clinical
  // scope intersected with each allowed one of the same level (type, permissions and
  // restrictions all narrowed, never widened; a scope with nothing left, or with a restriction
  // this server cannot enforce (UnenforceableRestriction), is dropped), and each
  // other scope kept when it is allowed. A requested scope granted whole keeps its spelling.
  ScopeSet NarrowTo(const ScopeSet& allowed) const;

  // Whether the grant allows `interaction` on `resource_type`; `level_for_message` is the level
  // named in missing_scope (the token's: patient when it has a patient context, system for a
  // backend client, user otherwise).
  ScopeDecision Covers(FhirInteraction interaction, std::string_view resource_type,
                       ScopeLevel level_for_message) const;

  const std::vector<ClinicalScope>& clinical() const { return clinical_; }
  // openid, fhirUser, profile, launch, launch/patient, launch/encounter, offline_access,
  // online_access: in the order given, once each.
  const std::vector<std::string>& other() const { return other_; }
  bool Has(std::string_view other_scope) const;
  bool empty() const { return clinical_.empty() && other_.empty(); }
  // The space-separated text: the granted string of a token response.
  std::string ToString() const;

 private:
  void Add(ClinicalScope scope);
  void AddOther(std::string scope);

  std::vector<ClinicalScope> clinical_;
  std::vector<std::string> other_;
};

// One clinical scope ("patient/Observation.rs?category=..."); errors name the scope.
base::Result<ClinicalScope> ParseClinicalScope(std::string_view text);

}  // namespace carerecord::access
