// Enhanced-mode application ACKs (issue 18): a sender whose MSH-15/16 ask for an application
// ACK hears, after the accept ACK, whether its message was mapped into the record (AA) or went to
// the error queue (AE, ERR naming the segment and field), on the same MLLP connection. The
// listener registers each such message here once it is committed (Await); the inbox worker
// reports each batch it has marked (Processed); a registration is answered on this class's own
// thread with the message's outcome, from the worker's report or, when the message was processed
// before it was registered, from the last outcomes it keeps (a race) or from the inbox (a resend
// of a message processed long ago: the reason without its place). The connection then writes the
// ACK and reports whether it could (Delivered), which is kept in the inbox (`feeds stats` counts
// the ones not delivered). Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/status.h"
#include "feeds/inbox.h"

namespace carerecord::feeds {

// How one message of a worker's batch ended: mapped (no error) or in the error queue.
struct ProcessedMessage {
  int64_t id = 0;
  std::optional<base::Error> error;
};

class ApplicationAcks {
 public:
  explicit ApplicationAcks(Inbox& inbox);
  ~ApplicationAcks();  // Stop()
  ApplicationAcks(const ApplicationAcks&) = delete;
  ApplicationAcks& operator=(const ApplicationAcks&) = delete;

  // Called once, on this class's thread, with the outcome of inbox message `id` once it is
  // processed (nullopt: mapped; an error: in the error queue, why and where). Must not block.
  using Ready = std::function<void(const std::optional<base::Error>& error)>;
  // Returns a token for Cancel.
  uint64_t Await(int64_t id, Ready ready);
  // The connection went before the outcome: `ready` is not called, and the inbox records the
  // application ACK as not delivered.
  void Cancel(uint64_t token);
  // The inbox worker's report of a batch it has marked.
  void Processed(const std::vector<ProcessedMessage>& messages);
  // Whether the application ACK of message `id` was written to its connection.
  void Delivered(int64_t id, bool delivered);
  // Answers what is queued (records included), then stops the thread; later calls are ignored.
  void Stop();

 private:
  struct Waiter {
    int64_t id = 0;
    Ready ready;
  };
  void Run();
  void Post(std::function<void()> task);
  void Fire(int64_t id, const std::optional<base::Error>& error);

  Inbox& inbox_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  uint64_t next_token_ = 1;
  // This thread's: who waits for which message.
  std::map<uint64_t, Waiter> waiters_;
  std::multimap<int64_t, uint64_t> by_message_;
  // The outcomes of the last kRecent messages processed, for a registration that comes after.
  static constexpr size_t kRecent = 4096;
  std::map<int64_t, std::optional<base::Error>> recent_;
  std::deque<int64_t> recent_order_;
  std::thread thread_;
};

}  // namespace carerecord::feeds
