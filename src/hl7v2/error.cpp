#include "hl7v2/error.h"

namespace carerecord::hl7v2 {

std::string_view ErrorConditionText(ErrorCondition condition) {
  switch (condition) {
    case ErrorCondition::kSegmentSequenceError:
      return "Segment sequence error";
    case ErrorCondition::kRequiredFieldMissing:
      return "Required field missing";
    case ErrorCondition::kDataTypeError:
      return "Data type error";
    case ErrorCondition::kTableValueNotFound:
      return "Table value not found";
    case ErrorCondition::kValueTooLong:
      return "Value too long";
    case ErrorCondition::kUnsupportedMessageType:
      return "Unsupported message type";
    case ErrorCondition::kUnsupportedEventCode:
      return "Unsupported event code";
    case ErrorCondition::kUnsupportedProcessingId:
      return "Unsupported processing id";
    case ErrorCondition::kUnsupportedVersionId:
      return "Unsupported version id";
    case ErrorCondition::kUnknownKeyIdentifier:
      return "Unknown key identifier";
    case ErrorCondition::kDuplicateKeyIdentifier:
      return "Duplicate key identifier";
    case ErrorCondition::kApplicationRecordLocked:
      return "Application record locked";
    case ErrorCondition::kApplicationInternalError:
      return "Application internal error";
  }
  return "Application internal error";
}

std::string ErrorLocation::ToString() const {
  if (segment_id.empty() && segment_sequence == 0) return "the message";
  std::string text = segment_id.empty() ? "segment" : segment_id;
  if (segment_sequence > 0) {
    text += segment_id.empty() ? " " : " (segment ";
    text += std::to_string(segment_sequence);
    if (!segment_id.empty()) text += ")";
  }
  if (field > 0) text += " field " + std::to_string(field);
  if (repetition > 0) text += " repetition " + std::to_string(repetition);
  if (component > 0) text += " component " + std::to_string(component);
  if (subcomponent > 0) text += " sub-component " + std::to_string(subcomponent);
  return text;
}

std::string Hl7Error::ToString() const { return location.ToString() + ": " + reason; }

base::Error Hl7Error::ToError() const { return base::MakeError(code, reason, location.ToString()); }

Hl7Error MakeHl7Error(ErrorCondition condition, ErrorLocation location, std::string reason,
                      base::ErrorCode code) {
  return Hl7Error{condition, std::move(location), std::move(reason), code};
}

}  // namespace carerecord::hl7v2
