#pragma once
// Seeds for the broker's non-cryptographic generators (ids, jitter, queue-group picks).
// getrandom(2) is one system call; std::random_device's constructor executes CPUID to look for
// RDRAND, a VM exit that costs ~7 us on this project's virtual machines, and it ran at every
// start-up (docs/benchmarks.md, "Resources").
#include <sys/random.h>

#include <chrono>
#include <cstdint>

namespace jb::server {

[[nodiscard]] inline std::uint64_t random_seed() noexcept {
  std::uint64_t v = 0;
  if (::getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) {
    // Only before the kernel's pool is initialised, or under a seccomp filter refusing the call.
    v = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
        reinterpret_cast<std::uintptr_t>(&v);
  }
  return v;
}

}  // namespace jb::server
