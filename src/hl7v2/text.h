// HL7 v2 text encoding: the delimiters a message declares (MSH-1, MSH-2), its character set
// (MSH-18), and the chapter 2 escape sequences, decoded to UTF-8 (UnescapeText) and written
// (EscapeText). Pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "base/utf8.h"
#include "hl7v2/error.h"

namespace carerecord::hl7v2 {

// The message's own delimiters. The segment terminator is not one of them: segments end at \r,
// \n or \r\n whatever the message says.
struct Delimiters {
  char field = '|';
  char component = '^';
  char repetition = '~';
  char escape = '\\';
  char subcomponent = '&';
  char truncation = 0;  // v2.7+: the fifth character of MSH-2 ('#'), 0 when MSH-2 has four

  // MSH-2 as these delimiters write it: "^~\&" or "^~\&#".
  std::string EncodingCharacters() const;
  bool IsDelimiter(char c) const {
    return c == field || c == component || c == repetition || c == escape || c == subcomponent ||
           (truncation != 0 && c == truncation);
  }
};

// MSH-18, first repetition. Output text is always UTF-8 whatever the message's set.
enum class Charset {
  kAscii,   // "ASCII" (and HL7's default when MSH-18 is empty)
  kLatin1,  // "8859/1"
  kUtf8,    // "UNICODE UTF-8"
};

// Reads an MSH-18 value; an empty one is `undeclared`. Anything else (another 8859 part, ISO IR
// sets, UTF-16, UNICODE without a form) is an error: we would otherwise store mojibake.
Result<Charset> CharsetFromMsh18(std::string_view value, Charset undeclared,
                                 const ErrorLocation& where);
std::string_view Msh18Name(Charset charset);

// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
using base::IsValidUtf8;

// Decodes one field, component or sub-component (raw, as it stands in the message) to UTF-8:
// \F\ \S\ \T\ \R\ \E\ (and \P\ when MSH-2 declares a truncation character) become the delimiter;
// \Xhh..\ becomes those bytes, read in the message's character set like the rest of the text;
// \H\ and \N\ (highlighting) are dropped; the formatting commands of FT text become plain text:
// \.br\ a line break, \.sp n\ n line breaks, \.in n\ / \.ti n\ indent the following line(s) by n
// spaces, \.sk n\ n spaces, \.ce\ a line break, \.fi\ \.nf\ nothing (counts capped at 64).
// \Zxx\ (locally defined) and escapes HL7 does not define stay as they are, escape characters
// included, as does an escape character with no closing one. \Cxxyy\ and \Mxxyyzz\ (ISO 2022
// character set switches) are refused: honouring them needs code tables we do not have, and
// passing the bytes on would store the wrong characters. `where` names the place in errors.
Result<std::string> UnescapeText(std::string_view raw, const Delimiters& delimiters,
                                 Charset charset, const ErrorLocation& where);

// Writes UTF-8 text as the value of one sub-component: each delimiter as its escape sequence
// (\F\ \S\ \T\ \R\ \E\ \P\), line breaks and other control characters as \Xhh\, and the rest
// encoded in `charset` (an error for invalid UTF-8 or a character the set cannot hold).
Result<std::string> EscapeText(std::string_view utf8, const Delimiters& delimiters, Charset charset,
                               const ErrorLocation& where);

}  // namespace carerecord::hl7v2
