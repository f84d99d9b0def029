// ACKs: original mode (AA/AE/AR with ERR in each version's style), enhanced mode policy and
// accept ACKs, and the reject for a message too broken to parse.
#include "hl7v2/ack.h"

#include <gtest/gtest.h>

#include <deque>

namespace carerecord::hl7v2 {
namespace {

const Responder kUs{"carerecord", "RDZ"};

// A Message views its bytes; the ACKs built here are kept alive for the test's duration.
Message Parse(std::string_view bytes) {
  static std::deque<std::string> kept;
  kept.emplace_back(bytes);
  auto parsed = ParseMessage(kept.back());
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().ToString());
  return parsed.ok() ? std::move(parsed).value() : Message();
}

AckDetails Fixed(AckCode code) {
  AckDetails details;
  details.code = code;
  details.control_id = "ACK1";
  details.timestamp = "20241207120000+0000";
  return details;
}

constexpr std::string_view kAdt251 =
    "MSH|^~\\&|PAS|RBD^1.2.3^ISO|CR|RDZ|20241207115959||ADT^A01^ADT_A01|MSG42|P|2.5.1\r"
    "PID|1||123^^^RBD^MR\r";

TEST(Hl7Ack, AcceptsInOriginalMode) {
  const std::string ack = BuildAck(Parse(kAdt251), Fixed(AckCode::kAA), kUs);
  EXPECT_EQ(ack,
            "MSH|^~\\&|carerecord|RDZ|PAS|RBD^1.2.3^ISO|20241207120000+0000||ACK^A01^ACK|ACK1|P|"
            "2.5.1\r"
            "MSA|AA|MSG42\r");
  // The ACK is itself a message our parser reads.
  const Message parsed = Parse(ack);
  EXPECT_EQ(parsed.header().message_code, "ACK");
  EXPECT_EQ(parsed.Get("MSA", 2), "MSG42");
}

TEST(Hl7Ack, NamesTheErrorInErrForV25AndLater) {
  AckDetails details = Fixed(AckCode::kAE);
  details.errors.push_back(MakeHl7Error(ErrorCondition::kRequiredFieldMissing,
                                        ErrorLocation{"PID", 2, 3, 1, 1, 0},
                                        "no MRN (PID-3 with type MR)"));
  details.errors.push_back(MakeHl7Error(ErrorCondition::kTableValueNotFound,
                                        ErrorLocation{"PID", 2, 8}, "sex 'Q' is not in table 1"));
  const std::string ack = BuildAck(Parse(kAdt251), details, kUs);
  const Message parsed = Parse(ack);
  EXPECT_EQ(parsed.Get("MSA", 1), "AE");
  EXPECT_EQ(parsed.Get("MSA", 3), "");  // MSA-3 is gone from 2.5 on
  const SegmentView first = *parsed.FindSegment("ERR", 1);
  EXPECT_EQ(first.Get(2), "PID^2^3^1^1");
  EXPECT_EQ(first.Get(3), "101^Required field missing^HL70357");
  EXPECT_EQ(first.Get(4), "E");
  EXPECT_EQ(*first.Text(7),
            "PID (segment 2) field 3 repetition 1 component 1: no MRN (PID-3 "
            "with type MR)");
  const SegmentView second = *parsed.FindSegment("ERR", 2);
  EXPECT_EQ(second.Get(2), "PID^2^8");
  EXPECT_EQ(second.Get(3, 1, 1), "103");
}

TEST(Hl7Ack, UsesErr1AndMsa3BeforeV25) {
  for (std::string_view version : {"2.3", "2.4"}) {
    const std::string message =
        "MSH|^~\\&|PAS|RBD|CR|RDZ|1||ADT^A04|M7|P|" + std::string(version) + "\rPID|1\r";
    AckDetails details = Fixed(AckCode::kAR);
    details.errors.push_back(MakeHl7Error(ErrorCondition::kUnsupportedEventCode,
                                          ErrorLocation{"MSH", 1, 9}, "A04 is not taken here"));
    const Message parsed = Parse(BuildAck(Parse(message), details, kUs));
    EXPECT_EQ(parsed.header().version, version);
    EXPECT_EQ(parsed.Get("MSH", 9), version == "2.3" ? "ACK^A04" : "ACK^A04^ACK");
    EXPECT_EQ(parsed.Get("MSA", 1), "AR");
    EXPECT_EQ(*parsed.Text("MSA", 3), "A04 is not taken here");
    EXPECT_EQ(parsed.Get("ERR", 1), "MSH^1^9^201&Unsupported event code&HL70357");
  }
}

TEST(Hl7Ack, WritesInTheMessagesDelimitersAndEscapesOurText) {
  const Message message = Parse("MSH#*@!%#PAS#RBD#CR#RDZ#1##ORU*R01#M9#P#2.4\r");
  AckDetails details = Fixed(AckCode::kAE);
  details.errors.push_back(MakeHl7Error(ErrorCondition::kDataTypeError, ErrorLocation{"OBX", 3, 5},
                                        "value '5#*6' is no number"));
  Responder us{"care#record", "R*DZ"};
  const Message parsed = Parse(BuildAck(message, details, us));
  EXPECT_EQ(parsed.delimiters().field, '#');
  EXPECT_EQ(*parsed.Text("MSH", 3), "care#record");
  EXPECT_EQ(*parsed.Text("MSH", 4), "R*DZ");
  EXPECT_EQ(*parsed.Text("MSA", 3), "value '5#*6' is no number");
  EXPECT_EQ(parsed.Get("ERR", 1, 1, 4, 1), "102");
}

TEST(Hl7Ack, EchoesTheCharacterSet) {
  const Message message =
      Parse("MSH|^~\\&|PAS|RBD|CR|RDZ|1||ADT^A08|M1|P|2.5||||||8859/1\rPID|1\r");
  AckDetails details = Fixed(AckCode::kAE);
  details.errors.push_back(
      MakeHl7Error(ErrorCondition::kDataTypeError, ErrorLocation{"PID", 2, 5}, "Se\xC3\xA1n?"));
  const std::string ack = BuildAck(message, details, kUs);
  EXPECT_NE(ack.find("Se\xE1n?"), std::string::npos);  // in 8859/1 as MSH-18 says
  const Message parsed = Parse(ack);
  EXPECT_EQ(parsed.Get("MSH", 18), "8859/1");
  EXPECT_NE(parsed.Text("ERR", 7)->find("Se\xC3\xA1n?"), std::string::npos);
}

TEST(Hl7Ack, ReadsTheEnhancedModePolicy) {
  MessageHeader header;
  AckPolicy original = ReadAckPolicy(header);
  EXPECT_FALSE(original.enhanced);
  EXPECT_FALSE(original.WantsAcceptAck(true));
  EXPECT_TRUE(original.WantsApplicationAck(true));
  EXPECT_TRUE(original.WantsApplicationAck(false));

  header.accept_ack_type = "AL";
  header.application_ack_type = "NE";
  AckPolicy accept_only = ReadAckPolicy(header);
  EXPECT_TRUE(accept_only.enhanced);
  EXPECT_TRUE(accept_only.WantsAcceptAck(true));
  EXPECT_TRUE(accept_only.WantsAcceptAck(false));
  EXPECT_FALSE(accept_only.WantsApplicationAck(true));
  EXPECT_FALSE(accept_only.WantsApplicationAck(false));

  header.accept_ack_type = "ER";
  header.application_ack_type = "SU";
  AckPolicy conditional = ReadAckPolicy(header);
  EXPECT_FALSE(conditional.WantsAcceptAck(true));
  EXPECT_TRUE(conditional.WantsAcceptAck(false));
  EXPECT_TRUE(conditional.WantsApplicationAck(true));
  EXPECT_FALSE(conditional.WantsApplicationAck(false));

  header.accept_ack_type = "";
  header.application_ack_type = "NE";
  AckPolicy half = ReadAckPolicy(header);
  EXPECT_TRUE(half.enhanced);
  EXPECT_TRUE(half.WantsAcceptAck(true));  // empty in enhanced mode reads as AL
  EXPECT_FALSE(half.WantsApplicationAck(true));
}

TEST(Hl7Ack, BuildsAnAcceptAckForEnhancedMode) {
  const Message message =
      Parse("MSH|^~\\&|PAS|RBD|CR|RDZ|1||ADT^A01^ADT_A01|M5|P|2.5|||AL|NE\rPID|1\r");
  const AckPolicy policy = ReadAckPolicy(message.header());
  ASSERT_TRUE(policy.WantsAcceptAck(true));
  const Message ack = Parse(BuildAck(message, Fixed(AckCode::kCA), kUs));
  EXPECT_EQ(ack.Get("MSA", 1), "CA");
  EXPECT_EQ(ack.Get("MSA", 2), "M5");
  EXPECT_EQ(ack.Get("MSH", 15), "");  // an ACK asks for no ACK
}

TEST(Hl7Ack, RejectsUnreadableBytesSensibly) {
  // MSH readable, but MSH-12 missing: what can be read is echoed.
  const std::string broken = "MSH|^~\\&|PAS|RBD|CR|RDZ|1||ADT^A01|M77|P\rPID|1\r";
  auto parsed = ParseMessage(broken);
  ASSERT_FALSE(parsed.ok());
  const Message reject =
      Parse(BuildRejectForUnreadable(broken, parsed.error(), kUs, Fixed(AckCode::kAA)));
  EXPECT_EQ(reject.Get("MSA", 1), "AR");
  EXPECT_EQ(reject.Get("MSA", 2), "M77");
  EXPECT_EQ(reject.Get("MSH", 5), "PAS");
  EXPECT_EQ(reject.Get("MSH", 9), "ACK^A01^ACK");
  EXPECT_EQ(reject.header().version, "2.5");
  EXPECT_EQ(reject.Get("ERR", 2), "MSH^1^12");
  EXPECT_EQ(reject.Get("ERR", 3, 1, 1), "101");

  // Nothing readable at all: default delimiters, no MSA-2, the reason still in ERR.
  const std::string junk("\x01\x02garbage\xFF", 11);
  auto junk_parsed = ParseMessage(junk);
  ASSERT_FALSE(junk_parsed.ok());
  const Message junk_reject =
      Parse(BuildRejectForUnreadable(junk, junk_parsed.error(), kUs, Fixed(AckCode::kAA)));
  EXPECT_EQ(junk_reject.Get("MSA", 1), "AR");
  EXPECT_EQ(junk_reject.Get("MSA", 2), "");
  EXPECT_NE(junk_reject.Text("ERR", 7)->find("does not start with an MSH"), std::string::npos);

  // Unprintable bytes inside a readable MSH are not echoed into the ACK.
  const std::string dirty = std::string("MSH|^~\\&|P\x01S|RBD|CR|RDZ|1||ADT^A01|M\x02|P|2.4\r");
  auto dirty_parsed = ParseMessage(dirty);
  ASSERT_FALSE(dirty_parsed.ok());
  const Message dirty_reject =
      Parse(BuildRejectForUnreadable(dirty, dirty_parsed.error(), kUs, Fixed(AckCode::kAA)));
  EXPECT_EQ(dirty_reject.Get("MSH", 5), "PS");
  EXPECT_EQ(dirty_reject.Get("MSA", 2), "M");
  EXPECT_EQ(dirty_reject.Get("ERR", 1, 1, 3), "3");  // v2.4: ERR-1 names MSH-3
}

TEST(Hl7Ack, MakesFreshControlIdsAndTimestamps) {
  const std::string a = NewControlId();
  const std::string b = NewControlId();
  EXPECT_EQ(a.size(), 18u);
  EXPECT_NE(a, b);
  const std::string now = TimestampNow();
  EXPECT_EQ(now.size(), 19u);
  EXPECT_EQ(now.substr(14), "+0000");
  const Message ack = Parse(BuildAck(Parse(kAdt251), AckDetails{}, kUs));
  EXPECT_EQ(ack.Get("MSH", 10).size(), 18u);
  EXPECT_EQ(ack.Get("MSH", 7).size(), 19u);
}

}  // namespace
}  // namespace carerecord::hl7v2
