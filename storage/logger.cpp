#include "storage/logger.hpp"

namespace jb::storage {

// The server registers its "storage" logger (nats-server's line format, the configured sink) and
// registers a new one when the log file is reopened, so it is looked up on every use (only
// warnings and errors are logged here). Used on its own, the storage library logs through a
// clone of spdlog's default logger.
std::shared_ptr<spdlog::logger> logger() {
  if (auto existing = spdlog::get("storage")) return existing;
  static std::shared_ptr<spdlog::logger> standalone = spdlog::default_logger()->clone("storage");
  return standalone;
}

}  // namespace jb::storage
