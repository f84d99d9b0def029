// Builders for the FHIR elements of the demo region's resources, as Boost.JSON: codings and
// concepts, references, quantities, periods, base64 attachments, and the HTEST-tagged shell
// every resource starts from. Pure; used by the demo generator's files.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "app/demo/terminology.h"

namespace carerecord::app::demo {

namespace json = boost::json;

json::object CodingOf(const Code& code);
json::object Concept(const Code& code);
// Two codings of one concept (LOINC and SNOMED CT); the text is the first's display.
json::object Concept(const Code& first, const Code& second);
json::object TextConcept(std::string_view text);
json::object Ref(std::string_view reference, std::string_view display = {});

// `value` rounded to `decimals` places (written as an integer when 0).
json::object Quantity(double value, int decimals, std::string_view unit, std::string_view ucum);
// The end is left out unless it lies after the start and by the reference time (still going on).
json::object Period(int64_t start, int64_t end);

// For an Attachment's data.
std::string Base64(std::string_view bytes);

// Every resource carries the HL7 tag for test data, so no one mistakes it for a real record.
json::object NewResource(std::string_view type);

}  // namespace carerecord::app::demo
