#include "fhir/fhir_date.h"

#include <gtest/gtest.h>

namespace carerecord::fhir {
namespace {

constexpr int64_t kDay = 86'400'000;
constexpr int64_t k2021 = 1'609'459'200'000;  // 2021-01-01T00:00:00Z

DateRange Parse(std::string_view text) {
  auto result = ParseFhirDate(text);
  EXPECT_TRUE(result.ok()) << text << ": " << result.error().message;
  return result.ok() ? result.value() : DateRange{};
}

bool Rejected(std::string_view text) { return !ParseFhirDate(text).ok(); }

TEST(FhirDate, PartialYearCoversWholeYear) {
  EXPECT_EQ(Parse("2021"), (DateRange{k2021, 1'640'995'200'000}));
}

TEST(FhirDate, PartialMonthCoversWholeMonth) {
  EXPECT_EQ(Parse("2020-02"), (DateRange{1'580'515'200'000, 1'583'020'800'000}));
  EXPECT_EQ(Parse("2020-12").high_ms, k2021);  // December ends at the next year
}

TEST(FhirDate, DayCoversOneDay) {
  EXPECT_EQ(Parse("2021-01-01"), (DateRange{k2021, k2021 + kDay}));
}

TEST(FhirDate, LeapDayOnlyInLeapYears) {
  EXPECT_EQ(Parse("2020-02-29").low_ms, 1'582'934'400'000);
  EXPECT_FALSE(Rejected("2000-02-29"));
  EXPECT_TRUE(Rejected("2021-02-29"));
  EXPECT_TRUE(Rejected("1900-02-29"));
}

TEST(FhirDate, RejectsDaysMonthsDoNotHave) {
  EXPECT_TRUE(Rejected("2021-02-30"));
  EXPECT_TRUE(Rejected("2021-04-31"));
  EXPECT_TRUE(Rejected("2021-01-00"));
  EXPECT_TRUE(Rejected("2021-01-32"));
  EXPECT_FALSE(Rejected("2021-01-31"));
  EXPECT_NE(ParseFhirDate("2021-02-30").error().message.find("February 2021 has 28 days"),
            std::string::npos);
}

TEST(FhirDate, RejectsMonthsOutsideOneToTwelve) {
  EXPECT_TRUE(Rejected("2021-13"));
  EXPECT_TRUE(Rejected("2021-00"));
  EXPECT_TRUE(Rejected("2021-1"));
}

TEST(FhirDate, RejectsYearZeroAndShortOrLongYears) {
  EXPECT_TRUE(Rejected("0000"));
  EXPECT_TRUE(Rejected("202"));
  EXPECT_TRUE(Rejected("20210"));
  EXPECT_EQ(Parse("0001").low_ms, -62'135'596'800'000);
  EXPECT_EQ(Parse("9999-12-31").low_ms, 253'402'214'400'000);
}

TEST(FhirDate, RejectsCompactAndOtherFormats) {
  EXPECT_TRUE(Rejected("20210101"));
  EXPECT_TRUE(Rejected("2021/01/01"));
  EXPECT_TRUE(Rejected("01-01-2021"));
  EXPECT_TRUE(Rejected(""));
  EXPECT_TRUE(Rejected("2021-01-01T"));
  EXPECT_TRUE(Rejected("2021-01-01T10"));
}

TEST(FhirDate, RejectsTrailingJunk) {
  EXPECT_TRUE(Rejected("2021x"));
  EXPECT_TRUE(Rejected("2021-01-01 "));
  EXPECT_TRUE(Rejected("2021-01-01x"));
  EXPECT_TRUE(Rejected("2021-01-01T10:00:00Zx"));
  EXPECT_TRUE(Rejected("2021-01-01T10:00:00+01:00:00"));
  EXPECT_TRUE(Rejected("2021-01-01T10:00:00.5x"));
}

TEST(FhirDate, TimeRequiresFullDate) {
  EXPECT_TRUE(Rejected("2021-01T10:00:00Z"));
  EXPECT_TRUE(Rejected("2021T10:00:00Z"));
}

TEST(FhirDate, ZoneWithoutTimeIsRejected) { EXPECT_TRUE(Rejected("2021-01-01Z")); }

TEST(FhirDate, ZoneOffsetIsConvertedToUtc) {
  const int64_t eight_utc = k2021 + 8 * 3'600'000;
  EXPECT_EQ(Parse("2021-01-01T10:00:00+02:00").low_ms, eight_utc);
  EXPECT_EQ(Parse("2021-01-01T03:00:00-05:00").low_ms, eight_utc);
  EXPECT_EQ(Parse("2021-01-01T08:00:00Z").low_ms, eight_utc);
  EXPECT_EQ(Parse("2021-01-01T08:00:00+00:00").low_ms, eight_utc);
  EXPECT_EQ(Parse("2021-01-01T00:00:00+14:00").low_ms, k2021 - 14 * 3'600'000);
}

TEST(FhirDate, ZoneOffsetMustBeInRange) {
  EXPECT_TRUE(Rejected("2021-01-01T10:00:00+15:00"));
  EXPECT_TRUE(Rejected("2021-01-01T10:00:00+14:30"));
  EXPECT_TRUE(Rejected("2021-01-01T10:00:00+02:60"));
  EXPECT_TRUE(Rejected("2021-01-01T10:00:00+0200"));
  EXPECT_TRUE(Rejected("2021-01-01T10:00:00z"));
}

TEST(FhirDate, TimeWithoutZoneIsReadAsUtc) {
  EXPECT_EQ(Parse("2021-01-01T08:00:00"), Parse("2021-01-01T08:00:00Z"));
}

TEST(FhirDate, TimeFieldsMustBeInRange) {
  EXPECT_TRUE(Rejected("2021-01-01T24:00:00Z"));
  EXPECT_TRUE(Rejected("2021-01-01T10:60:00Z"));
  EXPECT_TRUE(Rejected("2021-01-01T10:00:61Z"));
  EXPECT_TRUE(Rejected("2021-01-01T1:00:00Z"));
  EXPECT_FALSE(Rejected("2021-01-01T23:59:60Z"));  // leap second
}

TEST(FhirDate, RangeWidthFollowsPrecision) {
  auto width = [](std::string_view text) {
    DateRange r = Parse(text);
    return r.high_ms - r.low_ms;
  };
  EXPECT_EQ(width("2021-01-01T10:00Z"), 60'000);
  EXPECT_EQ(width("2021-01-01T10:00:00Z"), 1'000);
  EXPECT_EQ(width("2021-01-01T10:00:00.1Z"), 100);
  EXPECT_EQ(width("2021-01-01T10:00:00.12Z"), 10);
  EXPECT_EQ(width("2021-01-01T10:00:00.123Z"), 1);
  EXPECT_EQ(width("2021-01-01T10:00:00.123456789Z"), 1);
}

TEST(FhirDate, FractionalSecondsAreMilliseconds) {
  EXPECT_EQ(Parse("2010-09-16T12:21:06.190+02:00").low_ms, 1'284'632'466'190);
  EXPECT_EQ(Parse("2021-01-01T00:00:00.5Z").low_ms, k2021 + 500);
  EXPECT_EQ(Parse("2021-01-01T00:00:00.0009Z").low_ms, k2021);
  EXPECT_TRUE(Rejected("2021-01-01T00:00:00.Z"));
}

TEST(FhirDate, FormatInstantWritesUtcWithMilliseconds) {
  EXPECT_EQ(FormatInstant(k2021), "2021-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatInstant(1'284'632'466'190), "2010-09-16T10:21:06.190Z");
  EXPECT_EQ(FormatInstant(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatInstant(0), "1970-01-01T00:00:00.000Z");
}

TEST(FhirDate, FormattedInstantParsesBackToItself) {
  for (int64_t ms :
       {int64_t{0}, k2021 + 123, int64_t{951'782'400'000}, int64_t{-62'135'596'800'000}}) {
    EXPECT_EQ(Parse(FormatInstant(ms)).low_ms, ms) << ms;
  }
}

TEST(FhirDate, NowIsAfter2024) { EXPECT_GT(NowMs(), 1'704'067'200'000); }

}  // namespace
}  // namespace carerecord::fhir
