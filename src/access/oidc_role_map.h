// How a regional IdP's role claim becomes carerecord's organisation and role: the role-map file
// (lines `R8000 clinician`) and the reading of a CIS2-style claim (a list of objects with
// `org_code` and `role_code` such as "S8000:G8000:R8000"). Used by the OIDC relying party
// (access/oidc_rp.h). Pure values; a RoleMap is immutable and may be shared by threads.
#pragma once

#include <boost/json/value.hpp>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "access/roles.h"
#include "base/status.h"

namespace carerecord::access {

class OidcRoleMap {
 public:
  // R8000 clinician, R8001 nurse, R8003 allied-health, R8008 admin-staff.
  static OidcRoleMap Defaults();
  // One mapping per line: a role code, spaces, a carerecord staff role. Blank lines and lines
  // starting with '#' are skipped. Errors name the line ("line 3: ..."); a code mapped twice is
  // an error.
  static base::Result<OidcRoleMap> Parse(std::string_view text);

  // The role for the last ':'-separated part of `role_code`, or nullopt when it is not mapped.
  std::optional<Role> RoleFor(std::string_view role_code) const;
  const std::map<std::string, Role, std::less<>>& entries() const { return entries_; }

 private:
  std::map<std::string, Role, std::less<>> entries_;
};

// One (organisation, role) the claim grants, mapped: `ods_code` upper-cased.
struct OidcRoleChoice {
  std::string ods_code;
  Role role = Role::kClinician;
  std::string role_code;  // as the IdP sent it, for the choice page
  friend bool operator==(const OidcRoleChoice&, const OidcRoleChoice&) = default;
};

// The pairs of the claim whose role code is mapped, in claim order without repeats. The claim
// must be an array of objects, each with string `org_code` and `role_code` (an error names the
// element otherwise); entries whose role is not mapped are skipped. An empty result is not an
// error here: the caller says "no role carerecord knows".
base::Result<std::vector<OidcRoleChoice>> MapRoleClaim(const boost::json::value& claim,
                                                       std::string_view claim_name,
                                                       const OidcRoleMap& map);

}  // namespace carerecord::access
