// The SQLite store: one writer thread that group-commits queued transactions (one fsync for
// many), and a pool of reader connections that each see a committed snapshot (WAL).

#include <pthread.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <unordered_set>
#include <variant>

#include "fhir/fhir_date.h"
#include "fhir/search_parameters.h"
#include "fhir/search_text.h"
#include "store/body_codec.h"
#include "store/sqlite/sqlite_checkpointer.h"
#include "store/sqlite/sqlite_search_internal.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace carerecord::store {
namespace {

using base::ErrorCode;
using base::MakeError;

constexpr size_t kMaxWritesPerGroup = 20000;

int MethodCode(std::string_view method) {
  if (method == "PUT") return 1;
  if (method == "DELETE") return 2;
  return 0;
}

base::Status RegisterDefinitions(SqliteConnection& db, SqliteNames& names) {
  CR_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  for (const std::string& type : fhir::AllResourceTypes()) {
    auto id = names.types.Add(db, type);
    if (!id.ok()) return id.error();
  }
  auto params = fhir::AllSearchParams();
  names.param_ids.assign(params.size(), 0);
  names.text_param_ids.assign(params.size(), 0);
  names.of_type_param_ids.assign(params.size(), 0);
  for (const fhir::SearchParamDef& def : params) {
    std::string name = def.resource_type + "." + def.code;
    auto id = names.params.Add(db, name);
    if (!id.ok()) return id.error();
    names.param_ids[def.id] = id.value();
    if (def.type == fhir::SearchParamType::kToken) {
      auto text_id = names.params.Add(db, name + ":text");
      if (!text_id.ok()) return text_id.error();
      names.text_param_ids[def.id] = text_id.value();
      auto of_type_id = names.params.Add(db, name + ":of-type");
      if (!of_type_id.ok()) return of_type_id.error();
      names.of_type_param_ids[def.id] = of_type_id.value();
    }
  }
  CR_RETURN_IF_ERROR(db.Exec("COMMIT"));
  names.types.Publish();
  names.params.Publish();
  names.patient_type_id = names.types.Find("Patient");
  return base::Status::Ok();
}

// The caller's transaction stays in the caller's frame (it waits for the outcome), so the many
// small strings of its index entries are freed on its thread, not on the writer's.
struct QueuedCommit {
  const WriteTransaction* transaction;
  std::promise<base::Result<CommitResult>> done;
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(SqliteOptions options) : options_(std::move(options)) {}
  ~SqliteStore() override { Close(); }

  base::Status Open();
  base::Result<CommitResult> Commit(WriteTransaction transaction) override;
  std::unique_ptr<ReadSession> OpenRead(ReadGate& gate) override;
  std::unique_ptr<TransactionReader> OpenTransactionReader() override;
  base::Result<StoreStats> Stats() override;
  const BodyCodec& Codec() const override { return codec_; }
  void Close() override;

 private:
  std::string DatabasePath() const { return options_.directory + "/carerecord.db"; }
  base::Result<std::unique_ptr<SqliteConnection>> OpenConnection(bool writer);
  std::unique_ptr<SqliteConnection> AcquireReader();
  void ReleaseReader(std::unique_ptr<SqliteConnection> db);

  void WriterLoop();
  void CommitGroup(std::vector<QueuedCommit>& group);
  base::Status RegisterNames(const std::vector<QueuedCommit>& group);
  base::Status Apply(const WriteTransaction& transaction, int64_t source_id);
  base::Status WriteIndex(const fhir::IndexEntries& index, int64_t pk, int64_t part, bool remove);
  // The pk of a resource row whatever its state: rows are never removed, and a row allocated
  // earlier in the same transaction still reads as deleted until its version is written.
  base::Result<int64_t> FindPkAnyState(std::string_view type, std::string_view id);
  // FindPkAnyState results within one commit group: a patient's resources name the same
  // patient and encounter over and over. Cleared when a transaction of the group rolls back,
  // since pks it allocated are gone.
  std::unordered_map<std::string, int64_t> pk_cache_;
  base::Result<int64_t> PatientPk(std::string_view patient_id) {
    return FindPkAnyState("Patient", patient_id);
  }

  void LearnDictionaries(const std::vector<QueuedCommit>& group,
                         const std::vector<base::Status>& outcomes);
  base::Status StorePendingDictionaries();
  base::Status Recompress(const std::string& type);

