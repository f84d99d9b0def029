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

}  // namespace carerecord::fhir
