#include "fhir/json_number.h"

#include <charconv>
#include <cmath>

namespace carerecord::fhir {
namespace {

namespace json = boost::json;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The kept text of `value`, or empty when it is no kept number.
std::string_view KeptText(const json::value& value) {
  const json::string* s = value.if_string();
  if (s == nullptr || s->empty() || s->front() != kExactNumberMark) return {};
  return std::string_view(*s).substr(1);
}

// The writer's text of `value` in `buffer` (64 bytes); returns its length.
size_t PrintDouble(char* buffer, double value) {
  auto [end, ec] = std::to_chars(buffer, buffer + 60, value);
  // A whole number parsed from "2.0" must stay a decimal, not turn into an integer.
  if (std::string_view(buffer, end - buffer).find_first_of(".eE") == std::string_view::npos) {
    *end++ = '.';
    *end++ = '0';
  }
  return end - buffer;
}

void AppendInteger(std::string& out, const json::value& value) {
  char buffer[24];
  auto [end, ec] = value.is_int64()
                       ? std::to_chars(buffer, buffer + sizeof buffer, value.get_int64())
                       : std::to_chars(buffer, buffer + sizeof buffer, value.get_uint64());
  out.append(buffer, end);
}

}  // namespace

bool IsNumber(const json::value& value) { return value.is_number() || !KeptText(value).empty(); }

std::optional<double> NumberValue(const json::value& value) {
  switch (value.kind()) {
    case json::kind::int64:
      return static_cast<double>(value.get_int64());
    case json::kind::uint64:
      return static_cast<double>(value.get_uint64());
    case json::kind::double_:
      return value.get_double();
    case json::kind::string: {
      const std::string_view text = KeptText(value);
      if (text.empty()) return std::nullopt;
      double parsed = 0;
      // The parser kept only text that reads as a finite double.
      std::from_chars(text.data(), text.data() + text.size(), parsed);
      return parsed;
    }
    default:
      return std::nullopt;
  }
}

std::string NumberText(const json::value& value) {
  std::string out;
  if (value.is_int64() || value.is_uint64()) {
    AppendInteger(out, value);
  } else if (value.is_double()) {
    AppendDouble(out, value.get_double());
  } else {
    out = KeptText(value);
  }
  return out;
}

const json::string* IfText(const json::value& value) {
  const json::string* s = value.if_string();
  return s != nullptr && (s->empty() || s->front() != kExactNumberMark) ? s : nullptr;
}

bool IsJsonNumberText(std::string_view text) {
  size_t i = 0;
  const auto digits = [&] {
    const size_t start = i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    return i > start;
  };
  if (i < text.size() && text[i] == '-') ++i;
  if (i < text.size() && text[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == text.size();
}

bool NeedsExactText(std::string_view text, const json::value& parsed) {
  char buffer[64];
  size_t length = 0;
  if (parsed.is_double()) {
    if (!std::isfinite(parsed.get_double())) return true;
    length = PrintDouble(buffer, parsed.get_double());
  } else {
    auto [end, ec] = parsed.is_int64()
                         ? std::to_chars(buffer, buffer + sizeof buffer, parsed.get_int64())
                         : std::to_chars(buffer, buffer + sizeof buffer, parsed.get_uint64());
    length = end - buffer;
  }
  return std::string_view(buffer, length) != text;
}

bool AppendExactNumber(std::string& out, const json::string& value) {
  if (value.empty() || value.front() != kExactNumberMark) return false;
  const std::string_view text = std::string_view(value).substr(1);
  // Only what the parser made is printed raw; anything else stays a (quoted) string.
  if (!IsJsonNumberText(text)) return false;
  out.append(text);
  return true;
}

void AppendDouble(std::string& out, double value) {
  char buffer[64];
  out.append(buffer, PrintDouble(buffer, value));
}

}  // namespace carerecord::fhir
