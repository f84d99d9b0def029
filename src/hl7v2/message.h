// An HL7 v2 message in ER7 (pipe) encoding, parsed as a view over the caller's bytes: segment and
// field positions are found once (ParseMessage), repetitions, components and sub-components are
// split on access, and text is unescaped to UTF-8 only when asked (Text). The MLLP listener and
// the mapping to FHIR read messages through this. A Message is immutable after parsing and may
// be read from many threads; the bytes it views must outlive it.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hl7v2/error.h"
#include "hl7v2/text.h"

namespace carerecord::hl7v2 {

// Bounds on what one message may ask of us; each has a default fit for real feeds (a base64 PDF
// in OBX-5 runs to tens of megabytes, a long lab report to thousands of segments).
struct ParseLimits {
  size_t max_message_bytes = size_t{64} << 20;
  size_t max_field_bytes = size_t{32} << 20;
  size_t max_segments = 100'000;
  size_t max_repetitions = 10'000;  // per field
};

struct ParseOptions {
  ParseLimits limits;
  // What a message with an empty MSH-18 is read as. HL7 says ASCII; feeds in practice send
  // UTF-8 without saying so, and ASCII is a subset of it, so UTF-8 (validated) is the default.
  Charset undeclared_charset = Charset::kUtf8;
  // Refuse versions outside 2.2 to 2.8 (MSH-12) with error 203.
  bool check_version = true;
};

// MSH read once at parse time, unescaped.
struct MessageHeader {
  // The first component (HD namespace id) of MSH-3 and MSH-4: who sent it, as a feed is
  // configured; the universal id and its type, when sent, are Get("MSH", 4, 1, 2) and 3.
  std::string sending_application;
  std::string sending_facility;
  std::string date_time;              // MSH-7.1, as sent (YYYYMMDDHHMM[SS[.S...]][+/-ZZZZ])
  std::string message_code;           // MSH-9.1, e.g. "ADT"
  std::string trigger_event;          // MSH-9.2, e.g. "A01"
  std::string message_structure;      // MSH-9.3, e.g. "ADT_A01" (empty before v2.3.1)
  std::string control_id;             // MSH-10
  std::string processing_id;          // MSH-11.1 (P, T, D)
  std::string version;                // MSH-12.1, e.g. "2.5.1"
  std::string accept_ack_type;        // MSH-15 (AL, NE, ER, SU or empty)
  std::string application_ack_type;   // MSH-16
  Charset charset = Charset::kAscii;  // MSH-18, as read (see ParseOptions::undeclared_charset)
};

// Splits `text` on `separator`: the number of pieces (0 for empty text) and the n-th (1-based;
// empty when there are fewer).
size_t CountPieces(std::string_view text, char separator);
std::string_view NthPiece(std::string_view text, char separator, size_t n);
// Calls `visit` with each piece in order, in one pass (NthPiece in a loop would be quadratic);
// nothing for empty text.
template <typename Visit>
void ForEachPiece(std::string_view text, char separator, Visit&& visit) {
  if (text.empty()) return;
  size_t start = 0;
  for (;;) {
    const size_t end = text.find(separator, start);
    if (end == std::string_view::npos) {
      visit(text.substr(start));
      return;
    }
    visit(text.substr(start, end - start));
    start = end + 1;
  }
}

class Message;

// One segment of a parsed message. Field numbers are HL7's: for MSH, field 1 is the field
// separator and field 2 the encoding characters, neither of which is split further.
class SegmentView {
 public:
  SegmentView(const Message* message, size_t index) : message_(message), index_(index) {}

  std::string_view id() const;
  size_t index() const { return index_; }  // 0-based position in the message
  std::string_view raw() const;            // the whole segment, without its terminator
  size_t field_count() const;              // the highest field number present
  // Raw (escaped) text of a field, repetition, component or sub-component; 0 for rep, comp or
  // sub means the whole of that level; a position not present is empty.
  std::string_view Get(size_t field, size_t repetition = 0, size_t component = 0,
                       size_t subcomponent = 0) const;
  size_t RepetitionCount(size_t field) const;
  // Get(), unescaped to UTF-8. Only meaningful at the sub-component level or where the value
  // has no deeper delimiters (a whole field keeps its ^ and & as they are).
  Result<std::string> Text(size_t field, size_t repetition = 1, size_t component = 1,
                           size_t subcomponent = 1) const;
  const Delimiters& delimiters() const;
  Charset charset() const;
  ErrorLocation Location(size_t field = 0, size_t repetition = 0, size_t component = 0,
                         size_t subcomponent = 0) const;

