#include "interactions/search_query.h"

#include <algorithm>
#include <boost/url/decode_view.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>
#include <iterator>

#include "base/utf8.h"
#include "interactions/fhir_json.h"

namespace carerecord::interactions {
namespace {

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// `text` with its percent-escapes decoded (CheckPercentEscapes has passed) and '+' read as a
// space, as Boost.URL's params() reads a query that parses: one query, one meaning, whether or
// not it holds a raw '|' (a '+' kept in one path and not the other once duplicated a create).
std::string PercentDecoded(std::string_view text) {
  std::string spaced(text);
  std::replace(spaced.begin(), spaced.end(), '+', ' ');
  auto escaped = boost::urls::make_pct_string_view(spaced);
  if (!escaped) return spaced;
  std::string out;
  for (char c : **escaped) out.push_back(c);
  return out;
}

// Splits on & and =, and decodes each part; holds whatever a client sends raw (a '|', a space).
QueryParams SplitRaw(std::string_view query) {
  QueryParams out;
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    std::string_view pair = query.substr(start, amp == std::string_view::npos ? amp : amp - start);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      out.emplace_back(PercentDecoded(pair.substr(0, eq)),
                       eq == std::string_view::npos ? "" : PercentDecoded(pair.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return out;
}

}  // namespace

base::Status CheckPercentEscapes(std::string_view target) {
  const size_t question = target.find('?');
  for (size_t i = target.find('%'); i != std::string_view::npos; i = target.find('%', i + 1)) {
    if (i + 2 < target.size() && IsHexDigit(target[i + 1]) && IsHexDigit(target[i + 2])) continue;
    const std::string escape(target.substr(i, 3));
    if (question == std::string_view::npos || i < question) {
      return base::Invalid("the request path has a malformed percent-escape '" + escape + "'");
    }
    const size_t start = target.rfind('&', i);
    const size_t begin =
        start == std::string_view::npos || start < question ? question + 1 : start + 1;
    std::string_view pair = target.substr(begin);
    pair = pair.substr(0, pair.find('&'));
    std::string name(pair.substr(0, pair.find('=')));
    return base::Invalid("the parameter " + name + " has a malformed percent-escape '" + escape +
                             "' (a '%' must be followed by two hex digits; write %25 for '%')",
                         name);
  }
  return base::Status::Ok();
}

base::Status CheckDecodedText(const QueryParams& params) {
  for (const auto& [name, value] : params) {
    if (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
      return base::Invalid("the parameter " + name.substr(0, name.find('\0')) +
                               " holds a NUL character (%00), which no FHIR value may contain",
                           name.substr(0, name.find('\0')));
    }
    // Searched as it stands, invalid UTF-8 would match as U+FFFD (or not at all): refused.
    if (!base::IsValidUtf8(name) || !base::IsValidUtf8(value)) {
      return base::Invalid("the parameter " + name +
                               " is not UTF-8 text once its percent-escapes are decoded (FHIR "
                               "values are Unicode; write a character as the %-escapes of its "
                               "UTF-8 bytes)",
                           name);
    }
  }
  return base::Status::Ok();
}

// Split here, not by Boost.URL's params(): one rule for every query, and params() of Boost 1.81
// read past the end of a query followed by a fragment ("?#..."; found by the fuzzer).
base::Result<QueryParams> DecodeQuery(std::string_view query) {
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  query = query.substr(0, query.find('#'));  // a fragment is not part of the query
  CR_RETURN_IF_ERROR(CheckPercentEscapes("?" + std::string(query)));
  QueryParams out = SplitRaw(query);
  CR_RETURN_IF_ERROR(CheckDecodedText(out));
  return out;
}

base::Status CheckResultParametersOnce(const QueryParams& params) {
  static constexpr std::string_view kSingleValued[] = {"_count", "_sort",   "_summary", "_elements",
                                                       "_total", "_cursor", "_since"};
  bool seen[std::size(kSingleValued)] = {};
  for (const auto& param : params) {
    for (size_t i = 0; i < std::size(kSingleValued); ++i) {
      if (param.first != kSingleValued[i]) continue;
      if (seen[i]) {
        return base::Invalid(
            "the result parameter " + param.first + " is given more than once; give it once",
            param.first);
      }
      seen[i] = true;
    }
  }
  return base::Status::Ok();
}

std::string EncodeQuery(const QueryParams& params) {
  static constexpr auto kSafe = boost::urls::unreserved_chars + ':' + ',' + '|' + '/' + '$';
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += boost::urls::encode(name, kSafe);
    out += '=';
    out += boost::urls::encode(value, kSafe);
  }
  return out;
}

}  // namespace carerecord::interactions
