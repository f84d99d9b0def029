// Work one thread releases in a burst and that is cheaper handed on in one go. While a
// DeferredBatch is open on a thread (a scope), code that would hand one item at a time to some
// destination (a post to another thread, which may wake it) may instead add the item to the
// batch's group for that destination; each group is flushed once, when the batch closes. The
// audit writer opens one around the completions of a group commit, so the HTTP server hands an
// io thread all the answers the commit released in one post rather than one post (and wake-up)
// per answer. Batches nest (the inner one flushes its own groups). One thread's: not shared.
#pragma once

#include <memory>
#include <utility>
#include <vector>

namespace carerecord::base {

class DeferredBatch {
 public:
  class Group {
   public:
    virtual ~Group() = default;
    virtual void Flush() = 0;  // must not throw
  };

  DeferredBatch() : outer_(current_) { current_ = this; }
  ~DeferredBatch() {
    current_ = outer_;  // what a flush hands on is not deferred again
    for (auto& [key, group] : groups_) group->Flush();
  }
  DeferredBatch(const DeferredBatch&) = delete;
  DeferredBatch& operator=(const DeferredBatch&) = delete;

  // The batch open on this thread, or null.
  static DeferredBatch* Current() { return current_; }

  // The group for `key` (an object of the caller's own, e.g. the destination: one caller's keys
  // never meet another's), made by `make` (returning std::unique_ptr<G>) when there is none yet.
  template <class G, class Make>
  G& GroupFor(const void* key, Make&& make) {
    for (auto& [existing, group] : groups_) {
      if (existing == key) return static_cast<G&>(*group);
    }
    std::unique_ptr<G> made = make();
    G& group = *made;
    groups_.emplace_back(key, std::move(made));
    return group;
  }

 private:
  inline static thread_local DeferredBatch* current_ = nullptr;
  DeferredBatch* outer_;
  std::vector<std::pair<const void*, std::unique_ptr<Group>>> groups_;
};

}  // namespace carerecord::base
