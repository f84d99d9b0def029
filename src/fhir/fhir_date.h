// FHIR date, dateTime and instant values as the half-open range of UTC milliseconds they cover
// ("2020" covers the whole year). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/status.h"

namespace carerecord::fhir {

struct DateRange {
  int64_t low_ms;   // inclusive
  int64_t high_ms;  // exclusive
  bool operator==(const DateRange&) const = default;
};

enum class DatePrecision { kYear, kMonth, kDay, kMinute, kSecond, kMillisecond };

// Parses "YYYY", "YYYY-MM", "YYYY-MM-DD", "YYYY-MM-DDThh:mm(:ss(.fff))(Z|+hh:mm)". A time without
// a zone is read as UTC. Returns an error naming what is wrong for anything else (2021-02-30 too).
base::Result<DateRange> ParseFhirDate(std::string_view text);

// Formats epoch milliseconds as an instant: "2024-05-01T10:20:30.123Z".
std::string FormatInstant(int64_t epoch_ms);

int64_t NowMs();

// Calendar arithmetic (Howard Hinnant's algorithms): days since 1970-01-01 in the proleptic
// Gregorian calendar, and back.
struct CivilDate {
  int64_t year;
  unsigned month;
  unsigned day;
};

constexpr int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day) {
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

constexpr CivilDate CivilFromDays(int64_t days) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<int64_t>(yoe) + era * 400 + (month <= 2), month, day};
}

}  // namespace carerecord::fhir
