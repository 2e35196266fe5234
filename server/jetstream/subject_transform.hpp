#pragma once
// Subject transforms (stream subject_transform, sources, mirrors, republish): a source filter and a
// destination made of literal tokens, `*` (the matching source wildcard, in order), `>` (the rest),
// and nats-server's mapping functions: {{wildcard(n)}} / $n (the n-th source wildcard),
// {{partition(buckets[, n...])}} (FNV-1a of those wildcards, or of the whole subject without them,
// modulo buckets), {{split(n, delim)}},
// {{splitFromLeft(n, pos)}}, {{splitFromRight(n, pos)}}, {{sliceFromLeft(n, size)}},
// {{sliceFromRight(n, size)}} and {{random(buckets)}}. Pure; safe from any thread.
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

  // One destination token as nats-server reads it: `kind` literal when it is no mapping function;
  // `error` (e.g. "unknown function", "not enough arguments passed to the function") when it looks
  // like one but is malformed. `wildcards` are the 1-based source wildcard numbers it uses.
  struct token_info {
    enum kind_t { literal, wildcard, partition, split, split_from_left, split_from_right, slice_from_left,
                  slice_from_right, random } kind = literal;
    std::vector<int> wildcards;
    int number = 0;       // buckets, position or slice size
    std::string delim;    // split
    std::string error;
  };
  static token_info parse_token(std::string_view tok);

 private:
  struct part {
    enum kind_t { literal, star, rest, function } kind = literal;
    std::string text;        // literal
    int index = 0;           // star: 0-based index into the source's `*` tokens
    token_info fn;           // function: wildcards converted to 0-based indexes
  };
  std::vector<std::string> src_;  // source tokens
  std::vector<part> dest_;
};

}  // namespace jb::jetstream
