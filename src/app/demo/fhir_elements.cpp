#include "app/demo/fhir_elements.h"

#include "app/demo/calendar.h"

namespace carerecord::app::demo {

using std::string_view;

json::object CodingOf(const Code& code) {
  return json::object{{"system", code.system}, {"code", code.code}, {"display", code.display}};
}

json::object Concept(const Code& code) {
  return json::object{{"coding", json::array{CodingOf(code)}}, {"text", code.display}};
}

json::object Concept(const Code& first, const Code& second) {
  return json::object{{"coding", json::array{CodingOf(first), CodingOf(second)}},
                      {"text", first.display}};
}

json::object TextConcept(string_view text) { return json::object{{"text", text}}; }

json::object Ref(string_view reference, string_view display) {
  json::object out{{"reference", reference}};
  if (!display.empty()) out["display"] = display;
  return out;
}

namespace {

double Rounded(double value, int decimals) {
  double scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  return static_cast<double>(static_cast<int64_t>(value * scale + (value >= 0 ? 0.5 : -0.5))) /
         scale;
}

json::value Number(double value, int decimals) {
  if (decimals == 0) return json::value(static_cast<int64_t>(Rounded(value, 0)));
  return json::value(Rounded(value, decimals));
}

}  // namespace

json::object Quantity(double value, int decimals, string_view unit, string_view ucum) {
  return json::object{
      {"value", Number(value, decimals)}, {"unit", unit}, {"system", kUcum}, {"code", ucum}};
}

json::object Period(int64_t start, int64_t end) {
  json::object out{{"start", DateTimeText(start)}};
  if (end > start && end <= kReferenceTime) out["end"] = DateTimeText(end);
  return out;
}

std::string Base64(string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < bytes.size()) {
    uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

json::object NewResource(string_view type) {
  json::object tag{{"system", "http://terminology.hl7.org/CodeSystem/v3-ActReason"},
                   {"code", "HTEST"},
                   {"display", "test health data"}};
  return json::object{{"resourceType", type}, {"meta", {{"tag", json::array{std::move(tag)}}}}};
}

}  // namespace carerecord::app::demo
