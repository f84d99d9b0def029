#include "feeds/mapping_processor.h"

#include "feeds/apply_mapped.h"
#include "hl7v2/message.h"

namespace carerecord::feeds {

base::Status MappingProcessor::Process(const InboxMessage& message) {
  auto parsed = hl7v2::ParseMessage(message.raw);
  if (!parsed.ok()) return parsed.error().ToError();
  mapping::FeedContext feed{message.feed_name, message.ods_code, message.sending_facility,
                            message.received_ms, message.control_id};
  ProcessedMessage processed = MapAndApply(service_, *parsed, feed);
  if (processed.refused) return processed.refused->ToError();
  if (processed.failed) return *processed.failed;
  return base::Status::Ok();
}

}  // namespace carerecord::feeds
