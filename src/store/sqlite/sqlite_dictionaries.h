// Per-type zstd dictionaries for stored bodies (body_codec.h): trained from committed bodies on
// threads of their own; stored by the writer between commit groups; the bodies written before a
// dictionary are re-encoded on a thread of their own (a reader connection) and written back by
// the writer, B-tree work only. Each step is a transaction of its own, so a failure fails no
// user's commit: it is tried again later, with back-off. Learn, StoreAndReencode and Stop run
// on the writer thread only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/body_codec.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace carerecord::store {

class BodyDictionaries {
 public:
  // `open_reader` opens a read connection for re-encoding (nullptr when it cannot).
  using ReaderFactory = std::function<std::unique_ptr<SqliteConnection>()>;
  BodyDictionaries(SqliteConnection& writer_db, const SqliteNames& names, BodyCodec& codec,
                   ReaderFactory open_reader)
      : db_(writer_db), names_(names), codec_(codec), open_reader_(std::move(open_reader)) {}
  ~BodyDictionaries() { Stop(); }

  // Offers the bodies of committed transactions as training samples; starts training a type's
  // dictionary when it has enough.
  void Learn(const std::vector<const WriteTransaction*>& committed);
  // Stores the dictionaries trained since the last call, re-encodes the older bodies of their
  // types, and writes back re-encoded bodies. What fails is tried again, no sooner than a
  // back-off delay. Commits are numbered in queue order: `applied_through` is the last one the
  // writer has applied, and `queued_through()` the last one queued so far. A commit queued
  // before a dictionary was added may have been encoded without it, so a type's bodies are
  // re-encoded only once every such commit has been applied.
  void StoreAndReencode(uint64_t applied_through, const std::function<uint64_t()>& queued_through);
  // Waits for training and re-encoding threads (at close).
  void Stop();

 private:
  // Bodies of one type re-encoded with its dictionary, to be written back: (vid, body).
  struct Reencoded {
    std::string type;
    std::vector<std::pair<int64_t, std::string>> bodies;
    bool read_failed = false;
    bool more = false;  // the batch was full: there may be more to re-encode
  };

  base::Status Store(const std::string& type, const std::string& dictionary);
  void StartReencoding(const std::string& type);
  base::Status WriteBack(const Reencoded& batch);

  SqliteConnection& db_;
  const SqliteNames& names_;
  BodyCodec& codec_;
  ReaderFactory open_reader_;
  std::mutex mutex_;  // guards trained_ and reencoded_, filled by the background threads
  std::vector<std::pair<std::string, std::string>> trained_;  // (type, dictionary) to store
  std::vector<Reencoded> reencoded_;
  // Training and re-encoding threads, each with the flag it raises when it is done: finished
  // ones are joined at the next StoreAndReencode, so a store that runs for months does not
  // keep a stack per dictionary ever trained.
  struct Background {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  void Spawn(std::function<void()> work);
  void JoinFinished();
  std::vector<Background> threads_;
  // Writer thread only: work that failed and waits for its next attempt.
  std::vector<std::pair<std::string, uint64_t>> waiting_;  // (type, re-encode after this commit)
  std::vector<std::string> to_reencode_;
  std::vector<Reencoded> to_write_back_;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds back_off_{0};
};

}  // namespace carerecord::store
