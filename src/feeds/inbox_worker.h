// The inbox worker: a thread that hands each message in state `received` to a MessageProcessor,
// oldest first, and records the outcome (mapped, or error with the reason). Woken by the inbox
// after each commit that stored messages, and every `poll` besides (a `feeds reprocess` from the
// command line, messages left `received` by a crash or a restart). Start and Stop from one
// thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "feeds/inbox.h"
#include "feeds/message_processor.h"

namespace carerecord::feeds {

class InboxWorker {
 public:
  InboxWorker(Inbox& inbox, MessageProcessor& processor,
              std::chrono::milliseconds poll = std::chrono::seconds(1));
  ~InboxWorker();
  void Start();
  // Finishes the batch in hand and stops; what is left stays `received` for the next start.
  void Stop();
  // Wakes the worker now (the inbox's received hook).
  void Wake();

 private:
  void Run();
  // Processes what is `received`; false when there was nothing (or the inbox failed).
  bool ProcessSome();

  Inbox& inbox_;
  MessageProcessor& processor_;
  std::chrono::milliseconds poll_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace carerecord::feeds
