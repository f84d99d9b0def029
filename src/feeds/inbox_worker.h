// The inbox worker: a thread that hands each message in state `received` to a MessageProcessor,
// oldest first, and records the outcome (mapped, or error with the reason). Woken by the inbox
// after each commit that stored messages, and every `poll` besides (a `feeds reprocess` from the
// command line, messages left `received` by a crash or a restart). Start and Stop from one
// thread.
//
// A message whose processing failed because the record was unavailable (kUnavailable: a full
// disk, a store that stayed busy) is not an error of the message: it stays `received` and is
// tried again after a pause that doubles from `first` to `longest`, while the worker takes no
// other batch. Only after `attempts` such tries in a row does it go to the error queue with its
// reason (so a message that is always "unavailable" cannot hold the head of the inbox forever).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "feeds/application_acks.h"
#include "feeds/inbox.h"
#include "feeds/message_processor.h"

namespace carerecord::feeds {

struct InboxWorkerRetry {
  std::chrono::milliseconds first = std::chrono::milliseconds(500);
  std::chrono::milliseconds longest = std::chrono::seconds(60);
  int attempts = 12;  // about 7 minutes of pauses at the defaults
};

class InboxWorker {
 public:
  InboxWorker(Inbox& inbox, MessageProcessor& processor,
              std::chrono::milliseconds poll = std::chrono::seconds(1),
              InboxWorkerRetry retry = {});
  ~InboxWorker();
  void Start();
  // Finishes the batch in hand and stops; what is left stays `received` for the next start.
  void Stop();
  // Wakes the worker now (the inbox's received hook).
  void Wake();
  // Called on the worker's thread after each batch is marked, with each message's outcome
  // (application_acks.h). Set before Start.
  using ProcessedHook = std::function<void(const std::vector<ProcessedMessage>&)>;
  void SetProcessedHook(ProcessedHook hook) { processed_hook_ = std::move(hook); }

 private:
  void Run();
  // Processes what is `received`; false when there was nothing (or the inbox failed).
  bool ProcessSome();

  Inbox& inbox_;
  MessageProcessor& processor_;
  std::chrono::milliseconds poll_;
  InboxWorkerRetry retry_;
  // The worker thread's: the pause before the next try (0: none), and the tries of each message
  // that found the record unavailable.
  std::chrono::milliseconds backoff_{0};
  std::map<int64_t, int> unavailable_tries_;
  ProcessedHook processed_hook_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace carerecord::feeds
