// Reads members of parsed FHIR JSON where a missing or mistyped member reads as empty, for the
// code that reads stored terminology and metadata. Pure; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "fhir/json_number.h"

namespace carerecord::fhir {

// The string member `key` of `object`; empty when it is absent or not a string.
inline std::string StringMember(const boost::json::object& object, std::string_view key) {
  const boost::json::value* value = object.if_contains(key);
  const boost::json::string* text = value ? IfText(*value) : nullptr;
  return text ? std::string(*text) : std::string();
}

}  // namespace carerecord::fhir
