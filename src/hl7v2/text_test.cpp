// Escape sequences and character sets: every chapter 2 escape decoded, text escaped for writing.
#include "hl7v2/text.h"

#include <gtest/gtest.h>

namespace carerecord::hl7v2 {
namespace {

std::string Decode(std::string_view raw, Charset charset = Charset::kUtf8,
                   const Delimiters& delimiters = {}) {
  auto text = UnescapeText(raw, delimiters, charset, ErrorLocation{"OBX", 2, 5});
  EXPECT_TRUE(text.ok()) << raw << ": " << (text.ok() ? "" : text.error().ToString());
  return text.ok() ? *text : std::string("<error>");
}

Hl7Error DecodeError(std::string_view raw, Charset charset = Charset::kUtf8) {
  auto text = UnescapeText(raw, Delimiters{}, charset, ErrorLocation{"OBX", 2, 5});
  EXPECT_FALSE(text.ok()) << raw;
  return text.ok() ? Hl7Error{} : text.error();
}

TEST(Hl7Text, DecodesDelimiterEscapes) {
  EXPECT_EQ(Decode("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"), "a|b^c&d~e\\f");
  Delimiters custom{'#', '*', '@', '!', '%', 0};
  EXPECT_EQ(Decode("x!F!!S!!T!!R!!E!y", Charset::kUtf8, custom), "x#*%@!y");
}

TEST(Hl7Text, DecodesTheTruncationEscapeOnlyWhenDeclared) {
  Delimiters with_truncation;
  with_truncation.truncation = '#';
  EXPECT_EQ(Decode("a\\P\\b", Charset::kUtf8, with_truncation), "a#b");
  EXPECT_EQ(Decode("a\\P\\b"), "a\\P\\b");  // unknown without a truncation character
}

TEST(Hl7Text, DecodesHexInTheMessagesCharacterSet) {
  EXPECT_EQ(Decode("line1\\X0D0A\\line2"), "line1\r\nline2");
  EXPECT_EQ(Decode("\\X41\\\\x42\\"), "A\\x42\\");  // lower-case x is no hex escape
  EXPECT_EQ(Decode("caf\\XC3A9\\", Charset::kUtf8), "caf\xC3\xA9");
  EXPECT_EQ(Decode("caf\\XE9\\", Charset::kLatin1), "caf\xC3\xA9");
  EXPECT_NE(DecodeError("caf\\XE9\\", Charset::kUtf8).reason.find("not valid UTF-8"),
            std::string::npos);
  EXPECT_NE(DecodeError("caf\\XE9\\", Charset::kAscii).reason.find("0xE9 is not ASCII"),
            std::string::npos);
  EXPECT_EQ(Decode("\\Xabcd\\", Charset::kLatin1), "\xC2\xAB\xC3\x8D");
}

TEST(Hl7Text, RefusesMalformedHex) {
  const Hl7Error odd = DecodeError("\\X4\\");
  EXPECT_EQ(odd.condition, ErrorCondition::kDataTypeError);
  EXPECT_EQ(odd.location.segment_id, "OBX");
  EXPECT_EQ(odd.location.field, 5);
  EXPECT_NE(DecodeError("\\X4G\\").reason.find("not a hex digit"), std::string::npos);
  EXPECT_NE(DecodeError("\\X\\").reason.find("pairs"), std::string::npos);
}

TEST(Hl7Text, TurnsFormattingIntoPlainText) {
  EXPECT_EQ(Decode("one\\.br\\two"), "one\ntwo");
  EXPECT_EQ(Decode("one\\.sp\\two"), "one\ntwo");
  EXPECT_EQ(Decode("one\\.sp 3\\two"), "one\n\n\ntwo");
  EXPECT_EQ(Decode("\\.in 2\\a\\.br\\b\\.br\\c"), "a\n  b\n  c");
  EXPECT_EQ(Decode("a\\.ti 4\\\\.br\\b\\.br\\c"), "a\n    b\nc");
  EXPECT_EQ(Decode("a\\.sk 3\\b"), "a   b");
  EXPECT_EQ(Decode("a\\.ce\\Title"), "a\nTitle");
  EXPECT_EQ(Decode("\\.nf\\a\\.fi\\b"), "ab");
  EXPECT_EQ(Decode("a\\.sp 100000\\b").size(), 2u + 64u);  // counts are capped
  EXPECT_EQ(Decode("a\\.in -3\\\\.br\\b"), "a\nb");
  EXPECT_EQ(Decode("a\\.zz\\b"), "a\\.zz\\b");  // not a formatting command: as sent
}

TEST(Hl7Text, DropsHighlighting) {
  EXPECT_EQ(Decode("normal \\H\\bold\\N\\ normal"), "normal bold normal");
}

TEST(Hl7Text, RefusesCharacterSetSwitches) {
  const Hl7Error single = DecodeError("\\C2842\\abc");
  EXPECT_EQ(single.code, base::ErrorCode::kNotSupported);
  EXPECT_NE(single.reason.find("\\C2842\\"), std::string::npos);
  EXPECT_EQ(DecodeError("\\M2442\\abc").code, base::ErrorCode::kNotSupported);
}

TEST(Hl7Text, KeepsLocalAndUnknownEscapesAsSent) {
  EXPECT_EQ(Decode("a\\Zlocal\\b"), "a\\Zlocal\\b");
  EXPECT_EQ(Decode("a\\Q\\b"), "a\\Q\\b");
  EXPECT_EQ(Decode("trailing \\ alone"), "trailing \\ alone");
  EXPECT_EQ(Decode("a\\\\F\\"), "a\\|");
}

TEST(Hl7Text, ChecksCharacterSetsOfPlainText) {
  EXPECT_EQ(Decode("Fran\xE7ois", Charset::kLatin1), "Fran\xC3\xA7ois");
  EXPECT_EQ(Decode("Fran\xC3\xA7ois", Charset::kUtf8), "Fran\xC3\xA7ois");
  EXPECT_EQ(DecodeError("Fran\xE7ois", Charset::kUtf8).condition, ErrorCondition::kDataTypeError);
  EXPECT_EQ(DecodeError("Fran\xC3\xA7ois", Charset::kAscii).condition,
            ErrorCondition::kDataTypeError);
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));          // truncated
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80 \xE2\x82\xAC"));
}

