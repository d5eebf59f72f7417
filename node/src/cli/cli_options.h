// Command-line options that several subcommands share.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace posta::node::cli {

// The required --config FILE of a subcommand that works on one node.
inline CLI::Option* AddConfigOption(
    CLI::App* command, std::string& path,
    const char* what = "The node's posta.toml") {
  return command->add_option("--config", path, what)->required();
}

}  // namespace posta::node::cli
