// What the inbox worker hands on for each message committed to the inbox: the message as stored
// and the feed it came in on. The mapping to FHIR implements MessageProcessor; the worker calls
// Process from one thread of its own, never from a connection's thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace carerecord::feeds {

struct InboxMessage {
  int64_t id = 0;  // the inbox row, stable: `feeds errors` and `feeds reprocess` name it
  std::string feed_name;
  std::string ods_code;  // the organisation the feed speaks for
  std::string sending_application;
  std::string sending_facility;
  std::string control_id;    // MSH-10
  std::string message_type;  // MSH-9.1^MSH-9.2, e.g. "ADT^A01"
  int64_t received_ms = 0;   // when the inbox committed it (Unix milliseconds)
  std::string raw;           // the message as received, framing removed
};

class MessageProcessor {
 public:
  virtual ~MessageProcessor() = default;
  // Ok: the message is in the record (state `mapped`). An error: the message stays in the error
  // queue with the error's message as its reason, to be reprocessed after a fix. Called for one
  // message at a time.
  virtual base::Status Process(const InboxMessage& message) = 0;
  // The outcome of each of `messages` (oldest first), as Process would give it; one message's
  // failure is its own. A processor may apply them together (in parallel, sharing commits) as
  // long as each message's outcome is what applying them one at a time in order would give.
  // By default, Process on each in turn.
  virtual std::vector<base::Status> ProcessBatch(const std::vector<InboxMessage>& messages) {
    std::vector<base::Status> outcomes;
    outcomes.reserve(messages.size());
    for (const InboxMessage& message : messages) outcomes.push_back(Process(message));
    return outcomes;
  }
};

}  // namespace carerecord::feeds