TEST(Hl7Text, ReadsMsh18Names) {
  const ErrorLocation where{"MSH", 1, 18};
  EXPECT_EQ(*CharsetFromMsh18("ASCII", Charset::kUtf8, where), Charset::kAscii);
  EXPECT_EQ(*CharsetFromMsh18("8859/1", Charset::kUtf8, where), Charset::kLatin1);
  EXPECT_EQ(*CharsetFromMsh18("UNICODE UTF-8", Charset::kAscii, where), Charset::kUtf8);
  EXPECT_EQ(*CharsetFromMsh18("", Charset::kLatin1, where), Charset::kLatin1);
  EXPECT_FALSE(CharsetFromMsh18("8859/2", Charset::kUtf8, where).ok());
  EXPECT_FALSE(CharsetFromMsh18("UNICODE", Charset::kUtf8, where).ok());
}

TEST(Hl7Text, EscapesEveryDelimiterAndControlCharacter) {
  Delimiters delimiters;
  delimiters.truncation = '#';
  auto escaped = EscapeText("a|b^c~d\\e&f#g\r\nh\ti", delimiters, Charset::kUtf8, ErrorLocation{});
  ASSERT_TRUE(escaped.ok());
  EXPECT_EQ(*escaped, "a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f\\P\\g\\X0D\\\\X0A\\h\ti");
  EXPECT_EQ(*UnescapeText(*escaped, delimiters, Charset::kUtf8, ErrorLocation{}),
            "a|b^c~d\\e&f#g\r\nh\ti");
}

TEST(Hl7Text, EscapesIntoTheCharacterSet) {
  const Delimiters delimiters;
  EXPECT_EQ(*EscapeText("Fran\xC3\xA7ois", delimiters, Charset::kLatin1, ErrorLocation{}),
            "Fran\xE7ois");
  EXPECT_EQ(*EscapeText("Fran\xC3\xA7ois", delimiters, Charset::kUtf8, ErrorLocation{}),
            "Fran\xC3\xA7ois");
  EXPECT_FALSE(EscapeText("\xE2\x82\xAC", delimiters, Charset::kLatin1, ErrorLocation{}).ok());
  EXPECT_FALSE(EscapeText("\xC3\xA7", delimiters, Charset::kAscii, ErrorLocation{}).ok());
  EXPECT_FALSE(EscapeText("\xC3", delimiters, Charset::kUtf8, ErrorLocation{}).ok());
}

}  // namespace
}  // namespace carerecord::hl7v2
