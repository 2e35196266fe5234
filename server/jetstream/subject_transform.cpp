#include "server/jetstream/subject_transform.hpp"

#include <charconv>
#include <cstdint>
#include <random>

#include "protocol/subject.hpp"
#include "server/random_seed.hpp"

namespace jb::jetstream {

namespace {

std::vector<std::string_view> split_tokens(std::string_view s) {
  std::vector<std::string_view> out;
  for (auto t : protocol::tokens(s)) out.push_back(t);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<int> to_int(std::string_view s) {
  s = trim(s);
  int n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return n;
}

constexpr std::string_view not_enough = "not enough arguments passed to the function";
constexpr std::string_view too_many = "too many arguments passed to the function";
constexpr std::string_view invalid_arg = "function argument is invalid or in the wrong format";

std::uint32_t fnv1a32(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

}  // namespace

subject_transform::token_info subject_transform::parse_token(std::string_view tok) {
  token_info t;
  // "$n" is the legacy form of wildcard(n); any other token starting with '$' ("$KV") is a literal.
  if (tok.size() > 1 && tok[0] == '$') {
    auto digits = tok.substr(1);
    if (digits.find_first_not_of("0123456789") != std::string_view::npos) return t;
    t.kind = token_info::wildcard;
    t.wildcards.push_back(to_int(digits).value_or(0));
    return t;
  }
  if (tok.size() <= 4 || !tok.starts_with("{{") || !tok.ends_with("}}")) return t;
  std::string_view body = trim(tok.substr(2, tok.size() - 4));
  auto open = body.find('(');
  if (open == std::string_view::npos || body.back() != ')') {
    t.error = "unknown function";
    return t;
  }
  std::string name;
  for (char c : trim(body.substr(0, open))) name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Arguments: split at commas (spaces after a comma dropped, as nats-server's `,\s*`).
  std::vector<std::string_view> args;
  std::string_view inner = body.substr(open + 1, body.size() - open - 2);
  for (std::size_t start = 0;;) {
    auto comma = inner.find(',', start);
    args.push_back(inner.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
    while (start < inner.size() && (inner[start] == ' ' || inner[start] == '\t')) ++start;
  }
  auto index_and_int = [&](token_info::kind_t k) {
    if (args.size() < 2) t.error = not_enough;
    else if (args.size() > 2) t.error = too_many;
    else if (auto i = to_int(args[0]), n = to_int(args[1]); !i || !n) t.error = invalid_arg;
    else {
      t.kind = k;
      t.wildcards.push_back(*i);
      t.number = *n;
    }
    return t;
  };
  if (name == "wildcard") {
    if (args.size() == 1 && args[0].empty()) t.error = not_enough;
    else if (args.size() > 1) t.error = too_many;
    else if (auto i = to_int(args[0]); !i) t.error = invalid_arg;
    else {
      t.kind = token_info::wildcard;
      t.wildcards.push_back(*i);
    }
    return t;
  }
  if (name == "partition") {
    // partition(buckets[, wildcard...]): without wildcard numbers the whole subject is hashed.
    auto n = to_int(args[0]);
    if (!n) {
      t.error = invalid_arg;
      return t;
    }
    for (std::size_t k = 1; k < args.size(); ++k) {
      auto i = to_int(args[k]);
      if (!i) {
        t.error = invalid_arg;
        return t;
      }
      t.wildcards.push_back(*i);
    }
    t.kind = token_info::partition;
    t.number = *n;
    return t;
  }
  if (name == "splitfromleft") return index_and_int(token_info::split_from_left);
  if (name == "splitfromright") return index_and_int(token_info::split_from_right);
  if (name == "slicefromleft") return index_and_int(token_info::slice_from_left);
  if (name == "slicefromright") return index_and_int(token_info::slice_from_right);
  if (name == "split") {
    if (args.size() < 2) t.error = not_enough;
    else if (args.size() > 2) t.error = too_many;
    else if (auto i = to_int(args[0]); !i || args[1].find_first_of(" .") != std::string_view::npos) t.error = invalid_arg;
    else {
      t.kind = token_info::split;
      t.wildcards.push_back(*i);
      t.delim = std::string(args[1]);
    }
    return t;
  }
  if (name == "random") {
    if (args.size() > 1) t.error = too_many;
    else if (auto n = to_int(args[0]); !n) t.error = invalid_arg;
    else {
      t.kind = token_info::random;
      t.number = *n;
    }
    return t;
  }
  t.error = "unknown function";
  return t;
}

std::optional<subject_transform> subject_transform::make(std::string_view src, std::string_view dest) {
  if (src.empty()) src = ">";
  if (!protocol::is_valid_filter(src) || dest.empty() || !protocol::is_valid_subject(dest)) return std::nullopt;
  subject_transform t;
  int src_wildcards = 0;
  bool src_rest = false;
  for (auto tok : split_tokens(src)) {
    t.src_.emplace_back(tok);
    if (tok == "*") ++src_wildcards;
    if (tok == ">") src_rest = true;
  }
  int next_star = 0;
  auto dest_tokens = split_tokens(dest);
  for (std::size_t i = 0; i < dest_tokens.size(); ++i) {
    auto tok = dest_tokens[i];
    part p;
    if (tok == "*") {
      if (next_star >= src_wildcards) return std::nullopt;
      p.kind = part::star;
      p.index = next_star++;
    } else if (tok == ">") {
      if (!src_rest || i + 1 != dest_tokens.size()) return std::nullopt;
      p.kind = part::rest;
    } else if (auto fn = parse_token(tok); !fn.error.empty()) {
      return std::nullopt;
    } else if (fn.kind != token_info::literal) {
      if (fn.kind == token_info::partition && (src_wildcards == 0 || fn.wildcards.empty())) {
        fn.wildcards.clear();  // hashes the whole subject
      } else if (src_wildcards == 0) {
        return std::nullopt;  // the other functions need source wildcards
      }
      for (int& w : fn.wildcards) {
        if (w < 1 || w > src_wildcards) return std::nullopt;
        --w;
      }
      p.kind = part::function;
      p.fn = std::move(fn);
    } else {
      p.text = std::string(tok);
    }
    t.dest_.push_back(std::move(p));
  }
  return t;
}

std::optional<std::string> subject_transform::apply(std::string_view subject) const {
  std::vector<std::string_view> wild;
  std::string_view rest;
  auto toks = split_tokens(subject);
  for (std::size_t i = 0; i < src_.size(); ++i) {
    if (src_[i] == ">") {
      if (i >= toks.size()) return std::nullopt;
      // Everything from this token on.
      std::size_t off = 0;
      for (std::size_t k = 0; k < i; ++k) off += toks[k].size() + 1;
      rest = subject.substr(off);
      break;
    }
    if (i >= toks.size()) return std::nullopt;
    if (src_[i] == "*") wild.push_back(toks[i]);
    else if (src_[i] != toks[i]) return std::nullopt;
  }
  if (rest.empty() && toks.size() != src_.size()) return std::nullopt;
  std::string out;
  for (const auto& p : dest_) {
    if (!out.empty()) out += '.';
    switch (p.kind) {
      case part::literal: out += p.text; break;
      case part::star: out += wild[static_cast<std::size_t>(p.index)]; break;
      case part::rest: out += rest; break;
      case part::function: {
        const auto& f = p.fn;
        const std::string_view s = f.wildcards.empty() ? std::string_view{} : wild[static_cast<std::size_t>(f.wildcards[0])];
        const std::size_t len = s.size();
        const std::size_t n = f.number > 0 ? static_cast<std::size_t>(f.number) : 0;
        switch (f.kind) {
          case token_info::literal: break;
          case token_info::wildcard: out += s; break;
          case token_info::partition: {
            std::string key;
            if (f.wildcards.empty()) key = subject;
            for (int w : f.wildcards) key += wild[static_cast<std::size_t>(w)];
            out += std::to_string(f.number > 0 ? fnv1a32(key) % static_cast<std::uint32_t>(f.number) : 0);
            break;
          }
          case token_info::random: {
            thread_local std::minstd_rand rng{static_cast<std::uint_fast32_t>(jb::server::random_seed())};
            out += std::to_string(f.number > 0 ? rng() % static_cast<std::uint32_t>(f.number) : 0);
            break;
          }
          case token_info::split_from_left:
            if (n > 0 && n < len) out.append(s.substr(0, n)).append(".").append(s.substr(n));
            else out += s;
            break;
          case token_info::split_from_right:
            if (n > 0 && n < len) out.append(s.substr(0, len - n)).append(".").append(s.substr(len - n));
            else out += s;
            break;
          case token_info::slice_from_left:
            if (n > 0 && n < len) {
              for (std::size_t i = 0; i + n <= len; i += n) {
                if (i != 0) out += '.';
                out += s.substr(i, n);
                if (i + n != len && i + n + n > len) {
                  out.append(".").append(s.substr(i + n));
                  break;
                }
              }
            } else {
              out += s;
            }
            break;
          case token_info::slice_from_right:
            if (n > 0 && n < len) {
              const std::size_t rem = len % n;
              if (rem > 0) out.append(s.substr(0, rem)).append(".");
              for (std::size_t i = rem; i + n <= len; i += n) {
                out += s.substr(i, n);
                if (i + n < len) out += '.';
              }
            } else {
              out += s;
            }
            break;
          case token_info::split: {
            // Pieces between delimiters, empty ones dropped, joined with '.'.
            std::vector<std::string_view> pieces;
            for (std::size_t start = 0;;) {
              auto d = f.delim.empty() ? std::string_view::npos : s.find(f.delim, start);
              pieces.push_back(s.substr(start, d == std::string_view::npos ? std::string_view::npos : d - start));
              if (d == std::string_view::npos) break;
              start = d + f.delim.size();
            }
            for (std::size_t j = 0; j < pieces.size(); ++j) {
              out += pieces[j];
              if (j + 1 < pieces.size() && !pieces[j + 1].empty() && !(j == 0 && pieces[j].empty())) out += '.';
            }
            break;
          }
        }
        break;
      }
    }
  }
  return out;
}

}  // namespace jb::jetstream
