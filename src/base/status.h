// Status and Result<T>: the value-or-error type every parsing, validation and I/O path returns.
// Plain values; safe to copy between threads.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace carerecord::base {

// What kind of failure; the HTTP layer maps each to one status code.
enum class ErrorCode {
  kInvalid,             // malformed or semantically wrong input (400)
  kNotFound,            // no such resource or type (404)
  kGone,                // deleted (410)
  kConflict,            // version conflict or duplicate (409)
  kPreconditionFailed,  // If-Match / conditional mismatch (412)
  kUnprocessable,       // valid syntax, breaks a business rule, e.g. a broken reference (422)
  kTooLarge,            // over a configured limit (413)
  kForbidden,           // the access policy refused (403)
  kMethodNotAllowed,    // (405)
  kNotSupported,        // a feature this server does not have (501 for the API, 400 for params)
  kInternal,            // a bug (500); the message is for the server log, not the client
  // Storage full, busy or failing, or the server too busy to confirm a condition (503 with
  // Retry-After): nothing was changed. The message is shown to the client, so it names no
  // internal component.
  kUnavailable,
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;   // in the sender's terms: what was wrong
  std::string location;  // where: a JSON pointer, a parameter name, a bundle entry
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design
  static Status Ok() { return Status(); }
  bool ok() const { return !error_.has_value(); }
  const Error& error() const {
    assert(!ok() && "error() of an ok Status");
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

// A value or an error: Error by default; a part with richer errors names its own (hl7v2's
// Hl7Error keeps the location an ACK's ERR segment needs).
template <typename T, typename E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(E error) : v_(std::move(error)) {}  // NOLINT
  Result(Status status)                      // NOLINT: only from a failed Status (asserted)
      requires std::is_same_v<E, Error> : v_(status.error()) {}
  bool ok() const { return v_.index() == 0; }
  T& value() & {
    assert(ok() && "value() of a failed Result");
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok() && "value() of a failed Result");
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok() && "value() of a failed Result");
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  const E& error() const {
    assert(!ok() && "error() of an ok Result");
    return std::get<1>(v_);
  }
  Status status() const requires std::is_same_v<E, Error> {
    return ok() ? Status::Ok() : Status(error());
  }

 private:
  std::variant<T, E> v_;
};

inline Error Invalid(std::string message, std::string location = {}) {
  return Error{ErrorCode::kInvalid, std::move(message), std::move(location)};
}
inline Error MakeError(ErrorCode code, std::string message, std::string location = {}) {
  return Error{code, std::move(message), std::move(location)};
}

}  // namespace carerecord::base

// Propagates a failed Status/Result out of the enclosing function.
#define CR_RETURN_IF_ERROR(expr)                     \
  do {                                               \
    auto _cr_status = (expr);                        \
    if (!_cr_status.ok()) return _cr_status.error(); \
  } while (0)
