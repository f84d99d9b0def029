#include "access/directory_principal_status.h"

namespace carerecord::access {

base::Status DirectoryPrincipalStatus::CheckEnabled(const VerifiedToken& token) {
  if (!directory_.ClientEnabled(token.client_id) && !ClientEnabledNow(token.client_id)) {
    return base::Invalid("the client " + token.client_id +
                         " that holds this token is disabled, or unknown, or its organisation is "
                         "disabled");
  }
  if (token.kind == PrincipalKind::kUser && !directory_.UserEnabled(token.subject) &&
      !UserEnabledNow(token.subject)) {
    return base::Invalid("the user " + token.subject +
                         " is disabled, or unknown, or their organisation is disabled");
  }
  return base::Status::Ok();
}

bool DirectoryPrincipalStatus::ClientEnabledNow(const std::string& client_id) {
  auto client = directory_.records().FindClient(client_id);
  if (!client.ok() || !client.value() || !client.value()->enabled) return false;
  return OrganisationEnabledNow(client.value()->ods_code);
}

bool DirectoryPrincipalStatus::UserEnabledNow(const std::string& username) {
  auto user = directory_.records().FindUser(username);
  if (!user.ok() || !user.value() || !user.value()->enabled) return false;
  return OrganisationEnabledNow(user.value()->ods_code);
}

bool DirectoryPrincipalStatus::OrganisationEnabledNow(const std::string& ods_code) {
  auto organisation = directory_.records().FindOrganisation(ods_code);
  return organisation.ok() && organisation.value() && organisation.value()->enabled;
}

}  // namespace carerecord::access
