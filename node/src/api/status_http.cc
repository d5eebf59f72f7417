#include "api/status_http.h"

namespace posta::node {

namespace {

struct Row {
  Status::Code code;
  HttpMapping mapping;
};

// Keep in step with docs/api.md ("Status codes").
constexpr Row kTable[] = {
    {Status::Code::kOk, {200, "informational"}},
    {Status::Code::kMalformed, {400, "structure"}},
    {Status::Code::kPermissionDenied, {403, "security"}},
    {Status::Code::kNotFound, {404, "not-found"}},
    {Status::Code::kConflict, {409, "conflict"}},
    {Status::Code::kGone, {410, "deleted"}},
    {Status::Code::kPreconditionFailed, {412, "conflict"}},
    {Status::Code::kTooLarge, {413, "too-costly"}},
    {Status::Code::kInvalidArgument, {422, "invalid"}},
    {Status::Code::kIOError, {500, "exception"}},
    {Status::Code::kCorruption, {500, "exception"}},
    {Status::Code::kVersionMismatch, {500, "exception"}},
    {Status::Code::kInternal, {500, "exception"}},
    {Status::Code::kUnavailable, {503, "exception"}},
    {Status::Code::kNoSpace, {507, "exception"}},
};

}  // namespace

HttpMapping MapStatus(Status::Code code) {
  for (const Row& row : kTable) {
    if (row.code == code) return row.mapping;
  }
  return {500, "exception"};
}

}  // namespace posta::node
