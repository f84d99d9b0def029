// Category lines in a version's sealing facts (fhir/sealing_facts.h), for the access policy's
// per-role category rules (a social worker reads DocumentReference of social-care categories):
// "K<system>|<code>" per coding of `category`, for the types the policy tells apart by category.
// When a read joins an earlier version's facts with the current version's, a line "~" comes
// between them (store/sqlite/sqlite_read_session.h). Pure functions; thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "fhir/sealing_facts.h"

namespace carerecord::fhir {

// The types whose versions' facts carry their category codings.
inline constexpr std::string_view kCategorizedTypes[] = {"DocumentReference"};
bool IsCategorizedType(std::string_view type);

// Whether the version's own facts, and the current version's when joined after a "~" line,
// each have a category coding among `allowed`: an item is read by category only while both
// the version and what the item is now say so.
bool EveryPartHasCategory(std::string_view facts, const std::vector<Coding>& allowed);

}  // namespace carerecord::fhir
