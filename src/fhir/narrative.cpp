#include "fhir/narrative.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <span>
#include <vector>

namespace carerecord::fhir {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// FHIR's XHTML subset (txt-1), as the reference validator lists it: HTML 4 formatting
// elements, no script, style, form, frame or object, no event handler attributes.
constexpr std::string_view kNarrativeElements[] = {
    "a",  "abbr",    "acronym", "address", "area",   "b",        "bdo", "big",   "blockquote",
    "br", "caption", "cite",    "code",    "col",    "colgroup", "dd",  "dfn",   "div",
    "dl", "dt",      "em",      "h1",      "h2",     "h3",       "h4",  "h5",    "h6",
    "hr", "i",       "img",     "kbd",     "li",     "map",      "ol",  "p",     "pre",
    "q",  "samp",    "small",   "span",    "strong", "sub",      "sup", "table", "tbody",
    "td", "tfoot",   "th",      "thead",   "tr",     "tt",       "ul",  "var"};

constexpr std::string_view kNarrativeAttributes[] = {
    "abbr",    "accesskey", "align",    "axis",  "char",   "charoff", "class",
    "colspan", "dir",       "headers",  "id",    "lang",   "rowspan", "scope",
    "span",    "style",     "tabindex", "title", "valign", "width",   "xml:lang"};

// Attributes allowed on one element only, as "element.attribute".
constexpr std::string_view kNarrativeElementAttributes[] = {"a.charset",
                                                            "a.coords",
                                                            "a.href",
                                                            "a.hreflang",
                                                            "a.name",
                                                            "a.rel",
                                                            "a.rev",
                                                            "a.shape",
                                                            "a.type",
                                                            "area.alt",
                                                            "area.coords",
                                                            "area.href",
                                                            "area.nohref",
                                                            "area.shape",
                                                            "blockquote.cite",
                                                            "img.alt",
                                                            "img.border",
                                                            "img.height",
                                                            "img.ismap",
                                                            "img.longdesc",
                                                            "img.src",
                                                            "img.usemap",
                                                            "img.width",
                                                            "map.name",
                                                            "pre.space",
                                                            "q.cite",
                                                            "table.border",
                                                            "table.cellpadding",
                                                            "table.cellspacing",
                                                            "table.frame",
                                                            "table.rules",
                                                            "table.summary",
                                                            "table.width",
                                                            "td.nowrap"};

bool IsOneOf(std::string_view name, std::span<const std::string_view> list) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) || c == ':' || c == '-' ||
         c == '_' || c == '.';
}

// An attribute value as a browser reads it: XML's five named entities and numeric character
// references decoded (so "&#106;avascript:" is seen as "javascript:"). Null for any other named
// entity: XHTML defines none, and HTML's (&colon;, &Tab;) are how a scheme check is dodged.
std::optional<std::string> DecodeAttributeValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '&') {
      out += value[i];
      continue;
    }
    const size_t semi = value.find(';', i);
    if (semi == std::string_view::npos || semi - i > 12) return std::nullopt;
    const std::string_view entity = value.substr(i + 1, semi - i - 1);
    i = semi;
    if (entity == "amp")
      out += '&';
    else if (entity == "lt")
      out += '<';
    else if (entity == "gt")
      out += '>';
    else if (entity == "quot")
      out += '"';
    else if (entity == "apos")
      out += '\'';
    else if (entity.size() > 1 && entity[0] == '#') {
      const bool hex = entity[1] == 'x' || entity[1] == 'X';
      const std::string_view digits = entity.substr(hex ? 2 : 1);
      uint32_t code = 0;
      auto [end, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), code, hex ? 16 : 10);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
        return std::nullopt;
      }
      // Only the ASCII a scheme can be spelled with matters here; the rest stands for itself.
      out += code < 0x80 ? static_cast<char>(code) : '?';
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// Whether a decoded URL attribute may stand in a narrative: no scheme (relative, "#id"), or one
// of the schemes that only navigate (http, https, mailto, tel, urn), or an image as data (on
// <img src> only, and not SVG, which can carry script). Browsers skip whitespace and control
// characters inside a scheme, so they are skipped here too.
bool IsSafeUrl(std::string_view qualified, std::string_view url) {
  std::string scheme;
  size_t at = 0;
  for (; at < url.size(); ++at) {
    const char c = url[at];
    if (static_cast<unsigned char>(c) <= ' ') continue;
    if (c == ':') break;
    if (c == '/' || c == '?' || c == '#') return true;  // no scheme: relative
    scheme += Lower(c);
    if (scheme.size() > 16) return false;
  }
  if (at == url.size()) return true;
  if (scheme == "http" || scheme == "https" || scheme == "mailto" || scheme == "tel" ||
      scheme == "urn") {
    return true;
  }
  if (scheme != "data" || qualified != "img.src") return false;
  std::string media;
  for (size_t i = at + 1; i < url.size() && url[i] != ';' && url[i] != ','; ++i) {
    media += Lower(url[i]);
  }
  return media.starts_with("image/") && media.find("svg") == std::string::npos;
}

// A style that can fetch or run something: url(), expression(), @import, or CSS escapes that
// could spell them.
bool IsUnsafeStyle(std::string_view style) {
  std::string folded;
  for (char c : style) {
    if (!IsSpace(c)) folded += Lower(c);
  }
  for (std::string_view bad :
       {"url(", "expression(", "@import", "\\", "javascript:", "behavior:", "-moz-binding"}) {
    if (folded.find(bad) != std::string::npos) return true;
  }
  return false;
}

