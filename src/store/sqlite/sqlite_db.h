// A thin RAII layer over the SQLite C API: a connection and prepared statements with typed
// binds. A SqliteConnection is used by one thread at a time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/status.h"

namespace carerecord::store {

// The error of the last failed call on `db`: kUnavailable, with a message fit for a client,
// when storage is full, busy or failing (the detail is logged); kConflict for a uniqueness
// violation; else kInternal with SQLite's message (for the server's log, never a client).
base::Error SqliteError(sqlite3* db, std::string_view what);

class SqliteConnection;

class SqliteStatement {
 public:
  SqliteStatement() = default;
  explicit SqliteStatement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  SqliteStatement(SqliteStatement&& other) noexcept : stmt_(other.stmt_), home_(other.home_) {
    other.stmt_ = nullptr;
    other.home_ = nullptr;
  }
  SqliteStatement& operator=(SqliteStatement&& other) noexcept;
  SqliteStatement(const SqliteStatement&) = delete;
  ~SqliteStatement();

  SqliteStatement& Bind(int index, int64_t value);
  SqliteStatement& Bind(int index, double value);
  SqliteStatement& Bind(int index, std::string_view text);
  SqliteStatement& BindBlob(int index, std::string_view bytes);
  SqliteStatement& BindNull(int index);
  // SQLITE_ROW: true; SQLITE_DONE: false; anything else: error.
  base::Result<bool> Step();
  base::Status Run();  // steps to completion, then resets
  void Reset();

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  double Real(int column) const { return sqlite3_column_double(stmt_, column); }
  bool IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string_view Text(int column) const;
  std::string_view Blob(int column) const;
  sqlite3_stmt* raw() { return stmt_; }

 private:
  friend class SqliteConnection;
  void Release();  // back to home_'s reusable statements, else finalized

  sqlite3_stmt* stmt_ = nullptr;
  // Set on a statement from SqliteConnection::Reusable: it goes back there when dropped.
  SqliteConnection* home_ = nullptr;
};

// A statement from SqliteConnection::Cached, reached as through a pointer ((*stmt)->Bind(...),
// **stmt): the caller's alone until this is dropped, then reset and kept for the next caller.
class CachedStatement {
 public:
  explicit CachedStatement(SqliteStatement statement) : statement_(std::move(statement)) {}
  SqliteStatement* operator->() { return &statement_; }
  SqliteStatement& operator*() { return statement_; }

 private:
  SqliteStatement statement_;
};

class SqliteConnection {
 public:
  static base::Result<std::unique_ptr<SqliteConnection>> Open(const std::string& path,
                                                              bool read_only);
  // A connection beside the record store's own, for tables that keep no state in memory (the
  // directory, the inbox): WAL, and synchronous FULL when `durable`.
  static base::Result<std::unique_ptr<SqliteConnection>> OpenSide(const std::string& path,
                                                                  bool durable);
  // OpenSide on a database of the data folder (`directory`/`file_name`, by default the record
  // database carerecord.db; the folder made when missing), with `schema_sql` (CREATE ... IF NOT
  // EXISTS) applied.
  static base::Result<std::unique_ptr<SqliteConnection>> OpenSideInDataDir(
      const std::string& directory, bool durable, std::string_view schema_sql,
      std::string_view file_name = "carerecord.db");
  ~SqliteConnection();
  base::Status Exec(std::string_view sql);
  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back when it or the commit fails.
  template <typename Body>
  base::Status InWriteTransaction(Body&& body) {
    CR_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    base::Status status = body();
    if (status.ok()) status = Exec("COMMIT");
    if (!status.ok()) (void)Exec("ROLLBACK");
    return status;
  }
  // Reusable behind a pointer-like handle. (It once handed every caller of a text one shared
  // statement, kept without limit: a nested use of the text reset rows an outer caller was
  // still stepping, and sort keys' texts, one per parameter, grew the map.)
  base::Result<CachedStatement> Cached(std::string_view sql);
  base::Result<SqliteStatement> Prepare(std::string_view sql);
  // Prepare, but from a small per-connection store of statements kept by SQL text (the least
  // recently used beyond kReusableStatements finalized, found by text through a hash): searches of
  // one shape with other values skip SQLite's parse and plan. The statement is the caller's alone
  // until dropped (a search run inside another, or the gate reading while a search steps, gets a
  // statement of its own), then reset, its bindings cleared, and kept. SQLite re-prepares a kept
  // statement itself when the schema has changed since (sqlite3_prepare_v2).
  base::Result<SqliteStatement> Reusable(std::string_view sql);
  static constexpr size_t kReusableStatements = 128;
  size_t reusable_count() const { return reusable_.size(); }
  sqlite3* raw() { return db_; }
  base::Error LastError(std::string_view what) const;

 private:
  friend class SqliteStatement;
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  void GiveBack(SqliteStatement statement);

  sqlite3* db_;
  std::list<SqliteStatement> reusable_;  // most recently used first; none has a home_
  // Each of reusable_ by its text (sqlite3_sql's, which lives as long as the statement).
  std::unordered_map<std::string_view, std::list<SqliteStatement>::iterator> reusable_by_text_;
};

}  // namespace carerecord::store
