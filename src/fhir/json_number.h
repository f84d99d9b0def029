// FHIR numbers exactly as the client wrote them (0.010 is not 0.01), in parsed JSON. Every
// reader of numbers, and every reader of strings in a parsed resource, asks through here.
// Pure; thread-safe.
#pragma once

#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace carerecord::fhir {

// A number whose text the writer would print differently from its value (1.50, 1e2, -0, a
// 29-digit integer) is kept in the tree as a json::string: this mark, then the exact text. No
// client string holds it (FHIR's JSON rules refuse control characters, and the parser refuses
// a string that starts with it), the writer prints the text raw, and the readers below see a
// number. Other numbers stay Boost.JSON numbers. Nothing outside this file and the parser
// should test for the mark.
inline constexpr char kExactNumberMark = '\x1F';

// Whether `value` is a JSON number (a Boost.JSON number or one kept as written).
bool IsNumber(const boost::json::value& value);

// The number's value, the nearest double to its text; nullopt when `value` is not a number.
std::optional<double> NumberValue(const boost::json::value& value);

// The number's text as the client wrote it (for a Boost.JSON number, as the writer prints it);
// empty when `value` is not a number.
std::string NumberText(const boost::json::value& value);

// The string `value` holds, or null when it holds none: a kept number is not a string.
const boost::json::string* IfText(const boost::json::value& value);

// Whether `text` is a number by JSON's grammar (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?).
bool IsJsonNumberText(std::string_view text);

// Whether a number written as `text` must be kept as written, because printing `parsed` (what
// it parsed to) does not give `text` back.
bool NeedsExactText(std::string_view text, const boost::json::value& parsed);

// Appends `value`'s JSON text when it is a kept number and returns true; false otherwise.
bool AppendExactNumber(std::string& out, const boost::json::string& value);

// The writer's text of a double: the shortest that reads back the same, with ".0" on a whole
// number so that a decimal stays a decimal. Not for infinities or NaN (not JSON).
void AppendDouble(std::string& out, double value);

}  // namespace carerecord::fhir
