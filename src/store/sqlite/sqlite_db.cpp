#include "store/sqlite/sqlite_db.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

namespace carerecord::store {

base::Error SqliteError(sqlite3* db, std::string_view what) {
  int extended = sqlite3_extended_errcode(db);
  std::string detail = std::string("database ") + std::string(what) + ": " + sqlite3_errmsg(db) +
                       " (" + sqlite3_errstr(extended) + ", " + std::to_string(extended) + ")";
  const char* client_message = nullptr;
  switch (extended & 0xff) {
    case SQLITE_CONSTRAINT:
      if (extended == SQLITE_CONSTRAINT_UNIQUE || extended == SQLITE_CONSTRAINT_PRIMARYKEY) {
        std::fprintf(stderr, "carerecord: %s\n", detail.c_str());
        return base::MakeError(base::ErrorCode::kConflict,
                               "a concurrent write made the same resource first; retry");
      }
      break;
    case SQLITE_FULL:
      client_message = "the server's storage is full: nothing was written; retry later";
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      client_message = "the server's storage is failing or busy: nothing was written; retry later";
      break;
    case SQLITE_TOOBIG:
      return base::MakeError(base::ErrorCode::kInvalid,
                             "the request makes a value too large for the server; shorten it");
    case SQLITE_ERROR: {
      // SQLite's own limits on one statement (expression depth, LIKE pattern complexity,
      // terms, variables) are reached only by what a request asked for: a 400, named in the
      // client's terms.
      const std::string_view message = sqlite3_errmsg(db);
      if (message.starts_with("cr_")) break;  // our own SQL functions' errors, read by callers
      for (std::string_view limit : {"too large", "too complex", "too many", "stack overflow"}) {
        if (message.find(limit) != std::string_view::npos) {
          return base::MakeError(base::ErrorCode::kInvalid,
                                 "the search is too complex for the server to run at once (too "
                                 "many values, parameters or patterns); narrow it");
        }
      }
      break;
    }
    default:
      break;
  }
  if (!client_message) return base::MakeError(base::ErrorCode::kInternal, detail);
  // The client sees only the transient nature of the failure; the operator needs the cause.
  std::fprintf(stderr, "carerecord: %s\n", detail.c_str());
  return base::MakeError(base::ErrorCode::kUnavailable, client_message);
}

SqliteStatement& SqliteStatement::operator=(SqliteStatement&& other) noexcept {
  if (this != &other) {
    Release();
    stmt_ = other.stmt_;
    home_ = other.home_;
    other.stmt_ = nullptr;
    other.home_ = nullptr;
  }
  return *this;
}

SqliteStatement::~SqliteStatement() { Release(); }

void SqliteStatement::Release() {
  if (!stmt_) return;
  if (SqliteConnection* home = home_) {
    home_ = nullptr;
    home->GiveBack(std::move(*this));  // leaves stmt_ null
    return;
  }
  sqlite3_finalize(stmt_);
  stmt_ = nullptr;
}

SqliteStatement& SqliteStatement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}
SqliteStatement& SqliteStatement::Bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}
SqliteStatement& SqliteStatement::Bind(int index, std::string_view text) {
  // An empty view may have a null data(), which SQLite would bind as NULL, not as ''.
  sqlite3_bind_text(stmt_, index, text.data() ? text.data() : "", static_cast<int>(text.size()),
                    SQLITE_TRANSIENT);
  return *this;
}
SqliteStatement& SqliteStatement::BindBlob(int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data() ? bytes.data() : "", static_cast<int>(bytes.size()),
                    SQLITE_TRANSIENT);
  return *this;
}
SqliteStatement& SqliteStatement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

base::Result<bool> SqliteStatement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(sqlite3_db_handle(stmt_), "step");
}

base::Status SqliteStatement::Run() {
  auto r = Step();
  while (r.ok() && r.value()) r = Step();
  Reset();
  if (!r.ok()) return r.error();
  return base::Status::Ok();
}

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string_view SqliteStatement::Text(int column) const {
  const unsigned char* p = sqlite3_column_text(stmt_, column);
  if (!p) return {};
  return {reinterpret_cast<const char*>(p),
          static_cast<size_t>(sqlite3_column_bytes(stmt_, column))};
}

std::string_view SqliteStatement::Blob(int column) const {
  const void* p = sqlite3_column_blob(stmt_, column);
  if (!p) return {};
  return {static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, column))};
}

