// The `posta` command line. main() only calls RunCli.
#pragma once

namespace posta::node {

// Parses argv, runs the subcommand, and maps its Status to an exit code:
// 0 success, 1 failure (message and hint on stderr), 2 usage error.
int RunCli(int argc, char** argv);

}  // namespace posta::node
