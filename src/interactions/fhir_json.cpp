#include "interactions/fhir_json.h"

#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>

#include "fhir/json_text.h"

namespace carerecord::interactions {

base::Result<boost::json::value> ParseJson(std::string_view text,
                                           boost::json::storage_ptr storage) {
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  boost::json::stream_parser parser({}, options);
  parser.reset(std::move(storage));
  boost::system::error_code ec;
  size_t consumed = parser.write_some(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (!ec && consumed < text.size()) {
    // write_some stops after a complete value; anything but whitespace after it is an error.
    for (size_t i = consumed; i < text.size(); ++i) {
      if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t') {
        ec = boost::json::error::extra_data;
        consumed = i;
        break;
      }
    }
  }
  if (ec) {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < consumed && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string reason = ec == boost::json::error::too_deep
                             ? "nested more than " + std::to_string(kMaxJsonDepth) + " deep"
                             : ec.message();
    if (text.empty()) reason = "the body is empty";
    return base::Invalid("malformed JSON: " + reason,
                         "line " + std::to_string(line) + ", column " + std::to_string(column));
  }
  return parser.release();
}

base::Result<boost::json::object> ParseResourceBody(std::string_view text,
                                                    boost::json::storage_ptr storage) {
  auto value = ParseJson(text, std::move(storage));
  if (!value.ok()) return value.error();
  if (!value->is_object()) return base::Invalid("the body must be a JSON object", "/");
  boost::json::object& object = value->as_object();
  auto* type = object.if_contains("resourceType");
  if (!type || !type->is_string()) {
    return base::Invalid("the resource has no resourceType", "/resourceType");
  }
  return std::move(object);
}

std::string Serialize(const boost::json::value& value) { return fhir::WriteJson(value); }
std::string Serialize(const boost::json::object& object) {
  std::string out;
  out.reserve(1024);
  fhir::AppendJson(out, object);
  return out;
}

std::string JsonString(std::string_view text) {
  return boost::json::serialize(boost::json::string_view(text.data(), text.size()));
}

}  // namespace carerecord::interactions
