#include "feeds/inbox_worker.h"

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace carerecord::feeds {
namespace {

// Messages read, processed and marked together.
constexpr size_t kMessagesPerRead = 256;

}  // namespace

InboxWorker::InboxWorker(Inbox& inbox, MessageProcessor& processor, std::chrono::milliseconds poll)
    : inbox_(inbox), processor_(processor), poll_(poll) {}

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
    if (!more) wake_.wait_for(lock, poll_, [this] { return stopping_ || woken_; });
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
  for (size_t i = 0; i < messages->size(); ++i) {
    Inbox::Mark mark;
    mark.id = (*messages)[i].id;
    if (!outcomes[i].ok()) mark.error = outcomes[i].error().message;
    marks.push_back(std::move(mark));
  }
  base::Status marked = inbox_.MarkProcessed(marks);
  if (!marked.ok()) {
    // Left `received`: tried again at the next poll (the mapping is idempotent per message).
    std::fprintf(stderr, "carerecord inbox worker: marking %zu message(s): %s\n", marks.size(),
                 marked.error().message.c_str());
    return false;
  }
  return true;
}

}  // namespace carerecord::feeds
