// The inbox: every HL7 v2 message received is committed here, raw, before it is acknowledged
// (DESIGN principle 1), with the feeds that say which sending facility speaks for which
// organisation, and the error queue. Its tables (`feed`, `inbox`, `inbox_state`) live in a
// database file of their own in the data folder (inbox.db), so an ACK's commit never waits
// behind the record's writer; on connections of their own, so the command line may change feeds
// and reprocess messages while a server runs. Receives are
// group-committed by one writer thread: many connections share one fsync. Every method is
// thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "feeds/message_processor.h"

namespace carerecord::feeds {

struct FeedRecord {
  int64_t key = 0;
  std::string name;         // unique
  std::string facility;     // MSH-4.1 it answers for
  std::string application;  // MSH-3.1; empty: any application of the facility
  std::string ods_code;     // the organisation it speaks for
  bool enabled = true;
  int64_t created_ms = 0;
};

// What a received message is the start of.
struct IncomingMessage {
  std::string raw;
  std::string sending_application;  // MSH-3.1
  std::string sending_facility;     // MSH-4.1
  std::string control_id;           // MSH-10
  std::string message_type;         // "ADT^A01"
};

enum class ReceiveOutcome {
  kStored,                // new, committed as `received`
  kDuplicate,             // the same bytes came before under this facility and control id
  kConflictingDuplicate,  // the control id came before with other bytes: nothing stored
  kNoFeed,                // no enabled feed names the facility: kept as `rejected`
};

struct ReceiveResult {
  ReceiveOutcome outcome = ReceiveOutcome::kStored;
  int64_t message_id = 0;  // the inbox row (0 for a conflicting duplicate)
  std::string reason;      // why, for kConflictingDuplicate and kNoFeed
};

// Message states: received (committed, waiting to be processed), mapped, error (processing
// failed: `reason` says why), rejected (no feed named its facility when it came).
struct InboxEntry {
  int64_t id = 0;
  std::string feed_name;  // empty when no feed
  std::string sending_application, sending_facility, control_id, message_type;
  std::string state;
  std::string reason;
  int64_t received_ms = 0;
  int64_t duplicates = 0;       // identical resends answered since
  int64_t attempts = 0;         // times processed
  std::string application_ack;  // "", "sent" or "undelivered" (ApplicationAckState)
  std::string reason_location;  // where the error is ("PID (segment 2) field 7"), when known
};

// Whether an enhanced-mode application ACK (application_acks.h) reached its sender: none asked
// for, or not known (''), written to the connection ('sent'), or not (its connection was gone:
// 'undelivered').
enum class ApplicationAckState { kNone, kSent, kUndelivered };

struct FeedStats {
  std::string feed_name;  // "(no feed)" for messages no feed named
  int64_t received = 0;   // messages stored (duplicates not counted again)
  int64_t accepted = 0;   // processed into the record (mapped)
  int64_t pending = 0;    // received, not yet processed
  int64_t in_error = 0;   // error or rejected
  int64_t duplicates = 0;
  int64_t last_received_ms = 0;              // 0 when none
  int64_t application_acks_undelivered = 0;  // asked for, but the connection was gone
};

struct InboxOptions {
  // synchronous=FULL: a commit is on disk before an ACK. Off only for tests (a process crash
  // still loses nothing with WAL; a power cut may).
  bool durable = true;
  size_t max_batch = 512;  // messages in one group commit
};

class Inbox {
 public:
  virtual ~Inbox() = default;

  // Commits the message (or answers from what is stored) and then calls `done` on the writer
  // thread. `done` must be quick and must not call back into the Inbox's Receive.
  using ReceiveCallback = std::function<void(base::Result<ReceiveResult>)>;
  virtual void ReceiveAsync(IncomingMessage message, ReceiveCallback done) = 0;
  // The same, waiting for the commit.
  virtual base::Result<ReceiveResult> Receive(IncomingMessage message) = 0;
  // Called (on the writer thread) after a commit that stored messages to process.
  virtual void SetReceivedHook(std::function<void()> hook) = 0;
  // Finishes what was submitted and stops the writer; later receives fail.
  virtual void StopWriter() = 0;

  // kConflict when the name is taken, or an enabled feed already answers for the same facility
  // and application.
  virtual base::Result<FeedRecord> AddFeed(FeedRecord feed) = 0;
  virtual base::Result<std::vector<FeedRecord>> ListFeeds() = 0;
  virtual base::Status SetFeedEnabled(std::string_view name, bool enabled) = 0;

  // Up to `limit` messages in state `received`, oldest first, with an id above `after_id`.
  virtual base::Result<std::vector<InboxMessage>> NextReceived(int64_t after_id, size_t limit) = 0;
  virtual base::Status MarkMapped(int64_t id) = 0;
  virtual base::Status MarkError(int64_t id, std::string_view reason) = 0;
  // Marks many at once in one transaction (one fsync): each `mapped`, or `error` with its
  // reason when `error` is set. All or none: on failure every message stays `received`.
  struct Mark {
    int64_t id = 0;
    std::optional<std::string> error;
    std::string error_location;  // where in the message, when the error names a place
  };
  virtual base::Status MarkProcessed(const std::vector<Mark>& marks) = 0;

  // The error queue: messages in state error or rejected, oldest first.
  virtual base::Result<std::vector<InboxEntry>> ListErrors(size_t limit) = 0;
  virtual base::Result<std::optional<InboxEntry>> FindMessage(int64_t id) = 0;
  // Puts a message in error back to `received`; a rejected one too once an enabled feed names
  // its facility (else it stays rejected). `id` nullopt: all of them. Returns how many moved.
  virtual base::Result<int64_t> Reprocess(std::optional<int64_t> id) = 0;
  virtual base::Result<std::vector<FeedStats>> Stats() = 0;
  // Records whether message `id`'s application ACK reached its sender (kNone clears it).
  virtual base::Status SetApplicationAck(int64_t id, ApplicationAckState state) = 0;
};

// Opens (creating if needed) the inbox in DIRECTORY/inbox.db. An inbox kept in the record
// database by an earlier version (DIRECTORY/carerecord.db) is moved into it first, every row
// with its id and state.
base::Result<std::unique_ptr<Inbox>> OpenInbox(const std::string& directory,
                                               const InboxOptions& options = {});

// The hex SHA-256 of the bytes: how "the same content" is told.
std::string ContentHash(std::string_view bytes);

}  // namespace carerecord::feeds
