// Copies the write-ahead log back into the database file on a thread of its own, so the single
// writer never stops to checkpoint between commits (SQLite's automatic checkpoint would run
// inside a COMMIT). Used by the SQLite store and by the audit log (audit/audit_log.h).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/status.h"
#include "store/sqlite/sqlite_db.h"

namespace carerecord::store {

class WalCheckpointer {
 public:
  // Starts the thread on its own connection to `path`, and hooks `writer` so that a commit
  // leaving more than `frames` frames in the log wakes it.
  base::Status Start(const std::string& path, SqliteConnection& writer, int frames = 1000) {
    return Start(path, writer.raw(), frames);
  }
  base::Status Start(const std::string& path, sqlite3* writer, int frames = 1000);
  // Stops the thread; the writer's hook is removed. Safe to call twice.
  void Stop();
  // Under writes that never pause, the log can only be checkpointed in part (each checkpoint
  // ends where the writer had got to) and is never restarted, so it grows, and every read
  // searches a longer log. Called by the writer between commits: past `kMaxFrames` it copies
  // the rest itself, so the next commit starts the log again.
  void BoundLog();
  ~WalCheckpointer() { Stop(); }

 private:
  static int OnCommit(void* self, sqlite3* db, const char* name, int frames_in_log);
  void Run();

  std::unique_ptr<SqliteConnection> db_;
  sqlite3* writer_ = nullptr;
  int threshold_ = 1000;
  static constexpr int kMaxFrames = 8000;  // 32 MB of 4 KiB pages
  std::atomic<int> frames_{0};             // in the log after the last commit
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool pending_ = false;
  bool stopping_ = false;
};

}  // namespace carerecord::store
