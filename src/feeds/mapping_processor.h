// The inbox worker's processor for hospital feeds: parses a committed HL7 v2 message, maps it to
// FHIR (src/mapping) and writes it into the record (apply_mapped.h). Serve() plugs it into the
// inbox worker, which hands it the messages waiting, a batch at a time, on the worker's thread.
//
// A batch is applied by several threads at once, each writing the messages of many chains in one
// transaction, so the record commits a batch in a few transactions and group commits instead of
// one message per fsync. Each version still carries its own message's provenance, and a message
// that fails fails alone (a combined transaction that fails is applied again message by
// message). The order that matters is kept: messages that share any identity (the same patient,
// visit, order, document, or the two patients of a merge) form one chain, applied one after
// another in event-time order (then inbox order); only different chains are applied together. A
// merge (A40) is a member of its chain (every message about its survivor or loser names that
// Patient, so it is there) and keeps its inbox place in it (messages are sorted by event time
// only between a chain's merges); a merge is applied alone, never in a combined transaction.
#pragma once

#include <vector>

#include "feeds/message_processor.h"
#include "interactions/fhir_service.h"

namespace carerecord::feeds {

struct MappingProcessorOptions {
  // Threads applying chains at once (their transactions share group commits). 2: on this 2-core
  // machine, 1 mapped the most (bench/feed_bench) but 2 kept the ACK p99 under 20 ms beside it.
  int parallel = 2;
  // Chains one thread applies together: the next message of each, in one transaction. 1: each
  // message its own transaction.
  size_t per_transaction = 64;
};

class MappingProcessor final : public MessageProcessor {
 public:
  explicit MappingProcessor(interactions::FhirService& service,
                            MappingProcessorOptions options = {})
      : service_(service), options_(options) {}
  // Ok when the message is in the record; otherwise the reason it stays in the error queue: the
  // parser's or the mapping's (segment, field and why), or the record's.
  base::Status Process(const InboxMessage& message) override;
  std::vector<base::Status> ProcessBatch(const std::vector<InboxMessage>& messages) override;

 private:
  interactions::FhirService& service_;
  MappingProcessorOptions options_;
};

}  // namespace carerecord::feeds
