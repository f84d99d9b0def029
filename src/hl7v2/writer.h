// Writing HL7 v2 ER7 from values: a message as segments of fields of repetitions of components
// of sub-components, each plain UTF-8 text, escaped on the way out. ReadValues is the inverse:
// WriteMessage then ParseMessage then ReadValues gives back the values written (trailing empty
// pieces aside, which ER7 cannot tell from absent ones). Pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hl7v2/error.h"
#include "hl7v2/message.h"
#include "hl7v2/text.h"

namespace carerecord::hl7v2 {

using ComponentValue = std::vector<std::string>;      // its sub-components
using RepetitionValue = std::vector<ComponentValue>;  // its components
using FieldValue = std::vector<RepetitionValue>;      // its repetitions

struct SegmentValue {
  std::string id;
  // fields[0] is field 1. For MSH, fields 1 and 2 (the delimiters) are written from the
  // Delimiters given to WriteMessage and their values here are ignored.
  std::vector<FieldValue> fields;

  // Sets one sub-component (1-based positions), growing the segment as needed.
  void Set(size_t field, std::string value, size_t repetition = 1, size_t component = 1,
           size_t subcomponent = 1);
  // Sets a whole field to one repetition of these components (each one sub-component).
  void SetComponents(size_t field, std::vector<std::string> components);
  // One sub-component, empty when absent.
  std::string_view Value(size_t field, size_t repetition = 1, size_t component = 1,
                         size_t subcomponent = 1) const;

  bool operator==(const SegmentValue&) const = default;
};

// Drops trailing empty sub-components, components, repetitions and fields, as ER7 does.
void TrimTrailingEmpty(SegmentValue& segment);

// Writes segments (the first must be MSH) with these delimiters, each segment ended by
// `terminator` (HL7 says \r). Text is encoded in the character set MSH-18 names (UTF-8 when it
// is empty). Errors: no MSH first, a segment id that is not three capitals or digits, unusable
// delimiters, text the character set cannot hold.
Result<std::string> WriteMessage(const std::vector<SegmentValue>& segments,
                                 const Delimiters& delimiters = {},
                                 std::string_view terminator = "\r");

// Every sub-component of a parsed message, unescaped, trailing empties trimmed; MSH-1 and MSH-2
// hold the delimiter characters as sent. Values cost some fifty bytes each whatever their size,
// so more than kMaxReadValues of them (empty ones included) is an error, not gigabytes.
Result<std::vector<SegmentValue>> ReadValues(const Message& message);
inline constexpr size_t kMaxReadValues = 1'000'000;
// One field of a segment as values, unescaped.
Result<FieldValue> ReadField(const SegmentView& segment, size_t field);

}  // namespace carerecord::hl7v2
