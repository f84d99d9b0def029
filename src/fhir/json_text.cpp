#include "fhir/json_text.h"

#include <charconv>
#include <cmath>

#include "fhir/json_number.h"

namespace carerecord::fhir {
namespace {

void AppendString(std::string& out, std::string_view text) {
  static const char* kHex = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;  // start of the current stretch that needs no escaping
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.append(text.data() + run, text.size() - run);
  out.push_back('"');
}

void AppendNumber(std::string& out, double value) {
  if (!std::isfinite(value)) {  // not JSON; cannot come from a parsed document
    out += "null";
    return;
  }
  AppendDouble(out, value);
}

}  // namespace

void AppendJson(std::string& out, const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::null:
      out += "null";
      break;
    case boost::json::kind::bool_:
      out += value.get_bool() ? "true" : "false";
      break;
    case boost::json::kind::int64: {
      char buffer[24];
      auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value.get_int64());
      out.append(buffer, end);
      break;
    }
    case boost::json::kind::uint64: {
      char buffer[24];
      auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value.get_uint64());
      out.append(buffer, end);
      break;
    }
    case boost::json::kind::double_:
      AppendNumber(out, value.get_double());
      break;
    case boost::json::kind::string: {
      const auto& s = value.get_string();
      if (!AppendExactNumber(out, s)) AppendString(out, std::string_view(s.data(), s.size()));
      break;
    }
    case boost::json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& element : value.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        AppendJson(out, element);
      }
      out.push_back(']');
      break;
    }
    case boost::json::kind::object:
      AppendJson(out, value.get_object());
      break;
  }
}

void AppendJson(std::string& out, const boost::json::object& object) {
  out.push_back('{');
  bool first = true;
  for (const auto& [key, element] : object) {
    if (!first) out.push_back(',');
    first = false;
    AppendString(out, std::string_view(key.data(), key.size()));
    out.push_back(':');
    AppendJson(out, element);
  }
  out.push_back('}');
}

void AppendJsonString(std::string& out, std::string_view text) { AppendString(out, text); }

std::string WriteJson(const boost::json::value& value) {
  std::string out;
  out.reserve(1024);
  AppendJson(out, value);
  return out;
}

}  // namespace carerecord::fhir
