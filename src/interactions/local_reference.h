// Which absolute reference URLs are this server's own: the one comparison of a URL with the
// base URL, by parsed parts rather than literal text (scheme and host in any case, a default
// or zero-padded port, a trailing dot of the host, dot segments), so that a local reference
// cannot pass as a foreign one and escape the existence check. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace carerecord::interactions {

// The path of `url` relative to `base_url` ("Patient/x", "Patient/x/_history/2", with
// "?query" when it has one) when `url` is on this server's base; nothing when it is another
// server's (or not an http(s) URL at all). A 400 for an http(s) URL with user info
// ("http://user@host/...") or an empty path segment ("http://host//fhir/..."): neither names
// one resource plainly.
base::Result<std::optional<std::string>> LocalPathOf(std::string_view url,
                                                     std::string_view base_url);

}  // namespace carerecord::interactions
