#include "store/sqlite/sqlite_search_budget.h"

namespace carerecord::store {

using base::ErrorCode;
using base::MakeError;

SearchRun::SearchRun(SqliteConnection& db, const SearchBudget& budget)
    : db_(db),
      budget_(budget),
      deadline_(std::chrono::steady_clock::now() +
                std::chrono::milliseconds(budget.max_milliseconds)) {
  sqlite3_progress_handler(db_.raw(), kStepsPerCheck, &SearchRun::OnProgress, this);
}

SearchRun::~SearchRun() { sqlite3_progress_handler(db_.raw(), 0, nullptr, nullptr); }

int SearchRun::OnProgress(void* self) {
  auto* run = static_cast<SearchRun*>(self);
  run->steps_ += kStepsPerCheck;
  if (run->steps_ > run->budget_.max_work) {
    run->stopped_ = Stopped::kWork;
  } else if (std::chrono::steady_clock::now() > run->deadline_) {
    run->stopped_ = Stopped::kTime;
  }
  return run->stopped_ == Stopped::kNo ? 0 : 1;  // non-zero interrupts the statement
}

base::Status SearchRun::EnterInner(const std::string& parameter) {
  if (++depth_ > budget_.max_depth) {
    --depth_;
    return MakeError(ErrorCode::kInvalid,
                     "the search nests more than " + std::to_string(budget_.max_depth) +
                         " inner searches (chains and _has) in one another",
                     parameter);
  }
  return base::Status::Ok();
}

base::Status SearchRun::ChargeInnerMatches(size_t matches, const std::string& type,
                                           const std::string& parameter) {
  if (matches > budget_.max_inner_matches) {
    return MakeError(ErrorCode::kInvalid,
                     "the search on " + type + " inside " + parameter + " matches more than " +
                         std::to_string(budget_.max_inner_matches) + " resources; narrow it",
                     parameter);
  }
  all_inner_matches_ += matches;
  if (all_inner_matches_ > budget_.max_all_inner_matches) {
    return MakeError(ErrorCode::kInvalid,
                     "the inner searches (chains and _has) of this search match more than " +
                         std::to_string(budget_.max_all_inner_matches) +
                         " resources together; narrow them",
                     parameter);
  }
  return base::Status::Ok();
}

base::Status SearchRun::CheckBoundValues(size_t values) const {
  if (values > budget_.max_bound_values) {
    return MakeError(ErrorCode::kInvalid, "the search needs more than " +
                                              std::to_string(budget_.max_bound_values) +
                                              " values; search with fewer values or parameters");
  }
  return base::Status::Ok();
}

base::Status SearchRun::CheckIncluded(size_t included) const {
  if (included > budget_.max_included) {
    return MakeError(ErrorCode::kInvalid,
                     "_include and _revinclude would add more than " +
                         std::to_string(budget_.max_included) +
                         " resources to this page; lower _count or narrow the includes "
                         "(a patient's whole record is Patient/[id]/$everything)",
                     "_revinclude");
  }
  return base::Status::Ok();
}

base::Error SearchRun::Explain(base::Error error) const {
  if (stopped_ == Stopped::kWork) {
    return MakeError(ErrorCode::kInvalid,
                     "the search would take more than its work budget (" +
                         std::to_string(budget_.max_work) + " steps); narrow it",
                     std::string(kSearchBudgetSpent));
  }
  if (stopped_ == Stopped::kTime) {
    return MakeError(ErrorCode::kInvalid,
                     "the search would take more than its time budget (" +
                         std::to_string(budget_.max_milliseconds) + " ms); narrow it",
                     std::string(kSearchBudgetSpent));
  }
  return error;
}

}  // namespace carerecord::store
