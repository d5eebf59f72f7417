#include "cli/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "posta/base/check.h"

namespace posta::node::cli {

namespace {

spdlog::level::level_enum ToSpdlog(std::string_view level) {
  if (level == "trace") return spdlog::level::trace;
  if (level == "debug") return spdlog::level::debug;
  if (level == "warn") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  POSTA_CHECK(level == "info");
  return spdlog::level::info;
}

}  // namespace

bool IsLogLevel(std::string_view level) {
  return level == "trace" || level == "debug" || level == "info" ||
         level == "warn" || level == "error";
}

void ConfigureLogging(std::string_view level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("posta", std::move(sink));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  logger->set_level(ToSpdlog(level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

void SetLogLevel(std::string_view level) {
  spdlog::default_logger()->set_level(ToSpdlog(level));
}

}  // namespace posta::node::cli
