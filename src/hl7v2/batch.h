// HL7 v2 batch files: FHS (file header), BHS (batch header), the messages, BTS (batch trailer,
// BTS-1 = its message count) and FTS (file trailer, FTS-1 = its batch count), split into the
// messages' byte ranges for ParseMessage. A plain run of messages with no headers is read too.
// Pure function; safe from any thread.
#pragma once

#include <string_view>
#include <vector>

#include "hl7v2/error.h"
#include "hl7v2/message.h"

namespace carerecord::hl7v2 {

struct Batch {
  std::string_view file_header;  // the FHS segment, empty when there is none
  size_t batch_count = 0;        // BHS segments seen
  // Each message from its MSH to just before the next MSH, BHS, BTS or FTS; views into the input.
  std::vector<std::string_view> messages;
  // What was wrong with the envelope but did not stop the split: a BTS-1 or FTS-1 count that
  // does not match, a batch or file left without its trailer.
  std::vector<Hl7Error> problems;
};

// Splits a batch file; an error for what cannot be split (a segment outside any message, a
// header where it cannot be, bad FHS/BHS delimiters, more messages than max_messages).
Result<Batch> SplitBatch(std::string_view bytes, size_t max_messages = 1'000'000);

}  // namespace carerecord::hl7v2
