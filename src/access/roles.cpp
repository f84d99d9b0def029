#include "access/roles.h"

#include <array>
#include <utility>

namespace carerecord::access {
namespace {

constexpr std::array<std::pair<Role, std::string_view>, 9> kRoleNames = {{
    {Role::kClinician, "clinician"},
    {Role::kNurse, "nurse"},
    {Role::kAlliedHealth, "allied-health"},
    {Role::kSocialWorker, "social-worker"},
    {Role::kAdminStaff, "admin-staff"},
    {Role::kAuditor, "auditor"},
    {Role::kSystemAdmin, "system-admin"},
    {Role::kPatient, "patient"},
    {Role::kIntegration, "integration"},
}};

}  // namespace

std::string_view RoleName(Role role) {
  for (const auto& [r, name] : kRoleNames) {
    if (r == role) return name;
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (const auto& [role, role_name] : kRoleNames) {
    if (role_name == name) return role;
  }
  return std::nullopt;
}

const std::vector<Role>& AllRoles() {
  static const std::vector<Role> roles = [] {
    std::vector<Role> all;
    for (const auto& entry : kRoleNames) all.push_back(entry.first);
    return all;
  }();
  return roles;
}

}  // namespace carerecord::access
