// Logging set-up for the `posta` process. Only the CLI configures spdlog's
// sinks; every other layer logs through spdlog's default logger.
#pragma once

#include <string_view>

namespace posta::node::cli {

// True for "trace", "debug", "info", "warn" and "error".
bool IsLogLevel(std::string_view level);

// Makes the default logger write to stderr, one line per message:
// "2024-03-05T10:00:00.123+0000 info listening on ...".
// REQUIRES: IsLogLevel(level). Call once, before any thread is started.
void ConfigureLogging(std::string_view level);

// Changes the level of the default logger. REQUIRES: IsLogLevel(level).
void SetLogLevel(std::string_view level);

}  // namespace posta::node::cli
