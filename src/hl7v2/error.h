// The error every HL7 v2 parsing path returns: an HL7 error condition (table 0357), the place in
// the message as ERR-2 names it, and a reason in the sender's terms. The ACK builder turns one into
// an ERR segment. Plain values; safe to copy between threads.
#pragma once

#include <string>
#include <utility>

#include "base/status.h"

namespace carerecord::hl7v2 {

// HL7 table 0357 (message error condition codes); the number is the code sent in ERR-3 / ERR-1.4.
enum class ErrorCondition : int {
  kSegmentSequenceError = 100,
  kRequiredFieldMissing = 101,
  kDataTypeError = 102,
  kTableValueNotFound = 103,
  kValueTooLong = 104,
  kUnsupportedMessageType = 200,
  kUnsupportedEventCode = 201,
  kUnsupportedProcessingId = 202,
  kUnsupportedVersionId = 203,
  kUnknownKeyIdentifier = 204,
  kDuplicateKeyIdentifier = 205,
  kApplicationRecordLocked = 206,
  kApplicationInternalError = 207,
};

// The display text of a table 0357 code ("Required field missing").
std::string_view ErrorConditionText(ErrorCondition condition);

// Where in a message, 1-based as HL7 counts (0 = not known or the whole of that level). ERR-2.
struct ErrorLocation {
  std::string segment_id;    // "PID"; empty when no segment could be named
  int segment_sequence = 0;  // which segment of the message, counting from 1 (MSH is 1)
  int field = 0;
  int repetition = 0;
  int component = 0;
  int subcomponent = 0;

  // "PID (segment 3) field 5 repetition 2 component 1", or "the message" when nothing is known.
  std::string ToString() const;
};

struct Hl7Error {
  ErrorCondition condition = ErrorCondition::kApplicationInternalError;
  ErrorLocation location;
  std::string reason;  // what was wrong, without the location
  // How the HTTP/CLI side classes it (kInvalid, kTooLarge, kNotSupported).
  base::ErrorCode code = base::ErrorCode::kInvalid;

  // "PID (segment 3) field 5: reason".
  std::string ToString() const;
  base::Error ToError() const;
};

Hl7Error MakeHl7Error(ErrorCondition condition, ErrorLocation location, std::string reason,
                      base::ErrorCode code = base::ErrorCode::kInvalid);

// A value or an Hl7Error: base::Result keeping the structured location for ERR.
template <typename T>
using Result = base::Result<T, Hl7Error>;

}  // namespace carerecord::hl7v2
