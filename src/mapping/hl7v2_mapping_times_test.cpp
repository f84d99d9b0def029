// Times a message states are mapped or refused, never dropped (hostile round 6a, finding 11: an
// OBR-7 of month 13 was mapped with no effective time and no error). A time present but not a
// timestamp fails the message with 102 naming the segment and field; an instant field (OBR-22,
// TXA-4) whose valid time stops short of seconds is left out with a warning.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "mapping/hl7v2_mapping.h"

namespace carerecord::mapping {
namespace {

namespace json = boost::json;

const char kPid[] = "PID|1||M123456^^^RX1PAS^MR||SMITH^JANE||19800214|F";

hl7v2::Result<MappedMessage> Map(const std::string& type, std::vector<std::string> segments) {
  std::string bytes =
      "MSH|^~\\&|LAB|RX1HOSP|CARERECORD|REGION|20260301101500+0000||" + type + "|C1|P|2.5.1\r";
  for (const std::string& s : segments) bytes += s + "\r";
  auto parsed = hl7v2::ParseMessage(std::string_view(bytes));
  EXPECT_TRUE(parsed.ok());
  FeedContext feed{"rx1", "RX1", "RX1HOSP", 1'800'000'000'000, "C1"};
  return MapMessage(*parsed, feed);
}

std::string Obr(const std::string& obr7, const std::string& obr22 = "") {
  std::string fields[26];
  fields[1] = "1";
  fields[3] = "FL77";
  fields[4] = "UE^U and E^LOCAL";
  fields[7] = obr7;
  fields[22] = obr22;
  fields[25] = "F";
  std::string out = "OBR";
  for (int i = 1; i <= 25; ++i) out += "|" + fields[i];
  return out;
}

std::string Obx(const std::string& obx14) {
  return "OBX|1|NM|22664-7^Potassium^LN||4.1|mmol/L|||||F|||" + obx14;
}

void ExpectRefusedAt(const hl7v2::Result<MappedMessage>& m, const std::string& segment,
                     size_t field, const std::string& text) {
  ASSERT_FALSE(m.ok()) << segment << "-" << field;
  EXPECT_EQ(m.error().condition, hl7v2::ErrorCondition::kDataTypeError);
  EXPECT_EQ(m.error().location.segment_id, segment);
  EXPECT_EQ(m.error().location.field, field);
  const std::string name = segment + "-" + std::to_string(field);
  EXPECT_NE(m.error().reason.find(name), std::string::npos) << m.error().reason;
  EXPECT_NE(m.error().reason.find("'" + text + "' is not a timestamp"), std::string::npos)
      << m.error().reason;
}

TEST(Hl7v2MappingTimes, AnInvalidResultTimeRefusesTheMessageNamingTheField) {
  ExpectRefusedAt(Map("ORU^R01", {kPid, Obr("20261399"), Obx("")}), "OBR", 7, "20261399");
  ExpectRefusedAt(Map("ORU^R01", {kPid, Obr("20260301", "20260230120000"), Obx("")}), "OBR", 22,
                  "20260230120000");
  ExpectRefusedAt(Map("ORU^R01", {kPid, Obr("20260301"), Obx("2026030125")}), "OBX", 14,
                  "2026030125");
  // The same messages with valid times map, with the times.
  auto good = Map("ORU^R01", {kPid, Obr("20260301", "20260301120000"), Obx("202603011130")});
  ASSERT_TRUE(good.ok()) << good.error().ToString();
  const MappedResource* report = nullptr;
  const MappedResource* observation = nullptr;
  for (const auto& r : good->resources) {
    if (r.type == "DiagnosticReport") report = &r;
    if (r.type == "Observation") observation = &r;
  }
  ASSERT_TRUE(report && observation);
  EXPECT_EQ(report->resource.at("effectiveDateTime").as_string(), "2026-03-01");
  EXPECT_TRUE(report->resource.contains("issued"));
  EXPECT_EQ(observation->resource.at("effectiveDateTime").as_string(), "2026-03-01T11:30:00+00:00");
}

TEST(Hl7v2MappingTimes, AnIssuedTimeWithoutSecondsIsLeftOutWithAWarning) {
  auto m = Map("ORU^R01", {kPid, Obr("20260301", "20260301"), Obx("")});
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  for (const auto& r : m->resources) EXPECT_FALSE(r.resource.contains("issued")) << r.type;
  bool warned = false;
  for (const std::string& w : m->warnings)
    warned |= w.find("OBR") != std::string::npos && w.find("field 22") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST(Hl7v2MappingTimes, InvalidAdmissionAllergyDiagnosisAndDeathTimesAreRefused) {
  const std::string evn = "EVN|A01|20260301101500";
  auto pv1 = [](const std::string& p44, const std::string& p45) {
    std::string out = "PV1|1|I|W1^BAY1^BED1";
    for (int i = 4; i <= 18; ++i) out += "|";
    out += "|V1^^^RX1PAS^VN";  // PV1-19
    for (int i = 20; i <= 43; ++i) out += "|";
    return out + "|" + p44 + "|" + p45;
  };
  ExpectRefusedAt(Map("ADT^A01", {evn, kPid, pv1("20260001", "")}), "PV1", 44, "20260001");
  ExpectRefusedAt(Map("ADT^A03", {"EVN|A03|20260301101500", kPid, pv1("20260301", "2026XX01")}),
                  "PV1", 45, "2026XX01");
  ExpectRefusedAt(
      Map("ADT^A01", {evn, kPid, pv1("20260301", ""), "AL1|1|DA|PEN^Penicillin|SV|rash|20261301"}),
      "AL1", 6, "20261301");
  ExpectRefusedAt(
      Map("ADT^A01", {evn, kPid, pv1("20260301", ""), "DG1|1||I10^Hypertension^I10||20260132"}),
      "DG1", 5, "20260132");
  ExpectRefusedAt(
      Map("ADT^A08", {"EVN|A08|20260301101500", std::string(kPid) + "|||||||||||||||||||||202613"}),
      "PID", 29, "202613");
  // Valid, they map.
  auto good = Map("ADT^A03", {"EVN|A03|20260301101500", kPid, pv1("20260301", "20260302"),
                              "AL1|1|DA|PEN^Penicillin|SV|rash|20250101",
                              "DG1|1||I10^Hypertension^I10||20260301"});
  ASSERT_TRUE(good.ok()) << good.error().ToString();
}

// Hostile round 6b, finding 7: PID-7 21000101 was mapped as a Patient born in 2100.
TEST(Hl7v2MappingTimes, ABirthDateInTheFutureRefusesTheMessageNamingPid7) {
  auto with_birth = [](const std::string& birth) {
    return Map("ADT^A08", {"EVN|A08|20260301101500",
                           "PID|1||M123456^^^RX1PAS^MR||SMITH^JANE||" + birth + "|F"});
  };
  // Received 2027-01-15 (FeedContext above); sent 2026-03-01 (MSH-7).
  for (const std::string birth : {"21000101", "20260302", "202604", "2027", "20270301"}) {
    auto m = with_birth(birth);
    ASSERT_FALSE(m.ok()) << birth;
    EXPECT_EQ(m.error().condition, hl7v2::ErrorCondition::kDataTypeError);
    EXPECT_EQ(m.error().location.segment_id, "PID");
    EXPECT_EQ(m.error().location.field, 7u);
    EXPECT_NE(m.error().reason.find("PID-7"), std::string::npos) << m.error().reason;
    EXPECT_NE(m.error().reason.find("in the future"), std::string::npos) << m.error().reason;
  }
  // Born on the day the message was sent, or earlier at any precision: mapped.
  for (const std::string birth : {"20260301", "202603", "2026", "19800214"}) {
    auto m = with_birth(birth);
    ASSERT_TRUE(m.ok()) << birth << ": " << m.error().ToString();
  }
}

// A message received (by a clock ahead of this test's) on 2096-10-02 at 07:06 UTC, sent in 2100:
// the latest date anywhere when it was received bounds it.
TEST(Hl7v2MappingTimes, ABirthDateAfterTheDayReceivedIsRefused) {
  auto map = [](const std::string& birth) {
    std::string bytes =
        "MSH|^~\\&|PAS|RX1HOSP|CARERECORD|REGION|21000101120000+0000||ADT^A08|C2|P|2.5.1\r"
        "EVN|A08|21000101120000+0000\rPID|1||M1^^^RX1PAS^MR||SMITH^JANE||" +
        birth + "|F\r";
    auto parsed = hl7v2::ParseMessage(std::string_view(bytes));
    EXPECT_TRUE(parsed.ok());
    FeedContext feed{"rx1", "RX1", "RX1HOSP", 4'000'000'000'000, "C2"};
    return MapMessage(*parsed, feed);
  };
  auto late = map("20961003");
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().reason.find("PID-7"), std::string::npos) << late.error().reason;
  EXPECT_NE(late.error().reason.find("received"), std::string::npos) << late.error().reason;
  // At 07:06 UTC on the 2nd no place has reached the 3rd (UTC+14 is at 21:06).
  auto today = map("20961002");
  EXPECT_TRUE(today.ok()) << today.error().ToString();
}

}  // namespace
}  // namespace carerecord::mapping
