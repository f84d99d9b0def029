// Text from outside (a feed message's fields, an audit entry's reason) shown on an operator's
// terminal: a control character or a bidirectional control, shown raw, could fake a line, send an
// escape sequence or reorder a row, so such text is quoted and escaped. Used by the audit reports
// and `carerecord feeds errors`. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace carerecord::base {

// The length of the bidirectional control (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F,
// U+061C) whose UTF-8 starts at `i`, or 0.
size_t BidiControlAt(std::string_view text, size_t i);
// `text` with each bidirectional control written as its JSON escape (\u202e): for text that is
// already JSON or quoted as JSON.
std::string EscapeBidi(std::string_view text);
// `text` as it is, or, when it holds a control character (below 0x20, 0x7f) or a bidirectional
// control, quoted and escaped as a JSON string.
std::string TerminalCell(std::string_view text);

}  // namespace carerecord::base
