#include "feeds/application_acks.h"

#include <cstdio>

namespace carerecord::feeds {

ApplicationAcks::ApplicationAcks(Inbox& inbox) : inbox_(inbox) {
  thread_ = std::thread([this] { Run(); });
}

ApplicationAcks::~ApplicationAcks() { Stop(); }

void ApplicationAcks::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
}

uint64_t ApplicationAcks::Await(int64_t id, Ready ready) {
  uint64_t token = 0;
  {
    std::lock_guard lock(mutex_);
    token = next_token_++;
  }
  Post([this, token, id, ready = std::move(ready)]() mutable {
    // Processed just before this registration (a race with the worker): its outcome as the
    // worker reported it, place of the error included.
    if (auto recent = recent_.find(id); recent != recent_.end()) return ready(recent->second);
    // Processed long ago (a resend): from the inbox, which keeps the reason.
    auto found = inbox_.FindMessage(id);
    if (found.ok() && *found) {
      const InboxEntry& entry = **found;
      if (entry.state == "mapped") return ready(std::nullopt);
      if (entry.state == "error" || entry.state == "rejected") {
        return ready(
            base::MakeError(base::ErrorCode::kInvalid, entry.reason, entry.reason_location));
      }
    }
    waiters_[token] = Waiter{id, std::move(ready)};
    by_message_.emplace(id, token);
  });
  return token;
}

void ApplicationAcks::Cancel(uint64_t token) {
  Post([this, token] {
    auto waiter = waiters_.find(token);
    if (waiter == waiters_.end()) return;  // answered already
    const int64_t id = waiter->second.id;
    auto [first, last] = by_message_.equal_range(id);
    for (auto it = first; it != last; ++it) {
      if (it->second == token) {
        by_message_.erase(it);
        break;
      }
    }
    waiters_.erase(waiter);
    if (auto recorded = inbox_.SetApplicationAck(id, ApplicationAckState::kUndelivered);
        !recorded.ok()) {
      std::fprintf(stderr, "carerecord mllp: recording an application ACK: %s\n",
                   recorded.error().message.c_str());
    }
  });
}

void ApplicationAcks::Processed(const std::vector<ProcessedMessage>& messages) {
  Post([this, messages] {
    for (const ProcessedMessage& m : messages) Fire(m.id, m.error);
  });
}

void ApplicationAcks::Fire(int64_t id, const std::optional<base::Error>& error) {
  auto [first, last] = by_message_.equal_range(id);
  std::vector<uint64_t> tokens;
  for (auto it = first; it != last; ++it) tokens.push_back(it->second);
  by_message_.erase(first, last);
  // Remembered for a registration that comes after it (the last kRecent).
  if (recent_.emplace(id, error).second) {
    recent_order_.push_back(id);
    if (recent_order_.size() > kRecent) {
      recent_.erase(recent_order_.front());
      recent_order_.pop_front();
    }
  } else {
    recent_[id] = error;
  }
  for (uint64_t token : tokens) {
    auto waiter = waiters_.find(token);
    if (waiter == waiters_.end()) continue;
    Ready ready = std::move(waiter->second.ready);
    waiters_.erase(waiter);
    ready(error);
  }
}

void ApplicationAcks::Delivered(int64_t id, bool delivered) {
  Post([this, id, delivered] {
    auto recorded = inbox_.SetApplicationAck(
        id, delivered ? ApplicationAckState::kSent : ApplicationAckState::kUndelivered);
    if (!recorded.ok()) {
      std::fprintf(stderr, "carerecord mllp: recording an application ACK: %s\n",
                   recorded.error().message.c_str());
    }
  });
}

void ApplicationAcks::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ApplicationAcks::Run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) break;  // stopping, and everything queued is done
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
  lock.unlock();
  // Whoever still waits will not hear: their connections are closing with the listener.
  for (auto& [token, waiter] : waiters_) {
    (void)inbox_.SetApplicationAck(waiter.id, ApplicationAckState::kUndelivered);
  }
  waiters_.clear();
  by_message_.clear();
}

}  // namespace carerecord::feeds