base::Result<std::unique_ptr<SqliteConnection>> SqliteConnection::Open(const std::string& path,
                                                                       bool read_only) {
  // SQLite counts every allocation under one process-wide mutex unless told not to; nothing
  // here reads the counts. Only possible before SQLite initialises, so on the first open.
  static std::once_flag configured;
  std::call_once(configured, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX |
              (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    if (db) sqlite3_close(db);
    return base::MakeError(base::ErrorCode::kInternal,
                           "cannot open database " + path + ": " + message);
  }
  // Waits out another connection's write transaction for up to 10 s, retrying every quarter
  // millisecond. (sqlite3_busy_timeout backs off to 100 ms sleeps: the inbox's commits, behind
  // the record writer's groups on the same file, waited hundreds of milliseconds for a lock
  // held for a few.)
  sqlite3_busy_handler(
      db,
      [](void*, int attempts) -> int {
        constexpr int kSleepMicros = 250;
        if (attempts >= 10'000'000 / kSleepMicros) return 0;
        std::this_thread::sleep_for(std::chrono::microseconds(kSleepMicros));
        return 1;
      },
      nullptr);
  sqlite3_extended_result_codes(db, 1);
  return std::unique_ptr<SqliteConnection>(new SqliteConnection(db));
}

SqliteConnection::~SqliteConnection() {
  reusable_by_text_.clear();
  reusable_.clear();
  sqlite3_close(db_);
}

base::Result<std::unique_ptr<SqliteConnection>> SqliteConnection::OpenSide(const std::string& path,
                                                                           bool durable) {
  auto db = Open(path, false);
  if (!db.ok()) return db.error();
  CR_RETURN_IF_ERROR((*db)->Exec("PRAGMA journal_mode=WAL"));
  CR_RETURN_IF_ERROR(
      (*db)->Exec(durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  return db;
}

base::Result<std::unique_ptr<SqliteConnection>> SqliteConnection::OpenSideInDataDir(
    const std::string& directory, bool durable, std::string_view schema_sql,
    std::string_view file_name) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) {
    return base::MakeError(base::ErrorCode::kInternal,
                           "cannot create data directory " + directory + ": " + ec.message());
  }
  auto db = OpenSide(directory + "/" + std::string(file_name), durable);
  if (!db.ok()) return db.error();
  CR_RETURN_IF_ERROR((*db)->Exec(schema_sql));
  return db;
}

base::Status SqliteConnection::Exec(std::string_view sql) {
  std::string copy(sql);
  char* message = nullptr;
  if (sqlite3_exec(db_, copy.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    sqlite3_free(message);
    return SqliteError(db_, "exec");
  }
  return base::Status::Ok();
}

base::Result<SqliteStatement> SqliteConnection::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    return LastError("prepare");
  }
  return SqliteStatement(stmt);
}

base::Result<SqliteStatement> SqliteConnection::Reusable(std::string_view sql) {
  // sqlite3_sql is the text the statement was prepared from, exactly (prepare_v2).
  if (auto found = reusable_by_text_.find(sql); found != reusable_by_text_.end()) {
    auto kept = found->second;
    reusable_by_text_.erase(found);
    SqliteStatement statement = std::move(*kept);
    reusable_.erase(kept);
    statement.home_ = this;
    return statement;
  }
  auto prepared = Prepare(sql);
  if (!prepared.ok()) return prepared.error();
  prepared->home_ = this;
  return prepared;
}

void SqliteConnection::GiveBack(SqliteStatement statement) {
  statement.Reset();  // no row held (no snapshot kept open) and no value kept bound
  const char* text = sqlite3_sql(statement.stmt_);
  if (!text) return;                                            // finalized as it goes
  if (reusable_by_text_.count(std::string_view(text))) return;  // one of the text is enough
  reusable_.push_front(std::move(statement));
  reusable_by_text_.emplace(std::string_view(text), reusable_.begin());
  if (reusable_.size() > kReusableStatements) {
    reusable_by_text_.erase(std::string_view(sqlite3_sql(reusable_.back().stmt_)));
    reusable_.pop_back();
  }
}

base::Result<CachedStatement> SqliteConnection::Cached(std::string_view sql) {
  auto statement = Reusable(sql);
  if (!statement.ok()) return statement.error();
  return CachedStatement(std::move(statement).value());
}

base::Error SqliteConnection::LastError(std::string_view what) const {
  return SqliteError(db_, what);
}

}  // namespace carerecord::store