 private:
  const Message* message_;
  size_t index_;
};

class Message {
 public:
  const Delimiters& delimiters() const { return delimiters_; }
  Charset charset() const { return header_.charset; }
  const MessageHeader& header() const { return header_; }
  std::string_view bytes() const { return bytes_; }  // as given, from MSH on

  size_t segment_count() const { return segments_.size(); }
  SegmentView segment(size_t index) const { return SegmentView(this, index); }
  // The n-th (1-based) segment with this id, if any.
  std::optional<SegmentView> FindSegment(std::string_view id, size_t occurrence = 1) const;

  // Get and Text on the first segment with this id; empty when there is none.
  std::string_view Get(std::string_view segment_id, size_t field, size_t repetition = 0,
                       size_t component = 0, size_t subcomponent = 0) const;
  Result<std::string> Text(std::string_view segment_id, size_t field, size_t repetition = 1,
                           size_t component = 1, size_t subcomponent = 1) const;
  // Unescapes raw text of this message (its delimiters and character set).
  Result<std::string> Unescape(std::string_view raw, const ErrorLocation& where) const;

  // Range-for over the segments.
  class Iterator {
   public:
    Iterator(const Message* message, size_t index) : message_(message), index_(index) {}
    SegmentView operator*() const { return SegmentView(message_, index_); }
    Iterator& operator++() {
      ++index_;
      return *this;
    }
    bool operator!=(const Iterator& other) const { return index_ != other.index_; }

   private:
    const Message* message_;
    size_t index_;
  };
  Iterator begin() const { return Iterator(this, 0); }
  Iterator end() const { return Iterator(this, segments_.size()); }

 private:
  friend class SegmentView;
  friend Result<Message> ParseMessage(std::string_view bytes, const ParseOptions& options);

  // Offsets into bytes_. A segment's pieces are what lies between its field separators after
  // the id: for MSH piece 0 is MSH-2, for others piece 0 is field 1.
  struct Segment {
    uint32_t begin;        // the segment id
    uint32_t end;          // one past the last byte before the terminator
    uint32_t first_piece;  // index into piece_starts_
    uint32_t piece_count;
  };
  std::string_view Piece(const Segment& segment, size_t piece) const;

  std::string_view bytes_;
  Delimiters delimiters_;
  MessageHeader header_;
  std::vector<Segment> segments_;
  std::vector<uint32_t> piece_starts_;
};

// Parses one message: a UTF-8 byte order mark and blank lines before MSH are skipped, segments
// end at \r, \n or \r\n, blank lines between them are skipped. Errors name the segment, field
// and reason: no MSH, bad delimiters, a segment id that is not three capitals or digits, control
// characters (binary data belongs in \X..\ or base64), any limit passed, MSH-9/10/12 missing, an
// unsupported version or character set.
Result<Message> ParseMessage(std::string_view bytes, const ParseOptions& options = {});
// A Message views its bytes: parsing a temporary string would leave it dangling.
template <typename String>
requires std::same_as<String, std::string> Result<Message> ParseMessage(
    String&& bytes, const ParseOptions& options = {})
= delete;

// Reads the delimiters from a segment that declares them (MSH, FHS or BHS: the id, the field
// separator, then 4 or 5 encoding characters); `encoding_length` is set to 4 or 5.
Result<Delimiters> ReadDelimiters(std::string_view segment, size_t& encoding_length);

// True for MSH-12 values 2.2 to 2.8 (with any further parts: 2.3.1, 2.5.1, 2.8.2).
bool IsSupportedVersion(std::string_view version);
// The major.minor of a version as a number: "2.5.1" -> 25, "2.3" -> 23; 0 when unreadable.
int VersionNumber(std::string_view version);

}  // namespace carerecord::hl7v2
