// Base64url without padding (RFC 4648 section 5), as JOSE writes every part of a token and every
// key coordinate. Decoding is strict: no padding, no whitespace, no character outside the url
// alphabet, no stray bits in the last character. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace carerecord::access {

std::string Base64UrlEncode(std::string_view bytes);

// `what` names the decoded thing in the error ("the token's payload", "JWK member 'x'").
base::Result<std::string> Base64UrlDecode(std::string_view text, std::string_view what);

}  // namespace carerecord::access
