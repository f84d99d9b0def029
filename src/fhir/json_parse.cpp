// Two handlers over Boost.JSON's basic_parser. ValueBuilder builds the value as Boost's own
// parser does, keeping numbers as written, counting what the limits bound and stopping as soon
// as one is passed; it does not know where it is. When it stops, or when FHIR's rules may be
// broken, ProblemFinder parses the text again without building anything, keeping the JSON
// pointer, to name the first problem. The common case pays for the counting only.
#include "fhir/json_parse.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <charconv>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fhir/json_number.h"

namespace carerecord::fhir {
namespace {

namespace json = boost::json;

bool StartsWithMark(std::string_view s) { return !s.empty() && s.front() == kExactNumberMark; }

// Whether a number written as `text` reads as a finite double whose magnitude is not rounded
// to zero: beyond that, the value indexed and compared would not be the number written.
bool InDoubleRange(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc();
}

// Builds the value and counts: the keys it was given (Boost keeps the last of two equal keys
// silently, so a document whose objects hold fewer members than that had a duplicate), the
// values, the items of each open array and the values of each open resource.
class ValueBuilder {
 public:
  static constexpr size_t max_object_size = json::object::max_size();
  static constexpr size_t max_array_size = json::array::max_size();
  static constexpr size_t max_key_size = json::string::max_size();
  static constexpr size_t max_string_size = json::string::max_size();

  explicit ValueBuilder(const JsonLimits& limits) : limits_(limits) { frames_.reserve(32); }

