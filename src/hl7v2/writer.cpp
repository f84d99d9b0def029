#include "hl7v2/writer.h"

#include <optional>

namespace carerecord::hl7v2 {
namespace {

bool IsSegmentId(std::string_view id) {
  if (id.size() != 3 || id[0] < 'A' || id[0] > 'Z') return false;
  for (char c : id) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

template <typename T>
void TrimBack(std::vector<T>& items) {
  while (!items.empty() && items.back().empty()) items.pop_back();
}

void TrimField(FieldValue& field) {
  for (RepetitionValue& repetition : field) {
    for (ComponentValue& component : repetition) TrimBack(component);
    TrimBack(repetition);
  }
  TrimBack(field);
}

}  // namespace

void SegmentValue::Set(size_t field, std::string value, size_t repetition, size_t component,
                       size_t subcomponent) {
  if (field == 0 || repetition == 0 || component == 0 || subcomponent == 0) return;
  if (fields.size() < field) fields.resize(field);
  FieldValue& f = fields[field - 1];
  if (f.size() < repetition) f.resize(repetition);
  RepetitionValue& r = f[repetition - 1];
  if (r.size() < component) r.resize(component);
  ComponentValue& c = r[component - 1];
  if (c.size() < subcomponent) c.resize(subcomponent);
  c[subcomponent - 1] = std::move(value);
}

void SegmentValue::SetComponents(size_t field, std::vector<std::string> components) {
  if (field == 0) return;
  if (fields.size() < field) fields.resize(field);
  RepetitionValue repetition;
  for (std::string& component : components) repetition.push_back({std::move(component)});
  fields[field - 1] = {std::move(repetition)};
}

std::string_view SegmentValue::Value(size_t field, size_t repetition, size_t component,
                                     size_t subcomponent) const {
  if (field == 0 || field > fields.size()) return {};
  const FieldValue& f = fields[field - 1];
  if (repetition == 0 || repetition > f.size()) return {};
  const RepetitionValue& r = f[repetition - 1];
  if (component == 0 || component > r.size()) return {};
  const ComponentValue& c = r[component - 1];
  if (subcomponent == 0 || subcomponent > c.size()) return {};
  return c[subcomponent - 1];
}

void TrimTrailingEmpty(SegmentValue& segment) {
  const size_t keep = segment.id == "MSH" ? 2 : 0;  // MSH-1 and MSH-2 always stand
  for (size_t i = keep; i < segment.fields.size(); ++i) TrimField(segment.fields[i]);
  while (segment.fields.size() > keep && segment.fields.back().empty()) segment.fields.pop_back();
}

Result<std::string> WriteMessage(const std::vector<SegmentValue>& segments,
                                 const Delimiters& delimiters, std::string_view terminator) {
  const ErrorLocation whole{"MSH", 1};
  if (segments.empty() || segments.front().id != "MSH") {
    return MakeHl7Error(ErrorCondition::kSegmentSequenceError, whole, "a message starts with MSH");
  }
  const std::string declared =
      "MSH" + std::string(1, delimiters.field) + delimiters.EncodingCharacters();
  size_t encoding_length = 0;
  auto checked = ReadDelimiters(declared, encoding_length);
  if (!checked.ok()) return checked.error();
  auto charset =
      CharsetFromMsh18(segments.front().Value(18), Charset::kUtf8, ErrorLocation{"MSH", 1, 18});
  if (!charset.ok()) return charset.error();

  std::string out;
  for (size_t s = 0; s < segments.size(); ++s) {
    SegmentValue segment = segments[s];
    const int sequence = static_cast<int>(s) + 1;
    if (!IsSegmentId(segment.id) || (s > 0 && segment.id == "MSH")) {
      return MakeHl7Error(ErrorCondition::kSegmentSequenceError, ErrorLocation{"", sequence},
                          "'" + segment.id.substr(0, 10) +
                              "' is not a segment id here (three capitals or digits; MSH first)");
    }
    TrimTrailingEmpty(segment);
    out += segment.id;
    size_t first = 1;
    if (s == 0) {
      out += declared.substr(3);
      first = 3;
    }
    for (size_t f = first; f <= segment.fields.size(); ++f) {
      out += delimiters.field;
      const FieldValue& field = segment.fields[f - 1];
      for (size_t r = 0; r < field.size(); ++r) {
        if (r > 0) out += delimiters.repetition;
        for (size_t c = 0; c < field[r].size(); ++c) {
          if (c > 0) out += delimiters.component;
          for (size_t sub = 0; sub < field[r][c].size(); ++sub) {
            if (sub > 0) out += delimiters.subcomponent;
            const ErrorLocation where{segment.id,
                                      sequence,
                                      static_cast<int>(f),
                                      static_cast<int>(r + 1),
                                      static_cast<int>(c + 1),
                                      static_cast<int>(sub + 1)};
            auto text = EscapeText(field[r][c][sub], delimiters, *charset, where);
            if (!text.ok()) return text.error();
            out += *text;
          }
        }
      }
    }
    out += terminator;
  }
  return out;
}

namespace {

// Reads a field's values in one pass over it, counting them against `budget` (values take some
// fifty bytes each, so a field of a million separators must not become a million vectors).
Result<FieldValue> ReadFieldWithin(const SegmentView& segment, size_t field, size_t& budget) {
  const Delimiters& delimiters = segment.delimiters();
  FieldValue value;
  std::optional<Hl7Error> failure;
  size_t r = 0, c = 0, sub = 0;
  // Every repetition, component and sub-component costs one, empty or not.
  auto spend = [&]() {
    if (failure) return false;
    if (budget == 0) {
      failure = MakeHl7Error(ErrorCondition::kValueTooLong, segment.Location(field, r, c, sub),
                             "too many values in one message to read them all",
                             base::ErrorCode::kTooLarge);
      return false;
    }
    --budget;
    return true;
  };
  ForEachPiece(segment.Get(field), delimiters.repetition, [&](std::string_view raw_repetition) {
    ++r;
    c = 0;
    if (!spend()) return;
    RepetitionValue& repetition = value.emplace_back();
    ForEachPiece(raw_repetition, delimiters.component, [&](std::string_view raw_component) {
      ++c;
      sub = 0;
      if (!spend()) return;
      ComponentValue& component = repetition.emplace_back();
      ForEachPiece(raw_component, delimiters.subcomponent, [&](std::string_view raw) {
        ++sub;
        if (!spend()) return;
        auto text =
            UnescapeText(raw, delimiters, segment.charset(), segment.Location(field, r, c, sub));
        if (!text.ok()) {
          failure = text.error();
          return;
        }
        component.push_back(std::move(*text));
      });
    });
  });
  if (failure) return *failure;
  TrimField(value);
  return value;
}

}  // namespace

Result<FieldValue> ReadField(const SegmentView& segment, size_t field) {
  size_t budget = kMaxReadValues;
  return ReadFieldWithin(segment, field, budget);
}

Result<std::vector<SegmentValue>> ReadValues(const Message& message) {
  std::vector<SegmentValue> segments;
  segments.reserve(message.segment_count());
  size_t budget = kMaxReadValues;
  for (const SegmentView segment : message) {
    SegmentValue value;
    value.id = std::string(segment.id());
    const size_t count = segment.field_count();
    if (count > budget) {
      return MakeHl7Error(ErrorCondition::kValueTooLong, segment.Location(),
                          "too many values in one message to read them all",
                          base::ErrorCode::kTooLarge);
    }
    budget -= count;  // an empty field costs its FieldValue too
    value.fields.reserve(count);
    for (size_t f = 1; f <= count; ++f) {
      if (segment.index() == 0 && f <= 2) {
        value.fields.push_back({{{std::string(segment.Get(f))}}});
        continue;
      }
      auto field = ReadFieldWithin(segment, f, budget);
      if (!field.ok()) return field.error();
      value.fields.push_back(std::move(*field));
    }
    TrimTrailingEmpty(value);
    segments.push_back(std::move(value));
  }
  return segments;
}

}  // namespace carerecord::hl7v2
