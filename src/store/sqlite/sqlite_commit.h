// The SQLite store's commit pipeline: callers queue transactions (Commit, on their own threads,
// encodes the bodies first); one writer thread takes every queued transaction, stamps its
// lastUpdated, applies it inside a savepoint, and commits the group with one fsync. The
// writer does B-tree work only: a commit check searches on it only when a type the check
// depends on changed after the caller's snapshot, and then within a small fixed budget.
// Commit and Stats are thread-safe; the rest runs on the writer thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/sqlite/sqlite_checkpointer.h"
#include "store/sqlite/sqlite_dictionaries.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace carerecord::store {

// What a commit check depends on: the ids of the types whose writes can change what it matches
// (empty: any type), and whether that is its own type alone (no chain, _has, reference target).
struct CheckTypes {
  std::vector<int64_t> ids;
  bool own_type_only = false;
};

class GroupCommitWriter {
 public:
  // `open_reader` opens a read connection for work done beside the writer (re-encoding).
  GroupCommitWriter(SqliteConnection& db, SqliteNames& names, BodyCodec& codec,
                    WalCheckpointer& checkpointer, const SqliteOptions& options,
                    BodyDictionaries::ReaderFactory open_reader)
      : db_(db),
        names_(names),
        codec_(codec),
        checkpointer_(checkpointer),
        options_(options),
        dictionaries_(db, names, codec, std::move(open_reader)) {}
  ~GroupCommitWriter() { Stop(); }

  void Start();
  // Commits everything queued, then stops the writer thread. Later commits fail.
  void Stop();
  base::Result<CommitResult> Commit(WriteTransaction& transaction);
  void AddStats(StoreStats& stats) const;

 private:
  // The caller's transaction stays in the caller's frame (it waits for the outcome), so the
  // many small strings of its index entries are freed on its thread, not on the writer's.
  struct QueuedCommit {
    WriteTransaction* transaction = nullptr;
    std::vector<CheckTypes> check_types;  // per check
    uint64_t sequence = 0;                // its place in the queue, from 1
    std::promise<base::Result<CommitResult>> done;
  };

  void WriterLoop();
  void CommitGroup(std::vector<QueuedCommit>& group);
  base::Status RegisterNames(const std::vector<QueuedCommit>& group);
  // One resource's row, as pass 1 of Apply finds or allocates it.
  struct Slot {
    bool created = false;  // inserted by pass 1 of this transaction
    int64_t pk = 0;
    int64_t type_id = 0;
    int64_t old_part = 0;
  };
  // The (type, id) pairs a transaction writes.
  using WrittenHere = std::set<std::pair<std::string_view, std::string_view>>;

  base::Status Apply(const QueuedCommit& queued, int64_t source_id);
  base::Status AllocateRows(const WriteTransaction& transaction, std::vector<Slot>& slots,
                            WrittenHere& seen);
  base::Status CheckTargets(const WriteTransaction& transaction, const WrittenHere& seen);
  base::Status WriteVersion(const WriteTransaction& transaction, const PreparedWrite& write,
                            const Slot& slot, int64_t source_id);
  base::Status RemovePrevious(const PreparedWrite& write, const Slot& slot, bool index_rows);
  base::Result<int64_t> InsertVersion(const WriteTransaction& transaction,
                                      const PreparedWrite& write, const Slot& slot,
                                      int64_t patient_pk, int64_t source_id);
  base::Status UpdateRow(const PreparedWrite& write, const Slot& slot, int64_t patient_pk,
                         int64_t vid);
  base::Status Check(const QueuedCommit& queued);
  base::Status WriteIndex(const fhir::IndexEntries& index, int64_t pk, int64_t part, bool remove);
  void ApplyPageLimit();
  // The pk of a resource row whatever its state: rows are never removed, and a row allocated
  // earlier in the same transaction still reads as deleted until its version is written.
  base::Result<int64_t> FindPkAnyState(std::string_view type, std::string_view id);
  base::Result<int64_t> PatientPk(std::string_view patient_id) {
    return FindPkAnyState("Patient", patient_id);
  }

  SqliteConnection& db_;
  SqliteNames& names_;
  BodyCodec& codec_;
  WalCheckpointer& checkpointer_;
  const SqliteOptions& options_;
  BodyDictionaries dictionaries_;

  std::thread writer_;
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<QueuedCommit> queue_;
  uint64_t queued_through_ = 0;   // the sequence of the last commit queued; guarded by queue_mutex_
  uint64_t applied_through_ = 0;  // writer thread: the sequence of the last commit applied
  bool stopping_ = false;

  // Writer thread only. FindPkAnyState results within one commit group: a patient's resources
  // name the same patient and encounter over and over. Cleared when a transaction of the group
  // rolls back, since pks it allocated are gone.
  std::unordered_map<std::string, int64_t> pk_cache_;
  // The vid of the last write applied per type id (and of any type), committed or not: a
  // check whose snapshot is at or past these for every type it depends on still holds.
  std::vector<int64_t> last_write_by_type_;
  int64_t last_write_ = 0;
  int64_t last_stamp_ms_ = 0;  // the newest lastUpdated given
  int64_t page_limit_ = 0;

  std::atomic<int64_t> checks_searched_{0};
  std::atomic<int64_t> checks_handed_back_{0};
};

}  // namespace carerecord::store
