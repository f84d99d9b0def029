#include "interactions/fhir_json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <cstring>
#include <set>
#include <vector>

#include "fhir/json_text.h"

namespace carerecord::interactions {
namespace {

namespace json = boost::json;

// Builds the value as Boost's own parser does, and counts the keys it was given: Boost keeps
// the last of two equal keys silently, so a document whose objects hold fewer members than
// keys were parsed had a duplicate. Counting costs nothing; finding which key is left to
// JsonRuleFinder, run only then.
struct CountingHandler {
  static constexpr size_t max_object_size = json::object::max_size();
  static constexpr size_t max_array_size = json::array::max_size();
  static constexpr size_t max_key_size = json::string::max_size();
  static constexpr size_t max_string_size = json::string::max_size();

  json::value_stack st;
  size_t keys = 0;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(size_t n, json::error_code&) {
    keys += n;
    st.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(size_t n, json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code&) {
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, size_t, json::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t i, json::string_view, json::error_code&) {
    st.push_int64(i);
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, json::error_code&) {
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

size_t CountMembers(const json::value& value) {
  if (const json::object* object = value.if_object()) {
    size_t n = object->size();
    for (const auto& member : *object) n += CountMembers(member.value());
    return n;
  }
  if (const json::array* array = value.if_array()) {
    size_t n = 0;
    for (const json::value& item : *array) n += CountMembers(item);
    return n;
  }
  return 0;
}

// FHIR strings hold no characters below U+0020 but tab, CR and LF. Raw ones are already a
// JSON error, so one can only arrive escaped (\u0000, \b, \f); without such an escape in the
// text there is nothing to look for.
bool MayEscapeControlCharacter(std::string_view text) {
  for (size_t at = text.find('\\'); at != std::string_view::npos; at = text.find('\\', at + 2)) {
    if (at + 1 >= text.size()) return false;
    const char next = text[at + 1];
    if (next == 'b' || next == 'f') return true;
    if (next == 'u' && at + 5 < text.size() && text[at + 2] == '0' && text[at + 3] == '0' &&
        (text[at + 4] == '0' || text[at + 4] == '1')) {
      return true;
    }
  }
  return false;
}

bool IsForbiddenControl(unsigned char c) { return c < 0x20 && c != '\t' && c != '\n' && c != '\r'; }

// Parses without building a value to find the first duplicate key or control character, with
// the JSON pointer to it. Slow (a set of keys per object); runs only when one is suspected.
struct JsonRuleFinder {
  static constexpr size_t max_object_size = json::object::max_size();
  static constexpr size_t max_array_size = json::array::max_size();
  static constexpr size_t max_key_size = json::string::max_size();
  static constexpr size_t max_string_size = json::string::max_size();

  struct Frame {
    bool is_object = false;
    std::set<std::string> keys;
    std::string key;   // the current member's key, in an object
    size_t index = 0;  // the current item's index, in an array
  };
  std::vector<Frame> frames;
  std::string pending;  // a key or string arriving in parts
  std::optional<base::Error> found;

  std::string Pointer() const {
    std::string pointer;
    for (const Frame& frame : frames) {
      pointer += '/';
      if (!frame.is_object) {
        pointer += std::to_string(frame.index);
        continue;
      }
      for (char c : frame.key) {
        if (c == '~') {
          pointer += "~0";
        } else if (c == '/') {
          pointer += "~1";
        } else {
          pointer += c;
        }
      }
    }
    return pointer.empty() ? "/" : pointer;
  }
  bool Stop(json::error_code& ec, std::string message) {
    found = base::Invalid(std::move(message), Pointer());
    ec = json::error::syntax;
    return false;
  }
  // After a value: the next array item has the next index.
  void ValueDone() {
    if (!frames.empty() && !frames.back().is_object) ++frames.back().index;
  }
  bool CheckText(std::string_view text, json::error_code& ec, const char* what) {
    for (char c : text) {
      if (IsForbiddenControl(static_cast<unsigned char>(c))) {
        static const char* kHex = "0123456789ABCDEF";
        std::string code = "U+00";
        code += kHex[static_cast<unsigned char>(c) >> 4];
        code += kHex[c & 15];
        return Stop(ec, std::string(what) + " holds the control character " + code +
                            "; FHIR allows none below U+0020 but tab, CR and LF");
      }
    }
    return true;
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    frames.emplace_back().is_object = true;
    return true;
  }
  bool on_object_end(size_t, json::error_code&) {
    frames.pop_back();
    ValueDone();
    return true;
  }
  bool on_array_begin(json::error_code&) {
    frames.emplace_back();
    return true;
  }
  bool on_array_end(size_t, json::error_code&) {
    frames.pop_back();
    ValueDone();
    return true;
  }
  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    pending.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code& ec) {
    pending.append(s.data(), s.size());
    Frame& frame = frames.back();
    frame.key = std::move(pending);
    pending.clear();
    if (!frame.keys.insert(frame.key).second) {
      return Stop(ec, "the key \"" + frame.key + "\" appears more than once in the same object");
    }
    return CheckText(frame.key, ec, "a key");
  }
  bool on_string_part(json::string_view s, size_t, json::error_code& ec) {
    return CheckText(std::string_view(s.data(), s.size()), ec, "a string");
  }
  bool on_string(json::string_view s, size_t, json::error_code& ec) {
    if (!CheckText(std::string_view(s.data(), s.size()), ec, "a string")) return false;
    ValueDone();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t, json::string_view, json::error_code&) { return Scalar(); }
  bool on_uint64(uint64_t, json::string_view, json::error_code&) { return Scalar(); }
  bool on_double(double, json::string_view, json::error_code&) { return Scalar(); }
  bool on_bool(bool, json::error_code&) { return Scalar(); }
  bool on_null(json::error_code&) { return Scalar(); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
  bool Scalar() {
    ValueDone();
    return true;
  }
};

// The length of the well-formed UTF-8 sequence at the start of `text` (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 when there is none.
size_t Utf8SequenceLength(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t length = Utf8SequenceLength(text.substr(i));
    if (length == 0) return false;
    i += length;
  }
  return true;
}

// Each byte that does not start a well-formed sequence becomes U+FFFD.
std::string ReplaceInvalidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size();) {
    const size_t length = Utf8SequenceLength(text.substr(i));
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.data() + i, length);
      i += length;
    }
  }
  return out;
}

