#include "hl7v2/message.h"

#include <algorithm>
#include <array>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cstring>
#include <limits>
#include <optional>

namespace carerecord::hl7v2 {
namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

// What each byte is to the segment scanner; built per message from its delimiters.
enum ByteClass : uint8_t { kOrdinary = 0, kFieldSeparator, kRepetitionSeparator, kEnd, kControl };

std::array<uint8_t, 256> ByteClasses(const Delimiters& delimiters) {
  std::array<uint8_t, 256> classes{};
  for (int c = 0; c < 0x20; ++c) classes[c] = kControl;
  classes[0x7F] = kControl;
  classes['\t'] = kOrdinary;
  classes['\r'] = kEnd;
  classes['\n'] = kEnd;
  classes[static_cast<unsigned char>(delimiters.field)] = kFieldSeparator;
  classes[static_cast<unsigned char>(delimiters.repetition)] = kRepetitionSeparator;
  return classes;
}

bool IsSegmentEnd(char c) { return c == '\r' || c == '\n'; }

#if defined(__SSE2__)
// Which of 16 bytes the segment scanner must look at: a field or repetition separator, a byte
// below 0x20 (segment ends, controls, tab) or 0x7F. Fields average ten bytes, so a block holds
// one or two and the rest of the bytes are passed sixteen at a time.
class SpecialBytes {
 public:
  SpecialBytes(char field, char repetition)
      : field_(_mm_set1_epi8(field)),
        repetition_(_mm_set1_epi8(repetition)),
        below_space_(_mm_set1_epi8(0x1F)),
        delete_(_mm_set1_epi8(0x7F)) {}
  unsigned Mask(const char* p) const {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(block, below_space_), below_space_);
    const __m128i special = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(block, field_), _mm_cmpeq_epi8(block, repetition_)),
        _mm_or_si128(control, _mm_cmpeq_epi8(block, delete_)));
    return static_cast<unsigned>(_mm_movemask_epi8(special));
  }

 private:
  __m128i field_, repetition_, below_space_, delete_;
};
#endif

// HL7 allows any printable character as a delimiter; letters, digits and space would make
// ordinary text ambiguous, so no sender uses them and we refuse them.
bool IsUsableDelimiter(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte <= 0x20 || byte >= 0x7F) return false;
  return !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
}

bool IsSegmentIdStart(char c) { return c >= 'A' && c <= 'Z'; }
bool IsSegmentIdChar(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// A short, printable quotation of what the sender sent, for error messages.
std::string Quote(std::string_view text, size_t max = 20) {
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < max; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x7F) {
      out += text[i];
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
  }
  if (text.size() > max) out += "...";
  return out + "'";
}

std::string DescribeDelimiter(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x21 && byte < 0x7F) return "'" + std::string(1, c) + "'";
  return Quote(std::string_view(&c, 1));
}

}  // namespace

Result<Delimiters> ReadDelimiters(std::string_view bytes, size_t& encoding_length) {
  const std::string id(bytes.substr(0, 3));
  auto AtField = [&id](int field) { return ErrorLocation{id, 1, field, 0, 0, 0}; };
  if (bytes.size() < 4 || IsSegmentEnd(bytes[3])) {
    return MakeHl7Error(ErrorCondition::kRequiredFieldMissing, AtField(1),
                        id + " is truncated: it ends before the field separator");
  }
  Delimiters delimiters;
  delimiters.field = bytes[3];
  if (!IsUsableDelimiter(delimiters.field)) {
    return MakeHl7Error(ErrorCondition::kDataTypeError, AtField(1),
                        "the field separator " + DescribeDelimiter(delimiters.field) +
                            " is not a printable non-alphanumeric character");
  }
  size_t end = 4;
  while (end < bytes.size() && end < 10 && bytes[end] != delimiters.field &&
         !IsSegmentEnd(bytes[end])) {
    ++end;
  }
  encoding_length = end - 4;
  const std::string_view encoding = bytes.substr(4, encoding_length);
  if (encoding_length < 4 || encoding_length > 5) {
    return MakeHl7Error(
        encoding_length < 4 ? ErrorCondition::kRequiredFieldMissing
                            : ErrorCondition::kDataTypeError,
        AtField(2),
        "the encoding characters " + Quote(encoding) +
            " must be 4 (component, repetition, escape, sub-component, e.g. ^~\\&) or 5 with "
            "the v2.7 truncation character");
  }
  delimiters.component = encoding[0];
  delimiters.repetition = encoding[1];
  delimiters.escape = encoding[2];
  delimiters.subcomponent = encoding[3];
  delimiters.truncation = encoding_length == 5 ? encoding[4] : 0;
  std::string seen(1, delimiters.field);
  for (char c : encoding) {
    if (!IsUsableDelimiter(c)) {
      return MakeHl7Error(ErrorCondition::kDataTypeError, AtField(2),
                          "encoding character " + DescribeDelimiter(c) +
                              " is not a printable non-alphanumeric character");
    }
    if (seen.find(c) != std::string::npos) {
      return MakeHl7Error(ErrorCondition::kDataTypeError, AtField(2),
                          "delimiter " + DescribeDelimiter(c) +
                              " is used twice in the delimiters; each must be distinct");
    }
    seen += c;
  }
  return delimiters;
}

