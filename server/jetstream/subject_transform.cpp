#include "server/jetstream/subject_transform.hpp"

#include <charconv>

#include "protocol/subject.hpp"

namespace jb::jetstream {

namespace {

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  for (auto t : protocol::tokens(s)) out.push_back(t);
  return out;
}

// "{{wildcard(3)}}", "{{ Wildcard( 3 ) }}" or "$3" -> 3; 0 when not such a token; -1 if malformed.
int mapping_index(std::string_view tok) {
  auto parse_num = [](std::string_view d) {
    int n = 0;
    auto [p, ec] = std::from_chars(d.data(), d.data() + d.size(), n);
    return (ec == std::errc() && p == d.data() + d.size() && n > 0) ? n : -1;
  };
  // "$n" is the legacy form of wildcard(n); any other token starting with '$' ("$KV") is a literal.
  if (tok.size() > 1 && tok[0] == '$') {
    auto digits = tok.substr(1);
    if (digits.find_first_not_of("0123456789") != std::string_view::npos) return 0;
    return parse_num(digits);
  }
  if (tok.substr(0, 2) != "{{") return 0;
  if (tok.size() < 4 || tok.substr(tok.size() - 2) != "}}") return -1;
  std::string body;
  for (char c : tok.substr(2, tok.size() - 4))
    if (c != ' ') body += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (body.rfind("wildcard(", 0) != 0 || body.back() != ')') return -1;
  return parse_num(std::string_view(body).substr(9, body.size() - 10));
}

}  // namespace

std::optional<subject_transform> subject_transform::make(std::string_view src, std::string_view dest) {
  if (src.empty()) src = ">";
  if (!protocol::is_valid_filter(src) || dest.empty() || !protocol::is_valid_subject(dest)) return std::nullopt;
  subject_transform t;
  int src_wildcards = 0;
  bool src_rest = false;
  for (auto tok : split(src)) {
    t.src_.emplace_back(tok);
    if (tok == "*") ++src_wildcards;
    if (tok == ">") src_rest = true;
  }
  int next_star = 0;
  auto dest_tokens = split(dest);
  for (std::size_t i = 0; i < dest_tokens.size(); ++i) {
    auto tok = dest_tokens[i];
    part p;
    if (tok == "*") {
      if (next_star >= src_wildcards) return std::nullopt;
      p.kind = part::wildcard;
      p.index = next_star++;
    } else if (tok == ">") {
      if (!src_rest || i + 1 != dest_tokens.size()) return std::nullopt;
      p.kind = part::rest;
    } else if (int n = mapping_index(tok); n != 0) {
      if (n < 0 || n > src_wildcards) return std::nullopt;
      p.kind = part::wildcard;
      p.index = n - 1;
    } else if (tok.find("{{") != std::string_view::npos) {
      return std::nullopt;  // other mapping functions are not supported
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
  std::string_view remaining = subject;
  std::size_t i = 0;
  auto toks = split(subject);
  for (; i < src_.size(); ++i) {
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
  (void)remaining;
  std::string out;
  for (const auto& p : dest_) {
    if (!out.empty()) out += '.';
    switch (p.kind) {
      case part::literal: out += p.text; break;
      case part::wildcard: out += wild[static_cast<std::size_t>(p.index)]; break;
      case part::rest: out += rest; break;
    }
  }
  return out;
}

}  // namespace jb::jetstream
