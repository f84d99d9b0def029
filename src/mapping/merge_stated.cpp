// MergeStated: what a message that states a resource in part (WriteMode::kUpdateStated) makes of
// the stored resource, by HL7 v2's null rules (mapped_message.h).
#include <algorithm>
#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "mapping/mapped_message.h"

namespace carerecord::mapping {

namespace json = boost::json;

namespace {

// The string at a JSON pointer ("/type/0/coding/0/code") in `item`; empty when there is none.
std::string_view StringAt(const json::value& item, std::string_view pointer) {
  const json::value* at = &item;
  while (!pointer.empty() && pointer.front() == '/') {
    pointer.remove_prefix(1);
    const size_t end = std::min(pointer.find('/'), pointer.size());
    const std::string_view step = pointer.substr(0, end);
    pointer.remove_prefix(end);
    if (at->is_object()) {
      at = at->as_object().if_contains(step);
    } else if (at->is_array() && !step.empty() &&
               step.find_first_not_of("0123456789") == std::string_view::npos) {
      const size_t index = std::stoul(std::string(step));
      at = index < at->as_array().size() ? &at->as_array()[index] : nullptr;
    } else {
      at = nullptr;
    }
    if (!at) return {};
  }
  return at->is_string() ? std::string_view(at->as_string()) : std::string_view();
}

bool Owns(const ArrayPart& part, const json::value& item) {
  const std::string_view at = StringAt(item, part.key);
  return std::any_of(part.values.begin(), part.values.end(), [&](const std::string& value) {
    return part.prefix ? at.starts_with(value) : at == value;
  });
}

// One array member stated in parts: each part's items, in the order the parts are listed, from
// the message when it states the part and from the stored member when it leaves it out; stored
// items no part owns stay at the end.
void MergeParts(json::object& result, const std::string& member, const MappedResource& mapped) {
  bool touched = false;
  for (const ArrayPart& part : mapped.parts) {
    touched = touched || (part.member == member && part.state != FieldState::kAbsent);
  }
  if (!touched) return;
  static const json::array kNone;
  const json::value* held = result.if_contains(member);
  const json::array& stored = held && held->is_array() ? held->as_array() : kNone;
  const json::value* sent = mapped.resource.if_contains(member);
  const json::array& stated = sent && sent->is_array() ? sent->as_array() : kNone;
  json::array out;
  for (const ArrayPart& part : mapped.parts) {
    if (part.member != member || part.state == FieldState::kNull) continue;
    for (const json::value& item : part.state == FieldState::kValue ? stated : stored) {
      if (Owns(part, item)) out.push_back(item);
    }
  }
  for (const json::value& item : stored) {
    bool owned = false;
    for (const ArrayPart& part : mapped.parts) {
      owned = owned || (part.member == member && Owns(part, item));
    }
    if (!owned) out.push_back(item);
  }
  if (out.empty()) {
    result.erase(member);
  } else {
    result[member] = std::move(out);
  }
}

bool HasParts(const MappedResource& mapped, std::string_view member) {
  for (const ArrayPart& part : mapped.parts) {
    if (part.member == member) return true;
  }
  return false;
}

}  // namespace

json::object MergeStated(const json::object* stored, const MappedResource& mapped) {
  json::object result;
  const bool update = stored && mapped.mode == WriteMode::kUpdateStated;
  if (update) result = *stored;
  for (const auto& [key, value] : mapped.resource) {
    if (HasParts(mapped, key)) continue;
    if (value.is_null()) {
      result.erase(key);
      continue;
    }
    const bool merged =
        std::find(mapped.merged.begin(), mapped.merged.end(), key) != mapped.merged.end();
    json::value* held = result.if_contains(key);
    if (!merged || !value.is_object() || !held || !held->is_object()) {
      result[key] = value;
      if (merged && result[key].is_object()) {  // a new object: its nulls are no members
        json::object& o = result[key].as_object();
        for (auto it = o.begin(); it != o.end();) it = it->value().is_null() ? o.erase(it) : it + 1;
        if (o.empty()) result.erase(key);
      }
      continue;
    }
    json::object& into = held->as_object();
    for (const auto& [inner, member] : value.as_object()) {
      if (member.is_null()) {
        into.erase(inner);
      } else {
        into[inner] = member;
      }
    }
    if (into.empty()) result.erase(key);
  }
  for (const ArrayPart& part : mapped.parts) {
    bool first = true;  // each member once, at its first part
    for (const ArrayPart& before : mapped.parts) {
      if (&before == &part) break;
      first = first && before.member != part.member;
    }
    if (first) MergeParts(result, part.member, mapped);
  }
  for (const Fallback& fallback : mapped.fallbacks) {
    bool holds = false;
    for (const std::string& member : fallback.unless) holds = holds || result.contains(member);
    bool was_held = fallback.held.empty();
    for (const std::string& member : fallback.held) {
      was_held = was_held || (update && stored->contains(member));
    }
    if (!holds && was_held && !(fallback.create_only && update)) {
      result[fallback.member] = fallback.value;
    }
  }
  return result;
}

}  // namespace carerecord::mapping
