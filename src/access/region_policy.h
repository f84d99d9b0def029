// The region's access policy as data (issue 20): which resource types each role reads and
// writes, which roles read restricted (R) items, which codes are legally protected, and the
// periods of relationships, declarations and break-glass. Loaded from `serve --policy FILE`
// (JSON) over built-in defaults, and printed by `carerecord policy show`. Immutable once loaded;
// thread-safe to share.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "access/roles.h"
#include "base/status.h"

namespace carerecord::access {

// Names a role's type list may use for sets of types derived from the generated FHIR R4 tables
// (never typed by hand): every type in the patient compartment; those less AuditEvent (the
// clinical record); every type outside the patient compartment (directory and terminology:
// Organization, Practitioner, Location, Medication, ValueSet...); every type.
inline constexpr std::string_view kGroupCompartment = "*patient-compartment*";
inline constexpr std::string_view kGroupClinical = "*clinical*";
inline constexpr std::string_view kGroupOutsideCompartment = "*outside-patient-compartment*";
inline constexpr std::string_view kGroupAll = "*";

// Resource type names, looked up by string_view without building a string (per item, per read).
using TypeSet = std::set<std::string, std::less<>>;

// The resource types a group names (sorted); empty for a name that is not a group.
const TypeSet& GroupTypes(std::string_view group);
// True when `type` is in no patient compartment (from the generated compartment definition).
bool OutsidePatientCompartment(std::string_view type);

struct ProtectedCode {
  std::string system;
  std::string code;
  std::string display;
  std::string why;  // the law or reason, for people reading the policy
};

// A category a role reads items of a categorized type by (fhir/category_facts.h).
struct CategoryCode {
  std::string system;
  std::string code;
  std::string display;
};

struct RoleAccess {
  std::vector<std::string> read;   // as written: types and group names
  std::vector<std::string> write;  // as written
  // `read_categories`: per type (DocumentReference), the categories whose items the role reads;
  // a type here is read only by these, whether or not `read` names it.
  std::map<std::string, std::vector<CategoryCode>, std::less<>> read_categories;
  TypeSet read_types;   // expanded, with the types of read_categories
  TypeSet write_types;  // expanded

  // Whether the role's category rule for `type`, if it has one, admits an item with `facts`.
  bool AdmitsCategory(std::string_view type, std::string_view facts) const;
};

struct RegionPolicy {
  std::array<RoleAccess, 9> roles;  // indexed by Role
  std::set<Role> restricted_readers;
  std::vector<ProtectedCode> protected_codes;
  int relationship_window_days = 90;
  int declaration_days = 30;
  int break_glass_minutes = 240;
  // Whether a patient reading who saw their record ($access-log) sees staff user names.
  bool access_log_shows_names = false;

  const RoleAccess& Of(Role role) const { return roles[static_cast<size_t>(role)]; }
  bool IsProtected(std::string_view sealing_facts) const;
};

// The defaults the README lists.
RegionPolicy DefaultRegionPolicy();

// The defaults overlaid with a policy file's JSON: each top-level member given replaces the
// default's, and each role given under `roles` replaces that role's lists (a role's `read` or
// `write` left out stays as the default). An error names the line and column of a JSON syntax
// error, or the member at fault (e.g. "roles.nurse.read[2]") and why.
base::Result<RegionPolicy> ParseRegionPolicy(std::string_view json_text);
// Reads and parses FILE; the error names the file.
base::Result<RegionPolicy> LoadRegionPolicy(const std::string& path);

// The effective policy as JSON (what `policy show` prints): each role's lists as written and
// the groups they use, expanded.
std::string RegionPolicyJson(const RegionPolicy& policy);

}  // namespace carerecord::access
