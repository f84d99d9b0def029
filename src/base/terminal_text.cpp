#include "base/terminal_text.h"

#include <boost/json.hpp>
#include <cstdint>
#include <cstdio>

namespace carerecord::base {

namespace json = boost::json;

// The UTF-8 of a bidirectional control: the embeddings and overrides U+202A-U+202E, the
// isolates U+2066-U+2069, and the marks U+200E, U+200F and U+061C. Shown raw, one reorders the
// rest of the line on a terminal (a reason could make a row read as another's).
size_t BidiControlAt(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  if (i + 1 < text.size() && byte(i) == 0xd8 && byte(i + 1) == 0x9c) return 2;  // U+061C
  if (i + 2 >= text.size() || byte(i) != 0xe2) return 0;
  const unsigned char b1 = byte(i + 1), b2 = byte(i + 2);
  if (b1 == 0x80 && (b2 == 0x8e || b2 == 0x8f || (b2 >= 0xaa && b2 <= 0xae))) return 3;
  if (b1 == 0x81 && b2 >= 0xa6 && b2 <= 0xa9) return 3;
  return 0;
}

// `text` with each bidirectional control written as its JSON escape (\u202e): for text that is
// already JSON (the escape reads back as the character) or quoted as JSON.
std::string EscapeBidi(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (const size_t length = BidiControlAt(text, i)) {
      const uint32_t code = length == 2
                                ? 0x061c
                                : 0x2000 | ((static_cast<unsigned char>(text[i + 1]) & 0x3f) << 6) |
                                      (static_cast<unsigned char>(text[i + 2]) & 0x3f);
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", code);
      out += escaped;
      i += length;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

// Text for a terminal (a table cell, a line of a listing): as it is, or quoted and escaped as a
// JSON string when it holds a control character or a bidirectional control (which would break or
// reorder the row).
std::string TerminalCell(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f || BidiControlAt(text, i)) {
      return EscapeBidi(json::serialize(json::string_view(text.data(), text.size())));
    }
  }
  return std::string(text);
}

}  // namespace carerecord::base
