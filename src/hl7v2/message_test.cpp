// The ER7 parser: delimiters from MSH, segment endings, HL7's numbering of MSH, repetitions,
// components and sub-components, headers, and every refusal with its location.
#include "hl7v2/message.h"

#include <gtest/gtest.h>

#include <string>

namespace carerecord::hl7v2 {
namespace {

constexpr std::string_view kAdt =
    "MSH|^~\\&|SENDAPP|SENDFAC^1.2.3^ISO|RECAPP|RECFAC|20240101120000||ADT^A01^ADT_A01|MSG001|P|"
    "2.5.1\r"
    "EVN|A01|20240101120000\r"
    "PID|1||123^^^HOSP^MR~9434765919^^^NHS^NH||Smith&Mc^John^Q||19800101|M\r"
    "ZXY|custom|data\r";

Message Parse(std::string_view bytes, const ParseOptions& options = {}) {
  auto parsed = ParseMessage(bytes, options);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().ToString());
  return parsed.ok() ? std::move(parsed).value() : Message();
}

Hl7Error ParseError(std::string_view bytes, const ParseOptions& options = {}) {
  auto parsed = ParseMessage(bytes, options);
  EXPECT_FALSE(parsed.ok());
  return parsed.ok() ? Hl7Error{} : parsed.error();
}

TEST(Hl7Message, NumbersMshFieldsAsHl7Does) {
  const Message message = Parse(kAdt);
  EXPECT_EQ(message.Get("MSH", 1), "|");
  EXPECT_EQ(message.Get("MSH", 2), "^~\\&");
  EXPECT_EQ(message.Get("MSH", 3), "SENDAPP");
  EXPECT_EQ(message.Get("MSH", 4, 1, 2), "1.2.3");
  EXPECT_EQ(message.Get("MSH", 10), "MSG001");
  EXPECT_EQ(message.segment(0).field_count(), 12u);
  EXPECT_EQ(message.header().sending_application, "SENDAPP");
  EXPECT_EQ(message.header().sending_facility, "SENDFAC");
  EXPECT_EQ(message.header().date_time, "20240101120000");
  EXPECT_EQ(message.header().message_code, "ADT");
  EXPECT_EQ(message.header().trigger_event, "A01");
  EXPECT_EQ(message.header().message_structure, "ADT_A01");
  EXPECT_EQ(message.header().control_id, "MSG001");
  EXPECT_EQ(message.header().processing_id, "P");
  EXPECT_EQ(message.header().version, "2.5.1");
}

TEST(Hl7Message, SplitsRepetitionsComponentsAndSubcomponents) {
  const Message message = Parse(kAdt);
  EXPECT_EQ(message.Get("PID", 3), "123^^^HOSP^MR~9434765919^^^NHS^NH");
  const SegmentView pid = *message.FindSegment("PID");
  EXPECT_EQ(pid.RepetitionCount(3), 2u);
  EXPECT_EQ(pid.Get(3, 2), "9434765919^^^NHS^NH");
  EXPECT_EQ(pid.Get(3, 2, 1), "9434765919");
  EXPECT_EQ(pid.Get(3, 2, 5), "NH");
  EXPECT_EQ(pid.Get(3, 3, 1), "");  // no third repetition
  EXPECT_EQ(pid.Get(5, 1, 1, 2), "Mc");
  EXPECT_EQ(*pid.Text(5, 1, 2), "John");
  EXPECT_EQ(pid.Get(99), "");
  EXPECT_EQ(pid.field_count(), 8u);
}

TEST(Hl7Message, KeepsZSegmentsAndIterates) {
  const Message message = Parse(kAdt);
  std::string ids;
  for (const SegmentView segment : message) ids += std::string(segment.id()) + " ";
  EXPECT_EQ(ids, "MSH EVN PID ZXY ");
  EXPECT_EQ(message.Get("ZXY", 2), "data");
}

TEST(Hl7Message, UsesTheMessagesOwnDelimiters) {
  const Message message =
      Parse("MSH#*@!%#A#B#C#D#1##ORU*R01#ID7#P#2.4\rPID#1##x*y@z%s1%s2\rOBX#1#ST#a!F!b!S!c\r");
  EXPECT_EQ(message.delimiters().field, '#');
  EXPECT_EQ(message.delimiters().component, '*');
  EXPECT_EQ(message.delimiters().repetition, '@');
  EXPECT_EQ(message.delimiters().escape, '!');
  EXPECT_EQ(message.delimiters().subcomponent, '%');
  EXPECT_EQ(message.header().trigger_event, "R01");
  EXPECT_EQ(message.Get("PID", 3, 1, 2), "y");
  EXPECT_EQ(message.Get("PID", 3, 2, 1, 3), "s2");
  EXPECT_EQ(*message.Text("OBX", 3), "a#b*c");
}

TEST(Hl7Message, ReadsTheV27TruncationCharacter) {
  const Message message =
      Parse("MSH|^~\\&#|A|B|C|D|20240101||ADT^A08|X1|P|2.7\rPID|1||id\\P\\1#\r");
  EXPECT_EQ(message.delimiters().truncation, '#');
  EXPECT_EQ(message.Get("MSH", 2), "^~\\&#");
  EXPECT_EQ(*message.Text("PID", 3), "id#1#");
}

TEST(Hl7Message, AcceptsEverySegmentEnding) {
  for (std::string_view end : {"\r", "\n", "\r\n"}) {
    std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.3";
    text += end;
    text += "PID|1||42";
    text += end;
    text += end;  // a blank line between segments is skipped
    text += "  \t";
    text += end;  // and so is a line of blanks
    text += "PV1|1|I";
    text += end;
    text += " ";
    const Message message = Parse(text);
    ASSERT_EQ(message.segment_count(), 3u) << "ending " << int(end.back());
    EXPECT_EQ(message.Get("PID", 3), "42");
    EXPECT_EQ(message.Get("PV1", 2), "I");
  }
}

TEST(Hl7Message, SkipsAByteOrderMarkAndLeadingBlankLines) {
  const Message message = Parse("\xEF\xBB\xBF\r\nMSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.8\r");
  EXPECT_EQ(message.header().version, "2.8");
}

TEST(Hl7Message, ReadsVersions22To28) {
  for (std::string_view version :
       {"2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.2"}) {
    const std::string text =
        "MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|" + std::string(version) + "\rPID|1\r";
    EXPECT_TRUE(ParseMessage(text).ok()) << version;
  }
  for (std::string_view version : {"2.1", "2.9", "3.0", "2.10", "x"}) {
    const std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|" + std::string(version) + "\r";
    const Hl7Error error = ParseError(text);
    EXPECT_EQ(error.condition, ErrorCondition::kUnsupportedVersionId) << version;
    EXPECT_EQ(error.location.field, 12);
  }
  ParseOptions any;
  any.check_version = false;
  EXPECT_TRUE(ParseMessage("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.9\r", any).ok());
}

TEST(Hl7Message, RefusesWhatIsNotAMessage) {
  EXPECT_EQ(ParseError("").reason, "the message is empty: no MSH segment");
  EXPECT_NE(ParseError("PID|1||x\r").reason.find("does not start with an MSH"), std::string::npos);
  EXPECT_NE(ParseError("FHS|^~\\&\r").reason.find("batch"), std::string::npos);
  EXPECT_NE(ParseError(std::string("\x00\x01\x02MSH", 6)).reason.find("\\x00"), std::string::npos);
}

TEST(Hl7Message, RefusesTruncatedOrBadDelimiters) {
  EXPECT_EQ(ParseError("MSH").location.field, 1);
  EXPECT_EQ(ParseError("MSH\r").location.field, 1);
  const Hl7Error short_encoding = ParseError("MSH|^~|A\r");
  EXPECT_EQ(short_encoding.location.field, 2);
  EXPECT_EQ(short_encoding.condition, ErrorCondition::kRequiredFieldMissing);
  EXPECT_EQ(ParseError("MSH|^~\\&#$|A\r").location.field, 2);  // six characters
  EXPECT_NE(ParseError("MSH|^~^&|A|B\r").reason.find("twice"), std::string::npos);  // duplicate
  EXPECT_NE(ParseError("MSH|^~\\||A|B\r").reason.find("must be 4"), std::string::npos);
  EXPECT_NE(ParseError("MSHA^~\\&A\r").reason.find("field separator"), std::string::npos);
  EXPECT_NE(ParseError("MSH|^~x&|A\r").reason.find("'x'"), std::string::npos);
  EXPECT_NE(ParseError("MSH ^~\\& A\r").reason.find("field separator"), std::string::npos);
}

TEST(Hl7Message, RequiresTypeControlIdAndVersion) {
  EXPECT_EQ(ParseError("MSH|^~\\&|A|B|C|D|1||^A01|X|P|2.5\r").location.field, 9);
  EXPECT_EQ(ParseError("MSH|^~\\&|A|B|C|D|1||ADT^A01||P|2.5\r").location.field, 10);
  const Hl7Error no_version = ParseError("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P\r");
  EXPECT_EQ(no_version.location.field, 12);
  EXPECT_EQ(no_version.condition, ErrorCondition::kRequiredFieldMissing);
  EXPECT_EQ(ParseError("MSH|^~\\&\r").location.field, 9);
  // A control id of separators alone is none: written back it would be empty.
  EXPECT_EQ(ParseError("MSH|^~\\&|A|B|C|D|1||ADT^A01|^&|P|2.5\r").location.field, 10);
  EXPECT_EQ(ParseError("MSH|^~\\&|A|B|C|D|1||ADT^A01|\\H\\|P|2.5\r").location.field, 10);
  EXPECT_TRUE(ParseMessage("MSH|^~\\&|A|B|C|D|1||ADT^A01|\\S\\|P|2.5\r").ok());
}

TEST(Hl7Message, NamesTheSegmentOfABadSegmentId) {
  const Hl7Error error = ParseError("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\rPID|1\rpv1|x\r");
  EXPECT_EQ(error.location.segment_sequence, 3);
  EXPECT_NE(error.reason.find("'pv1|x'"), std::string::npos);
  EXPECT_EQ(ParseError("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\rPIDX|1\r").location.segment_sequence,
            2);
  EXPECT_EQ(ParseError("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\rPI\r").location.segment_sequence, 2);
  // Blanks before a segment id are not a blank line: the segment is refused, not skipped.
  EXPECT_EQ(ParseError("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\r PID|1\r").location.segment_sequence,
            2);
}

TEST(Hl7Message, RefusesASecondMsh) {
  const Hl7Error error =
      ParseError("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\rMSH|^~\\&|A|B|C|D|1||ADT^A01|Y|P|2.5\r");
  EXPECT_EQ(error.location.segment_sequence, 2);
  EXPECT_EQ(error.condition, ErrorCondition::kSegmentSequenceError);
}

TEST(Hl7Message, RefusesControlCharactersNamingTheField) {
  std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\rPID|1||ab";
  text += '\0';
  text += "c\r";
  const Hl7Error error = ParseError(text);
  EXPECT_EQ(error.location.segment_id, "PID");
  EXPECT_EQ(error.location.segment_sequence, 2);
  EXPECT_EQ(error.location.field, 3);
  EXPECT_EQ(error.condition, ErrorCondition::kDataTypeError);
  EXPECT_TRUE(ParseMessage("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\rNTE|1||a\tb\r").ok());
}

TEST(Hl7Message, FindsSeparatorsAndControlsAtEveryOffset) {
  // The scanner takes sixteen bytes at a time: check each position in and around a block.
  const std::string head = "MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\rNTE|1||";
  for (size_t offset = 0; offset < 40; ++offset) {
    std::string field(40, 'a');
    field[offset] = '\t';
    std::string text = head + field + "~r2|next\r";
    auto parsed = ParseMessage(text);
    ASSERT_TRUE(parsed.ok()) << offset;
    EXPECT_EQ(parsed->segment(1).Get(3, 1), field) << offset;
    EXPECT_EQ(parsed->segment(1).Get(3, 2), "r2") << offset;
    EXPECT_EQ(parsed->segment(1).Get(4), "next") << offset;
    field[offset] = '\x7F';
    text = head + field + "|next\r";
    const Hl7Error error = ParseError(text);
    EXPECT_EQ(error.location.field, 3) << offset;
    field[offset] = '\x01';
    text = head + field + "|next\r";
    EXPECT_EQ(ParseError(text).location.field, 3) << offset;
    field[offset] = '|';
    text = head + field + "\r";
    EXPECT_EQ(ParseMessage(text)->segment(1).field_count(), 4u) << offset;
  }
}

TEST(Hl7Message, EnforcesTheMessageSizeLimit) {
  ParseOptions options;
  options.limits.max_message_bytes = 100;
  const std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\rNTE|1||" + std::string(80, 'a');
  const Hl7Error error = ParseError(text, options);
  EXPECT_EQ(error.code, base::ErrorCode::kTooLarge);
  EXPECT_NE(error.reason.find("over the limit of 100"), std::string::npos);
}

TEST(Hl7Message, RefusesA50MegabyteFieldNamingIt) {
  std::string text = "MSH|^~\\&|A|B|C|D|1||ORU^R01|X|P|2.5\rOBX|1|ED|code||";
  text.append(size_t{50} << 20, 'A');
  text += "|F\r";
  const Hl7Error error = ParseError(text);
  EXPECT_EQ(error.condition, ErrorCondition::kValueTooLong);
  EXPECT_EQ(error.code, base::ErrorCode::kTooLarge);
  EXPECT_EQ(error.location.segment_id, "OBX");
  EXPECT_EQ(error.location.field, 5);
  ParseOptions roomy;
  roomy.limits.max_field_bytes = size_t{60} << 20;
  EXPECT_EQ(Parse(text, roomy).Get("OBX", 5).size(), size_t{50} << 20);
}

TEST(Hl7Message, RefusesTooManyRepetitions) {
  std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\rPID|1||";
  for (int i = 0; i < 100'000; ++i) text += "x~";
  const Hl7Error error = ParseError(text);
  EXPECT_EQ(error.location.segment_id, "PID");
  EXPECT_EQ(error.location.field, 3);
  EXPECT_NE(error.reason.find("more than 10000 repetitions"), std::string::npos);
  ParseOptions options;
  options.limits.max_repetitions = 200'000;
  EXPECT_EQ(Parse(text, options).segment(1).RepetitionCount(3), 100'001u);
}

TEST(Hl7Message, RefusesTooManySegments) {
  std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\r";
  for (int i = 0; i < 1'000'000; ++i) text += "NTE\r";
  const Hl7Error error = ParseError(text);
  EXPECT_EQ(error.location.segment_sequence, 100'001);
  EXPECT_EQ(error.code, base::ErrorCode::kTooLarge);
  ParseOptions options;
  options.limits.max_segments = 2'000'000;
  EXPECT_EQ(Parse(text, options).segment_count(), 1'000'001u);
}

TEST(Hl7Message, ReadsCharacterSets) {
  EXPECT_EQ(Parse("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5||||||8859/1\r").charset(),
            Charset::kLatin1);
  EXPECT_EQ(Parse("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5||||||UNICODE UTF-8\r").charset(),
            Charset::kUtf8);
  EXPECT_EQ(Parse("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5||||||ASCII\r").charset(), Charset::kAscii);
  EXPECT_EQ(Parse("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\r").charset(), Charset::kUtf8);
  ParseOptions strict;
  strict.undeclared_charset = Charset::kAscii;
  EXPECT_EQ(Parse("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\r", strict).charset(), Charset::kAscii);
  // MSH-18 is text like any other: escapes in it are read (the fuzzer's find: the writer escaped
  // a '/' truncation character in "8859/1" and the parser then did not know the name).
  EXPECT_EQ(Parse("MSH|^~\\&/|A|B|C|D|1||ADT^A01|X|P|2.7||||||8859\\P\\1\r").charset(),
            Charset::kLatin1);
  const Hl7Error error = ParseError("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5||||||ISO IR87\r");
  EXPECT_EQ(error.location.field, 18);
  EXPECT_EQ(error.condition, ErrorCondition::kTableValueNotFound);
  EXPECT_NE(error.reason.find("ISO IR87"), std::string::npos);
}

TEST(Hl7Message, IndexesAMillionEmptyFields) {
  // Every byte a field separator: the worst case for the piece index (4 bytes a field).
  std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\rNTE";
  text.append(1'000'000, '|');
  const Message message = Parse(text);
  EXPECT_EQ(message.segment(1).field_count(), 1'000'000u);
}

}  // namespace
}  // namespace carerecord::hl7v2