  json::value_stack st;
  size_t keys = 0;
  bool stopped = false;  // a limit was passed or a value refused: ProblemFinder names it

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code& ec) {
    if (!Value(ec)) return false;
    frames_.push_back({0, values_, true, false});
    return true;
  }
  bool on_object_end(size_t n, json::error_code& ec) {
    const Frame frame = frames_.back();
    frames_.pop_back();
    if (frame.is_resource && values_ - frame.values_at_begin > limits_.max_resource_values) {
      return Stop(ec);
    }
    keys += n;
    st.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code& ec) {
    if (!Value(ec)) return false;
    frames_.push_back({0, values_, false, false});
    return true;
  }
  bool on_array_end(size_t n, json::error_code&) {
    frames_.pop_back();
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code&) {
    std::string_view key(s.data(), s.size());
    if (!key_.empty()) key = key_.append(key);
    type_value_next_ = key == "resourceType";
    key_.clear();
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, size_t, json::error_code& ec) {
    if (string_length_ == 0 && StartsWithMark({s.data(), s.size()})) return Stop(ec);
    string_length_ += s.size();
    if (type_value_next_) type_text_.append(s.data(), s.size());
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, size_t, json::error_code& ec) {
    if (string_length_ == 0 && StartsWithMark({s.data(), s.size()})) return Stop(ec);
    string_length_ = 0;
    if (type_value_next_) {
      type_text_.append(s.data(), s.size());
      frames_.back().is_resource = type_text_ != "Bundle";
      type_text_.clear();
    }
    if (!Value(ec)) return false;
    st.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t i, json::string_view s, json::error_code& ec) {
    return Number(s, json::value(i), ec);
  }
  bool on_uint64(uint64_t u, json::string_view s, json::error_code& ec) {
    return Number(s, json::value(u), ec);
  }
  bool on_double(double d, json::string_view s, json::error_code& ec) {
    return Number(s, json::value(d), ec);
  }
  bool on_bool(bool b, json::error_code& ec) {
    if (!Value(ec)) return false;
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code& ec) {
    if (!Value(ec)) return false;
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  struct Frame {
    size_t items;
    size_t values_at_begin;
    bool is_object;
    bool is_resource;
  };

  bool Stop(json::error_code& ec) {
    stopped = true;
    ec = json::error::syntax;
    return false;
  }

  // Counts a value starting here (a container counts once, at its start).
  bool Value(json::error_code& ec) {
    type_value_next_ = false;
    if (++values_ > limits_.max_values) return Stop(ec);
    if (!frames_.empty() && !frames_.back().is_object &&
        ++frames_.back().items > limits_.max_array_items) {
      return Stop(ec);
    }
    return true;
  }

  bool Number(json::string_view last, const json::value& parsed, json::error_code& ec) {
    if (!Value(ec)) return false;
    std::string_view text(last.data(), last.size());
    if (!number_.empty()) text = number_.append(text);
    if (NeedsExactText(text, parsed)) {
      if (!InDoubleRange(text)) return Stop(ec);
      exact_.assign(1, kExactNumberMark);
      exact_.append(text);
      st.push_string(exact_);
    } else if (parsed.is_int64()) {
      st.push_int64(parsed.get_int64());
    } else if (parsed.is_uint64()) {
      st.push_uint64(parsed.get_uint64());
    } else {
      st.push_double(parsed.get_double());
    }
    number_.clear();
    return true;
  }

  const JsonLimits& limits_;
  std::vector<Frame> frames_;
  size_t values_ = 0;
  size_t string_length_ = 0;      // of the string arriving in parts
  bool type_value_next_ = false;  // the next value is a resourceType
  std::string key_, type_text_;   // a key, a resourceType arriving in parts
  std::string number_, exact_;    // a number arriving in parts; a kept number's mark and text
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

std::string Shown(std::string_view text) {
  return text.size() > 40 ? std::string(text.substr(0, 40)) + "... (" +
                                std::to_string(text.size()) + " characters)"
                          : std::string(text);
}

// Parses without building a value to find the first problem ValueBuilder stopped at, or a
// duplicate key or control character, with the JSON pointer to it. Slow (a set of keys per
// object under FHIR's rules); runs only when a problem is known or suspected.
class ProblemFinder {
 public:
  static constexpr size_t max_object_size = json::object::max_size();
  static constexpr size_t max_array_size = json::array::max_size();
  static constexpr size_t max_key_size = json::string::max_size();
  static constexpr size_t max_string_size = json::string::max_size();

  explicit ProblemFinder(const JsonLimits& limits) : limits_(limits) {}

  std::optional<base::Error> found;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code& ec) {
    if (!Value(ec)) return false;
    Frame& frame = frames_.emplace_back();
    frame.is_object = true;
    frame.values_at_begin = values_;
    return true;
  }
  bool on_object_end(size_t, json::error_code& ec) {
    const Frame& frame = frames_.back();
    if (frame.is_resource && values_ - frame.values_at_begin > limits_.max_resource_values) {
      return Stop(ec, base::ErrorCode::kTooLarge,
                  "the resource holds more than " + std::to_string(limits_.max_resource_values) +
                      " JSON values; this server takes at most " +
                      std::to_string(limits_.max_resource_values) + " in one resource",
                  frames_.size() - 1);
    }
    frames_.pop_back();
    ValueDone();
    return true;
  }
  bool on_array_begin(json::error_code& ec) {
    if (!Value(ec)) return false;
    frames_.emplace_back().values_at_begin = values_;
    return true;
  }
  bool on_array_end(size_t, json::error_code&) {
    frames_.pop_back();
    ValueDone();
    return true;
  }
  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    pending_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code& ec) {
    pending_.append(s.data(), s.size());
    Frame& frame = frames_.back();
    frame.key = std::move(pending_);
    pending_.clear();
    type_value_next_ = frame.key == "resourceType";
    if (!limits_.fhir_rules) return true;
    if (!frame.keys.insert(frame.key).second) {
      return Stop(ec, base::ErrorCode::kInvalid,
                  "the key \"" + frame.key + "\" appears more than once in the same object");
    }
    return CheckText(frame.key, ec, "a key");
  }
  bool on_string_part(json::string_view s, size_t, json::error_code& ec) {
    const std::string_view part(s.data(), s.size());
    if (!CheckText(part, ec, "a string")) return false;
    if (string_length_ == 0 && StartsWithMark(part)) return StopAtMark(ec);
    string_length_ += part.size();
    if (type_value_next_) pending_.append(part);
    return true;
  }
  bool on_string(json::string_view s, size_t, json::error_code& ec) {
    const std::string_view part(s.data(), s.size());
    if (!CheckText(part, ec, "a string")) return false;
    if (string_length_ == 0 && StartsWithMark(part)) return StopAtMark(ec);
    string_length_ = 0;
    if (type_value_next_) {
      pending_.append(part);
      frames_.back().is_resource = pending_ != "Bundle";
      pending_.clear();
    }
    return Scalar(ec);
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t, json::string_view s, json::error_code& ec) { return Number(s, ec); }
  bool on_uint64(uint64_t, json::string_view s, json::error_code& ec) { return Number(s, ec); }
  bool on_double(double, json::string_view s, json::error_code& ec) { return Number(s, ec); }
  bool on_bool(bool, json::error_code& ec) { return Scalar(ec); }
  bool on_null(json::error_code& ec) { return Scalar(ec); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  struct Frame {
    bool is_object = false;
    bool is_resource = false;
    std::set<std::string> keys;
    std::string key;   // the current member's key, in an object
    size_t index = 0;  // the current item's index, in an array
    size_t values_at_begin = 0;
  };

  // The pointer to the value the first `depth` frames lead to.
  std::string Pointer(size_t depth) const {
    std::string pointer;
    for (size_t i = 0; i < depth; ++i) {
      const Frame& frame = frames_[i];
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
  bool Stop(json::error_code& ec, base::ErrorCode code, std::string message) {
    return Stop(ec, code, std::move(message), frames_.size());
  }
  bool Stop(json::error_code& ec, base::ErrorCode code, std::string message, size_t depth) {
    found = base::MakeError(code, std::move(message), Pointer(depth));
    ec = json::error::syntax;
    return false;
  }
  bool StopAtMark(json::error_code& ec) {
    return Stop(ec, base::ErrorCode::kInvalid,
                "a string starts with the control character U+001F, which this server reserves");
  }
  // Counts a value starting here, as ValueBuilder does.
  bool Value(json::error_code& ec) {
    type_value_next_ = false;
    if (++values_ > limits_.max_values) {
      return Stop(ec, base::ErrorCode::kTooLarge,
                  "the body holds more than " + std::to_string(limits_.max_values) +
                      " JSON values; this server takes at most " +
                      std::to_string(limits_.max_values) + " in one body");
    }
    if (!frames_.empty() && !frames_.back().is_object &&
        frames_.back().index >= limits_.max_array_items) {
      return Stop(ec, base::ErrorCode::kTooLarge,
                  "the array has more than " + std::to_string(limits_.max_array_items) +
                      " items; this server takes at most " +
                      std::to_string(limits_.max_array_items) + " in one array",
                  frames_.size() - 1);
    }
    return true;
  }
  // After a value: the next array item has the next index.
  void ValueDone() {
    if (!frames_.empty() && !frames_.back().is_object) ++frames_.back().index;
  }
  bool Scalar(json::error_code& ec) {
    if (!Value(ec)) return false;
    ValueDone();
    return true;
  }
  bool Number(json::string_view last, json::error_code& ec) {
    if (!Value(ec)) return false;
    number_.append(last.data(), last.size());
    if (!InDoubleRange(number_)) {
      return Stop(ec, base::ErrorCode::kInvalid,
                  "the number " + Shown(number_) +
                      " is outside the range of numbers this server can store and compare "
                      "(about 1e-308 to 1.8e308 in magnitude, or 0)");
    }
    number_.clear();
    ValueDone();
    return true;
  }
  bool CheckText(std::string_view text, json::error_code& ec, const char* what) {
    if (!limits_.fhir_rules) return true;
    for (char c : text) {
      if (IsForbiddenControl(static_cast<unsigned char>(c))) {
        static const char* kHex = "0123456789ABCDEF";
        std::string code = "U+00";
        code += kHex[static_cast<unsigned char>(c) >> 4];
        code += kHex[c & 15];
        return Stop(ec, base::ErrorCode::kInvalid,
                    std::string(what) + " holds the control character " + code +
                        "; FHIR allows none below U+0020 but tab, CR and LF");
      }
    }
    return true;
  }

  const JsonLimits& limits_;
  std::vector<Frame> frames_;
  size_t values_ = 0;
  size_t string_length_ = 0;
  bool type_value_next_ = false;
  std::string pending_;  // a key, or a resourceType, arriving in parts
  std::string number_;   // a number arriving in parts
};

json::parse_options Options(const JsonLimits& limits) {
  json::parse_options options;
  options.max_depth = limits.max_depth;
  return options;
}

std::optional<base::Error> FindProblem(std::string_view text, const JsonLimits& limits) {
  json::basic_parser<ProblemFinder> parser(Options(limits), limits);
  json::error_code ec;
  parser.write_some(false, text.data(), text.size(), ec);
  return std::move(parser.handler().found);
}

base::Error SyntaxError(std::string_view text, size_t consumed, json::error_code ec,
                        const JsonLimits& limits) {
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
                           ? "nested more than " + std::to_string(limits.max_depth) + " deep"
                           : ec.message();
  if (text.empty()) reason = "the body is empty";
  return base::Invalid("malformed JSON: " + reason,
                       "line " + std::to_string(line) + ", column " + std::to_string(column));
}

}  // namespace

base::Result<json::value> ParseFhirJson(std::string_view text, const JsonLimits& limits,
                                        json::storage_ptr storage) {
  json::basic_parser<ValueBuilder> parser(Options(limits), limits);
  parser.handler().st.reset(std::move(storage));
  json::error_code ec;
  size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (parser.handler().stopped) {
    if (auto problem = FindProblem(text, limits)) return std::move(*problem);
    return base::Invalid("the JSON could not be read");  // the two handlers disagree: a bug
  }
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
  if (ec) return SyntaxError(text, consumed, ec, limits);
  json::value value = parser.handler().st.release();
  if (limits.fhir_rules &&
      (CountMembers(value) != parser.handler().keys || MayEscapeControlCharacter(text))) {
    if (auto problem = FindProblem(text, limits)) return std::move(*problem);
  }
  return value;
}

}  // namespace carerecord::fhir
