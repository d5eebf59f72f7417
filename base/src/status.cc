#include "posta/base/status.h"

#include <cstdio>
#include <cstdlib>

namespace posta {

namespace internal {
void CheckFailed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "posta: invariant failed: %s at %s:%d\n", expr, file,
               line);
  std::abort();
}
}  // namespace internal

Status::Status(Code code, std::string_view what, std::string_view why)
    : code_(code), message_(what) {
  if (!why.empty()) {
    message_.append(": ");
    message_.append(why);
  }
}

std::string_view CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return "OK";
    case Status::Code::kNotFound: return "NotFound";
    case Status::Code::kGone: return "Gone";
    case Status::Code::kInvalidArgument: return "InvalidArgument";
    case Status::Code::kMalformed: return "Malformed";
    case Status::Code::kTooLarge: return "TooLarge";
    case Status::Code::kPreconditionFailed: return "PreconditionFailed";
    case Status::Code::kConflict: return "Conflict";
    case Status::Code::kPermissionDenied: return "PermissionDenied";
    case Status::Code::kCorruption: return "Corruption";
    case Status::Code::kIOError: return "IOError";
    case Status::Code::kNoSpace: return "NoSpace";
    case Status::Code::kUnavailable: return "Unavailable";
    case Status::Code::kVersionMismatch: return "VersionMismatch";
    case Status::Code::kInternal: return "Internal";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(CodeName(code_));
  out.append(": ");
  out.append(message_);
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  Status copy = *this;
  copy.message_ = std::string(context) + ": " + message_;
  return copy;
}

}  // namespace posta
