// Writes JSON text for FHIR resources. A number kept as the client wrote it (json_number.h) is
// written as that text. Other decimals are written as the shortest text that reads back to the
// same value (Boost.JSON 1.81 would print 0.02 as 2E-2). Pure; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace carerecord::fhir {

void AppendJson(std::string& out, const boost::json::value& value);
void AppendJson(std::string& out, const boost::json::object& object);
std::string WriteJson(const boost::json::value& value);
// A JSON string literal for `text`, escaped.
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace carerecord::fhir
