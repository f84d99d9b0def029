#include "feeds/inbox_worker.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace carerecord::feeds {
namespace {

// Messages read, processed and marked together.
constexpr size_t kMessagesPerRead = 256;

}  // namespace

InboxWorker::InboxWorker(Inbox& inbox, MessageProcessor& processor, std::chrono::milliseconds poll,
                         InboxWorkerRetry retry)
    : inbox_(inbox), processor_(processor), poll_(poll), retry_(retry) {}

InboxWorker::~InboxWorker() { Stop(); }

void InboxWorker::Start() {
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void InboxWorker::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void InboxWorker::Wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_.notify_all();
}

void InboxWorker::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    woken_ = false;
    lock.unlock();
    const bool more = ProcessSome();
    lock.lock();
    if (!more) {
      // While the record is unavailable, a new message does not cut the pause short.
      const bool backing_off = backoff_.count() > 0;
      wake_.wait_for(lock, backing_off ? backoff_ : poll_,
                     [&] { return stopping_ || (woken_ && !backing_off); });
    }
  }
}

bool InboxWorker::ProcessSome() {
  auto messages = inbox_.NextReceived(0, kMessagesPerRead);
  if (!messages.ok()) {
    std::fprintf(stderr, "carerecord inbox worker: %s\n", messages.error().message.c_str());
    return false;
  }
  if (messages->empty()) return false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
  }
  // The whole read at once: the processor may apply them together (their record commits share
  // fsyncs), and their marks are one inbox transaction.
  std::vector<base::Status> outcomes;
  try {
    outcomes = processor_.ProcessBatch(*messages);
  } catch (const std::exception& e) {
    outcomes.assign(
        messages->size(),
        base::MakeError(base::ErrorCode::kInternal, std::string("processing threw: ") + e.what()));
  } catch (...) {
    outcomes.assign(messages->size(), base::MakeError(base::ErrorCode::kInternal,
                                                      "processing threw a non-exception"));
  }
  if (outcomes.size() != messages->size()) {
    outcomes.assign(messages->size(),
                    base::MakeError(base::ErrorCode::kInternal,
                                    "the processor answered for a different number of messages"));
  }
  std::vector<Inbox::Mark> marks;
  marks.reserve(messages->size());
  std::vector<ProcessedMessage> processed;
  bool deferred = false;
  for (size_t i = 0; i < messages->size(); ++i) {
    Inbox::Mark mark;
    mark.id = (*messages)[i].id;
    if (!outcomes[i].ok()) {
      if (outcomes[i].error().code == base::ErrorCode::kUnavailable &&
          ++unavailable_tries_[mark.id] < retry_.attempts) {
        deferred = true;  // stays `received`: tried again after the pause
        continue;
      }
      mark.error = outcomes[i].error().message;
      mark.error_location = outcomes[i].error().location;
    }
    if (processed_hook_) {
      processed.push_back(
          {mark.id, outcomes[i].ok() ? std::nullopt : std::optional(outcomes[i].error())});
    }
    unavailable_tries_.erase(mark.id);
    marks.push_back(std::move(mark));
  }
  backoff_ = !deferred               ? std::chrono::milliseconds(0)
             : backoff_.count() == 0 ? retry_.first
                                     : std::min(backoff_ * 2, retry_.longest);
  if (deferred) {
    std::fprintf(stderr,
                 "carerecord inbox worker: the record is unavailable; trying again in %lld ms\n",
                 static_cast<long long>(backoff_.count()));
  }
  if (marks.empty()) return false;
  base::Status marked = inbox_.MarkProcessed(marks);
  if (!marked.ok()) {
    // Left `received`: tried again at the next poll (the mapping is idempotent per message).
    std::fprintf(stderr, "carerecord inbox worker: marking %zu message(s): %s\n", marks.size(),
                 marked.error().message.c_str());
    return false;
  }
  if (processed_hook_) processed_hook_(processed);
  return !deferred;
}

}  // namespace carerecord::feeds
