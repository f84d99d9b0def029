// Per-type zstd dictionaries for stored bodies (body_codec.h): trained from committed bodies on
// threads of their own, then stored, and the bodies written before them re-encoded, by the
// writer between commit groups in transactions of their own. A failure there fails no user's
// commit: the type is tried again later. Learn/StoreAndReencode run on the writer thread only.
#pragma once

#include <chrono>
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
  BodyDictionaries(SqliteConnection& writer_db, const SqliteNames& names, BodyCodec& codec)
      : db_(writer_db), names_(names), codec_(codec) {}
  ~BodyDictionaries() { Stop(); }

  // Offers the bodies of committed transactions as training samples; starts training a type's
  // dictionary when it has enough.
  void Learn(const std::vector<const WriteTransaction*>& committed);
  // Stores the dictionaries trained since the last call and re-encodes older bodies of their
  // types. What fails stays pending and is tried again, no sooner than a back-off delay.
  void StoreAndReencode();
  // Waits for training threads (at close).
  void Stop();

 private:
  base::Status Store(const std::string& type, const std::string& dictionary);
  base::Status Reencode(const std::string& type);

  SqliteConnection& db_;
  const SqliteNames& names_;
  BodyCodec& codec_;
  std::mutex trained_mutex_;
  std::vector<std::pair<std::string, std::string>> trained_;  // (type, dictionary) to store
  std::vector<std::thread> trainers_;
  std::vector<std::string> to_reencode_;  // types whose older bodies still need re-encoding
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds back_off_{0};
};

}  // namespace carerecord::store