size_t CountPieces(std::string_view text, char separator) {
  if (text.empty()) return 0;
  size_t count = 1;
  for (const char *p = text.data(), *end = p + text.size();
       (p = static_cast<const char*>(std::memchr(p, separator, end - p))) != nullptr; ++p) {
    ++count;
  }
  return count;
}

std::string_view NthPiece(std::string_view text, char separator, size_t n) {
  if (n == 0) return {};
  size_t start = 0;
  for (size_t i = 1; i < n; ++i) {
    const size_t next = text.find(separator, start);
    if (next == std::string_view::npos) return {};
    start = next + 1;
  }
  const size_t end = text.find(separator, start);
  return text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

int VersionNumber(std::string_view version) {
  if (version.size() < 3 || version[0] != '2' || version[1] != '.' || version[2] < '0' ||
      version[2] > '9') {
    return 0;
  }
  if (version.size() > 3 && version[3] != '.') return 0;  // "2.10" is not a version we know
  return 20 + (version[2] - '0');
}

bool IsSupportedVersion(std::string_view version) {
  const int number = VersionNumber(version);
  return number >= 22 && number <= 28;
}

// --- SegmentView -------------------------------------------------------------------------------

std::string_view SegmentView::id() const {
  return message_->bytes_.substr(message_->segments_[index_].begin, 3);
}

std::string_view SegmentView::raw() const {
  const Message::Segment& segment = message_->segments_[index_];
  return message_->bytes_.substr(segment.begin, segment.end - segment.begin);
}

size_t SegmentView::field_count() const {
  const Message::Segment& segment = message_->segments_[index_];
  return index_ == 0 ? segment.piece_count + 1 : segment.piece_count;
}

std::string_view SegmentView::Get(size_t field, size_t repetition, size_t component,
                                  size_t subcomponent) const {
  const Message::Segment& segment = message_->segments_[index_];
  if (field == 0) return {};
  if (index_ == 0 && field <= 2) {
    // MSH-1 and MSH-2 hold the delimiters themselves: never split.
    if (repetition > 1 || component > 1 || subcomponent > 1) return {};
    return field == 1 ? message_->bytes_.substr(segment.begin + 3, 1) : message_->Piece(segment, 0);
  }
  const size_t piece = index_ == 0 ? field - 2 : field - 1;
  if (piece >= segment.piece_count) return {};
  std::string_view value = message_->Piece(segment, piece);
  const Delimiters& delimiters = message_->delimiters_;
  if (repetition == 0) return value;
  value = NthPiece(value, delimiters.repetition, repetition);
  if (component == 0) return value;
  value = NthPiece(value, delimiters.component, component);
  if (subcomponent == 0) return value;
  return NthPiece(value, delimiters.subcomponent, subcomponent);
}

size_t SegmentView::RepetitionCount(size_t field) const {
  if (index_ == 0 && field <= 2) return Get(field).empty() ? 0 : 1;
  return CountPieces(Get(field), message_->delimiters_.repetition);
}

Result<std::string> SegmentView::Text(size_t field, size_t repetition, size_t component,
                                      size_t subcomponent) const {
  return message_->Unescape(Get(field, repetition, component, subcomponent),
                            Location(field, repetition, component, subcomponent));
}

const Delimiters& SegmentView::delimiters() const { return message_->delimiters_; }
Charset SegmentView::charset() const { return message_->header_.charset; }

ErrorLocation SegmentView::Location(size_t field, size_t repetition, size_t component,
                                    size_t subcomponent) const {
  return ErrorLocation{std::string(id()),           static_cast<int>(index_ + 1),
                       static_cast<int>(field),     static_cast<int>(repetition),
                       static_cast<int>(component), static_cast<int>(subcomponent)};
}

// --- Message -----------------------------------------------------------------------------------

std::string_view Message::Piece(const Segment& segment, size_t piece) const {
  const uint32_t start = piece_starts_[segment.first_piece + piece];
  const uint32_t end = piece + 1 < segment.piece_count
                           ? piece_starts_[segment.first_piece + piece + 1] - 1
                           : segment.end;
  return bytes_.substr(start, end - start);
}

std::optional<SegmentView> Message::FindSegment(std::string_view id, size_t occurrence) const {
  size_t seen = 0;
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (bytes_.substr(segments_[i].begin, 3) == id && ++seen == occurrence) {
      return SegmentView(this, i);
    }
  }
  return std::nullopt;
}

