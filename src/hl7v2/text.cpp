#include "hl7v2/text.h"

#include <algorithm>
#include <cstring>

namespace carerecord::hl7v2 {
namespace {

// Formatting commands may ask for any count; a few dozen is all a display uses, and the cap keeps
// the decoded text within a small multiple of the raw one.
constexpr int kMaxFormattingCount = 64;

constexpr char kHexDigits[] = "0123456789ABCDEF";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string HexByte(unsigned char byte) {
  std::string text = "0x";
  text += kHexDigits[byte >> 4];
  text += kHexDigits[byte & 0xF];
  return text;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The count argument of \.sp n\ and its kind: absent gives `absent`, junk gives `absent` too
// (a display would ignore it), and the value is clamped to [0, kMaxFormattingCount].
int FormattingCount(std::string_view argument, int absent) {
  argument = Trim(argument);
  if (argument.empty()) return absent;
  bool negative = false;
  if (argument.front() == '+' || argument.front() == '-') {
    negative = argument.front() == '-';
    argument.remove_prefix(1);
  }
  if (argument.empty()) return absent;
  int value = 0;
  for (char c : argument) {
    if (c < '0' || c > '9') return absent;
    value = std::min(kMaxFormattingCount, value * 10 + (c - '0'));
  }
  return negative ? 0 : value;
}

// Decodes the bytes of text in `charset` to UTF-8, or says which byte does not belong.
Result<std::string> ToUtf8(std::string bytes, Charset charset, const ErrorLocation& where) {
  size_t first_high = 0;
  while (first_high < bytes.size() && static_cast<unsigned char>(bytes[first_high]) < 0x80) {
    ++first_high;
  }
  if (first_high == bytes.size()) return bytes;
  switch (charset) {
    case Charset::kAscii:
      return MakeHl7Error(
          ErrorCondition::kDataTypeError, where,
          "byte " + HexByte(static_cast<unsigned char>(bytes[first_high])) +
              " is not ASCII, the character set of the message (MSH-18 empty or ASCII)");
    case Charset::kUtf8:
      if (!base::IsValidUtf8(bytes)) {
        return MakeHl7Error(ErrorCondition::kDataTypeError, where,
                            "the text is not valid UTF-8 (MSH-18 is UNICODE UTF-8)");
      }
      return bytes;
    case Charset::kLatin1: {
      std::string out;
      out.reserve(bytes.size() + bytes.size() / 2);
      for (char c : bytes) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x80) {
          out += c;
        } else {
          out += static_cast<char>(0xC0 | (byte >> 6));
          out += static_cast<char>(0x80 | (byte & 0x3F));
        }
      }
      return out;
    }
  }
  return bytes;
}

// The state of FT formatting while decoding: indentation applies after each line break.
struct Formatting {
  int indent = 0;             // \.in n\, for every following line
  int temporary_indent = -1;  // \.ti n\, for the next line only

