// The inbox worker's processor for hospital feeds: parses a committed HL7 v2 message, maps it to
// FHIR (src/mapping) and writes it into the record (apply_mapped.h). Serve() plugs it into the
// inbox worker; one message at a time, on the worker's thread.
#pragma once

#include "feeds/message_processor.h"
#include "interactions/fhir_service.h"

namespace carerecord::feeds {

class MappingProcessor final : public MessageProcessor {
 public:
  explicit MappingProcessor(interactions::FhirService& service) : service_(service) {}
  // Ok when the message is in the record; otherwise the reason it stays in the error queue: the
  // parser's or the mapping's (segment, field and why), or the record's.
  base::Status Process(const InboxMessage& message) override;

 private:
  interactions::FhirService& service_;
};

}  // namespace carerecord::feeds
