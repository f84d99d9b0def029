// The inbox worker's processor for hospital feeds: parses a committed HL7 v2 message, maps it to
// FHIR (src/mapping) and writes it into the record (apply_mapped.h). Serve() plugs it into the
// inbox worker, which hands it the messages waiting, a batch at a time, on the worker's thread.
//
// A batch is applied by several threads at once, so the record's writer commits their
// transactions in shared groups (one fsync for many messages) instead of one message per fsync.
// Each message is still its own transaction (its own provenance, its own failure), and the order
// that matters is kept: messages that share any identity (the same patient, visit, order,
// document, or the two patients of a merge) form one chain, applied one after another in
// event-time order (then inbox order); only different chains run side by side. A merge (A40)
// moves a whole compartment, which other chains may touch: it is a barrier, applied alone after
// everything before it in the batch and before anything after it.
#pragma once

#include <vector>

#include "feeds/message_processor.h"
#include "interactions/fhir_service.h"

namespace carerecord::feeds {

struct MappingProcessorOptions {
  // Chains applied at once: what shares a group commit. 1: one message at a time, in order.
  int parallel = 16;
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
