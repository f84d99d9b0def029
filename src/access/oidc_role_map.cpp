#include "access/oidc_role_map.h"

#include <boost/json.hpp>
#include <cctype>

#include "access/directory.h"

namespace carerecord::access {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

std::string_view LastPart(std::string_view role_code) {
  size_t colon = role_code.rfind(':');
  return colon == std::string_view::npos ? role_code : role_code.substr(colon + 1);
}

bool IsRoleCode(std::string_view code) {
  if (code.empty() || code.size() > 32) return false;
  for (char c : code) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

OidcRoleMap OidcRoleMap::Defaults() {
  OidcRoleMap map;
  map.entries_.emplace("R8000", Role::kClinician);
  map.entries_.emplace("R8001", Role::kNurse);
  map.entries_.emplace("R8003", Role::kAlliedHealth);
  map.entries_.emplace("R8008", Role::kAdminStaff);
  return map;
}

base::Result<OidcRoleMap> OidcRoleMap::Parse(std::string_view text) {
  OidcRoleMap map;
  int line_number = 0;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = Trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "line " + std::to_string(line_number);
    size_t space = line.find_first_of(" \t");
    if (space == std::string_view::npos) {
      return base::Invalid(where + ": expected a role code and a role, e.g. 'R8000 clinician'",
                           where);
    }
    std::string_view code = line.substr(0, space);
    std::string_view role_name = Trim(line.substr(space));
    if (!IsRoleCode(code)) {
      return base::Invalid(where + ": '" + std::string(code.substr(0, 40)) +
                               "' is not a role code (letters, digits, '-', '_', '.')",
                           where);
    }
    if (role_name.find_first_of(" \t") != std::string_view::npos) {
      return base::Invalid(where + ": expected one role after the code, not '" +
                               std::string(role_name.substr(0, 60)) + "'",
                           where);
    }
    auto role = ParseRole(role_name);
    if (!role || !IsStaffRole(*role)) {
      std::string known;
      for (Role r : AllRoles()) {
        if (!IsStaffRole(r)) continue;
        if (!known.empty()) known += ", ";
        known += RoleName(r);
      }
      return base::Invalid(where + ": '" + std::string(role_name.substr(0, 40)) +
                               "' is not a staff role (one of " + known + ")",
                           where);
    }
    if (!map.entries_.emplace(std::string(code), *role).second) {
      return base::Invalid(where + ": role code " + std::string(code) + " is mapped twice", where);
    }
  }
  if (map.entries_.empty()) return base::Invalid("the role map maps no role code");
  return map;
}

std::optional<Role> OidcRoleMap::RoleFor(std::string_view role_code) const {
  auto found = entries_.find(LastPart(role_code));
  if (found == entries_.end()) return std::nullopt;
  return found->second;
}

base::Result<std::vector<OidcRoleChoice>> MapRoleClaim(const boost::json::value& claim,
                                                       std::string_view claim_name,
                                                       const OidcRoleMap& map) {
  const std::string name(claim_name);
  if (!claim.is_array()) {
    return base::Invalid("the ID token's claim '" + name + "' is not a list", name);
  }
  std::vector<OidcRoleChoice> choices;
  const boost::json::array& entries = claim.get_array();
  if (entries.size() > 200) {
    return base::Invalid("the ID token's claim '" + name + "' holds more than 200 roles", name);
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string where = name + "[" + std::to_string(i) + "]";
    const boost::json::object* entry = entries[i].if_object();
    const boost::json::value* org = entry ? entry->if_contains("org_code") : nullptr;
    const boost::json::value* role_code = entry ? entry->if_contains("role_code") : nullptr;
    if (!org || !org->is_string() || !role_code || !role_code->is_string()) {
      return base::Invalid(
          "the ID token's " + where + " is not an object with string org_code and role_code",
          where);
    }
    auto role = map.RoleFor(role_code->get_string());
    if (!role) continue;
    auto ods = NormaliseOdsCode(org->get_string());
    if (!ods.ok()) {
      return base::Invalid("the ID token's " + where + ".org_code '" +
                               std::string(std::string_view(org->get_string()).substr(0, 40)) +
                               "' is not an ODS code",
                           where);
    }
    OidcRoleChoice choice{ods.value(), *role, std::string(role_code->get_string())};
    bool seen = false;
    for (const OidcRoleChoice& earlier : choices) {
      seen |= earlier.ods_code == choice.ods_code && earlier.role == choice.role;
    }
    if (!seen) choices.push_back(std::move(choice));
  }
  return choices;
}

}  // namespace carerecord::access
