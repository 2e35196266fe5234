#pragma once
// How `jetbroker` hands a broker that needs a store directory to jetbroker-filestore, the same
// broker with the RocksDB file store linked in (storage/file_env.hpp; docs/storage.md, "Two
// executables"). main() uses file_store_executable(); the entry point in
// server/file_store_exec_early.cpp runs before glibc is initialised, so it has its own libc-free
// copy of the path rule and shares only the name.
#include <unistd.h>

#include <cstddef>
#include <cstring>

namespace jb::server {

inline constexpr const char file_store_executable_name[] = "jetbroker-filestore";

// Writes the file store executable's path into buf: beside the running executable
// (/proc/self/exe, so symlinks such as nats-server -> jetbroker work), else beside argv0.
// False when it does not fit. No allocation.
inline bool file_store_executable(const char* argv0, char* buf, std::size_t size) noexcept {
  ssize_t n = ::readlink("/proc/self/exe", buf, size);
  if (n <= 0 || static_cast<std::size_t>(n) >= size) {
    n = static_cast<ssize_t>(std::strlen(argv0));
    if (static_cast<std::size_t>(n) >= size) return false;
    std::memcpy(buf, argv0, static_cast<std::size_t>(n));
  }
  buf[n] = '\0';
  char* slash = std::strrchr(buf, '/');
  std::size_t dir = slash ? static_cast<std::size_t>(slash - buf + 1) : 0;
  if (dir + sizeof(file_store_executable_name) > size) return false;
  std::memcpy(buf + dir, file_store_executable_name, sizeof(file_store_executable_name));
  return true;
}

}  // namespace jb::server
