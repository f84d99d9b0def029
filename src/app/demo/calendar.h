// The demo region's clock: times are UTC seconds (proleptic Gregorian, on fhir_date.h's civil
// arithmetic), and every generated time lies in the ten years before kReferenceTime, so the region
// does not depend on the day it is generated. Pure functions; used by the demo generator's files.
#pragma once

#include <cstdint>
#include <string>

#include "fhir/fhir_date.h"

namespace carerecord::app::demo {

inline constexpr int64_t kMinute = 60;
inline constexpr int64_t kHour = 3600;
inline constexpr int64_t kDay = 86400;
inline constexpr int64_t kYear = 365 * kDay + kDay / 4;

inline int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

inline constexpr int64_t kReferenceTime = fhir::DaysFromCivil(2026, 11, 1) * kDay;
inline constexpr int64_t kWindowStart = fhir::DaysFromCivil(2016, 11, 1) * kDay;

std::string DateText(int64_t seconds);
// A dateTime (and instant) to the second, in UTC.
std::string DateTimeText(int64_t seconds);
// Whole years from `birth` to `when`.
int AgeAt(int64_t birth, int64_t when);

inline int64_t AddYears(int64_t seconds, int years) { return seconds + years * kYear; }

}  // namespace carerecord::app::demo
