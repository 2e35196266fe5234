#include "storage/logger.hpp"

namespace jb::storage {

std::shared_ptr<spdlog::logger> logger() {
  static std::shared_ptr<spdlog::logger> l = [] {
    if (auto existing = spdlog::get("storage")) return existing;
    auto created = spdlog::default_logger()->clone("storage");
    spdlog::register_logger(created);
    return created;
  }();
  return l;
}

}  // namespace jb::storage
