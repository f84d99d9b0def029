// Reads members of parsed FHIR JSON where a missing or mistyped member reads as empty, for the
// code that reads stored terminology and metadata. Pure; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

#include "fhir/json_number.h"

namespace carerecord::fhir {

// The string member `key` of `object`; empty when it is absent or not a string.
inline std::string StringMember(const boost::json::object& object, std::string_view key) {
  const boost::json::value* value = object.if_contains(key);
  const boost::json::string* text = value ? IfText(*value) : nullptr;
  return text ? std::string(*text) : std::string();
}

// The same as a view into `object` (valid while it lives); empty when absent or not a string.
inline std::string_view TextMember(const boost::json::object& object, std::string_view key) {
  const boost::json::value* value = object.if_contains(key);
  return value && value->is_string() ? std::string_view(value->as_string()) : std::string_view();
}

// The object member `key`, or null when it is absent or not an object.
inline const boost::json::object* ObjectMember(const boost::json::object& object,
                                               std::string_view key) {
  const boost::json::value* value = object.if_contains(key);
  return value ? value->if_object() : nullptr;
}

// Visits each object of the member `key`, which may be one object or an array of them (other
// items skipped): visit(object) or visit(object, index in the array).
template <typename Visit>
void EachObjectMember(const boost::json::object& object, std::string_view key, Visit&& visit) {
  auto call = [&](const boost::json::object& each, size_t index) {
    if constexpr (std::is_invocable_v<Visit&, const boost::json::object&, size_t>) {
      visit(each, index);
    } else {
      visit(each);
    }
  };
  const boost::json::value* value = object.if_contains(key);
  if (!value) return;
  if (const boost::json::object* one = value->if_object()) {
    call(*one, size_t{0});
  } else if (const boost::json::array* many = value->if_array()) {
    for (size_t i = 0; i < many->size(); ++i) {
      if (const boost::json::object* each = (*many)[i].if_object()) call(*each, i);
    }
  }
}

}  // namespace carerecord::fhir
