// The text of a resource for _text (its narrative) and _content (every string in it), and the
// word match both use. Called by the store's text-match SQL function. Pure; thread-safe.
#pragma once

#include <boost/json/fwd.hpp>
#include <string>
#include <string_view>

namespace carerecord::fhir {

// The narrative (text.div) without its XHTML markup, normalised for search; empty when none.
std::string NarrativeSearchText(const boost::json::object& resource);

// Every string value of the resource (narrative markup removed), normalised for search and
// separated by spaces.
std::string ContentSearchText(const boost::json::object& resource);

// True when every word of `query` appears in `normalized_text` (from the functions above): the
// words are normalised the same way, and each matches anywhere, so "diab mell" finds
// "Diabetes mellitus".
bool TextMatchesAllWords(std::string_view normalized_text, std::string_view query);

}  // namespace carerecord::fhir
