// A hand-written scanner rather than std::regex or std::get_time: this runs for every date in
// every ingested resource, and must not depend on the process locale.
#include "fhir/fhir_date.h"

#include <array>
#include <chrono>
#include <string>

namespace carerecord::fhir {
namespace {

constexpr int64_t kMsPerSecond = 1000;
constexpr int64_t kMsPerMinute = 60 * kMsPerSecond;
constexpr int64_t kMsPerDay = 24 * 60 * kMsPerMinute;

constexpr std::array<std::string_view, 12> kMonthNames = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int year, int month) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

class DateScanner {
 public:
  explicit DateScanner(std::string_view text) : text_(text) {}

  base::Result<DateRange> Scan() {
    int year = 0;
    if (!Digits(4, year)) return Fail("expected a four-digit year");
    if (year == 0) return Fail("year 0000 does not exist");
    if (AtEnd()) return Range(DaysFromCivil(year, 1, 1), DaysFromCivil(year + 1, 1, 1));

    int month = 0;
    if (!Take('-') || !Digits(2, month)) return Fail("expected '-' and a two-digit month");
    if (month < 1 || month > 12) return Fail("month must be 01 to 12");
    if (AtEnd()) {
      const int next_year = month == 12 ? year + 1 : year;
      const int next_month = month == 12 ? 1 : month + 1;
      return Range(DaysFromCivil(year, month, 1), DaysFromCivil(next_year, next_month, 1));
    }

    int day = 0;
    if (!Take('-') || !Digits(2, day)) return Fail("expected '-' and a two-digit day");
    if (day < 1 || day > DaysInMonth(year, month)) {
      return Fail(std::string(kMonthNames[month - 1]) + " " + std::to_string(year) + " has " +
                  std::to_string(DaysInMonth(year, month)) + " days");
    }
    const int64_t day_ms = DaysFromCivil(year, month, day) * kMsPerDay;
    if (AtEnd()) return DateRange{day_ms, day_ms + kMsPerDay};

    if (!Take('T')) return Fail("expected 'T' and a time after the date");
    return ScanTime(day_ms);
  }

 private:
  base::Result<DateRange> ScanTime(int64_t day_ms) {
    int hour = 0, minute = 0;
    if (!Digits(2, hour) || !Take(':') || !Digits(2, minute)) return Fail("expected hh:mm");
    if (hour > 23) return Fail("hour must be 00 to 23");
    if (minute > 59) return Fail("minutes must be 00 to 59");
    int64_t low = day_ms + hour * 60 * kMsPerMinute + minute * kMsPerMinute;
    int64_t width = kMsPerMinute;
    if (Take(':')) {
      int second = 0;
      if (!Digits(2, second)) return Fail("expected two-digit seconds");
      if (second > 60) return Fail("seconds must be 00 to 60");  // 60: a leap second
      low += second * kMsPerSecond;
      width = kMsPerSecond;
      if (Take('.')) {
        // Any number of digits; the range is as wide as the digits given, at least 1 ms.
        int digits = 0;
        int64_t fraction_ms = 0;
        while (pos_ < text_.size() && IsDigit(text_[pos_])) {
          if (digits < 3) fraction_ms = fraction_ms * 10 + (text_[pos_] - '0');
          ++digits;
          ++pos_;
        }
        if (digits == 0) return Fail("expected digits after '.'");
        width = digits == 1 ? 100 : digits == 2 ? 10 : 1;
        low += fraction_ms * width;
      }
    }
    if (AtEnd()) return DateRange{low, low + width};  // no zone: read as UTC

    if (Take('Z')) {
      if (!AtEnd()) return Fail("unexpected text after the time zone");
      return DateRange{low, low + width};
    }
    const char sign = text_[pos_];
    int zone_hours = 0, zone_minutes = 0;
    if (sign != '+' && sign != '-') return Fail("expected a time zone Z, +hh:mm or -hh:mm");
    ++pos_;
    if (!Digits(2, zone_hours) || !Take(':') || !Digits(2, zone_minutes) || !AtEnd()) {
      return Fail("expected a time zone Z, +hh:mm or -hh:mm at the end");
    }
    if (zone_minutes > 59 || zone_hours > 14 || (zone_hours == 14 && zone_minutes != 0)) {
      return Fail("time zone offset must be between -14:00 and +14:00");
    }
    const int64_t offset = (zone_hours * 60 + zone_minutes) * kMsPerMinute;
    low -= sign == '+' ? offset : -offset;
    return DateRange{low, low + width};
  }

  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }
  bool AtEnd() const { return pos_ == text_.size(); }
  bool Take(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Digits(int count, int& out) {
    if (text_.size() - pos_ < static_cast<size_t>(count)) return false;
    int value = 0;
    for (int i = 0; i < count; ++i) {
      const char c = text_[pos_ + i];
      if (!IsDigit(c)) return false;
      value = value * 10 + (c - '0');
    }
    pos_ += count;
    out = value;
    return true;
  }
  static base::Result<DateRange> Range(int64_t low_days, int64_t high_days) {
    return DateRange{low_days * kMsPerDay, high_days * kMsPerDay};
  }
  base::Error Fail(const std::string& why) const {
    std::string shown(text_.substr(0, 64));
    return base::Invalid("'" + shown + "' is not a valid FHIR date/time: " + why);
  }

  std::string_view text_;
  size_t pos_ = 0;
};

void AppendDigits(std::string& out, int64_t value, int width) {
  char buffer[20];
  for (int i = width - 1; i >= 0; --i) {
    buffer[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buffer, width);
}

}  // namespace

base::Result<DateRange> ParseFhirDate(std::string_view text) { return DateScanner(text).Scan(); }

std::string FormatInstant(int64_t epoch_ms) {
  // Floor division, so instants before 1970 format as the right day.
  int64_t days = epoch_ms / kMsPerDay;
  int64_t ms_of_day = epoch_ms % kMsPerDay;
  if (ms_of_day < 0) {
    ms_of_day += kMsPerDay;
    --days;
  }
  const CivilDate date = CivilFromDays(days);
  std::string out;
  out.reserve(24);
  AppendDigits(out, date.year, 4);
  out += '-';
  AppendDigits(out, date.month, 2);
  out += '-';
  AppendDigits(out, date.day, 2);
  out += 'T';
  AppendDigits(out, ms_of_day / (60 * kMsPerMinute), 2);
  out += ':';
  AppendDigits(out, ms_of_day / kMsPerMinute % 60, 2);
  out += ':';
  AppendDigits(out, ms_of_day / kMsPerSecond % 60, 2);
  out += '.';
  AppendDigits(out, ms_of_day % kMsPerSecond, 3);
  out += 'Z';
  return out;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace carerecord::fhir
