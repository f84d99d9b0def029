// The Directory as the token checks' PrincipalStatus: a token whose client, or user, has been
// disabled (or whose organisation has) is refused. Thread-safe, as the Directory is.
#pragma once

#include "access/access_token.h"
#include "access/directory.h"

namespace carerecord::access {

class DirectoryPrincipalStatus final : public PrincipalStatus {
 public:
  explicit DirectoryPrincipalStatus(Directory& directory) : directory_(directory) {}

  // From the Directory's in-memory snapshot (a disable is seen within its refresh interval);
  // a principal the snapshot does not show enabled is looked up in the directory itself, so
  // one added or enabled since the snapshot was taken is not refused.
  base::Status CheckEnabled(const VerifiedToken& token) override;

 private:
  bool ClientEnabledNow(const std::string& client_id);
  bool UserEnabledNow(const std::string& username);
  bool OrganisationEnabledNow(const std::string& ods_code);

  Directory& directory_;
};

}  // namespace carerecord::access
