// One search's budget (SearchBudget) as the SQLite store spends it: the single place where
// depth, inner matches, bound values, included resources and database work are counted and
// refused. A SearchRun lives for one top-level search (or conditional match) on one connection,
// on the thread that owns the connection; inner searches share their outer search's run.
// Internal to src/store/sqlite/.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "base/status.h"
#include "store/search_spec.h"
#include "store/sqlite/sqlite_db.h"

namespace carerecord::store {

class SearchRun {
 public:
  // Installs a progress handler on `db` that stops its statements once the work or time budget
  // is spent; the destructor removes it, so the pooled connection's next user starts clean.
  SearchRun(SqliteConnection& db, const SearchBudget& budget);
  ~SearchRun();
  SearchRun(const SearchRun&) = delete;
  SearchRun& operator=(const SearchRun&) = delete;

  const SearchBudget& budget() const { return budget_; }

  // An inner search (a chain's or a _has's, named by `parameter`) starts or ends.
  base::Status EnterInner(const std::string& parameter);
  void LeaveInner() { --depth_; }
  // An inner search found `matches` resources.
  base::Status ChargeInnerMatches(size_t matches, const std::string& type,
                                  const std::string& parameter);
  // A statement is about to be run with `values` bound to it.
  base::Status CheckBoundValues(size_t values) const;
  // A page would include `included` resources in all.
  base::Status CheckIncluded(size_t included) const;

  // Which of an inner search's matches count (a chain's targets, a _has's referrers): those
  // the request's gate permits, so a search cannot probe what it may not read. None: all.
  using MatchFilter = std::function<base::Result<bool>(int64_t pk)>;
  void FilterInnerMatches(MatchFilter filter) { inner_filter_ = std::move(filter); }
  const MatchFilter& inner_filter() const { return inner_filter_; }

  // A failure of the search: when the work or time budget stopped a statement (SQLite reports
  // it as an interruption), the 400 naming the budget; otherwise `error` itself.
  base::Error Explain(base::Error error) const;
  template <typename T>
  base::Result<T> Explain(base::Result<T> result) const {
    if (result.ok()) return result;
    return Explain(result.error());
  }

  // SQLite VM instructions between two looks at the budget.
  static constexpr int kStepsPerCheck = 10000;

 private:
  static int OnProgress(void* self);

  SqliteConnection& db_;
  SearchBudget budget_;
  MatchFilter inner_filter_;
  std::chrono::steady_clock::time_point deadline_;
  int64_t steps_ = 0;
  size_t depth_ = 0;
  size_t all_inner_matches_ = 0;
  enum class Stopped { kNo, kWork, kTime } stopped_ = Stopped::kNo;
};

}  // namespace carerecord::store
