#include "protocol/headers.hpp"

#include <charconv>

namespace jb::protocol {
namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(line) for each header line after the first, stopping at the empty line.
template <class F>
void for_each_line(std::string_view block, F&& f) {
  auto eol = block.find("\r\n");
  if (eol == std::string_view::npos) return;
  block.remove_prefix(eol + 2);
  while (!block.empty()) {
    eol = block.find("\r\n");
    if (eol == std::string_view::npos || eol == 0) return;
    if (!f(block.substr(0, eol))) return;
    block.remove_prefix(eol + 2);
  }
}

}  // namespace

bool is_valid_header_block(std::string_view block) noexcept {
  return block.size() >= header_version.size() + 4 && block.substr(0, header_version.size()) == header_version &&
         block.substr(block.size() - 4) == "\r\n\r\n";
}

header_status parse_header_status(std::string_view block) noexcept {
  header_status st;
  auto eol = block.find("\r\n");
  if (eol == std::string_view::npos || eol < header_version.size()) return st;
  std::string_view first = block.substr(header_version.size(), eol - header_version.size());
  first = trim(first);
  if (first.size() < 3) return st;
  int code = 0;
  auto [p, ec] = std::from_chars(first.data(), first.data() + 3, code);
  if (ec != std::errc() || p != first.data() + 3) return st;
  st.code = code;
  st.description = trim(first.substr(3));
  return st;
}

std::optional<std::string_view> find_header(std::string_view block, std::string_view name) noexcept {
  std::optional<std::string_view> out;
  for_each_line(block, [&](std::string_view line) {
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return true;
    if (trim(line.substr(0, colon)) == name) {
      out = trim(line.substr(colon + 1));
      return false;
    }
    return true;
  });
  return out;
}

void header_builder::end_first_line() {
  if (!first_line_done_) {
    s_.append("\r\n");
    first_line_done_ = true;
  }
}

header_builder& header_builder::status(int code, std::string_view description) {
  s_.push_back(' ');
  s_.append(std::to_string(code));
  if (!description.empty()) {
    s_.push_back(' ');
    s_.append(description);
  }
  end_first_line();
  return *this;
}

header_builder& header_builder::add(std::string_view name, std::string_view value) {
  end_first_line();
  s_.append(name).append(": ").append(value).append("\r\n");
  return *this;
}

std::string header_builder::finish() {
  end_first_line();
  s_.append("\r\n");
  return std::move(s_);
}

std::string remove_header(std::string_view block, std::string_view name) {
  auto eol = block.find("\r\n");
  if (eol == std::string_view::npos) return std::string(block);
  std::string out(block.substr(0, eol + 2));
  bool any = out.size() > header_version.size() + 2;  // a status on the first line
  for_each_line(block, [&](std::string_view line) {
    auto colon = line.find(':');
    if (colon != std::string_view::npos && trim(line.substr(0, colon)) == name) return true;
    out.append(line).append("\r\n");
    any = true;
    return true;
  });
  if (!any) return {};
  out.append("\r\n");
  return out;
}

std::string set_header(std::string_view block, std::string_view name, std::string_view value) {
  auto eol = block.find("\r\n");
  if (block.empty() || eol == std::string_view::npos) {
    std::string out(header_version);
    out.append("\r\n").append(name).append(": ").append(value).append("\r\n\r\n");
    return out;
  }
  std::size_t pos = eol + 2;
  while (pos < block.size()) {
    auto end = block.find("\r\n", pos);
    if (end == std::string_view::npos) end = block.size();
    std::string_view line = block.substr(pos, end - pos);
    auto colon = line.find(':');
    if (colon != std::string_view::npos && trim(line.substr(0, colon)) == name) {
      std::size_t vstart = pos + colon + 1;
      if (vstart < end && block[vstart] == ' ') ++vstart;
      std::string out(block.substr(0, vstart));
      out.append(value).append(block.substr(end));
      return out;
    }
    if (line.empty()) break;  // the closing empty line
    pos = end + 2;
  }
  // Not present: insert before the closing empty line.
  std::string out(block);
  if (out.size() >= 4 && out.ends_with("\r\n\r\n")) out.resize(out.size() - 2);
  else if (!out.ends_with("\r\n")) out.append("\r\n");
  out.append(name).append(": ").append(value).append("\r\n\r\n");
  return out;
}

}  // namespace jb::protocol
