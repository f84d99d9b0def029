// GroupCommitWriter: the commit queue, the writer thread, group commit and Apply (see
// sqlite_commit.h).

#include "store/sqlite/sqlite_commit.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <set>
#include <unordered_set>

#include "fhir/fhir_date.h"
#include "store/sqlite/sqlite_search_internal.h"

namespace carerecord::store {
namespace {

using base::ErrorCode;
using base::MakeError;

constexpr size_t kMaxWritesPerGroup = 20000;

// What a commit check may cost the writer when it must search: an index probe such as
// identifier=S|X takes a few hundred steps of SQLite's virtual machine; a condition that reads
// thousands of rows or bodies is handed back to the request thread instead. The search's own
// budget (SearchRun) enforces it, the one place every search's cost is counted.
constexpr int64_t kCheckBudgetSteps = 50000;
constexpr int64_t kCheckBudgetMilliseconds = 10;

int MethodCode(std::string_view method) {
  if (method == "PUT") return 1;
  if (method == "DELETE") return 2;
  return 0;
}

// The resource types whose writes can change what `spec` matches: its own, those of chains and
// _has (their inner searches), and those a reference value is looked up in. `any` when a
// reference may name any type.
void CollectTypes(const SearchSpec& spec, std::set<std::string>& types, bool& any);

void CollectConditionTypes(const Condition& condition, std::set<std::string>& types, bool& any);

void CollectFilterTypes(const FilterNode& node, std::set<std::string>& types, bool& any) {
  for (const Condition& condition : node.condition) CollectConditionTypes(condition, types, any);
  for (const FilterNode& child : node.children) CollectFilterTypes(child, types, any);
}

void CollectConditionTypes(const Condition& condition, std::set<std::string>& types, bool& any) {
  if (condition.filter) CollectFilterTypes(*condition.filter, types, any);
  bool reference = condition.param && condition.param->type == fhir::SearchParamType::kReference;
  for (const SearchValue& value : condition.values) {
    if (value.chain) CollectTypes(*value.chain, types, any);
    if (!reference) continue;
    if (!value.target_type.empty()) {
      types.insert(value.target_type);
    } else if (condition.param->targets.empty()) {
      any = true;
    } else {
      types.insert(condition.param->targets.begin(), condition.param->targets.end());
    }
  }
}

void CollectTypes(const SearchSpec& spec, std::set<std::string>& types, bool& any) {
  types.insert(spec.type);
  if (!spec.compartment_patient.empty()) types.insert("Patient");
  for (const Condition& condition : spec.conditions) CollectConditionTypes(condition, types, any);
}

// Per check, the ids of the types it depends on (empty for any type), and whether that is its
// own type alone.
std::vector<CheckTypes> DependedTypes(const std::vector<CommitCheck>& checks,
                                      const SqliteNames& names) {
  std::vector<CheckTypes> out;
  for (const CommitCheck& check : checks) {
    std::set<std::string> types;
    bool any = false;
    CollectTypes(*check.spec, types, any);
    const bool own_type_only = !any && types.size() == 1;
    std::vector<int64_t> ids;
    if (!any) {
      for (const std::string& type : types) {
        if (int64_t id = names.types.Find(type)) ids.push_back(id);
      }
      if (ids.empty()) ids.push_back(0);  // no known type: nothing can change it
    }
    out.push_back(CheckTypes{std::move(ids), own_type_only});
  }
  return out;
}

}  // namespace

void GroupCommitWriter::Start() {
  writer_ = std::thread([this] { WriterLoop(); });
}

void GroupCommitWriter::Stop() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  dictionaries_.Stop();
}

void GroupCommitWriter::AddStats(StoreStats& stats) const {
  stats.checks_searched_by_writer = checks_searched_.load(std::memory_order_relaxed);
  stats.checks_handed_back = checks_handed_back_.load(std::memory_order_relaxed);
}

