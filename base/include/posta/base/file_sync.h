// fsync of a file or a directory by path: what makes a copy or a rename
// durable before it is reported done.
#pragma once

#include <string>

#include "posta/base/status.h"

namespace posta::base {

// Opens `path` with `flags` (O_RDONLY for a file, O_RDONLY | O_DIRECTORY for
// a directory) and fsyncs it. IOError naming the path and the system's
// reason when either fails.
Status SyncPath(const std::string& path, int flags);

}  // namespace posta::base
