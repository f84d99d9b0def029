// The SQLite store: its lifecycle (open, close), its reader connections and statistics. Writes go
// through the group-commit writer (sqlite_commit.h); each reader sees a committed snapshot (WAL).

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "fhir/search_parameters.h"
#include "store/body_codec.h"
#include "store/sqlite/sqlite_checkpointer.h"
#include "store/sqlite/sqlite_commit.h"
#include "store/sqlite/sqlite_search_internal.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace carerecord::store {
namespace {

using base::ErrorCode;
using base::MakeError;

// How long a reader waits for a pooled connection, when more threads read at once than the
// pool was sized for, before its request fails with an error rather than hanging.
constexpr auto kReaderWaitLimit = std::chrono::seconds(10);

// The one process that holds a data folder's record store: an exclusive flock on
// DIR/carerecord.lock, held while the store is open and released by the kernel if the process
// dies. A second opener (another serve, a load) fails here instead of running a second writer
// whose dictionaries and commit checks would disagree with the first's. The file holds the
// holder's pid, for the message.
base::Result<int> LockDataFolder(const std::string& directory) {
  const std::string path = directory + "/carerecord.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeError(ErrorCode::kInternal, "cannot open " + path + ": " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char holder[32] = {};
    (void)!::pread(fd, holder, sizeof holder - 1, 0);
    ::close(fd);
    if (error != EWOULDBLOCK) {
      return MakeError(ErrorCode::kInternal, "cannot lock " + path + ": " + std::strerror(error));
    }
    std::string pid(holder);
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return MakeError(ErrorCode::kUnavailable,
                     "the data folder " + directory + " is in use by another carerecord process" +
                         (pid.empty() ? std::string() : " (pid " + pid + ")") +
                         ": only one process may open its record store at a time; stop it first, "
                         "or send the data to the running server's API",
                     std::string(kDataFolderInUse));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  return fd;
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

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(SqliteOptions options) : options_(std::move(options)) {}
  ~SqliteStore() override { Close(); }

  base::Status Open();
  base::Result<CommitResult> Commit(WriteTransaction transaction) override;
  std::unique_ptr<ReadSession> OpenRead(ReadGate& gate) override;
  std::unique_ptr<TransactionReader> OpenTransactionReader(TransactionReaderKey key) override;
  base::Result<StoreStats> Stats() override;
  const BodyCodec& Codec() const override { return codec_; }
  void Close() override;

 private:
  std::string DatabasePath() const { return options_.directory + "/carerecord.db"; }
  base::Result<std::unique_ptr<SqliteConnection>> OpenConnection(bool writer);
  std::unique_ptr<SqliteConnection> AcquireReader();
  void ReleaseReader(std::unique_ptr<SqliteConnection> db);

  SqliteOptions options_;
  SqliteNames names_;
  BodyCodec codec_;
  std::unique_ptr<SqliteConnection> writer_db_;
  WalCheckpointer checkpointer_;  // declared after writer_db_: stopped before it closes
  std::unique_ptr<GroupCommitWriter> commits_;  // declared after both: stopped first
  bool closed_ = false;
  int lock_fd_ = -1;  // LockDataFolder's, closed (so unlocked) last

  // Reader connections, opened on demand up to options_.reader_connections and then kept: a
  // connection costs a file open, a schema parse and a map of the file, so none is opened per
  // request. Every handler thread (io threads and workers) holds at most one at a time, so a
  // pool sized to them never makes a thread wait; one that is not waits for a release.
  std::mutex pool_mutex_;
  std::condition_variable pool_released_;
  std::vector<std::unique_ptr<SqliteConnection>> pool_;  // idle connections
  int readers_open_ = 0;                                 // idle and in use
};

base::Result<std::unique_ptr<SqliteConnection>> SqliteStore::OpenConnection(bool writer) {
  auto db = SqliteConnection::Open(DatabasePath(), false);
  if (!db.ok()) return db.error();
  CR_RETURN_IF_ERROR((*db)->Exec("PRAGMA journal_mode=WAL"));
  CR_RETURN_IF_ERROR(
      (*db)->Exec(options_.durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF"));
  // The writer touches every index; its cache holds their upper levels for a large region.
  // Readers map the file (below), so their caches hold little but pages still in the WAL: at
  // 8 MiB each, a pool sized to 70 threads is bounded as 8 readers of 64 MiB once were.
  CR_RETURN_IF_ERROR((*db)->Exec(writer ? "PRAGMA cache_size=-262144"   // 256 MiB
                                        : "PRAGMA cache_size=-8192"));  // 8 MiB per reader
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
  auto lock = LockDataFolder(options_.directory);
  if (!lock.ok()) return lock.error();
  lock_fd_ = lock.value();
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
  CR_RETURN_IF_ERROR(AddSealingColumnsIfMissing(*writer_db_, codec_));
  CR_RETURN_IF_ERROR(RebuildIndexesIfStale(*writer_db_, names_, codec_));
  CR_RETURN_IF_ERROR(checkpointer_.Start(DatabasePath(), *writer_db_));
  commits_ =
      std::make_unique<GroupCommitWriter>(*writer_db_, names_, codec_, checkpointer_, options_,
                                          [this]() -> std::unique_ptr<SqliteConnection> {
                                            auto db = OpenConnection(false);
                                            return db.ok() ? std::move(db).value() : nullptr;
                                          });
  commits_->Start();
  return base::Status::Ok();
}

base::Result<CommitResult> SqliteStore::Commit(WriteTransaction transaction) {
  if (!commits_) return MakeError(ErrorCode::kUnavailable, "the server is shutting down");
  return commits_->Commit(transaction);
}

std::unique_ptr<SqliteConnection> SqliteStore::AcquireReader() {
  {
    std::unique_lock lock(pool_mutex_);
    const int capacity = std::max(1, options_.reader_connections);
    bool available = pool_released_.wait_for(
        lock, kReaderWaitLimit, [&] { return !pool_.empty() || readers_open_ < capacity; });
    if (!available) return nullptr;  // every connection held for seconds: report, do not hang
    if (!pool_.empty()) {
      auto db = std::move(pool_.back());
      pool_.pop_back();
      return db;
    }
    ++readers_open_;  // claimed before opening, so the bound holds while it opens unlocked
  }
  auto db = OpenConnection(false);
  if (db.ok()) return std::move(db).value();
  std::lock_guard lock(pool_mutex_);
  --readers_open_;
  pool_released_.notify_one();
  return nullptr;
}

void SqliteStore::ReleaseReader(std::unique_ptr<SqliteConnection> db) {
  if (!db) return;
  {
    std::lock_guard lock(pool_mutex_);
    pool_.push_back(std::move(db));
  }
  pool_released_.notify_one();
}

std::unique_ptr<ReadSession> SqliteStore::OpenRead(ReadGate& gate) {
  auto db = AcquireReader();
  if (!db) return nullptr;
  return MakeSqliteReadSession(
      std::move(db), names_, gate,
      [this](std::unique_ptr<SqliteConnection> released) { ReleaseReader(std::move(released)); });
}

std::unique_ptr<TransactionReader> SqliteStore::OpenTransactionReader(TransactionReaderKey) {
  // A reader connection outside the write transaction, inside one snapshot whose position (the
  // newest vid in it) the writer compares with its last writes per type: a CommitCheck made
  // here is searched again at commit only when a type it depends on was written since.
  class PooledTransactionReader final : public TransactionReader {
   public:
    PooledTransactionReader(SqliteStore& store, std::unique_ptr<SqliteConnection> db)
        : store_(store),
          db_(std::move(db)),
          inner_(MakeSqliteTransactionReader(*db_, store.names_)) {
      // The snapshot begins with the first read after BEGIN: this one.
      began_ = db_->Exec("BEGIN").ok();
      auto newest = db_->Prepare("SELECT max(vid) FROM version");
      if (began_ && newest.ok()) {
        auto row = newest->Step();
        if (row.ok() && row.value()) position_ = newest->Int(0);
      }
    }
    ~PooledTransactionReader() override {
      inner_.reset();
      if (began_) (void)db_->Exec("COMMIT");
      store_.ReleaseReader(std::move(db_));
    }
    int64_t Position() override { return position_; }
    base::Result<CurrentVersion> Current(std::string_view type, std::string_view id) override {
      return inner_->Current(type, id);
    }
    base::Result<std::vector<std::string>> MatchIds(const SearchSpec& spec, size_t limit,
                                                    ReadGate* visible) override {
      return inner_->MatchIds(spec, limit, visible);
    }

   private:
    SqliteStore& store_;
    std::unique_ptr<SqliteConnection> db_;
    std::unique_ptr<TransactionReader> inner_;
    bool began_ = false;
    int64_t position_ = 0;
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
  if (commits_) commits_->AddStats(stats);
  return stats;
}

void SqliteStore::Close() {
  if (closed_) return;
  closed_ = true;
  if (commits_) commits_->Stop();
  checkpointer_.Stop();
  {
    std::lock_guard lock(pool_mutex_);
    readers_open_ -= static_cast<int>(pool_.size());
    pool_.clear();
  }
  if (writer_db_) {
    (void)writer_db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
    writer_db_.reset();
  }
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
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
