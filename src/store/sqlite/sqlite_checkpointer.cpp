#include "store/sqlite/sqlite_checkpointer.h"

#include <pthread.h>

#include <cstdio>

namespace carerecord::store {

base::Status WalCheckpointer::Start(const std::string& path, sqlite3* writer, int frames) {
  auto db = SqliteConnection::Open(path, false);
  if (!db.ok()) return db.error();
  db_ = std::move(db).value();
  CR_RETURN_IF_ERROR(db_->Exec("PRAGMA synchronous=FULL"));
  writer_ = writer;
  threshold_ = frames;
  thread_ = std::thread([this] { Run(); });
  // Replaces SQLite's automatic checkpoint, which is itself a commit hook of this kind.
  sqlite3_wal_hook(writer, &WalCheckpointer::OnCommit, this);
  return base::Status::Ok();
}

int WalCheckpointer::OnCommit(void* self, sqlite3*, const char*, int frames_in_log) {
  auto* checkpointer = static_cast<WalCheckpointer*>(self);
  checkpointer->frames_.store(frames_in_log, std::memory_order_relaxed);
  if (frames_in_log > checkpointer->threshold_) {
    {
      std::lock_guard lock(checkpointer->mutex_);
      checkpointer->pending_ = true;
    }
    checkpointer->wake_.notify_one();
  }
  return SQLITE_OK;
}

void WalCheckpointer::Run() {
  pthread_setname_np(pthread_self(), "cr-checkpoint");
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return pending_ || stopping_; });
      if (stopping_) return;
      pending_ = false;
    }
    // PASSIVE: copies what no reader still needs, without waiting for readers or the writer;
    // what it leaves is copied next time. A failure (disk full) is retried on the next wake.
    int log = 0, copied = 0;
    const int rc =
        sqlite3_wal_checkpoint_v2(db_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      std::fprintf(stderr, "carerecord: WAL checkpoint failed: %s\n", sqlite3_errmsg(db_->raw()));
    }
  }
}

void WalCheckpointer::BoundLog() {
  if (writer_ == nullptr || frames_.load(std::memory_order_relaxed) <= kMaxFrames) return;
  int log = 0, copied = 0;
  sqlite3_wal_checkpoint_v2(writer_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
  frames_.store(0, std::memory_order_relaxed);
}

void WalCheckpointer::Stop() {
  if (!thread_.joinable()) return;
  sqlite3_wal_hook(writer_, nullptr, nullptr);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  db_.reset();
}

}  // namespace carerecord::store
