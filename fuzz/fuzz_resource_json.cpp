// libFuzzer target: a request body as the server reads one (ParseResourceBody: FHIR's JSON
// rules, limits, numbers kept as written), then what the write path does with it: validation,
// index extraction, _summary shaping, and writing it back. Checks that the text written parses
// again to the same text (numbers included), and never shows a kept number's mark.
// Built by scripts/fuzz.sh.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fhir/index_extraction.h"
#include "fhir/json_number.h"
#include "fhir/resource_summary.h"
#include "fhir/resource_validation.h"
#include "interactions/fhir_json.h"

namespace {

using namespace carerecord;

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = interactions::ParseResourceBody(text);
  if (!parsed.ok()) return 0;
  const boost::json::object& resource = *parsed;
  const bool valid = fhir::ValidateResource(resource).ok();
  const std::string type(resource.at("resourceType").as_string());
  if (valid) {
    fhir::ExtractIndexEntries(resource, type);
    interactions::Serialize(fhir::SummaryOf(resource));
  }
  const std::string written = interactions::Serialize(resource);
  Check(written.find(fhir::kExactNumberMark) == std::string::npos);
  // The server takes back what it wrote (a PUT of the body read back), unchanged.
  auto again = interactions::ParseResourceBody(written);
  Check(again.ok());
  Check(interactions::Serialize(*again) == written);
  if (valid) Check(fhir::ValidateResource(*again).ok());
  return 0;
}
