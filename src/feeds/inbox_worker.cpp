#include "feeds/inbox_worker.h"

#include <cstdio>
#include <exception>
#include <string>

namespace carerecord::feeds {
namespace {

constexpr size_t kMessagesPerRead = 64;

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
  for (const InboxMessage& message : *messages) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
    }
    base::Status outcome = base::Status::Ok();
    try {
      outcome = processor_.Process(message);
    } catch (const std::exception& e) {
      outcome =
          base::MakeError(base::ErrorCode::kInternal, std::string("processing threw: ") + e.what());
    } catch (...) {
      outcome = base::MakeError(base::ErrorCode::kInternal, "processing threw a non-exception");
    }
    base::Status marked = outcome.ok() ? inbox_.MarkMapped(message.id)
                                       : inbox_.MarkError(message.id, outcome.error().message);
    if (!marked.ok()) {
      // Left `received`: tried again at the next poll.
      std::fprintf(stderr, "carerecord inbox worker: message %lld: %s\n",
                   static_cast<long long>(message.id), marked.error().message.c_str());
      return false;
    }
  }
  return !messages->empty();
}

}  // namespace carerecord::feeds
