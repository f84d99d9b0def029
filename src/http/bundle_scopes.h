// The scope check of a batch or transaction Bundle: every entry's interaction (read, search,
// vread, create, update, delete on its type) must be allowed by the caller's scopes before the
// Bundle runs, so one entry outside them refuses the whole Bundle (403) and nothing is written.
// Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "access/access_context.h"

namespace carerecord::http {

struct BundleScopeRefusal {
  std::string message;   // names the missing scope
  std::string location;  // the entry, e.g. "Bundle.entry[3]"
};

// Nothing when `who` has no scopes, when every entry is allowed, or when the body is not a
// Bundle this server can parse (the Bundle's own processing refuses it then, with the reason).
// `base_url` is stripped from absolute entry URLs, as the Bundle's processing does.
std::optional<BundleScopeRefusal> CheckBundleScopes(const access::AccessContext& who,
                                                    std::string_view body,
                                                    std::string_view base_url);

}  // namespace carerecord::http
