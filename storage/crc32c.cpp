// Hardware CRC32C for RocksDB's write-ahead log and table checksums.
//
// Debian builds librocksdb portable, so its crc32c::Extend is the table-driven Slow_CRC32: 12% of
// jetbroker's CPU for 1 KiB JetStream publishes, all of it on the JetStream strand (the WAL writer
// checksums every record). The storage library is linked with
// `-Wl,--wrap=<mangled rocksdb::crc32c::Extend>` (storage/CMakeLists.txt), so every call RocksDB's
// objects make to Extend lands here; with SSE4.2 the CPU's crc32 instruction computes the same
// Castagnoli CRC, otherwise the library's own function runs. The values are identical either way, so
// stores written by either path read back with the other.
#include "storage/crc32c.hpp"

#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#endif

extern "C" {
// The library's original (GNU ld --wrap: __real_X resolves to X).
std::uint32_t __real__ZN7rocksdb6crc32c6ExtendEjPKcm(std::uint32_t crc, const char* buf, std::size_t n);
std::uint32_t __wrap__ZN7rocksdb6crc32c6ExtendEjPKcm(std::uint32_t crc, const char* buf, std::size_t n);
}

namespace jb::storage::crc32c {

namespace {

#if defined(__x86_64__)
[[gnu::target("sse4.2")]] std::uint32_t extend_sse42(std::uint32_t crc, const char* p, std::size_t n) {
  std::uint64_t l = ~crc;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    l = _mm_crc32_u64(l, v);
    p += 8;
    n -= 8;
  }
  auto l32 = static_cast<std::uint32_t>(l);
  while (n--) l32 = _mm_crc32_u8(l32, static_cast<unsigned char>(*p++));
  return ~l32;
}

// A function-local static: RocksDB's static initialisers may run before this file's. CPUID leaf 1
// read here, on first use, rather than through __builtin_cpu_supports, whose libgcc constructor
// would run a series of CPUIDs (VM exits, ~7 us each on a virtual machine) at every start-up.
bool have_sse42() {
  static const bool yes = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_SSE4_2) != 0;
  }();
  return yes;
}
#endif

}  // namespace

bool hardware() noexcept {
#if defined(__x86_64__)
  return have_sse42();
#else
  return false;
#endif
}

std::uint32_t extend(std::uint32_t crc, const char* buf, std::size_t n) noexcept {
#if defined(__x86_64__)
  if (have_sse42()) return extend_sse42(crc, buf, n);
#endif
  return extend_portable(crc, buf, n);
}

std::uint32_t extend_portable(std::uint32_t crc, const char* buf, std::size_t n) noexcept {
  return __real__ZN7rocksdb6crc32c6ExtendEjPKcm(crc, buf, n);
}

}  // namespace jb::storage::crc32c

extern "C" std::uint32_t __wrap__ZN7rocksdb6crc32c6ExtendEjPKcm(std::uint32_t crc, const char* buf, std::size_t n) {
  return jb::storage::crc32c::extend(crc, buf, n);
}
