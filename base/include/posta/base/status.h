// Status and Result<T>: errors are values, never exceptions across a public
// header. A Status says what failed, then why: "patient.birthDate: not an ISO
// date". Each layer prefixes its own context on the way up (WithContext).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "posta/base/check.h"

namespace posta {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,            // no such record, file or key
    kGone,                // the record existed and was deleted
    kInvalidArgument,     // well-formed input that breaks a rule (422)
    kMalformed,           // input that cannot be parsed at all (400)
    kTooLarge,            // input over a configured bound (413)
    kPreconditionFailed,  // a stale If-Match or version check (412)
    kConflict,            // the request conflicts with stored state (409)
    kPermissionDenied,    // not allowed for this caller (403)
    kCorruption,          // stored data fails a check; never retried
    kIOError,             // the OS refused a read or write
    kNoSpace,             // the disk is full or below its floor
    kUnavailable,         // a peer or resource is down for now; retry helps
    kVersionMismatch,     // data or peer from an incompatible version
    kInternal,            // a bug: logged, never shown in detail
  };

  Status() = default;  // OK

  static Status Ok() { return Status(); }
  static Status NotFound(std::string_view what, std::string_view why = {}) {
    return Status(Code::kNotFound, what, why);
  }
  static Status Gone(std::string_view what, std::string_view why = {}) {
    return Status(Code::kGone, what, why);
  }
  static Status InvalidArgument(std::string_view what,
                                std::string_view why = {}) {
    return Status(Code::kInvalidArgument, what, why);
  }
  static Status Malformed(std::string_view what, std::string_view why = {}) {
    return Status(Code::kMalformed, what, why);
  }
  static Status TooLarge(std::string_view what, std::string_view why = {}) {
    return Status(Code::kTooLarge, what, why);
  }
  static Status PreconditionFailed(std::string_view what,
                                   std::string_view why = {}) {
    return Status(Code::kPreconditionFailed, what, why);
  }
  static Status Conflict(std::string_view what, std::string_view why = {}) {
    return Status(Code::kConflict, what, why);
  }
  static Status PermissionDenied(std::string_view what,
                                 std::string_view why = {}) {
    return Status(Code::kPermissionDenied, what, why);
  }
  static Status Corruption(std::string_view what, std::string_view why = {}) {
    return Status(Code::kCorruption, what, why);
  }
  static Status IOError(std::string_view what, std::string_view why = {}) {
    return Status(Code::kIOError, what, why);
  }
  static Status NoSpace(std::string_view what, std::string_view why = {}) {
    return Status(Code::kNoSpace, what, why);
  }
  static Status Unavailable(std::string_view what, std::string_view why = {}) {
    return Status(Code::kUnavailable, what, why);
  }
  static Status VersionMismatch(std::string_view what,
                                std::string_view why = {}) {
    return Status(Code::kVersionMismatch, what, why);
  }
  static Status Internal(std::string_view what, std::string_view why = {}) {
    return Status(Code::kInternal, what, why);
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  // The message without the code name: "what: why".
  const std::string& message() const { return message_; }
  // "NotFound: Patient/123".
  std::string ToString() const;

  bool IsNotFound() const { return code_ == Code::kNotFound; }
  // True when trying the same thing again later may succeed.
  bool IsRetryable() const {
    return code_ == Code::kUnavailable || code_ == Code::kIOError ||
           code_ == Code::kNoSpace;
  }

  // Returns a copy whose message is "context: <message>".
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Status(Code code, std::string_view what, std::string_view why);

  Code code_ = Code::kOk;
  std::string message_;
};

std::string_view CodeName(Status::Code code);

// Result<T> holds either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    POSTA_CHECK(!status_.ok());
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // REQUIRES: ok().
  T& value() & {
    POSTA_CHECK(ok());
    return *value_;
  }
  const T& value() const& {
    POSTA_CHECK(ok());
    return *value_;
  }
  T&& value() && {
    POSTA_CHECK(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace posta

// Returns early from the enclosing function when `expr` is not OK.
#define POSTA_RETURN_IF_ERROR(expr)         \
  do {                                      \
    ::posta::Status posta_status_ = (expr); \
    if (!posta_status_.ok()) return posta_status_; \
  } while (0)

#define POSTA_CONCAT_INNER_(a, b) a##b
#define POSTA_CONCAT_(a, b) POSTA_CONCAT_INNER_(a, b)

// Declares `lhs` from a Result, or returns its Status from the enclosing
// function. Usage: POSTA_ASSIGN_OR_RETURN(auto rec, store.Get(id));
#define POSTA_ASSIGN_OR_RETURN(lhs, rexpr) \
  POSTA_ASSIGN_OR_RETURN_IMPL_(POSTA_CONCAT_(posta_result_, __LINE__), lhs, rexpr)
#define POSTA_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                 \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
