// storage/crc32c: the hardware CRC32C that RocksDB's checksums are routed to must give exactly the
// values of RocksDB's own implementation, on every length and alignment.
#include "storage/crc32c.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace jb::storage;

// Bit-at-a-time CRC32C (reflected polynomial 0x82F63B78): the definition, independent of both.
std::uint32_t reference(std::uint32_t crc, const char* p, std::size_t n) {
  std::uint32_t l = ~crc;
  for (std::size_t i = 0; i < n; ++i) {
    l ^= static_cast<unsigned char>(p[i]);
    for (int b = 0; b < 8; ++b) l = (l >> 1) ^ (0x82F63B78u & (0u - (l & 1u)));
  }
  return ~l;
}

TEST(crc32c, known_vectors) {
  const std::string check = "123456789";
  EXPECT_EQ(crc32c::extend(0, check.data(), check.size()), 0xE3069283u);  // the CRC-32C check value
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c::extend(0, zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  const std::string ones(32, '\xff');
  EXPECT_EQ(crc32c::extend(0, ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(crc32c::extend(0, nullptr, 0), 0u);
}

TEST(crc32c, equals_reference_and_library_on_all_lengths_and_alignments) {
  std::mt19937_64 rng(7);
  std::vector<char> buf(4096 + 16);
  for (auto& c : buf) c = static_cast<char>(rng());
  for (std::size_t off = 0; off < 8; ++off) {
    for (std::size_t n = 0; n < 300; ++n) {
      const char* p = buf.data() + off;
      const auto seed = static_cast<std::uint32_t>(rng());
      const auto hw = crc32c::extend(seed, p, n);
      ASSERT_EQ(hw, reference(seed, p, n)) << "offset " << off << " length " << n;
      ASSERT_EQ(hw, crc32c::extend_portable(seed, p, n)) << "offset " << off << " length " << n;
    }
  }
  EXPECT_EQ(crc32c::extend(0, buf.data(), buf.size()), crc32c::extend_portable(0, buf.data(), buf.size()));
}

TEST(crc32c, extending_in_pieces_equals_one_pass) {
  std::string s(100'000, 'x');
  std::mt19937_64 rng(3);
  for (auto& c : s) c = static_cast<char>(rng());
  std::uint32_t pieces = 0;
  for (std::size_t i = 0; i < s.size(); i += 777) pieces = crc32c::extend(pieces, s.data() + i, std::min<std::size_t>(777, s.size() - i));
  EXPECT_EQ(pieces, crc32c::extend(0, s.data(), s.size()));
}

#if defined(__x86_64__)
TEST(crc32c, uses_the_crc32_instruction_on_this_cpu) {
  __builtin_cpu_init();
  EXPECT_EQ(crc32c::hardware(), __builtin_cpu_supports("sse4.2") != 0);
}
#endif

}  // namespace
