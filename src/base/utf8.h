// UTF-8 well-formedness (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF),
// for every place that takes text from outside: JSON, query strings, HL7 v2, the command line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace carerecord::base {

// The length of the well-formed sequence at the start of `text`, or 0 when there is none.
size_t Utf8SequenceLength(std::string_view text);
bool IsValidUtf8(std::string_view text);
// Each byte that does not start a well-formed sequence becomes U+FFFD.
std::string ReplaceInvalidUtf8(std::string_view text);

}  // namespace carerecord::base
