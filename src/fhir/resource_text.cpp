#include "fhir/resource_text.h"

#include <boost/json.hpp>

#include "fhir/json_number.h"
#include "fhir/search_text.h"

namespace carerecord::fhir {
namespace {

namespace json = boost::json;

// XHTML to its text: tags dropped (a space where they were), the five XML entities and &nbsp;
// decoded; numeric references are dropped with the tags' spaces.
std::string StripMarkup(std::string_view xhtml) {
  std::string out;
  out.reserve(xhtml.size());
  for (size_t i = 0; i < xhtml.size(); ++i) {
    const char c = xhtml[i];
    if (c == '<') {
      const size_t close = xhtml.find('>', i);
      if (close == std::string_view::npos) break;
      out.push_back(' ');
      i = close;
    } else if (c == '&') {
      static const std::pair<std::string_view, char> kEntities[] = {
          {"&amp;", '&'},  {"&lt;", '<'},    {"&gt;", '>'},
          {"&quot;", '"'}, {"&apos;", '\''}, {"&nbsp;", ' '}};
      bool decoded = false;
      for (const auto& [entity, text] : kEntities) {
        if (xhtml.substr(i, entity.size()) == entity) {
          out.push_back(text);
          i += entity.size() - 1;
          decoded = true;
          break;
        }
      }
      if (!decoded) {
        const size_t semi = xhtml.find(';', i);
        if (semi != std::string_view::npos && semi - i < 10 && xhtml[i + 1] == '#') {
          out.push_back(' ');
          i = semi;
        } else {
          out.push_back('&');
        }
      }
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void AppendStrings(const json::value& value, std::string_view key, std::string& out) {
  switch (value.kind()) {
    case json::kind::string:
      if (IfText(value) == nullptr) return;  // a number kept as written, not text
      out += key == "div" ? StripMarkup(value.get_string()) : std::string(value.get_string());
      out.push_back(' ');
      return;
    case json::kind::object:
      for (const json::key_value_pair& member : value.get_object()) {
        AppendStrings(member.value(), member.key(), out);
      }
      return;
    case json::kind::array:
      for (const json::value& item : value.get_array()) AppendStrings(item, key, out);
      return;
    default:
      return;
  }
}

}  // namespace

std::string NarrativeSearchText(const json::object& resource) {
  const json::value* text = resource.if_contains("text");
  const json::object* narrative = text != nullptr ? text->if_object() : nullptr;
  const json::value* div = narrative != nullptr ? narrative->if_contains("div") : nullptr;
  if (div == nullptr || !div->is_string()) return {};
  return NormalizeForSearch(StripMarkup(div->get_string()));
}

std::string ContentSearchText(const json::object& resource) {
  std::string raw;
  for (const json::key_value_pair& member : resource) {
    if (member.key() != "resourceType") AppendStrings(member.value(), member.key(), raw);
  }
  return NormalizeForSearch(raw);
}

bool TextMatchesAllWords(std::string_view normalized_text, std::string_view query) {
  const std::string words = NormalizeForSearch(query);
  bool any = false;
  size_t start = 0;
  while (start < words.size()) {
    size_t end = words.find(' ', start);
    if (end == std::string::npos) end = words.size();
    if (end > start) {
      any = true;
      if (normalized_text.find(std::string_view(words).substr(start, end - start)) ==
          std::string_view::npos) {
        return false;
      }
    }
    start = end + 1;
  }
  return any;
}

}  // namespace carerecord::fhir
