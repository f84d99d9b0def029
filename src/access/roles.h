// The roles a user or client acts in, as the directory stores them and the policy (issue 20)
// will read them. Pure; thread-safe.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace carerecord::access {

enum class Role {
  kClinician,
  kNurse,
  kAlliedHealth,
  kSocialWorker,
  kAdminStaff,
  kAuditor,
  kSystemAdmin,
  kPatient,      // a person signed in to their own record (a user with a linked Patient)
  kIntegration,  // a trusted system (a client only): a feed, a region-wide service
};

// "clinician", "allied-health", ...: the names the command line and the tables use.
std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);
// Every role, in declaration order, for messages that list them.
const std::vector<Role>& AllRoles();

// A member of staff: has a Practitioner and PractitionerRole in the record.
inline bool IsStaffRole(Role role) { return role != Role::kPatient && role != Role::kIntegration; }
// Roles a user may hold (all but integration) and a client may hold (all but patient).
inline bool IsUserRole(Role role) { return role != Role::kIntegration; }
inline bool IsClientRole(Role role) { return role != Role::kPatient; }

// The code system of PractitionerRole.code for the directory's roles (codes: RoleName), and
// the identifier system of a Practitioner's username.
inline constexpr std::string_view kRoleCodeSystem = "https://carerecord.example/CodeSystem/role";
inline constexpr std::string_view kUsernameIdentifierSystem =
    "https://carerecord.example/Id/username";
inline constexpr std::string_view kOdsIdentifierSystem =
    "https://fhir.nhs.uk/Id/ods-organization-code";

}  // namespace carerecord::access
