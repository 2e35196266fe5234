#pragma once
// Subject transforms (stream subject_transform, and later sources/republish): a source filter
// and a destination made of literal tokens, `*` (the matching source wildcard, in order), `>`
// (the rest), and the mapping functions {{wildcard(n)}} / $n (the n-th source wildcard).
// Pure; safe from any thread.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jb::jetstream {

class subject_transform {
 public:
  // nullopt when the source is not a valid filter or the destination does not fit it.
  static std::optional<subject_transform> make(std::string_view src, std::string_view dest);
  // The transformed subject, or nullopt when `subject` does not match the source.
  [[nodiscard]] std::optional<std::string> apply(std::string_view subject) const;

 private:
  struct part {
    enum kind_t { literal, wildcard, rest } kind = literal;
    std::string text;  // literal
    int index = 0;     // wildcard: 0-based index into the source's `*` tokens
  };
  std::vector<std::string> src_;  // source tokens
  std::vector<part> dest_;
};

}  // namespace jb::jetstream
