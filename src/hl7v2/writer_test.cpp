// The ER7 writer: escaping on the way out, and parse(write(x)) == x.
#include "hl7v2/writer.h"

#include <gtest/gtest.h>

#include <random>

namespace carerecord::hl7v2 {
namespace {

std::vector<SegmentValue> Sample() {
  SegmentValue msh{"MSH", {}};
  msh.Set(3, "carerecord");
  msh.Set(4, "RDZ");
  msh.SetComponents(9, {"ADT", "A01", "ADT_A01"});
  msh.Set(10, "ID|1");
  msh.Set(11, "P");
  msh.Set(12, "2.5.1");
  SegmentValue pid{"PID", {}};
  pid.Set(1, "1");
  pid.Set(3, "123", 1, 1);
  pid.Set(3, "MR", 1, 5);
  pid.Set(3, "9434765919", 2, 1);
  pid.Set(3, "NH", 2, 5);
  pid.Set(5, "O'Brien & Sons", 1, 1, 1);
  pid.Set(5, "Mc", 1, 1, 2);
  pid.Set(5, "Seán^Ó", 1, 2);
  SegmentValue nte{"NTE", {}};
  nte.Set(3, "line one\nline two ~ \\ | # end");
  return {msh, pid, nte};
}

TEST(Hl7Writer, EscapesDelimitersInValues) {
  auto written = WriteMessage(Sample());
  ASSERT_TRUE(written.ok()) << written.error().ToString();
  EXPECT_EQ(*written,
            "MSH|^~\\&|carerecord|RDZ|||||ADT^A01^ADT_A01|ID\\F\\1|P|2.5.1\r"
            "PID|1||123^^^^MR~9434765919^^^^NH||O'Brien \\T\\ Sons&Mc^Se\xC3\xA1n\\S\\\xC3\x93\r"
            "NTE|||line one\\X0A\\line two \\R\\ \\E\\ \\F\\ # end\r");
}

TEST(Hl7Writer, RoundTripsThroughTheParser) {
  for (const Delimiters& delimiters : {Delimiters{}, Delimiters{'#', '*', '@', '!', '%', 0},
                                       Delimiters{'|', '^', '~', '\\', '&', '#'}}) {
    auto written = WriteMessage(Sample(), delimiters, "\r\n");
    ASSERT_TRUE(written.ok()) << written.error().ToString();
    auto parsed = ParseMessage(*written);
    ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
    auto values = ReadValues(*parsed);
    ASSERT_TRUE(values.ok());
    std::vector<SegmentValue> expected = Sample();
    for (SegmentValue& segment : expected) TrimTrailingEmpty(segment);
    expected[0].fields[0] = {{{std::string(1, delimiters.field)}}};
    expected[0].fields[1] = {{{delimiters.EncodingCharacters()}}};
    EXPECT_EQ(*values, expected) << *written;
  }
}

TEST(Hl7Writer, WritesTheCharacterSetMsh18Names) {
  std::vector<SegmentValue> segments = Sample();
  segments[0].Set(18, "8859/1");
  auto written = WriteMessage(segments);
  ASSERT_TRUE(written.ok());
  EXPECT_NE(written->find("Se\xE1n"), std::string::npos);
  auto parsed = ParseMessage(*written);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed->Text("PID", 5, 1, 2), "Se\xC3\xA1n^\xC3\x93");

  segments[0].Set(18, "ASCII");
  EXPECT_FALSE(WriteMessage(segments).ok());
}

TEST(Hl7Writer, RefusesWhatIsNotAMessage) {
  EXPECT_FALSE(WriteMessage({}).ok());
  EXPECT_FALSE(WriteMessage({SegmentValue{"PID", {}}}).ok());
  std::vector<SegmentValue> bad_id = Sample();
  bad_id[1].id = "pid";
  auto error = WriteMessage(bad_id);
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().location.segment_sequence, 2);
  EXPECT_FALSE(WriteMessage(Sample(), Delimiters{'|', '^', '^', '\\', '&', 0}).ok());
  std::vector<SegmentValue> bad_text = Sample();
  bad_text[2].Set(3, "\xC3");
  EXPECT_EQ(WriteMessage(bad_text).error().location.field, 3);
}

TEST(Hl7Writer, ReadsAMillionSeparatorsWithoutBlowingUp) {
  std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\rNTE|1||";
  text.append(2'000'000, '^');  // two million empty components: quadratic or 100 MB if careless
  auto message = ParseMessage(text);
  ASSERT_TRUE(message.ok());
  auto values = ReadValues(*message);
  ASSERT_FALSE(values.ok());
  EXPECT_EQ(values.error().code, base::ErrorCode::kTooLarge);
  EXPECT_EQ(values.error().location.segment_id, "NTE");
  EXPECT_EQ(values.error().location.field, 3);

  std::string fields = "MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\rNTE";
  fields.append(2'000'000, '|');
  auto many_fields = ParseMessage(fields);
  ASSERT_TRUE(many_fields.ok());
  EXPECT_FALSE(ReadValues(*many_fields).ok());

  std::string fine = "MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\rNTE|1||";
  fine.append(500'000, '^');
  fine += "end";
  auto fine_message = ParseMessage(fine);
  ASSERT_TRUE(fine_message.ok());
  auto fine_values = ReadValues(*fine_message);
  ASSERT_TRUE(fine_values.ok());
  EXPECT_EQ((*fine_values)[1].Value(3, 1, 500'001), "end");
}

// A random property: any values written with any usable delimiters read back the same.
TEST(Hl7Writer, RoundTripsRandomValues) {
  std::mt19937 random(20241207);
  const std::string alphabet = "ab|^~\\&#\r\n\t \xC3\xA9\"";
  auto random_text = [&]() {
    std::string text;
    const int length = random() % 6;
    for (int i = 0; i < length; ++i) {
      const size_t at = random() % alphabet.size();
      if (alphabet[at] == '\xC3' || alphabet[at] == '\xA9') {
        text += "\xC3\xA9";
      } else {
        text += alphabet[at];
      }
    }
    return text;
  };
  for (int round = 0; round < 500; ++round) {
    std::vector<SegmentValue> segments = Sample();
    SegmentValue obx{"OBX", {}};
    const int fields = 1 + random() % 6;
    for (int f = 1; f <= fields; ++f) {
      obx.Set(f, random_text(), 1 + random() % 3, 1 + random() % 3, 1 + random() % 3);
    }
    segments.push_back(obx);
    const Delimiters delimiters =
        round % 2 == 0 ? Delimiters{} : Delimiters{'|', '^', '~', '\\', '&', '#'};
    auto written = WriteMessage(segments, delimiters);
    ASSERT_TRUE(written.ok()) << written.error().ToString();
    auto parsed = ParseMessage(*written);
    ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
    auto values = ReadValues(*parsed);
    ASSERT_TRUE(values.ok());
    for (SegmentValue& segment : segments) TrimTrailingEmpty(segment);
    segments[0].fields[0] = {{{"|"}}};
    segments[0].fields[1] = {{{delimiters.EncodingCharacters()}}};
    ASSERT_EQ(*values, segments) << *written;
  }
}

}  // namespace
}  // namespace carerecord::hl7v2
