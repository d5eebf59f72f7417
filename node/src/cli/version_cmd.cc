// posta version: the program and database schema versions.
#include "cli/commands.h"

namespace posta::node::cli {

std::string VersionText() {
  return std::string("posta ") + POSTA_VERSION + " (database schema " +
         std::to_string(storage::CurrentSchemaVersion()) + ")";
}

Status RunVersion(Io& io) {
  io.out << VersionText() << "\n";
  return Status::Ok();
}

}  // namespace posta::node::cli
