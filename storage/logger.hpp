#pragma once
// The storage subsystem's spdlog logger ("storage").
#include <spdlog/spdlog.h>

#include <memory>

namespace jb::storage {
std::shared_ptr<spdlog::logger> logger();
}  // namespace jb::storage
