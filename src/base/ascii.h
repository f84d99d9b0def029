// ASCII comparisons for protocol tokens that are case-insensitive (an Authorization scheme, a
// media type, a URN's scheme and namespace). Pure; thread-safe.
#pragma once

#include <cctype>
#include <string_view>

namespace carerecord::base {

// Whether `text` begins with `prefix`, ASCII letters compared without case.
inline bool StartsWithIgnoringCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace carerecord::base
