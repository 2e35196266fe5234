#pragma once
// A connection's outbound bytes as a list of fixed-size chunks, written with one gather write.
//
// A contiguous std::string that grows by doubling copies everything it holds at every growth
// and, once large, lives in freshly mmapped pages: under a 1 KiB fan-out a quarter of the
// delivery cost was realloc copies and page faults. Chunks never move what they hold; released
// chunks go back to the allocator's bins (64 KiB stays below glibc's mmap threshold), so a busy
// connection reuses warm memory, and an idle one holds none.
//
// Not thread-safe: the owner guards it (client_connection::out_mu_).
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>

namespace jb::server {

class out_buffer {
 public:
  // The first chunk of a burst is small (a PONG or one message must not cost 64 KiB); the
  // following ones are large, so a burst is a few dozen iovecs per write at most.
  static constexpr std::size_t first_chunk = 4 * 1024;
  static constexpr std::size_t chunk = 64 * 1024;

  struct block {
    std::unique_ptr<char[]> data;
    std::size_t cap = 0;
    std::size_t len = 0;
  };

  void append(const char* p, std::size_t n) {
    size_ += n;
    while (n > 0) {
      if (blocks_.empty() || blocks_.back().len == blocks_.back().cap) {
        const std::size_t cap = blocks_.empty() ? std::max(first_chunk, std::min(n, chunk)) : chunk;
        blocks_.push_back(block{std::unique_ptr<char[]>(new char[cap]), cap, 0});
      }
      block& b = blocks_.back();
      const std::size_t k = std::min(n, b.cap - b.len);
      std::memcpy(b.data.get() + b.len, p, k);
      b.len += k;
      p += k;
      n -= k;
    }
  }
  void append(std::string_view s) { append(s.data(), s.size()); }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  // Moves every block into `out` (appended; out is normally empty) and leaves this empty.
  void take(std::vector<block>& out) {
    if (out.empty()) {
      out.swap(blocks_);
    } else {
      for (auto& b : blocks_) out.push_back(std::move(b));
      blocks_.clear();
    }
    size_ = 0;
  }

  // The buffer sequence for a gather write of `blocks`.
  static void sequence(const std::vector<block>& blocks, std::vector<boost::asio::const_buffer>& seq) {
    seq.clear();
    for (const auto& b : blocks) seq.emplace_back(b.data.get(), b.len);
  }

 private:
  std::vector<block> blocks_;
  std::size_t size_ = 0;
};

}  // namespace jb::server
