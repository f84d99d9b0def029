// The values the directory holds, checked and normalised as access::Directory stores them (ODS
// codes, usernames, scopes, a client's JWKS and redirect URIs), for callers that validate before
// they ask (the command line, the sign-in routes) and for the Directory itself. Pure;
// thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace carerecord::access {

// The ODS code upper-cased, when it is 3 to 10 letters and digits.
base::Result<std::string> NormaliseOdsCode(std::string_view ods_code);
// The username lower-cased, when it is 1 to 64 of a-z 0-9 . _ @ - starting with a letter or
// digit.
base::Result<std::string> NormaliseUsername(std::string_view username);
// Scope tokens as RFC 6749 section 3.3 defines them, joined by single spaces.
base::Result<std::string> NormaliseScope(std::string_view scope);
// A JSON Web Key Set with at least one key, every key a public EC (P-256, P-384, P-521) or RSA
// key; a private or symmetric key is refused (it must never be sent to us).
base::Status CheckPublicJwks(std::string_view json);
// An absolute https URL without a fragment; http only on a loopback host.
base::Status CheckRedirectUri(std::string_view uri);

}  // namespace carerecord::access
