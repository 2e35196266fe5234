#include "protocol/subject.hpp"

namespace jb::protocol {
namespace {

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

// Splits off the next token; returns false at the end.
bool next_token(std::string_view& rest, std::string_view& tok, bool& done) noexcept {
  if (done) return false;
  auto dot = rest.find('.');
  if (dot == std::string_view::npos) { tok = rest; done = true; return true; }
  tok = rest.substr(0, dot);
  rest = rest.substr(dot + 1);
  return true;
}

}  // namespace

bool is_valid_subject(std::string_view s) noexcept {
  if (s.empty()) return false;
  std::size_t token_len = 0;
  for (char c : s) {
    if (is_space(c)) return false;
    if (c == '.') {
      if (token_len == 0) return false;
      token_len = 0;
    } else {
      ++token_len;
    }
  }
  return token_len != 0;
}

bool is_valid_literal_subject(std::string_view s) noexcept {
  return is_valid_subject(s) && !has_wildcard(s);
}

bool is_valid_filter(std::string_view s) noexcept {
  if (!is_valid_subject(s)) return false;
  std::string_view rest = s, tok;
  bool done = false;
  while (next_token(rest, tok, done)) {
    if (tok == ">" && !done) return false;
  }
  return true;
}

bool has_wildcard(std::string_view s) noexcept {
  for (auto t : tokens(s))
    if (t == "*" || t == ">") return true;
  return false;
}

bool subject_matches(std::string_view filter, std::string_view subject) noexcept {
  std::string_view fr = filter, sr = subject, ft, st;
  bool fd = false, sd = false;
  for (;;) {
    bool hf = next_token(fr, ft, fd);
    bool hs = next_token(sr, st, sd);
    if (!hf) return !hs;
    if (ft == ">") return hs;
    if (!hs) return false;
    if (ft != "*" && ft != st) return false;
  }
}

bool subjects_overlap(std::string_view a, std::string_view b) noexcept {
  std::string_view ar = a, br = b, at, bt;
  bool ad = false, bd = false;
  for (;;) {
    bool ha = next_token(ar, at, ad);
    bool hb = next_token(br, bt, bd);
    if (!ha || !hb) return ha == hb;
    if (at == ">" || bt == ">") return true;
    if (at != "*" && bt != "*" && at != bt) return false;
  }
}

bool subject_is_subset(std::string_view sub, std::string_view super) noexcept {
  std::string_view sr = sub, pr = super, st, pt;
  bool sd = false, pd = false;
  for (;;) {
    bool hs = next_token(sr, st, sd);
    bool hp = next_token(pr, pt, pd);
    if (!hp) return !hs;
    if (pt == ">") return hs;
    if (!hs) return false;
    if (pt == "*") {
      if (st == ">") return false;
      continue;
    }
    if (st != pt) return false;
  }
}

std::size_t token_count(std::string_view s) noexcept {
  if (s.empty()) return 0;
  std::size_t n = 1;
  for (char c : s) n += (c == '.');
  return n;
}

}  // namespace jb::protocol
