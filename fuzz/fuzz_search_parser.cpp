// libFuzzer target over the search parser: the input is a query string, decoded by the one
// query decoder (DecodeQuery) and parsed as FhirService parses a search (ParseSearch), on a
// few resource types, strict and lenient. Any input must give a SearchSpec or a 400-class
// error: never a crash, a hang or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "interactions/search_request.h"

namespace {

// Walks a parsed spec to its leaves, so a dangling or malformed inner spec is touched.
size_t CountConditions(const carerecord::store::SearchSpec& spec, int depth = 0) {
  size_t count = 0;
  for (const auto& condition : spec.conditions) {
    ++count;
    for (const auto& value : condition.values) {
      if (value.chain && depth < 64) count += CountConditions(*value.chain, depth + 1);
    }
  }
  return count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace carerecord::interactions;
  const std::string_view query(reinterpret_cast<const char*>(data), size);
  auto params = DecodeQuery(query);
  if (!params.ok()) return 0;
  static constexpr const char* kTypes[] = {"Patient", "Observation", "Location", "Encounter"};
  const char* type = kTypes[size % 4];
  for (bool strict : {false, true}) {
    auto parsed = ParseSearch(type, *params, strict, {}, "http://example.org/fhir");
    if (parsed.ok()) {
      (void)CountConditions(parsed->spec);
      (void)EncodeQuery(parsed->applied);
    } else if (parsed.error().code == carerecord::base::ErrorCode::kInternal) {
      __builtin_trap();  // a bad query is the client's error, never the server's
    }
  }
  return 0;
}
