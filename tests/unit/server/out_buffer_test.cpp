// out_buffer: chunked outbound bytes. What goes in comes out of the gather sequence, in order,
// whatever the sizes of the appends, and take() leaves the buffer empty and reusable.
#include "server/out_buffer.hpp"

#include <gtest/gtest.h>

#include <string>

namespace jb::server {
namespace {

std::string drain(out_buffer& b) {
  std::vector<out_buffer::block> blocks;
  b.take(blocks);
  std::vector<boost::asio::const_buffer> seq;
  out_buffer::sequence(blocks, seq);
  std::string out;
  for (const auto& c : seq) out.append(static_cast<const char*>(c.data()), c.size());
  return out;
}

TEST(out_buffer, appends_of_any_size_come_out_in_order) {
  out_buffer b;
  EXPECT_TRUE(b.empty());
  std::string expected;
  // Tiny, chunk-straddling, exactly one chunk, and larger than a chunk.
  for (std::size_t n : {1u, 6u, 4090u, 10u, 65536u, 200000u, 3u, 65535u}) {
    std::string piece(n, static_cast<char>('a' + n % 26));
    piece.front() = '<';
    piece.back() = '>';
    b.append(piece);
    expected += piece;
    EXPECT_EQ(b.size(), expected.size());
  }
  EXPECT_EQ(drain(b), expected);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.size(), 0u);
}

TEST(out_buffer, reusable_after_take_and_small_writes_stay_small) {
  out_buffer b;
  b.append("PONG\r\n");
  std::vector<out_buffer::block> blocks;
  b.take(blocks);
  ASSERT_EQ(blocks.size(), 1u);
  EXPECT_EQ(blocks[0].cap, out_buffer::first_chunk);  // a PONG does not cost a 64 KiB block
  EXPECT_EQ(std::string(blocks[0].data.get(), blocks[0].len), "PONG\r\n");
  b.append("+OK\r\n");
  b.append(std::string(out_buffer::first_chunk, 'x'));  // spills into a large block
  EXPECT_EQ(drain(b), "+OK\r\n" + std::string(out_buffer::first_chunk, 'x'));
}

}  // namespace
}  // namespace jb::server
