#pragma once
// Subject syntax: tokens separated by '.', '*' matches one token, '>' one or more trailing tokens.
// Pure functions, no allocation unless noted; safe from any thread.
#include <string_view>

namespace jb::protocol {

// A subject a message may be published to: non-empty, no empty tokens, no whitespace.
// Wildcard characters are allowed and treated literally (nats-server routes them literally).
[[nodiscard]] bool is_valid_subject(std::string_view subject) noexcept;

// A literal subject: valid and no token is exactly "*" or ">" (pedantic publish check).
[[nodiscard]] bool is_valid_literal_subject(std::string_view subject) noexcept;

// A subscription subject: valid, and '>' only as the last token.
[[nodiscard]] bool is_valid_filter(std::string_view filter) noexcept;

// True when any token is a full-token wildcard.
[[nodiscard]] bool has_wildcard(std::string_view subject) noexcept;

// True when the literal subject is matched by the filter (which may hold wildcards).
[[nodiscard]] bool subject_matches(std::string_view filter, std::string_view subject) noexcept;

// True when some literal subject is matched by both filters.
[[nodiscard]] bool subjects_overlap(std::string_view a, std::string_view b) noexcept;

// True when every subject matched by `sub` is also matched by `super`.
[[nodiscard]] bool subject_is_subset(std::string_view sub, std::string_view super) noexcept;

// Number of '.'-separated tokens.
[[nodiscard]] std::size_t token_count(std::string_view subject) noexcept;

// Iterates over tokens without allocating: for (auto t : tokens(s)) ...
class tokens {
 public:
  explicit tokens(std::string_view s) noexcept : s_(s) {}
  class iterator {
   public:
    iterator(std::string_view rest, bool end) noexcept : rest_(rest), end_(end) { advance(); }
    std::string_view operator*() const noexcept { return cur_; }
    iterator& operator++() noexcept { advance(); return *this; }
    bool operator==(const iterator& o) const noexcept { return done_ == o.done_ && (done_ || rest_.data() == o.rest_.data()); }
   private:
    void advance() noexcept {
      if (end_ || consumed_all_) { done_ = true; return; }
      auto dot = rest_.find('.');
      if (dot == std::string_view::npos) { cur_ = rest_; rest_ = rest_.substr(rest_.size()); consumed_all_ = true; }
      else { cur_ = rest_.substr(0, dot); rest_ = rest_.substr(dot + 1); }
    }
    std::string_view rest_, cur_;
    bool end_ = false, consumed_all_ = false, done_ = false;
  };
  iterator begin() const noexcept { return iterator(s_, s_.empty()); }
  iterator end() const noexcept { return iterator({}, true); }
 private:
  std::string_view s_;
};

}  // namespace jb::protocol
