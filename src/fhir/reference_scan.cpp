#include "fhir/reference_scan.h"

#include <cstring>

namespace carerecord::fhir {
namespace {

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t SkipSpace(std::string_view text, size_t at) {
  while (at < text.size() && IsJsonSpace(text[at])) ++at;
  return at;
}

}  // namespace

void ForEachReferenceString(std::string_view json,
                            const std::function<void(std::string_view reference)>& visit) {
  static constexpr std::string_view kName = "\"reference\"";
  size_t at = 0;
  while (at < json.size()) {
    const void* found = ::memmem(json.data() + at, json.size() - at, kName.data(), kName.size());
    if (!found) return;
    const size_t open = static_cast<const char*>(found) - json.data();
    at = open + kName.size();
    // In valid JSON a quote right after '{' or ',' (whitespace aside) is not escaped, so it
    // opens a string, and a string followed by ':' is a member name. Inside a string every
    // quote is escaped, so "reference" with its quotes cannot match there.
    size_t before = open;
    while (before > 0 && IsJsonSpace(json[before - 1])) --before;
    if (before == 0 || (json[before - 1] != '{' && json[before - 1] != ',')) continue;
    const size_t colon = SkipSpace(json, at);
    if (colon >= json.size() || json[colon] != ':') continue;
    const size_t value = SkipSpace(json, colon + 1);
    if (value >= json.size() || json[value] != '"') continue;
    // The first quote or backslash after the opening quote: a quote ends the value; a
    // backslash starts an escape, and the scan goes on from there (still inside the value,
    // where no unescaped "reference" can match).
    size_t end = value + 1;
    while (end < json.size() && json[end] != '"' && json[end] != '\\') ++end;
    if (end >= json.size()) return;
    at = end + 1;
    if (json[end] == '\\') continue;
    visit(json.substr(value + 1, end - value - 1));
  }
}

}  // namespace carerecord::fhir
