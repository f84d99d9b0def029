// Compression of stored resource bodies: zstd frames with a one-byte header saying how the body
// was encoded, so later codecs (per-type dictionaries) can be added without rewriting old rows.
// Stateless functions with thread-local contexts; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace carerecord::store {

std::string EncodeBody(std::string_view json);
base::Result<std::string> DecodeBody(std::string_view stored);

}  // namespace carerecord::store