// Scans a narrative div as XHTML tags and text: one <div xmlns="http://www.w3.org/1999/xhtml">
// root, properly nested elements and attributes from the subset (txt-1), and some text or an
// image (txt-2). A tag scanner, not an XML parser: anything it does not recognise is refused.
}  // namespace

std::optional<std::string> CheckNarrativeDiv(std::string_view div) {
  std::vector<std::string_view> open;
  bool root_seen = false, content = false;
  size_t i = 0;
  while (i < div.size()) {
    const char c = div[i];
    if (c != '<') {
      if (!IsSpace(c)) {
        if (open.empty()) return "txt-1: text outside the root <div>";
        content = true;
      }
      ++i;
      continue;
    }
    if (div.substr(i, 4) == "<!--") {
      const size_t end = div.find("-->", i + 4);
      if (end == std::string_view::npos) return "txt-1: an unclosed comment";
      i = end + 3;
      continue;
    }
    if (open.empty() && root_seen) return "txt-1: markup after the root </div>";
    const bool closing = i + 1 < div.size() && div[i + 1] == '/';
    size_t at = i + (closing ? 2 : 1);
    const size_t name_start = at;
    while (at < div.size() && IsNameChar(div[at])) ++at;
    const std::string_view name = div.substr(name_start, at - name_start);
    if (name.empty()) return "txt-1: '<' that does not start an element (write &lt;)";
    if (!IsOneOf(name, kNarrativeElements)) {
      return "txt-1: the element <" + std::string(name.substr(0, 40)) +
             "> is not allowed in a narrative";
    }
    if (closing) {
      while (at < div.size() && IsSpace(div[at])) ++at;
      if (at >= div.size() || div[at] != '>')
        return "txt-1: a malformed </" + std::string(name) + ">";
      if (open.empty() || open.back() != name) {
        return "txt-1: </" + std::string(name) + "> does not close the open element";
      }
      open.pop_back();
      i = at + 1;
      continue;
    }
    if (open.empty() && name != "div") return "txt-1: the narrative's root must be a <div>";
    if (name == "img") content = true;
    bool namespaced = false, self_closing = false;
    while (true) {
      while (at < div.size() && IsSpace(div[at])) ++at;
      if (at >= div.size()) return "txt-1: an unclosed <" + std::string(name) + "> tag";
      if (div[at] == '>') break;
      if (div[at] == '/' && at + 1 < div.size() && div[at + 1] == '>') {
        self_closing = true;
        ++at;
        break;
      }
      const size_t attribute_start = at;
      while (at < div.size() && IsNameChar(div[at])) ++at;
      const std::string_view attribute = div.substr(attribute_start, at - attribute_start);
      while (at < div.size() && IsSpace(div[at])) ++at;
      if (attribute.empty() || at >= div.size() || div[at] != '=') {
        return "txt-1: a malformed attribute in <" + std::string(name) + ">";
      }
      ++at;
      while (at < div.size() && IsSpace(div[at])) ++at;
      if (at >= div.size() || (div[at] != '"' && div[at] != '\'')) {
        return "txt-1: an unquoted attribute value in <" + std::string(name) + ">";
      }
      const size_t value_end = div.find(div[at], at + 1);
      if (value_end == std::string_view::npos) return "txt-1: an unclosed attribute value";
      const std::string_view value = div.substr(at + 1, value_end - at - 1);
      at = value_end + 1;
      const std::string qualified = std::string(name) + "." + std::string(attribute);
      if (attribute == "xmlns") {
        if (value != "http://www.w3.org/1999/xhtml") {
          return "txt-1: the narrative's namespace must be http://www.w3.org/1999/xhtml";
        }
        namespaced = true;
        continue;
      }
      if (attribute.size() > 2 && Lower(attribute[0]) == 'o' && Lower(attribute[1]) == 'n') {
        return "txt-1: the event attribute " + std::string(attribute.substr(0, 40)) +
               " is not allowed in a narrative";
      }
      if (!attribute.starts_with("xmlns:") && !IsOneOf(attribute, kNarrativeAttributes) &&
          !IsOneOf(qualified, kNarrativeElementAttributes)) {
        return "txt-1: the attribute " + std::string(attribute.substr(0, 40)) +
               " is not allowed on <" + std::string(name) + ">";
      }
      const std::optional<std::string> decoded = DecodeAttributeValue(value);
      if (!decoded) {
        return "txt-1: an entity XHTML does not define in the attribute " + qualified;
      }
      const bool holds_url = attribute == "href" || attribute == "src" || attribute == "cite" ||
                             attribute == "longdesc" || attribute == "usemap";
      if (holds_url && !IsSafeUrl(qualified, *decoded)) {
        return "txt-1: the attribute " + qualified +
               " holds a URL whose scheme is not allowed in a narrative";
      }
      if (attribute == "style" && IsUnsafeStyle(*decoded)) {
        return "txt-1: the style attribute of <" + std::string(name) +
               "> holds url(), expression() or an escape";
      }
    }
    if (open.empty()) {
      if (!namespaced) {
        return "txt-1: the root must be <div xmlns=\"http://www.w3.org/1999/xhtml\">";
      }
      root_seen = true;
    }
    if (!self_closing) open.push_back(name);
    i = at + 1;
  }
  if (!root_seen)
    return "txt-1: the narrative must be a <div xmlns=\"http://www.w3.org/1999/xhtml\">";
  if (!open.empty()) return "txt-1: <" + std::string(open.back()) + "> is never closed";
  if (!content) return "txt-2: the narrative has no text";
  return std::nullopt;
}

}  // namespace carerecord::fhir