  void LineBreaks(std::string& out, int count) {
    out.append(static_cast<size_t>(count), '\n');
    const int spaces = temporary_indent >= 0 ? temporary_indent : indent;
    temporary_indent = -1;
    out.append(static_cast<size_t>(spaces), ' ');
  }
};

// Applies one formatting command (the text after the '.'); false when it is not one HL7 defines.
bool ApplyFormatting(std::string_view command, Formatting& formatting, std::string& out) {
  const std::string_view name = command.substr(0, 2);
  const std::string_view argument = command.size() > 2 ? command.substr(2) : std::string_view();
  if (name == "br" && Trim(argument).empty()) {
    formatting.LineBreaks(out, 1);
  } else if (name == "sp") {
    formatting.LineBreaks(out, std::max(1, FormattingCount(argument, 1)));
  } else if (name == "in") {
    formatting.indent = FormattingCount(argument, 0);
  } else if (name == "ti") {
    formatting.temporary_indent = FormattingCount(argument, 0);
  } else if (name == "sk") {
    out.append(static_cast<size_t>(FormattingCount(argument, 1)), ' ');
  } else if (name == "ce" && Trim(argument).empty()) {
    formatting.LineBreaks(out, 1);
  } else if ((name == "fi" || name == "nf") && Trim(argument).empty()) {
    // Fill or no-fill mode: plain text keeps its line breaks either way.
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::string Delimiters::EncodingCharacters() const {
  std::string text{component, repetition, escape, subcomponent};
  if (truncation != 0) text += truncation;
  return text;
}

Result<Charset> CharsetFromMsh18(std::string_view value, Charset undeclared,
                                 const ErrorLocation& where) {
  value = Trim(value);
  if (value.empty()) return undeclared;
  if (value == "ASCII") return Charset::kAscii;
  if (value == "8859/1") return Charset::kLatin1;
  if (value == "UNICODE UTF-8") return Charset::kUtf8;
  return MakeHl7Error(ErrorCondition::kTableValueNotFound, where,
                      "character set '" + std::string(value.substr(0, 40)) +
                          "' is not one this receiver reads (ASCII, 8859/1, UNICODE UTF-8)",
                      base::ErrorCode::kNotSupported);
}

std::string_view Msh18Name(Charset charset) {
  switch (charset) {
    case Charset::kAscii:
      return "ASCII";
    case Charset::kLatin1:
      return "8859/1";
    case Charset::kUtf8:
      return "UNICODE UTF-8";
  }
  return "ASCII";
}

Result<std::string> UnescapeText(std::string_view raw, const Delimiters& delimiters,
                                 Charset charset, const ErrorLocation& where) {
  const char escape = delimiters.escape;
  if (std::memchr(raw.data(), escape, raw.size()) == nullptr) {
    return ToUtf8(std::string(raw), charset, where);
  }
  std::string out;
  out.reserve(raw.size());
  Formatting formatting;
  size_t i = 0;
  while (i < raw.size()) {
    const size_t start = raw.find(escape, i);
    if (start == std::string_view::npos) {
      out.append(raw.substr(i));
      break;
    }
    out.append(raw.substr(i, start - i));
    const size_t close = raw.find(escape, start + 1);
    if (close == std::string_view::npos) {
      out.append(raw.substr(start));  // no closing escape: not an escape sequence
      break;
    }
    const std::string_view sequence = raw.substr(start + 1, close - start - 1);
    const std::string_view whole = raw.substr(start, close - start + 1);
    i = close + 1;
    if (sequence.empty()) {
      out += escape;  // "\\" is no sequence; keep the first and read on from the second
      i = close;
      continue;
    }
    const char code = sequence.front();
    const bool single = sequence.size() == 1;
    if (single && code == 'F') {
      out += delimiters.field;
    } else if (single && code == 'S') {
      out += delimiters.component;
    } else if (single && code == 'T') {
      out += delimiters.subcomponent;
    } else if (single && code == 'R') {
      out += delimiters.repetition;
    } else if (single && code == 'E') {
      out += delimiters.escape;
    } else if (single && code == 'P' && delimiters.truncation != 0) {
      out += delimiters.truncation;
    } else if (single && (code == 'H' || code == 'N')) {
      // Highlighting on and off: nothing in plain text.
    } else if (code == 'X') {
      const std::string_view hex = sequence.substr(1);
      if (hex.empty() || hex.size() % 2 != 0) {
        return MakeHl7Error(ErrorCondition::kDataTypeError, where,
                            "hexadecimal escape " + std::string(whole.substr(0, 40)) +
                                " needs one or more pairs of hex digits");
      }
      for (size_t h = 0; h < hex.size(); h += 2) {
        const int high = HexValue(hex[h]);
        const int low = HexValue(hex[h + 1]);
        if (high < 0 || low < 0) {
          return MakeHl7Error(ErrorCondition::kDataTypeError, where,
                              "hexadecimal escape " + std::string(whole.substr(0, 40)) +
                                  " has a character that is not a hex digit");
        }
        out += static_cast<char>(high * 16 + low);
      }
    } else if (code == '.') {
      if (!ApplyFormatting(sequence.substr(1), formatting, out)) out.append(whole);
    } else if (code == 'C' || code == 'M') {
      return MakeHl7Error(ErrorCondition::kDataTypeError, where,
                          "character set escape " + std::string(whole.substr(0, 40)) +
                              " (ISO 2022 switching) is not supported; send the text in "
                              "UNICODE UTF-8 (MSH-18)",
                          base::ErrorCode::kNotSupported);
    } else {
      out.append(whole);  // \Z..\ (locally defined) and unknown escapes stay as sent
    }
  }
  return ToUtf8(std::move(out), charset, where);
}

Result<std::string> EscapeText(std::string_view utf8, const Delimiters& delimiters, Charset charset,
                               const ErrorLocation& where) {
  if (!base::IsValidUtf8(utf8)) {
    return MakeHl7Error(ErrorCondition::kDataTypeError, where, "the value is not valid UTF-8");
  }
  std::string out;
  out.reserve(utf8.size() + 8);
  for (size_t i = 0; i < utf8.size(); ++i) {
    const char c = utf8[i];
    const auto byte = static_cast<unsigned char>(c);
    if (c == delimiters.escape) {
      out += {delimiters.escape, 'E', delimiters.escape};
    } else if (c == delimiters.field) {
      out += {delimiters.escape, 'F', delimiters.escape};
    } else if (c == delimiters.component) {
      out += {delimiters.escape, 'S', delimiters.escape};
    } else if (c == delimiters.subcomponent) {
      out += {delimiters.escape, 'T', delimiters.escape};
    } else if (c == delimiters.repetition) {
      out += {delimiters.escape, 'R', delimiters.escape};
    } else if (delimiters.truncation != 0 && c == delimiters.truncation) {
      out += {delimiters.escape, 'P', delimiters.escape};
    } else if ((byte < 0x20 && c != '\t') || byte == 0x7F) {
      out += {delimiters.escape, 'X', kHexDigits[byte >> 4], kHexDigits[byte & 0xF],
              delimiters.escape};
    } else if (byte < 0x80) {
      out += c;
    } else {
      // A whole UTF-8 sequence (validated above): its length from the lead byte.
      const size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2;
      const std::string_view character = utf8.substr(i, length);
      i += length - 1;
      if (charset == Charset::kUtf8) {
        out.append(character);
      } else if (charset == Charset::kLatin1 && length == 2 && byte <= 0xC3) {
        out += static_cast<char>(((byte & 0x1F) << 6) |
                                 (static_cast<unsigned char>(character[1]) & 0x3F));
      } else {
        return MakeHl7Error(ErrorCondition::kDataTypeError, where,
                            "the character '" + std::string(character) + "' cannot be sent in " +
                                std::string(Msh18Name(charset)) + " (MSH-18)");
      }
    }
  }
  return out;
}

}  // namespace carerecord::hl7v2