  SqliteOptions options_;
  SqliteNames names_;
  BodyCodec codec_;
  // Dictionaries trained in the background, waiting for the writer to store them.
  std::mutex dictionaries_mutex_;
  std::vector<std::pair<std::string, std::string>> trained_;
  std::vector<std::thread> trainers_;
  std::unique_ptr<SqliteConnection> writer_db_;
  WalCheckpointer checkpointer_;  // declared after writer_db_: stopped before it closes
  std::thread writer_;
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<QueuedCommit> queue_;
  bool stopping_ = false;
  bool closed_ = false;
  std::atomic<int64_t> checks_searched_{0};
  int64_t page_limit_ = 0;

  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<SqliteConnection>> pool_;
};

base::Result<std::unique_ptr<SqliteConnection>> SqliteStore::OpenConnection(bool writer) {
  auto db = SqliteConnection::Open(DatabasePath(), false);
  if (!db.ok()) return db.error();
  CR_RETURN_IF_ERROR((*db)->Exec("PRAGMA journal_mode=WAL"));
  CR_RETURN_IF_ERROR(
      (*db)->Exec(options_.durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF"));
  // The writer touches every index; its cache holds their upper levels for a large region.
  CR_RETURN_IF_ERROR((*db)->Exec(writer ? "PRAGMA cache_size=-262144"    // 256 MiB
                                        : "PRAGMA cache_size=-65536"));  // 64 MiB per reader
  CR_RETURN_IF_ERROR((*db)->Exec("PRAGMA temp_store=MEMORY"));
  // After a checkpoint rewinds the WAL, its file is cut back to this size, not left at its peak.
  if (writer) CR_RETURN_IF_ERROR((*db)->Exec("PRAGMA journal_size_limit=67108864"));
  if (!writer) CR_RETURN_IF_ERROR((*db)->Exec("PRAGMA query_only=1"));
  // Readers map the database file: pages come from the kernel's cache, which every connection
  // shares, instead of each copying them into a cache of its own. SQLite caps the map at its
  // build's limit (2 GiB in Debian's); beyond that, reads go through its cache as before.
  if (!writer) CR_RETURN_IF_ERROR((*db)->Exec("PRAGMA mmap_size=68719476736"));
  CR_RETURN_IF_ERROR(RegisterSqlFunctions(**db, codec_));
  return db;
}

base::Status SqliteStore::Open() {
  std::error_code ec;
  std::filesystem::create_directories(options_.directory, ec);
  if (ec) {
    return MakeError(ErrorCode::kInternal,
                     "cannot create data directory " + options_.directory + ": " + ec.message());
  }
  auto db = OpenConnection(true);
  if (!db.ok()) return db.error();
  writer_db_ = std::move(db).value();
  CR_RETURN_IF_ERROR(writer_db_->Exec("PRAGMA page_size=4096"));
  CR_RETURN_IF_ERROR(writer_db_->Exec(kSchemaSql));
  for (NameDictionary* dictionary :
       {&names_.types, &names_.params, &names_.systems, &names_.sources}) {
    CR_RETURN_IF_ERROR(dictionary->Load(*writer_db_));
  }
  CR_RETURN_IF_ERROR(RegisterDefinitions(*writer_db_, names_));
  names_.codec = &codec_;
  {
    auto stmt =
        writer_db_->Prepare("SELECT id, type_id, dictionary FROM body_dictionary ORDER BY id");
    if (!stmt.ok()) return stmt.error();
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.error();
      if (!row.value()) break;
      codec_.AddDictionary(stmt->Int(0), names_.types.NameOf(stmt->Int(1)),
                           std::string(stmt->Blob(2)));
    }
  }
  CR_RETURN_IF_ERROR(RebuildIndexesIfStale(*writer_db_, names_, codec_));
  CR_RETURN_IF_ERROR(checkpointer_.Start(DatabasePath(), *writer_db_));
  writer_ = std::thread([this] { WriterLoop(); });
  return base::Status::Ok();
}

base::Result<CommitResult> SqliteStore::Commit(WriteTransaction transaction) {
  std::future<base::Result<CommitResult>> done;
  {
    std::lock_guard lock(queue_mutex_);
    if (stopping_) return MakeError(ErrorCode::kInternal, "the store is shutting down");
    queue_.push_back(QueuedCommit{&transaction, {}});
    done = queue_.back().done.get_future();
  }
  queue_cv_.notify_one();
  return done.get();
}

void SqliteStore::WriterLoop() {
  pthread_setname_np(pthread_self(), "cr-writer");
  for (;;) {
    std::vector<QueuedCommit> group;
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued was committed
      size_t writes = 0;
      while (!queue_.empty() && (group.empty() || writes < kMaxWritesPerGroup)) {
        writes += queue_.front().transaction->writes.size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (options_.max_page_count && options_.max_page_count->load() != page_limit_) {
      page_limit_ = options_.max_page_count->load();
      (void)writer_db_->Exec("PRAGMA max_page_count=" +
                             std::to_string(page_limit_ ? page_limit_ : 4294967294));
    }
    CommitGroup(group);
    checkpointer_.BoundLog();
  }
}

// New code systems and sources are committed on their own first, so that a transaction that
// fails later in the group cannot leave the in-memory dictionaries naming rows that were rolled
// back.
base::Status SqliteStore::RegisterNames(const std::vector<QueuedCommit>& group) {
  std::set<std::string> systems, sources;
  for (const QueuedCommit& queued : group) {
    if (!names_.sources.Find(queued.transaction->provenance.source)) {
      sources.insert(queued.transaction->provenance.source);
    }
    for (const PreparedWrite& write : queued.transaction->writes) {
      CollectNewSystems(names_, write.index, systems);
    }
  }
  if (systems.empty() && sources.empty()) return base::Status::Ok();
  CR_RETURN_IF_ERROR(writer_db_->Exec("BEGIN IMMEDIATE"));
  base::Status status;
  for (const std::string& system : systems) {
    if (auto id = names_.systems.Add(*writer_db_, system); !id.ok()) status = id.error();
  }
  for (const std::string& source : sources) {
    if (auto id = names_.sources.Add(*writer_db_, source); !id.ok()) status = id.error();
  }
  if (status.ok()) status = writer_db_->Exec("COMMIT");
  if (!status.ok()) {
    (void)writer_db_->Exec("ROLLBACK");
    names_.systems.Forget();
    names_.sources.Forget();
    return status;
  }
  names_.systems.Publish();
  names_.sources.Publish();
  return base::Status::Ok();
}

void SqliteStore::CommitGroup(std::vector<QueuedCommit>& group) {
  std::vector<base::Status> outcomes(group.size());
  base::Status group_status = RegisterNames(group);
  if (group_status.ok()) group_status = StorePendingDictionaries();
  if (group_status.ok()) group_status = writer_db_->Exec("BEGIN IMMEDIATE");
  if (group_status.ok()) {
    for (size_t i = 0; i < group.size(); ++i) {
      const WriteTransaction& transaction = *group[i].transaction;
      // Each transaction of the group is all-or-nothing on its own.
      group_status = writer_db_->Exec("SAVEPOINT tx");
      if (!group_status.ok()) break;
      outcomes[i] = Apply(transaction, names_.sources.Find(transaction.provenance.source));
      if (!outcomes[i].ok()) {
        pk_cache_.clear();
        group_status = writer_db_->Exec("ROLLBACK TO tx");
      }
      if (group_status.ok()) group_status = writer_db_->Exec("RELEASE tx");
      if (!group_status.ok()) break;
    }
    if (group_status.ok()) group_status = writer_db_->Exec("COMMIT");
    if (!group_status.ok()) (void)writer_db_->Exec("ROLLBACK");
  }
  pk_cache_.clear();
  CommitResult result{fhir::NowMs()};
  if (group_status.ok()) LearnDictionaries(group, outcomes);
  for (size_t i = 0; i < group.size(); ++i) {
    if (!group_status.ok()) {
      group[i].done.set_value(group_status.error());
    } else if (!outcomes[i].ok()) {
      group[i].done.set_value(outcomes[i].error());
    } else {
      group[i].done.set_value(result);
    }
  }
}

// Offers committed bodies of types that have no dictionary yet; when a type has enough, its
// dictionary is trained on a background thread (it takes tens of milliseconds) and stored by
// the writer before its next group.
void SqliteStore::LearnDictionaries(const std::vector<QueuedCommit>& group,
                                    const std::vector<base::Status>& outcomes) {
  for (size_t i = 0; i < group.size(); ++i) {
    if (!outcomes[i].ok()) continue;
    for (const PreparedWrite& write : group[i].transaction->writes) {
      if (!write.is_delete && !codec_.HasDictionary(write.type)) {
        codec_.OfferSample(write.type, write.json);
      }
    }
  }
  for (auto& [type, samples] : codec_.TakeTrainingSets()) {
    trainers_.emplace_back([this, type = type, samples = std::move(samples)] {
      std::string dictionary = BodyCodec::TrainDictionary(samples);
      if (dictionary.empty()) return;
      std::lock_guard lock(dictionaries_mutex_);
      trained_.emplace_back(type, std::move(dictionary));
    });
  }
}

base::Status SqliteStore::StorePendingDictionaries() {
  std::vector<std::pair<std::string, std::string>> trained;
  {
    std::lock_guard lock(dictionaries_mutex_);
    trained.swap(trained_);
  }
  for (auto& [type, dictionary] : trained) {
    auto stmt =
        writer_db_->Cached("INSERT INTO body_dictionary (type_id, dictionary) VALUES (?, ?)");
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, names_.types.Find(type)).BindBlob(2, dictionary);
    CR_RETURN_IF_ERROR((*stmt)->Run());  // autocommit: durable before any body names it
    codec_.AddDictionary(sqlite3_last_insert_rowid(writer_db_->raw()), type, std::move(dictionary));
    CR_RETURN_IF_ERROR(Recompress(type));
  }
  return base::Status::Ok();
}

// Re-encodes the bodies of `type` written before it had a dictionary (the training samples and
// their neighbours), in one transaction of its own.
base::Status SqliteStore::Recompress(const std::string& type) {
  constexpr int kMaxBodies = 20000;  // bounded pause; a later dictionary takes the rest
  auto select = writer_db_->Prepare(
      "SELECT v.vid, v.body FROM version v JOIN resource r ON r.pk = v.pk "
      "WHERE r.type_id = ? AND substr(v.body, 1, 1) = X'5A' LIMIT " +
      std::to_string(kMaxBodies));
  if (!select.ok()) return select.error();
  select->Bind(1, names_.types.Find(type));
  std::vector<std::pair<int64_t, std::string>> updates;
  for (;;) {
    auto row = select->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    auto json = codec_.Decode(select->Blob(1));
    if (!json.ok()) return json.error();
    updates.emplace_back(select->Int(0), codec_.Encode(type, json.value()));
  }
  if (updates.empty()) return base::Status::Ok();
  CR_RETURN_IF_ERROR(writer_db_->Exec("BEGIN IMMEDIATE"));
  auto update = writer_db_->Cached("UPDATE version SET body = ? WHERE vid = ?");
  base::Status status = update.ok() ? base::Status::Ok() : base::Status(update.error());
  for (size_t i = 0; status.ok() && i < updates.size(); ++i) {
    (*update)->BindBlob(1, updates[i].second).Bind(2, updates[i].first);
    status = (*update)->Run();
  }
  if (status.ok()) status = writer_db_->Exec("COMMIT");
  if (!status.ok()) (void)writer_db_->Exec("ROLLBACK");
  return status;
}

base::Result<int64_t> SqliteStore::FindPkAnyState(std::string_view type, std::string_view id) {
  std::string key;
  key.reserve(type.size() + id.size() + 1);
  key.append(type).push_back('/');
  key.append(id);
  if (auto it = pk_cache_.find(key); it != pk_cache_.end()) return it->second;
  auto pk = FindPk(*writer_db_, names_, type, id, /*include_deleted=*/true);
  if (pk.ok() && pk.value()) pk_cache_.emplace(std::move(key), pk.value());
  return pk;
}

base::Status SqliteStore::Apply(const WriteTransaction& transaction, int64_t source_id) {
  SqliteConnection& db = *writer_db_;
  if (source_id == 0) return MakeError(ErrorCode::kInternal, "unregistered source");
  TransactionReader* reader_for_checks = nullptr;
  std::unique_ptr<TransactionReader> reader;
  if (!transaction.checks.empty()) {
    reader = MakeSqliteTransactionReader(db, names_);
    reader_for_checks = reader.get();
    for (const CommitCheck& check : transaction.checks) {
      checks_searched_.fetch_add(1);
      CR_RETURN_IF_ERROR(check(*reader_for_checks));
    }
  }

  // Pass 1: find or allocate each resource's row and check versions, so that references between
  // entries of the transaction resolve whatever their order.
  struct Slot {
    bool created = false;  // inserted by pass 1 of this transaction
    int64_t pk = 0;
    int64_t type_id = 0;
    int64_t old_part = 0;
  };
  std::vector<Slot> slots(transaction.writes.size());
  std::set<std::pair<std::string_view, std::string_view>> seen;
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

  // Pass 2: references must point at something that exists once this transaction commits.
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

  // Pass 3: the versions, their index rows and compartment membership.
  for (size_t i = 0; i < transaction.writes.size(); ++i) {
    const PreparedWrite& write = transaction.writes[i];
    const Slot& slot = slots[i];
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

    // Remove what the replaced version was indexed under.
    if (write.version > 1) {
      CR_RETURN_IF_ERROR(WriteIndex(write.previous_index, slot.pk, slot.old_part, true));
      for (const std::string& patient_id : write.previous_compartment_patients) {
        auto pk = PatientPk(patient_id);
        if (!pk.ok()) return pk.error();
        if (!pk.value()) continue;
        auto remove =
            db.Cached("DELETE FROM compartment WHERE patient_pk = ? AND type_id = ? AND pk = ?");
        if (!remove.ok()) return remove.error();
        (*remove)->Bind(1, pk.value()).Bind(2, slot.type_id).Bind(3, slot.pk);
        CR_RETURN_IF_ERROR((*remove)->Run());
      }
    }

    auto insert_version = db.Cached(
        "INSERT INTO version (pk, patient_pk, version, last_updated, method, source_id, "
        "message_id, received, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!insert_version.ok()) return insert_version.error();
    SqliteStatement& version_stmt = **insert_version;
    version_stmt.Bind(1, slot.pk)
        .Bind(2, patient_pk)
        .Bind(3, write.version)
        .Bind(4, write.last_updated_ms)
        .Bind(5, static_cast<int64_t>(MethodCode(write.method)))
        .Bind(6, source_id)
        .Bind(8, transaction.provenance.received_ms);
    if (transaction.provenance.message_id.empty()) {
      version_stmt.BindNull(7);
    } else {
      version_stmt.Bind(7, transaction.provenance.message_id);
    }
    if (write.is_delete) {
      version_stmt.BindNull(9);
    } else {
      version_stmt.BindBlob(9, write.encoded_json.empty() ? codec_.Encode(write.type, write.json)
                                                          : write.encoded_json);
    }
    CR_RETURN_IF_ERROR(version_stmt.Run());
    int64_t vid = sqlite3_last_insert_rowid(db.raw());

    if (slot.created) {
      auto update =
          db.Cached("UPDATE resource SET patient_pk = ?, version = ?, vid = ? WHERE pk = ?");
      if (!update.ok()) return update.error();
      (*update)->Bind(1, patient_pk).Bind(2, write.version).Bind(3, vid).Bind(4, slot.pk);
      CR_RETURN_IF_ERROR((*update)->Run());
    } else {
      auto update = db.Cached(
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

    if (write.is_delete) continue;
    CR_RETURN_IF_ERROR(WriteIndex(write.index, slot.pk, part, false));
    for (int64_t patient : compartment) {
      auto add =
          db.Cached("INSERT OR IGNORE INTO compartment (patient_pk, type_id, pk) VALUES (?, ?, ?)");
      if (!add.ok()) return add.error();
      (*add)->Bind(1, patient).Bind(2, slot.type_id).Bind(3, slot.pk);
      CR_RETURN_IF_ERROR((*add)->Run());
    }
  }
  return base::Status::Ok();
}

base::Status SqliteStore::WriteIndex(const fhir::IndexEntries& index, int64_t pk, int64_t part,
                                     bool remove) {
  return WriteIndexRows(
      *writer_db_, names_, index, pk, part, remove,
      [this](std::string_view type, std::string_view id) { return FindPkAnyState(type, id); });
}

std::unique_ptr<SqliteConnection> SqliteStore::AcquireReader() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!pool_.empty()) {
      auto db = std::move(pool_.back());
      pool_.pop_back();
      return db;
    }
  }
  auto db = OpenConnection(false);
  return db.ok() ? std::move(db).value() : nullptr;
}

void SqliteStore::ReleaseReader(std::unique_ptr<SqliteConnection> db) {
  std::lock_guard lock(pool_mutex_);
  if (static_cast<int>(pool_.size()) < options_.reader_connections) pool_.push_back(std::move(db));
}

std::unique_ptr<ReadSession> SqliteStore::OpenRead(ReadGate& gate) {
  auto db = AcquireReader();
  if (!db) return nullptr;
  return MakeSqliteReadSession(
      std::move(db), names_, gate,
      [this](std::unique_ptr<SqliteConnection> released) { ReleaseReader(std::move(released)); });
}

std::unique_ptr<TransactionReader> SqliteStore::OpenTransactionReader() {
  // A reader connection outside the write transaction: the caller re-checks at commit what
  // must still hold then (CommitCheck).
  class PooledTransactionReader final : public TransactionReader {
   public:
    PooledTransactionReader(SqliteStore& store, std::unique_ptr<SqliteConnection> db)
        : store_(store),
          db_(std::move(db)),
          inner_(MakeSqliteTransactionReader(*db_, store.names_)) {}
    ~PooledTransactionReader() override {
      inner_.reset();
      store_.ReleaseReader(std::move(db_));
    }
    base::Result<CurrentVersion> Current(std::string_view type, std::string_view id) override {
      return inner_->Current(type, id);
    }
    base::Result<std::vector<std::string>> MatchIds(const SearchSpec& spec, size_t limit) override {
      return inner_->MatchIds(spec, limit);
    }

   private:
    SqliteStore& store_;
    std::unique_ptr<SqliteConnection> db_;
    std::unique_ptr<TransactionReader> inner_;
  };
  auto db = AcquireReader();
  if (!db) return nullptr;
  return std::make_unique<PooledTransactionReader>(*this, std::move(db));
}

base::Result<StoreStats> SqliteStore::Stats() {
  auto db = AcquireReader();
  if (!db) return MakeError(ErrorCode::kInternal, "cannot open a reader");
  StoreStats stats;
  auto count = [&](const char* sql) -> base::Result<int64_t> {
    auto stmt = db->Prepare(sql);
    if (!stmt.ok()) return stmt.error();
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    return stmt->Int(0);
  };
  auto resources = count("SELECT count(*) FROM resource WHERE deleted = 0");
  auto versions = count("SELECT count(*) FROM version");
  auto pages = count("PRAGMA page_count");
  auto page_size = count("PRAGMA page_size");
  auto freelist = count("PRAGMA freelist_count");
  ReleaseReader(std::move(db));
  for (auto* r : {&resources, &versions, &pages, &page_size, &freelist}) {
    if (!r->ok()) return r->error();
  }
  stats.resources = resources.value();
  stats.versions = versions.value();
  stats.bytes = (pages.value() - freelist.value()) * page_size.value();
  stats.checks_searched_by_writer = checks_searched_.load();
  return stats;
}

void SqliteStore::Close() {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  checkpointer_.Stop();
  for (std::thread& trainer : trainers_) trainer.join();
  {
    std::lock_guard lock(pool_mutex_);
    pool_.clear();
  }
  if (writer_db_) {
    (void)writer_db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
    writer_db_.reset();
  }
}

}  // namespace

base::Result<int64_t> FindPk(SqliteConnection& db, const SqliteNames& names, std::string_view type,
                             std::string_view id, bool include_deleted) {
  int64_t type_id = names.types.Find(type);
  if (!type_id) return int64_t{0};
  auto stmt = db.Cached(
      include_deleted ? "SELECT pk FROM resource WHERE type_id = ? AND id = ?"
                      : "SELECT pk FROM resource WHERE type_id = ? AND id = ? AND deleted = 0");
  if (!stmt.ok()) return stmt.error();
  (*stmt)->Bind(1, type_id).Bind(2, id);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  int64_t pk = row.value() ? (*stmt)->Int(0) : 0;
  (*stmt)->Reset();
  return pk;
}

base::Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  auto store = std::make_unique<SqliteStore>(options);
  CR_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace carerecord::store