json::parse_options Options() {
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  return options;
}

// The first duplicate key or control character in `text` (already parsed once, so valid JSON).
std::optional<base::Error> FindJsonRuleBreak(std::string_view text) {
  json::basic_parser<JsonRuleFinder> parser(Options());
  json::error_code ec;
  parser.write_some(false, text.data(), text.size(), ec);
  return std::move(parser.handler().found);
}

base::Result<json::value> Parse(std::string_view text, json::storage_ptr storage, bool fhir_rules) {
  json::basic_parser<CountingHandler> parser(Options(), json::storage_ptr());
  parser.handler().st.reset(std::move(storage));
  json::error_code ec;
  size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && consumed < text.size()) {
    // A complete value may be followed by whitespace only.
    for (size_t i = consumed; i < text.size(); ++i) {
      if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t') {
        ec = json::error::extra_data;
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
    std::string reason = ec == json::error::too_deep
                             ? "nested more than " + std::to_string(kMaxJsonDepth) + " deep"
                             : ec.message();
    if (text.empty()) reason = "the body is empty";
    return base::Invalid("malformed JSON: " + reason,
                         "line " + std::to_string(line) + ", column " + std::to_string(column));
  }
  json::value value = parser.handler().st.release();
  if (fhir_rules &&
      (CountMembers(value) != parser.handler().keys || MayEscapeControlCharacter(text))) {
    if (auto error = FindJsonRuleBreak(text)) return std::move(*error);
  }
  return value;
}

}  // namespace

base::Result<json::value> ParseJson(std::string_view text, json::storage_ptr storage) {
  return Parse(text, std::move(storage), false);
}

base::Result<json::object> ParseResourceBody(std::string_view text, json::storage_ptr storage) {
  auto value = Parse(text, std::move(storage), true);
  if (!value.ok()) return value.error();
  if (!value->is_object()) return base::Invalid("the body must be a JSON object", "/");
  json::object& object = value->as_object();
  auto* type = object.if_contains("resourceType");
  if (!type || !type->is_string()) {
    return base::Invalid("the resource has no resourceType", "/resourceType");
  }
  return std::move(object);
}

std::string Serialize(const json::value& value) { return fhir::WriteJson(value); }
std::string Serialize(const json::object& object) {
  std::string out;
  out.reserve(1024);
  fhir::AppendJson(out, object);
  return out;
}

std::string JsonString(std::string_view text) {
  std::string out;
  if (IsValidUtf8(text)) {
    fhir::AppendJsonString(out, text);
  } else {
    fhir::AppendJsonString(out, ReplaceInvalidUtf8(text));
  }
  return out;
}

}  // namespace carerecord::interactions
