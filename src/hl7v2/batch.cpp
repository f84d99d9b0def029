#include "hl7v2/batch.h"

#include <charconv>
#include <string>

namespace carerecord::hl7v2 {
namespace {

bool IsSegmentEnd(char c) { return c == '\r' || c == '\n'; }

// Compares a trailer's count field (BTS-1, FTS-1) with what was seen; a problem when they differ.
void CheckCount(std::string_view line, char field_separator, int sequence, size_t seen,
                const char* what, std::vector<Hl7Error>& problems) {
  const std::string id(line.substr(0, 3));
  const std::string_view count = NthPiece(NthPiece(line, field_separator, 2), '^', 1);
  if (count.empty()) return;  // the count is optional
  size_t declared = 0;
  const auto [end, error] = std::from_chars(count.data(), count.data() + count.size(), declared);
  ErrorLocation where{id, sequence, 1};
  if (error != std::errc() || end != count.data() + count.size()) {
    problems.push_back(
        MakeHl7Error(ErrorCondition::kDataTypeError, where,
                     id + "-1 '" + std::string(count.substr(0, 20)) + "' is not a count"));
  } else if (declared != seen) {
    problems.push_back(MakeHl7Error(ErrorCondition::kSegmentSequenceError, where,
                                    id + "-1 says " + std::to_string(declared) + " " + what +
                                        " but " + std::to_string(seen) + " were found"));
  }
}

}  // namespace

Result<Batch> SplitBatch(std::string_view bytes, size_t max_messages) {
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);
  Batch batch;
  char field_separator = '|';
  bool in_batch = false;
  bool file_ended = false;
  size_t batch_messages = 0;
  size_t message_start = std::string_view::npos;
  int sequence = 0;
  auto close_message = [&](size_t end) {
    if (message_start == std::string_view::npos) return;
    batch.messages.push_back(bytes.substr(message_start, end - message_start));
    message_start = std::string_view::npos;
    ++batch_messages;
  };
  auto missing_trailer = [&](const char* trailer, const char* of) {
    batch.problems.push_back(MakeHl7Error(ErrorCondition::kSegmentSequenceError,
                                          ErrorLocation{trailer, sequence},
                                          std::string(of) + " has no " + trailer));
  };
  size_t p = 0;
  while (p < bytes.size()) {
    if (IsSegmentEnd(bytes[p])) {
      ++p;
      continue;
    }
    // Files concatenated into a batch bring their byte order marks along: one at a segment's
    // start is skipped like the one at the file's start.
    const size_t line_start = p;
    if (bytes.substr(p, 3) == "\xEF\xBB\xBF") p += 3;
    size_t end = p;
    while (end < bytes.size() && !IsSegmentEnd(bytes[end])) ++end;
    if (bytes.substr(p, end - p).find_first_not_of(" \t") == std::string_view::npos) {
      p = end;  // a blank line
      continue;
    }
    const std::string_view line = bytes.substr(p, end - p);
    const std::string_view id = line.substr(0, 3);
    ++sequence;
    const ErrorLocation here{std::string(id), sequence};
    if (file_ended) {
      return MakeHl7Error(ErrorCondition::kSegmentSequenceError, here,
                          "a segment after the file trailer (FTS)");
    }
    if (id == "FHS" || id == "BHS") {
      if (id == "FHS" && sequence != 1) {
        return MakeHl7Error(ErrorCondition::kSegmentSequenceError, here,
                            "FHS must be the first segment of the file");
      }
      size_t encoding_length = 0;
      auto delimiters = ReadDelimiters(line, encoding_length);
      if (!delimiters.ok()) {
        Hl7Error error = delimiters.error();
        error.location.segment_sequence = sequence;
        return error;
      }
      field_separator = delimiters->field;
      close_message(line_start);
      if (id == "FHS") {
        batch.file_header = line;
      } else {
        if (in_batch) missing_trailer("BTS", "the batch before this BHS");
        in_batch = true;
        batch_messages = 0;
        ++batch.batch_count;
      }
    } else if (id == "MSH") {
      close_message(line_start);
      if (batch.messages.size() >= max_messages) {
        return MakeHl7Error(ErrorCondition::kSegmentSequenceError, here,
                            "more than " + std::to_string(max_messages) + " messages in one file",
                            base::ErrorCode::kTooLarge);
      }
      if (line.size() > 3) field_separator = line[3];
      message_start = p;
    } else if (id == "BTS") {
      close_message(line_start);
      if (!in_batch) {
        batch.problems.push_back(MakeHl7Error(ErrorCondition::kSegmentSequenceError, here,
                                              "BTS without a BHS before it"));
      }
      CheckCount(line, field_separator, sequence, batch_messages, "messages", batch.problems);
      in_batch = false;
      batch_messages = 0;
    } else if (id == "FTS") {
      close_message(line_start);
      if (in_batch) missing_trailer("BTS", "the last batch");
      in_batch = false;
      CheckCount(line, field_separator, sequence, batch.batch_count, "batches", batch.problems);
      file_ended = true;
    } else if (message_start == std::string_view::npos) {
      std::string shown(line.substr(0, 20));
      for (char& c : shown) {
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) c = '?';
      }
      return MakeHl7Error(ErrorCondition::kSegmentSequenceError, here,
                          "segment '" + shown + "' is outside any message (no MSH before it)");
    }
    p = end;
  }
  close_message(bytes.size());
  if (in_batch) missing_trailer("BTS", "the last batch");
  if (!batch.file_header.empty() && !file_ended) missing_trailer("FTS", "the file");
  return batch;
}

}  // namespace carerecord::hl7v2
