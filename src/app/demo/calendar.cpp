#include "app/demo/calendar.h"

#include <cstdio>

namespace carerecord::app::demo {

std::string DateText(int64_t seconds) {
  const fhir::CivilDate c = fhir::CivilFromDays(FloorDiv(seconds, kDay));
  char buf[40];  // room for any year the types allow, which quiets -Wformat-truncation
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(c.year), c.month,
                c.day);
  return buf;
}

std::string DateTimeText(int64_t seconds) {
  const int64_t in_day = seconds - FloorDiv(seconds, kDay) * kDay;
  char buf[16];
  std::snprintf(buf, sizeof buf, "T%02d:%02d:%02dZ", static_cast<int>(in_day / kHour),
                static_cast<int>(in_day % kHour / kMinute), static_cast<int>(in_day % kMinute));
  return DateText(seconds) + buf;
}

int AgeAt(int64_t birth, int64_t when) {
  const fhir::CivilDate b = fhir::CivilFromDays(FloorDiv(birth, kDay));
  const fhir::CivilDate w = fhir::CivilFromDays(FloorDiv(when, kDay));
  int age = static_cast<int>(w.year - b.year);
  if (w.month < b.month || (w.month == b.month && w.day < b.day)) --age;
  return age;
}

}  // namespace carerecord::app::demo