// Bodies are encoded here, on the caller's thread and before the queue, with the place of
// meta.lastUpdated recorded (BodyCodec): the writer stamps each transaction as it applies it, so
// the order of lastUpdated is the order of commits, and nothing queued waits for an encoding.
base::Result<CommitResult> GroupCommitWriter::Commit(WriteTransaction& transaction) {
  auto check_types = DependedTypes(transaction.checks, names_);
  try {
    for (PreparedWrite& write : transaction.writes) {
      if (!write.is_delete) {
        write.encoded_json = codec_.Encode(write.type, write.json, write.last_updated_at);
      }
    }
  } catch (const std::bad_alloc&) {
    return MakeError(ErrorCode::kUnavailable,
                     "the server has not the memory to store this now; retry later");
  }
  std::future<base::Result<CommitResult>> done;
  {
    std::lock_guard lock(queue_mutex_);
    if (stopping_) {
      return MakeError(ErrorCode::kUnavailable, "the server is shutting down; retry later");
    }
    QueuedCommit& queued = queue_.emplace_back();
    queued.transaction = &transaction;
    queued.sequence = ++queued_through_;
    queued.check_types = std::move(check_types);
    done = queued.done.get_future();
  }
  queue_cv_.notify_one();
  return done.get();
}

void GroupCommitWriter::WriterLoop() {
  pthread_setname_np(pthread_self(), "cr-writer");
  for (;;) {
    std::vector<QueuedCommit> group;
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and everything queued was committed
      size_t writes = 0;
      while (!queue_.empty() && (group.empty() || writes < kMaxWritesPerGroup)) {
        writes += queue_.front().transaction->writes.size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    ApplyPageLimit();
    CommitGroup(group);
    applied_through_ = group.back().sequence;
    checkpointer_.BoundLog();
    dictionaries_.StoreAndReencode(applied_through_, [this] {
      std::lock_guard lock(queue_mutex_);
      return queued_through_;
    });
  }
}

void GroupCommitWriter::ApplyPageLimit() {
  if (!options_.max_page_count) return;
  int64_t limit = options_.max_page_count->load();
  if (limit == page_limit_) return;
  page_limit_ = limit;
  (void)db_.Exec("PRAGMA max_page_count=" + std::to_string(limit ? limit : 4294967294));
}

// New code systems and sources are committed on their own first, so that a transaction that
// fails later in the group cannot leave the in-memory dictionaries naming rows that were rolled
// back.
namespace {

// Whether the connection syncs each commit (PRAGMA synchronous is FULL or EXTRA).
bool SynchronousIsFull(SqliteConnection& db) {
  sqlite3_stmt* stmt = nullptr;
  bool full = true;  // unknown: assume so, and restore FULL after
  if (sqlite3_prepare_v2(db.raw(), "PRAGMA synchronous", -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    full = sqlite3_column_int(stmt, 0) >= 2;
  }
  sqlite3_finalize(stmt);
  return full;
}

}  // namespace

base::Status GroupCommitWriter::RegisterNames(const std::vector<QueuedCommit>& group) {
  std::set<std::string> systems, sources;
  for (const QueuedCommit& queued : group) {
    if (!names_.sources.Find(queued.transaction->provenance.source)) {
      sources.insert(queued.transaction->provenance.source);
    }
    for (const PreparedWrite& write : queued.transaction->writes) {
      CollectNewSystems(names_, write.index, systems);
      if (write.provenance && !names_.sources.Find(write.provenance->source)) {
        sources.insert(write.provenance->source);
      }
    }
  }
  if (systems.empty() && sources.empty()) return base::Status::Ok();
  // This commit need not reach the disk on its own: the group's commit, next on this
  // connection, syncs the WAL file whole (this commit's frames, before it, included), and
  // nothing written refers to these names before that. So one fsync a group, not two: every
  // feed message's meta.source (`_source`, a uri) is a new name.
  const bool full = SynchronousIsFull(db_);
  if (full) CR_RETURN_IF_ERROR(db_.Exec("PRAGMA synchronous=NORMAL"));
  base::Status status = db_.Exec("BEGIN IMMEDIATE");
  for (const std::string& system : systems) {
    if (!status.ok()) break;
    if (auto id = names_.systems.Add(db_, system); !id.ok()) status = id.error();
  }
  for (const std::string& source : sources) {
    if (!status.ok()) break;
    if (auto id = names_.sources.Add(db_, source); !id.ok()) status = id.error();
  }
  if (status.ok()) status = db_.Exec("COMMIT");
  if (!status.ok()) {
    (void)db_.Exec("ROLLBACK");
    names_.systems.Forget();
    names_.sources.Forget();
  } else {
    names_.systems.Publish();
    names_.sources.Publish();
  }
  // Durable again before the group (setting a flag: it fails only on misuse, and then the
  // group fails rather than commit without its sync).
  if (full) CR_RETURN_IF_ERROR(db_.Exec("PRAGMA synchronous=FULL"));
  return status;
}

void GroupCommitWriter::CommitGroup(std::vector<QueuedCommit>& group) {
  std::vector<base::Status> outcomes(group.size());
  std::vector<int64_t> stamps(group.size());
  base::Status group_status = RegisterNames(group);
  if (group_status.ok()) group_status = db_.Exec("BEGIN IMMEDIATE");
  if (group_status.ok()) {
    for (size_t i = 0; i < group.size(); ++i) {
      const WriteTransaction& transaction = *group[i].transaction;
      // Each transaction of the group is all-or-nothing on its own, and takes its lastUpdated
      // now: never earlier than that of the transactions applied before it.
      stamps[i] = last_stamp_ms_ = std::max(fhir::NowMs(), last_stamp_ms_);
      for (PreparedWrite& write : group[i].transaction->writes) write.last_updated_ms = stamps[i];
      group_status = db_.Exec("SAVEPOINT tx");
      if (!group_status.ok()) break;
      outcomes[i] = Apply(group[i], names_.sources.Find(transaction.provenance.source));
      if (!outcomes[i].ok()) {
        pk_cache_.clear();
        if (sqlite3_get_autocommit(db_.raw())) {
          // SQLite rolled the whole group back (it may on a full disk or an I/O error): every
          // transaction of the group fails with that cause.
          group_status = outcomes[i];
          break;
        }
        group_status = db_.Exec("ROLLBACK TO tx");
      }
      if (group_status.ok()) group_status = db_.Exec("RELEASE tx");
      if (!group_status.ok()) break;
    }
    if (group_status.ok()) group_status = db_.Exec("COMMIT");
    if (!group_status.ok() && !sqlite3_get_autocommit(db_.raw())) (void)db_.Exec("ROLLBACK");
  }
  pk_cache_.clear();
  if (group_status.ok()) {
    std::vector<const WriteTransaction*> committed;
    for (size_t i = 0; i < group.size(); ++i) {
      if (outcomes[i].ok()) committed.push_back(group[i].transaction);
    }
    dictionaries_.Learn(committed);  // before the callers wake: they free their transactions
  }
  int64_t commit_ms = fhir::NowMs();
  for (size_t i = 0; i < group.size(); ++i) {
    if (!group_status.ok()) {
      group[i].done.set_value(group_status.error());
    } else if (!outcomes[i].ok()) {
      group[i].done.set_value(outcomes[i].error());
    } else {
      group[i].done.set_value(CommitResult{commit_ms, stamps[i]});
    }
  }
}

base::Result<int64_t> GroupCommitWriter::FindPkAnyState(std::string_view type,
                                                        std::string_view id) {
  std::string key;
  key.reserve(type.size() + id.size() + 1);
  key.append(type).push_back('/');
  key.append(id);
  if (auto it = pk_cache_.find(key); it != pk_cache_.end()) return it->second;
  auto pk = FindPk(db_, names_, type, id, /*include_deleted=*/true);
  if (pk.ok() && pk.value()) pk_cache_.emplace(std::move(key), pk.value());
  return pk;
}

// The checks of a transaction, at commit. A check whose types were not written after the
// caller's snapshot holds as it held there; otherwise it is searched within the budget.
base::Status GroupCommitWriter::Check(const QueuedCommit& queued) {
  const WriteTransaction& transaction = *queued.transaction;
  for (size_t i = 0; i < transaction.checks.size(); ++i) {
    const CommitCheck& check = transaction.checks[i];
    const std::vector<int64_t>& types = queued.check_types[i].ids;
    bool changed = transaction.read_position <= 0;
    if (!changed && types.empty()) changed = last_write_ > transaction.read_position;
    for (int64_t type : types) {
      if (changed) break;
      changed = static_cast<size_t>(type) < last_write_by_type_.size() &&
                last_write_by_type_[type] > transaction.read_position;
    }
    if (!changed) continue;
    checks_searched_.fetch_add(1, std::memory_order_relaxed);
    SearchSpec bounded = *check.spec;
    bounded.budget.max_work = kCheckBudgetSteps;
    bounded.budget.max_milliseconds = kCheckBudgetMilliseconds;
    // It matched nothing at the snapshot. When only its own type's resources decide what it
    // matches, only those written since can match now: the search reads just them.
    if (transaction.read_position > 0 && queued.check_types[i].own_type_only) {
      bounded.changed_after_vid = transaction.read_position;
    }
    auto ids =
        MakeSqliteTransactionReader(db_, names_)->MatchIds(bounded, 1 + check.excluded_ids.size());
    if (!ids.ok() && ids.error().location == kSearchBudgetSpent) {
      checks_handed_back_.fetch_add(1, std::memory_order_relaxed);
      return MakeError(ErrorCode::kConflict,
                       "a condition of this request was overtaken by concurrent writes and is "
                       "checked again",
                       std::string(kCommitCheckHandedBack));
    }
    if (!ids.ok()) return ids.error();
    for (const std::string& id : *ids) {
      if (std::find(check.excluded_ids.begin(), check.excluded_ids.end(), id) ==
          check.excluded_ids.end()) {
        return MakeError(ErrorCode::kConflict, check.conflict_message);
      }
    }
  }
  return base::Status::Ok();
}

base::Status GroupCommitWriter::Apply(const QueuedCommit& queued, int64_t source_id) {
  const WriteTransaction& transaction = *queued.transaction;
  if (source_id == 0) return MakeError(ErrorCode::kInternal, "unregistered source");
  for (const PreparedWrite& write : transaction.writes) {
    if (write.provenance && !names_.sources.Find(write.provenance->source)) {
      return MakeError(ErrorCode::kInternal, "unregistered source");
    }
  }
  CR_RETURN_IF_ERROR(Check(queued));
  std::vector<Slot> slots(transaction.writes.size());
  WrittenHere seen;
  CR_RETURN_IF_ERROR(AllocateRows(transaction, slots, seen));
  CR_RETURN_IF_ERROR(CheckTargets(transaction, seen));
  for (size_t i = 0; i < transaction.writes.size(); ++i) {
    CR_RETURN_IF_ERROR(WriteVersion(transaction, transaction.writes[i], slots[i], source_id));
  }
  return base::Status::Ok();
}

// Pass 1: find or allocate each resource's row and check versions, so that references between
// entries of the transaction resolve whatever their order.
base::Status GroupCommitWriter::AllocateRows(const WriteTransaction& transaction,
                                             std::vector<Slot>& slots, WrittenHere& seen) {
  SqliteConnection& db = db_;
  for (size_t i = 0; i < transaction.writes.size(); ++i) {
    const PreparedWrite& write = transaction.writes[i];
    std::string where = write.type + "/" + write.id;
    if (!seen.emplace(write.type, write.id).second) {
      return base::Invalid("the transaction writes " + where + " more than once", where);
    }
    Slot& slot = slots[i];
    slot.type_id = names_.types.Find(write.type);
    if (!slot.type_id) return base::Invalid("unknown resource type " + write.type, where);
    auto find = db.Cached(
        "SELECT pk, version, patient_pk, type_id FROM resource WHERE type_id = ? AND id = ?");
    if (!find.ok()) return find.error();
    SqliteStatement& stmt = **find;
    stmt.Bind(1, slot.type_id).Bind(2, write.id);
    auto row = stmt.Step();
    if (!row.ok()) return row.error();
    int64_t current_version = 0;
    if (row.value()) {
      slot.pk = stmt.Int(0);
      current_version = stmt.Int(1);
      int64_t patient_pk = stmt.Int(2);
      slot.old_part = write.type == "Patient" ? 0 : patient_pk;
    }
    stmt.Reset();
    if (current_version != write.version - 1) {
      return MakeError(ErrorCode::kConflict,
                       where + " is at version " + std::to_string(current_version) + ", not " +
                           std::to_string(write.version - 1) + " as this change expected",
                       where);
    }
    if (!slot.pk) {
      // The row gets its indexed columns (deleted, last_updated) now, so that pass 3 only
      // touches unindexed ones; version 0 marks it unwritten until then.
      auto insert = db.Cached(
          "INSERT INTO resource (type_id, id, patient_pk, version, vid, deleted, last_updated) "
          "VALUES (?, ?, 0, 0, 0, ?, ?)");
      if (!insert.ok()) return insert.error();
      (*insert)
          ->Bind(1, slot.type_id)
          .Bind(2, write.id)
          .Bind(3, static_cast<int64_t>(write.is_delete))
          .Bind(4, write.last_updated_ms);
      CR_RETURN_IF_ERROR((*insert)->Run());
      slot.pk = sqlite3_last_insert_rowid(db.raw());
      slot.created = true;
    }
  }
  return base::Status::Ok();
}

// Pass 2: references must point at something that exists once this transaction commits.
base::Status GroupCommitWriter::CheckTargets(const WriteTransaction& transaction,
                                             const WrittenHere& seen) {
  SqliteConnection& db = db_;
  std::unordered_set<std::string> deleted_here;
  for (const PreparedWrite& write : transaction.writes) {
    if (write.is_delete) deleted_here.insert(write.type + "/" + write.id);
  }
  for (const PreparedWrite& write : transaction.writes) {
    for (const auto& [type, id] : write.required_targets) {
      std::string target = type + "/" + id;
      bool written_here = seen.count({type, id}) && !deleted_here.count(target);
      if (written_here) continue;
      auto pk = FindPk(db, names_, type, id);
      if (!pk.ok()) return pk.error();
      if (!pk.value() || deleted_here.count(target)) {
        return MakeError(
            ErrorCode::kUnprocessable,
            write.type + "/" + write.id + " refers to " + target + ", which does not exist",
            write.type + "/" + write.id);
      }
    }
  }
  return base::Status::Ok();
}

// Pass 3, per write: the version, its index rows and compartment membership.
base::Status GroupCommitWriter::WriteVersion(const WriteTransaction& transaction,
                                             const PreparedWrite& write, const Slot& slot,
                                             int64_t source_id) {
  SqliteConnection& db = db_;
  bool is_patient = slot.type_id == names_.patient_type_id;

  int64_t patient_pk = 0;
  std::vector<int64_t> compartment;
  for (const std::string& patient_id : write.compartment_patients) {
    auto pk = is_patient && patient_id == write.id ? base::Result<int64_t>(slot.pk)
                                                   : PatientPk(patient_id);
    if (!pk.ok()) return pk.error();
    if (!pk.value()) continue;
    if (!patient_pk) patient_pk = pk.value();
    compartment.push_back(pk.value());
  }
  int64_t part = is_patient ? 0 : patient_pk;

  const bool replaces = write.version > 1;
  if (replaces) CR_RETURN_IF_ERROR(RemovePrevious(write, slot, /*index_rows=*/write.is_delete));
  auto vid = InsertVersion(transaction, write, slot, patient_pk, source_id);
  if (!vid.ok()) return vid.error();
  CR_RETURN_IF_ERROR(UpdateRow(write, slot, patient_pk, *vid));
  if (write.version == 1 && !transaction.author_organisation.empty()) {
    // The first version's writer is the author the sealing policy opens V items to.
    auto author = db.Cached("UPDATE resource SET author_org = ? WHERE pk = ?");
    if (!author.ok()) return author.error();
    (*author)->Bind(1, std::string_view(transaction.author_organisation)).Bind(2, slot.pk);
    CR_RETURN_IF_ERROR((*author)->Run());
  }
  if (write.is_delete) return base::Status::Ok();
  if (replaces) {
    // Only the rows that differ: an update (a feed's A08) changes a few values of many.
    CR_RETURN_IF_ERROR(ReplaceIndexRows(
        db_, names_, write.previous_index, slot.old_part, write.index, part, slot.pk,
        [this](std::string_view type, std::string_view id) { return FindPkAnyState(type, id); }));
  } else {
    CR_RETURN_IF_ERROR(WriteIndex(write.index, slot.pk, part, false));
  }
  for (int64_t patient : compartment) {
    auto add =
        db.Cached("INSERT OR IGNORE INTO compartment (patient_pk, type_id, pk) VALUES (?, ?, ?)");
    if (!add.ok()) return add.error();
    (*add)->Bind(1, patient).Bind(2, slot.type_id).Bind(3, slot.pk);
    CR_RETURN_IF_ERROR((*add)->Run());
  }
  return base::Status::Ok();
}

// The replaced version's compartment rows taken away, and with `index_rows` what it was indexed
// under (a delete; an update replaces only the rows that differ, after its version is written).
base::Status GroupCommitWriter::RemovePrevious(const PreparedWrite& write, const Slot& slot,
                                               bool index_rows) {
  if (index_rows) {
    CR_RETURN_IF_ERROR(WriteIndex(write.previous_index, slot.pk, slot.old_part, true));
  }
  for (const std::string& patient_id : write.previous_compartment_patients) {
    auto pk = PatientPk(patient_id);
    if (!pk.ok()) return pk.error();
    if (!pk.value()) continue;
    auto remove =
        db_.Cached("DELETE FROM compartment WHERE patient_pk = ? AND type_id = ? AND pk = ?");
    if (!remove.ok()) return remove.error();
    (*remove)->Bind(1, pk.value()).Bind(2, slot.type_id).Bind(3, slot.pk);
    CR_RETURN_IF_ERROR((*remove)->Run());
  }
  return base::Status::Ok();
}

// The version row, with its provenance and body; its vid.
base::Result<int64_t> GroupCommitWriter::InsertVersion(const WriteTransaction& transaction,
                                                       const PreparedWrite& write, const Slot& slot,
                                                       int64_t patient_pk, int64_t source_id) {
  auto insert_version = db_.Cached(
      "INSERT INTO version (pk, patient_pk, version, last_updated, method, source_id, "
      "message_id, received, body, sealing_facts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert_version.ok()) return insert_version.error();
  SqliteStatement& version_stmt = **insert_version;
  // A write of its own provenance (one of many feed messages in the transaction) names it.
  const Provenance& provenance = write.provenance ? *write.provenance : transaction.provenance;
  if (write.provenance) source_id = names_.sources.Find(write.provenance->source);
  version_stmt.Bind(1, slot.pk)
      .Bind(2, patient_pk)
      .Bind(3, write.version)
      .Bind(4, write.last_updated_ms)
      .Bind(5, static_cast<int64_t>(MethodCode(write.method)))
      .Bind(6, source_id)
      .Bind(8, provenance.received_ms)
      .Bind(10, std::string_view(write.sealing_facts));
  if (provenance.message_id.empty()) {
    version_stmt.BindNull(7);
  } else {
    version_stmt.Bind(7, provenance.message_id);
  }
  if (write.is_delete) {
    version_stmt.BindNull(9);
  } else {
    version_stmt.BindBlob(9, write.encoded_json);
  }
  CR_RETURN_IF_ERROR(version_stmt.Run());
  int64_t vid = sqlite3_last_insert_rowid(db_.raw());
  if (static_cast<size_t>(slot.type_id) >= last_write_by_type_.size()) {
    last_write_by_type_.resize(slot.type_id + 1, 0);
  }
  last_write_by_type_[slot.type_id] = vid;
  last_write_ = vid;
  return vid;
}

// The resource row now names the new version.
base::Status GroupCommitWriter::UpdateRow(const PreparedWrite& write, const Slot& slot,
                                          int64_t patient_pk, int64_t vid) {
  if (slot.created) {
    auto update =
        db_.Cached("UPDATE resource SET patient_pk = ?, version = ?, vid = ? WHERE pk = ?");
    if (!update.ok()) return update.error();
    (*update)->Bind(1, patient_pk).Bind(2, write.version).Bind(3, vid).Bind(4, slot.pk);
    CR_RETURN_IF_ERROR((*update)->Run());
  } else {
    auto update = db_.Cached(
        "UPDATE resource SET patient_pk = ?, version = ?, vid = ?, deleted = ?, "
        "last_updated = ? WHERE pk = ?");
    if (!update.ok()) return update.error();
    (*update)
        ->Bind(1, patient_pk)
        .Bind(2, write.version)
        .Bind(3, vid)
        .Bind(4, static_cast<int64_t>(write.is_delete))
        .Bind(5, write.last_updated_ms)
        .Bind(6, slot.pk);
    CR_RETURN_IF_ERROR((*update)->Run());
  }
  return base::Status::Ok();
}

base::Status GroupCommitWriter::WriteIndex(const fhir::IndexEntries& index, int64_t pk,
                                           int64_t part, bool remove) {
  return WriteIndexRows(
      db_, names_, index, pk, part, remove,
      [this](std::string_view type, std::string_view id) { return FindPkAnyState(type, id); });
}

}  // namespace carerecord::store