std::string_view Message::Get(std::string_view segment_id, size_t field, size_t repetition,
                              size_t component, size_t subcomponent) const {
  const std::optional<SegmentView> segment = FindSegment(segment_id);
  if (!segment) return {};
  return segment->Get(field, repetition, component, subcomponent);
}

Result<std::string> Message::Text(std::string_view segment_id, size_t field, size_t repetition,
                                  size_t component, size_t subcomponent) const {
  const std::optional<SegmentView> segment = FindSegment(segment_id);
  if (!segment) return std::string();
  return segment->Text(field, repetition, component, subcomponent);
}

Result<std::string> Message::Unescape(std::string_view raw, const ErrorLocation& where) const {
  return UnescapeText(raw, delimiters_, header_.charset, where);
}

namespace {

struct FieldPlace {
  std::string_view segment_id;
  int sequence;
  size_t field;  // the number of the field the scan starts in
};

// Indexes a segment's fields from `q` (inside the field that starts at `field_start`) to the
// segment's end: pushes each further field's start, checks the field and repetition limits and
// refuses control bytes. Returns where the segment ends.
Result<size_t> IndexFields(std::string_view input, size_t q, size_t field_start, FieldPlace place,
                           const Delimiters& delimiters, const std::array<uint8_t, 256>& classes,
                           const ParseLimits& limits, std::vector<uint32_t>& piece_starts) {
  const char* bytes = input.data();
  const size_t size = input.size();
  size_t repetitions = 1;
  // Why the scan stopped early; the error is built after the loop, which keeps the per-byte
  // step small enough to inline.
  enum class Problem { kNone, kFieldTooLong, kTooManyRepetitions, kControl };
  Problem problem = Problem::kNone;
  // Looks at one byte the block test flagged (or any byte, in the scalar tail); true when the
  // segment ends there or a limit or a control byte stops it.
  auto stops_at = [&](size_t at) {
    switch (classes[static_cast<unsigned char>(bytes[at])]) {
      case kOrdinary:  // a tab, which the block test flags with the controls
        return false;
      case kFieldSeparator:
        if (at - field_start > limits.max_field_bytes) {
          problem = Problem::kFieldTooLong;
          return true;
        }
        piece_starts.push_back(static_cast<uint32_t>(at + 1));
        field_start = at + 1;
        ++place.field;
        repetitions = 1;
        return false;
      case kRepetitionSeparator:
        if (++repetitions <= limits.max_repetitions) return false;
        problem = Problem::kTooManyRepetitions;
        return true;
      case kEnd:
        return true;
      default:
        problem = Problem::kControl;
        return true;
    }
  };
  size_t end = size;
  bool stopped = false;
#if defined(__SSE2__)
  const SpecialBytes special(delimiters.field, delimiters.repetition);
  for (; !stopped && size - q >= 16; q += 16) {
    for (unsigned mask = special.Mask(bytes + q); mask != 0; mask &= mask - 1) {
      const size_t at = q + static_cast<size_t>(__builtin_ctz(mask));
      if (stops_at(at)) {
        end = at;
        stopped = true;
        break;
      }
    }
  }
#endif
  for (; !stopped && q < size; ++q) {
    if (classes[static_cast<unsigned char>(bytes[q])] != kOrdinary && stops_at(q)) {
      end = q;
      stopped = true;
    }
  }
  if (problem == Problem::kNone && end - field_start > limits.max_field_bytes) {
    problem = Problem::kFieldTooLong;
  }
  const ErrorLocation here{std::string(place.segment_id), place.sequence,
                           static_cast<int>(place.field)};
  switch (problem) {
    case Problem::kNone:
      return end;
    case Problem::kFieldTooLong:
      return MakeHl7Error(ErrorCondition::kValueTooLong, here,
                          "the field is " + std::to_string(end - field_start) +
                              " bytes, over the limit of " + std::to_string(limits.max_field_bytes),
                          base::ErrorCode::kTooLarge);
    case Problem::kTooManyRepetitions:
      return MakeHl7Error(ErrorCondition::kValueTooLong, here,
                          "more than " + std::to_string(limits.max_repetitions) + " repetitions",
                          base::ErrorCode::kTooLarge);
    case Problem::kControl:
      return MakeHl7Error(ErrorCondition::kDataTypeError, here,
                          "control character " + Quote(input.substr(end, 1)) +
                              " in the text (binary data must be sent as \\X..\\ or base64)");
  }
  return end;
}

// Fills the header from MSH; the message's structure is already known.
Result<MessageHeader> ReadHeader(const Message& message, const ParseOptions& options) {
  MessageHeader header;
  const SegmentView msh = message.segment(0);
  // MSH-18 names the character set, so it is read before one is known: as ASCII, which every
  // name in table 0211 is.
  auto charset_name = UnescapeText(msh.Get(18, 1, 1, 1), message.delimiters(), Charset::kAscii,
                                   msh.Location(18, 1, 1, 1));
  if (!charset_name.ok()) return charset_name.error();
  auto charset = CharsetFromMsh18(*charset_name, options.undeclared_charset, msh.Location(18));
  if (!charset.ok()) return charset.error();
  header.charset = *charset;
  struct Wanted {
    std::string* out;
    size_t field, component;
    bool required;
    const char* what;
  };
  const Wanted wanted[] = {
      {&header.sending_application, 3, 1, false, ""},
      {&header.sending_facility, 4, 1, false, ""},
      {&header.date_time, 7, 1, false, ""},
      {&header.message_code, 9, 1, true, "the message type (MSH-9.1)"},
      {&header.trigger_event, 9, 2, false, ""},
      {&header.message_structure, 9, 3, false, ""},
      {&header.control_id, 10, 1, true, "the message control id (MSH-10)"},
      {&header.processing_id, 11, 1, false, ""},
      {&header.version, 12, 1, true, "the version id (MSH-12)"},
      {&header.accept_ack_type, 15, 1, false, ""},
      {&header.application_ack_type, 16, 1, false, ""},
  };
  const Delimiters& d = message.delimiters();
  const char separators[] = {d.component, d.subcomponent};
  for (const Wanted& item : wanted) {
    // MSH-10 is one ST: a stray component separator in it is part of the id.
    const size_t component = item.field == 10 ? 0 : item.component;
    const std::string_view raw = msh.Get(item.field, 1, component, component == 0 ? 0 : 1);
    // Header values are mostly plain ASCII: taken as they are, without the unescaping path.
    const bool plain = std::all_of(raw.begin(), raw.end(), [&d](char c) {
      return c != d.escape && static_cast<unsigned char>(c) < 0x80;
    });
    if (plain) {
      item.out->assign(raw);
    } else {
      auto text = message.Unescape(raw, msh.Location(item.field, 0, component));
      if (!text.ok()) return text.error();
      *item.out = std::move(*text);
    }
    // Nothing but separators ("^") is no value: ER7 cannot tell it from an empty field.
    const bool only_separators =
        raw.find_first_not_of(std::string_view(separators, 2)) == std::string_view::npos;
    if (item.required && (item.out->empty() || only_separators)) {
      return MakeHl7Error(ErrorCondition::kRequiredFieldMissing, msh.Location(item.field),
                          std::string(item.what) + " is empty");
    }
  }
  if (options.check_version && !IsSupportedVersion(header.version)) {
    return MakeHl7Error(
        ErrorCondition::kUnsupportedVersionId, msh.Location(12),
        "version " + Quote(header.version) + " is not one this receiver reads (2.2 to 2.8)",
        base::ErrorCode::kNotSupported);
  }
  return header;
}

}  // namespace

