#pragma once
// CRC32C (Castagnoli) as RocksDB computes it (crc32c::Extend), with the CPU's crc32 instruction
// where there is one. storage/crc32c.cpp routes RocksDB's own calls here (see there for why).
// Thread-safe, no allocation.
#include <cstddef>
#include <cstdint>

namespace jb::storage::crc32c {

// Extends `crc` (a previous result, 0 to start) over buf[0, n): same value as rocksdb::crc32c::Extend.
[[nodiscard]] std::uint32_t extend(std::uint32_t crc, const char* buf, std::size_t n) noexcept;
// The RocksDB library's own (table-driven, in Debian's portable build) implementation.
[[nodiscard]] std::uint32_t extend_portable(std::uint32_t crc, const char* buf, std::size_t n) noexcept;
// True when extend() uses the crc32 instruction.
[[nodiscard]] bool hardware() noexcept;

}  // namespace jb::storage::crc32c