Result<Message> ParseMessage(std::string_view input, const ParseOptions& options) {
  const ParseLimits& limits = options.limits;
  if (input.size() > limits.max_message_bytes ||
      input.size() >= std::numeric_limits<uint32_t>::max()) {
    return MakeHl7Error(ErrorCondition::kApplicationInternalError, ErrorLocation{},
                        "the message is " + std::to_string(input.size()) +
                            " bytes, over the limit of " + std::to_string(limits.max_message_bytes),
                        base::ErrorCode::kTooLarge);
  }
  if (input.substr(0, kByteOrderMark.size()) == kByteOrderMark) {
    input.remove_prefix(kByteOrderMark.size());
  }
  while (!input.empty() && IsSegmentEnd(input.front())) input.remove_prefix(1);
  if (input.substr(0, 3) != "MSH") {
    const std::string_view start = input.substr(0, 3);
    std::string reason =
        input.empty() ? "the message is empty: no MSH segment"
        : (start == "FHS" || start == "BHS")
            ? "this is a batch (" + std::string(start) + "), not a single message"
            : "the message does not start with an MSH segment; it starts with " + Quote(input);
    return MakeHl7Error(ErrorCondition::kRequiredFieldMissing, ErrorLocation{"MSH", 1},
                        std::move(reason));
  }
  size_t encoding_length = 0;
  auto delimiters = ReadDelimiters(input, encoding_length);
  if (!delimiters.ok()) return delimiters.error();

  Message message;
  message.bytes_ = input;
  message.delimiters_ = *delimiters;
  const std::array<uint8_t, 256> classes = ByteClasses(*delimiters);
  const char* bytes = input.data();
  const size_t size = input.size();
  // Rough guesses (a segment per 64 bytes, a field per 8) save most regrowth of the index.
  message.segments_.reserve(size / 64 + 4);
  message.piece_starts_.reserve(size / 8 + 16);
  size_t p = 0;
  while (p < size) {
    if (IsSegmentEnd(bytes[p])) {
      ++p;  // a terminator, or a blank line between segments
      continue;
    }
    if (bytes[p] == ' ' || bytes[p] == '\t') {  // a line of blanks is a blank line too
      size_t blank_end = p;
      while (blank_end < size && (bytes[blank_end] == ' ' || bytes[blank_end] == '\t')) {
        ++blank_end;
      }
      if (blank_end == size || IsSegmentEnd(bytes[blank_end])) {
        p = blank_end;
        continue;
      }
    }
    const int sequence = static_cast<int>(message.segments_.size()) + 1;
    if (message.segments_.size() >= limits.max_segments) {
      return MakeHl7Error(
          ErrorCondition::kSegmentSequenceError, ErrorLocation{"", sequence},
          "more than " + std::to_string(limits.max_segments) + " segments in one message",
          base::ErrorCode::kTooLarge);
    }
    if (size - p < 3 || !IsSegmentIdStart(bytes[p]) || !IsSegmentIdChar(bytes[p + 1]) ||
        !IsSegmentIdChar(bytes[p + 2]) ||
        (size - p > 3 && bytes[p + 3] != delimiters->field && !IsSegmentEnd(bytes[p + 3]))) {
      return MakeHl7Error(ErrorCondition::kSegmentSequenceError, ErrorLocation{"", sequence},
                          "segment " + std::to_string(sequence) +
                              " does not start with a segment id (three capital letters or "
                              "digits, then the field separator): " +
                              Quote(input.substr(p, input.find_first_of("\r\n", p) - p)));
    }
    const std::string_view id = input.substr(p, 3);
    if (sequence > 1 && id == "MSH") {
      return MakeHl7Error(ErrorCondition::kSegmentSequenceError, ErrorLocation{"MSH", sequence},
                          "a second MSH: this is more than one message (a batch?)");
    }
    Message::Segment segment{static_cast<uint32_t>(p), 0,
                             static_cast<uint32_t>(message.piece_starts_.size()), 0};
    size_t q = p + 3;
    if (q < size && bytes[q] == delimiters->field) {
      message.piece_starts_.push_back(static_cast<uint32_t>(q + 1));
      // MSH-2 holds the delimiters and is not scanned: MSH's scan starts at MSH-3.
      const bool msh = sequence == 1;
      auto end = IndexFields(input, msh ? q + 1 + encoding_length : q + 1, q + 1,
                             FieldPlace{id, sequence, msh ? size_t{2} : size_t{1}}, *delimiters,
                             classes, limits, message.piece_starts_);
      if (!end.ok()) return end.error();
      q = *end;
    }
    segment.end = static_cast<uint32_t>(q);
    segment.piece_count = static_cast<uint32_t>(message.piece_starts_.size()) - segment.first_piece;
    message.segments_.push_back(segment);
    p = q;
  }
  auto header = ReadHeader(message, options);
  if (!header.ok()) return header.error();
  message.header_ = std::move(*header);
  return message;
}

}  // namespace carerecord::hl7v2
