#include "config/conf.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace jb::config::conf {

std::string position::str() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

const value* value::find(std::string_view key) const {
  for (const auto& m : map)
    if (m.key == key) return &m.val;
  return nullptr;
}

const char* value::go_type() const {
  switch (type) {
    case kind::string: return "string";
    case kind::integer: return "int64";
    case kind::floating: return "float64";
    case kind::boolean: return "bool";
    case kind::datetime: return "time.Time";
    case kind::array: return "[]interface {}";
    case kind::map: return "map[string]interface {}";
  }
  return "?";
}

namespace {

// Thrown inside the reader and turned into parse_error at the API boundary; config parsing
// happens at startup, where exceptions are fine (STYLE.md, Errors).
struct failure {
  std::string message;
  position pos;
};

constexpr int max_nesting = 16;  // include depth and environment-variable recursion

bool is_blank(char c) { return c == ' ' || c == '\t'; }          // nats isWhitespace
bool is_nl(char c) { return c == '\n' || c == '\r'; }            // nats isNL
bool is_space(char c) { return is_blank(c) || is_nl(c) || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_size_suffix(char c) {
  switch (c) {
    case 'k': case 'K': case 'm': case 'M': case 'g': case 'G':
    case 't': case 'T': case 'p': case 'P': case 'e': case 'E': return true;
    default: return false;
  }
}
// Where a number that is not followed by one of these turns into a bare string ("10s").
bool ends_number(char c) {
  return c == '\0' || is_nl(c) || is_blank(c) || c == '}' || c == ']' || c == ';' || c == ',';
}

std::string lower(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return r;
}

// How nats prints an offending rune in lexer errors.
std::string shown(char c) {
  if (c == '\0') return "EOF";
  if (c == '\n') return "\\n";
  return std::string(1, c);
}

void set_member(value& map, std::string key, value v) {
  for (auto& m : map.map) {
    if (m.key == key) {
      m.val = std::move(v);
      return;
    }
  }
  map.map.push_back(member{std::move(key), std::move(v)});
}

std::variant<value, parse_error> parse_impl(std::string_view text, const std::string& file, int depth);
std::variant<value, parse_error> parse_file_impl(const std::string& path, int depth);

class reader {
 public:
  reader(std::string_view in, std::string file, int depth) : in_(in), file_(std::move(file)), depth_(depth) {
    dir_ = file_.empty() ? std::filesystem::path() : std::filesystem::path(file_).parent_path();
  }

  value document() {
    value root;
    root.type = kind::map;
    root.pos = here();
    frames_.push_back(&root);
    int braces = 0;  // the whole file may sit in `{ }` (JSON)
    for (;;) {
      skip_space_and_comments();
      char c = peek();
      if (c == '\0') break;  // a missing final '}' is tolerated, as nats does
      if (c == '{') {
        get();
        ++braces;
        continue;
      }
      if (c == '}') {
        get();
        if (braces > 0) --braces;
        continue;
      }
      entry(root, /*top=*/true);
      top_value_end();
    }
    frames_.pop_back();
    return root;
  }

 private:
  // ---- character access -------------------------------------------------------------------
  char peek(std::size_t k = 0) const { return pos_ + k < in_.size() ? in_[pos_ + k] : '\0'; }
  char get() {
    if (pos_ >= in_.size()) return '\0';
    char c = in_[pos_++];
    if (c == '\n') {
      ++line_;
      line_start_ = pos_;
    }
    return c;
  }
  position here() const { return position{file_, line_, static_cast<int>(pos_ - line_start_) + 1}; }

  [[noreturn]] void lex_error(const std::string& what) const {
    throw failure{"Parse error on line " + std::to_string(line_) + ": '" + what + "'", here()};
  }

  void skip_comment() {
    while (peek() != '\0' && !is_nl(peek())) get();
  }
  // True and consumed if a comment starts here.
  bool comment_start() {
    if (peek() == '#') {
      get();
      return true;
    }
    if (peek() == '/' && peek(1) == '/') {
      get();
      get();
      return true;
    }
    return false;
  }
  void skip_space_and_comments() {
    for (;;) {
      if (is_space(peek())) {
        get();
      } else if (comment_start()) {
        skip_comment();
      } else {
        return;
      }
    }
  }

  // ---- structure ----------------------------------------------------------------------------
  void top_value_end() {
    for (;;) {
      char c = peek();
      if (is_blank(c)) {
        get();
        continue;
      }
      if (comment_start()) {
        skip_comment();
        return;
      }
      if (c == '\0' || c == '}') return;
      if (is_nl(c) || c == ';' || c == ',') {
        get();
        return;
      }
      lex_error("Expected a top-level value to end with a new line, comment or EOF, but got '" + shown(c) +
                "' instead.");
    }
  }

  // key [sep] value, or `include path`; stores into `map`.
  void entry(value& map, bool top) {
    const position key_pos = here();
    std::string key;
    char c = peek();
    if (c == '"' || c == '\'') {
      const char q = get();
      while (peek() != q) {
        if (peek() == '\0') {
          if (top) lex_error("Unexpected EOF.");
          lex_error(q == '"' ? "Unexpected EOF processing double quoted map key." : "Unexpected EOF processing quoted map key.");
        }
        key.push_back(get());
      }
      get();
    } else {
      if (c == ':' || c == '=') lex_error(std::string("Unexpected key separator '") + c + "'" + (top ? "" : "."));
      if (!top && c == ']') lex_error("Unexpected array end ']' processing map.");
      // nats ends a bare key only at space or a separator; '{' and '[' also end it here so that
      // `jetstream{` works.
      while (peek() != '\0' && !is_space(peek()) && peek() != ':' && peek() != '=' && peek() != '{' && peek() != '[')
        key.push_back(get());
      if (peek() == '\0' && !top) lex_error("Unexpected EOF processing map key.");
      if (is_space(peek()) && lower(key) == "include") {
        include(map);
        return;
      }
    }
    while (is_space(peek())) get();
    if (peek() == '\0') {
      // nats parse.go: a key with nothing after it.
      throw failure{"config is invalid (" + key_pos.str() + ")", key_pos};
    }
    if (peek() == ':' || peek() == '=') {
      get();
      if (top) {
        while (is_blank(peek())) get();
      } else {
        while (is_space(peek())) get();
        if (peek() == ',') lex_error("Unexpected map value terminator ','.");
      }
    }
    value v = parse_value();
    v.pos = key_pos;
    set_member(map, std::move(key), std::move(v));
  }

  value parse_value() {
    while (is_blank(peek())) get();
    const position at = here();
    char c = peek();
    value v;
    v.pos = at;
    switch (c) {
      case '[': return parse_array();
      case '{': return parse_map();
      case '\'': {
        get();
        v.type = kind::string;
        while (peek() != '\'') {
          if (peek() == '\0') lex_error("Unexpected EOF.");
          v.str.push_back(get());
        }
        get();
        return v;
      }
      case '"': {
        get();
        v.type = kind::string;
        for (;;) {
          char d = peek();
          if (d == '\0') lex_error("Unexpected EOF.");
          get();
          if (d == '"') break;
          if (d == '\\') {
            escape(v.str);
            continue;
          }
          v.str.push_back(d);
        }
        return v;
      }
      case '(': return block_string();
      case '-': return negative_number();
      case '.': lex_error("Floats must start with a digit");
      case '\n':
      case '\r': lex_error("Expected value but found new line");
      default: break;
    }
    if (is_digit(c)) return number();
    return bare();
  }

  value parse_array() {
    value arr;
    arr.type = kind::array;
    arr.pos = here();
    get();  // '['
    for (;;) {
      skip_space_and_comments();
      char c = peek();
      if (c == ',') lex_error("Unexpected array value terminator ','.");
      if (c == ']') {
        get();
        return arr;
      }
      if (c == '\0') lex_error("Unexpected EOF processing array.");
      value elem = parse_value();
      arr.array.push_back(std::move(elem));
      // Between elements: blanks and comments, then ',' or a newline, or ']'.
      for (;;) {
        char d = peek();
        if (is_blank(d)) {
          get();
          continue;
        }
        if (comment_start()) {
          skip_comment();
          continue;
        }
        if (d == ',' || is_nl(d)) {
          get();
          break;
        }
        if (d == ']') {
          get();
          return arr;
        }
        lex_error("Expected an array value terminator ',' or an array terminator ']', but got '" + shown(d) +
                  "' instead.");
      }
    }
  }

  value parse_map() {
    value m;
    m.type = kind::map;
    m.pos = here();
    get();  // '{'
    frames_.push_back(&m);
    for (;;) {
      skip_space_and_comments();
      char c = peek();
      if (c == '}') {
        get();
        break;
      }
      if (c == '\0') lex_error("Unexpected EOF processing map.");
      entry(m, /*top=*/false);
      bool closed = false;
      for (;;) {
        char d = peek();
        if (is_blank(d)) {
          get();
          continue;
        }
        if (comment_start()) {
          skip_comment();
          continue;
        }
        if (d == ',' || d == ';' || is_nl(d)) {
          get();
          break;
        }
        if (d == '}') {
          get();
          closed = true;
          break;
        }
        lex_error("Expected a map value terminator ',' or a map terminator '}', but got '" + shown(d) + "' instead.");
      }
      if (closed) break;
    }
    frames_.pop_back();
    return m;
  }

  void escape(std::string& out) {
    char e = get();
    switch (e) {
      case 't': out.push_back('\t'); return;
      case 'n': out.push_back('\n'); return;
      case 'r': out.push_back('\r'); return;
      case '"': out.push_back('"'); return;
      case '\\': out.push_back('\\'); return;
      case 'x': {
        char h1 = get();
        char h2 = get();
        if (is_nl(h1) || is_nl(h2) || h1 == '\0' || h2 == '\0')
          lex_error("Expected two hexadecimal digits after '\\x', but hit end of line");
        auto hex = [](char h) -> int {
          if (h >= '0' && h <= '9') return h - '0';
          if (h >= 'a' && h <= 'f') return h - 'a' + 10;
          if (h >= 'A' && h <= 'F') return h - 'A' + 10;
          return -1;
        };
        if (hex(h1) < 0 || hex(h2) < 0)
          lex_error(std::string("Expected two hexadecimal digits after '\\x', but got '") + h1 + h2 + "'");
        out.push_back(static_cast<char>(hex(h1) * 16 + hex(h2)));
        return;
      }
      default:
        lex_error("Invalid escape character '" + shown(e) +
                  "'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.");
    }
  }

  // A ( ... ) block: everything up to a line holding only ')'.
  value block_string() {
    value v;
    v.type = kind::string;
    v.pos = here();
    get();  // '('
    const std::size_t start = pos_;
    for (;;) {
      char c = peek();
      if (c == '\0') lex_error("Unexpected EOF processing block.");
      if (c == '\n' && peek(1) == ')' && (peek(2) == '\n' || peek(2) == '\0')) {
        v.str.assign(in_.substr(start, pos_ - start));
        get();  // '\n'
        get();  // ')'
        return v;
      }
      get();
    }
  }

  // Unquoted text up to a newline, blank, ';', ',', ']' or '}': a bool word, a $variable or a
  // string.
  value bare() {
    value v;
    v.pos = here();
    v.type = kind::string;
    bool escaped = false;
    for (;;) {
      char c = peek();
      if (c == '\0' || is_nl(c) || is_blank(c) || c == ';' || c == ',' || c == ']' || c == '}') break;
      if (c == '\'') {  // nats: a quote ends a bare string and is dropped
        get();
        return v;
      }
      get();
      if (c == '\\') {
        escape(v.str);
        escaped = true;
        continue;
      }
      v.str.push_back(c);
    }
    if (escaped) return v;
    const std::string w = lower(v.str);
    if (w == "true" || w == "yes" || w == "on") {
      v.type = kind::boolean;
      v.boolean = true;
      v.str.clear();
    } else if (w == "false" || w == "no" || w == "off") {
      v.type = kind::boolean;
      v.boolean = false;
      v.str.clear();
    } else if (!v.str.empty() && v.str[0] == '$') {
      return variable(v.str.substr(1), v.pos);
    }
    return v;
  }

  // Starts at a digit: an integer (maybe with a size suffix), a float, a datetime, an IP
  // address with port ("127.0.0.1:-1"), or a bare string that starts with digits ("10s").
  value number() {
    const std::size_t start = pos_;
    const position at = here();
    while (is_digit(peek())) get();
    char c = peek();
    if (c == '-') {
      if (pos_ - start != 4) lex_error("All ISO8601 dates must be in full Zulu form.");
      return datetime(start, at);
    }
    if (c == '.') return float_or_ip(start, at);
    if (is_size_suffix(c)) {
      get();
      while (peek() == 'b' || peek() == 'B' || peek() == 'i' || peek() == 'I') get();
      if (ends_number(peek())) return integer(in_.substr(start, pos_ - start), at);
    } else if (ends_number(c)) {
      return integer(in_.substr(start, pos_ - start), at);
    }
    // Not a number after all: re-read it as a bare string (no newline was crossed).
    pos_ = start;
    return bare();
  }

  value negative_number() {
    const std::size_t start = pos_;
    const position at = here();
    get();  // '-'
    char c = peek();
    if (!is_digit(c)) {
      if (c == '.') lex_error("Floats must start with a digit, not '.'.");
      lex_error("Expected a digit but got '" + shown(c) + "'.");
    }
    while (is_digit(peek())) get();
    if (peek() == '.') return float_or_ip(start, at);
    if (is_size_suffix(peek())) {
      get();
      while (peek() == 'b' || peek() == 'B' || peek() == 'i' || peek() == 'I') get();
    }
    return integer(in_.substr(start, pos_ - start), at);
  }

  value float_or_ip(std::size_t start, const position& at) {
    get();  // '.'
    if (!is_digit(peek())) lex_error("Floats must have a digit after the '.', but got '" + shown(peek()) + "' instead.");
    while (is_digit(peek())) get();
    value v;
    v.pos = at;
    if (peek() == '.') {
      while (is_digit(peek()) || peek() == '.' || peek() == ':' || peek() == '-') get();
      v.type = kind::string;
      v.str.assign(in_.substr(start, pos_ - start));
      return v;
    }
    std::string_view text = in_.substr(start, pos_ - start);
    v.type = kind::floating;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v.floating);
    if (ec == std::errc::result_out_of_range) fail_at("float '" + std::string(text) + "' is out of the range", at);
    if (ec != std::errc() || p != text.data() + text.size())
      fail_at("expected float, but got '" + std::string(text) + "'", at);
    return v;
  }

  value datetime(std::size_t start, const position& at) {
    static constexpr std::string_view format = "-00-00T00:00:00Z";
    for (char f : format) {
      char r = get();
      if (f == '0') {
        if (!is_digit(r)) lex_error("Expected digit in ISO8601 datetime, but found '" + shown(r) + "' instead.");
      } else if (f != r) {
        lex_error(std::string("Expected '") + f + "' in ISO8601 datetime, but found '" + shown(r) + "' instead.");
      }
    }
    value v;
    v.type = kind::datetime;
    v.pos = at;
    v.str.assign(in_.substr(start, pos_ - start));
    return v;
  }

  value integer(std::string_view text, const position& at) {
    std::size_t digits = 0;
    while (digits < text.size() && (is_digit(text[digits]) || text[digits] == '-')) ++digits;
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + digits, n);
    if (ec == std::errc::result_out_of_range) lex_error("Value '" + std::string(text) + "' is outside of the integer range");
    if (ec != std::errc() || p != text.data() + digits) fail_at("expected integer, but got '" + std::string(text) + "'", at);
    const std::string suffix = lower(text.substr(digits));
    std::int64_t mult = 1;
    if (!suffix.empty()) {
      static constexpr std::array<char, 6> units = {'k', 'm', 'g', 't', 'p', 'e'};
      const auto* u = std::find(units.begin(), units.end(), suffix[0]);
      const std::string rest = suffix.substr(1);
      std::int64_t base = 0;
      if (rest.empty()) base = 1000;
      else if (rest == "b" || rest == "i" || rest == "ib") base = 1024;
      if (u == units.end() || base == 0) fail_at("expected integer, but got '" + std::string(text) + "'", at);
      for (auto i = units.begin(); i <= u; ++i) mult *= base;
    }
    value v;
    v.type = kind::integer;
    v.pos = at;
    if (__builtin_mul_overflow(n, mult, &v.integer)) fail_at("integer '" + std::string(text) + "' is out of the range", at);
    return v;
  }

  [[noreturn]] void fail_at(const std::string& msg, const position& at) const { throw failure{msg, at}; }

  // ---- variables and includes -----------------------------------------------------------------
  value variable(const std::string& name, const position& at) {
    // "$2a$..." is a bcrypt hash (nats mkpasswd), not a reference.
    if (name.rfind("2a$", 0) == 0) {
      value v;
      v.type = kind::string;
      v.str = "$" + name;
      v.pos = at;
      return v;
    }
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      for (auto& m : (*it)->map) {
        if (m.key == name) {
          m.val.used_variable = true;
          value v = m.val;
          v.used_variable = false;
          v.pos = at;
          return v;
        }
      }
    }
    const std::string where = "variable reference for '" + name + "' on line " + std::to_string(at.line);
    if (const char* env = std::getenv(name.c_str())) {
      if (depth_ >= max_nesting) fail_at(where + " could not be parsed: variable reference cycle", at);
      auto r = parse_impl("pk=" + std::string(env), "", depth_ + 1);
      if (auto* e = std::get_if<parse_error>(&r)) fail_at(where + " could not be parsed: " + e->message, at);
      auto& root = std::get<value>(r);
      if (const value* v = root.find("pk")) {
        value out = *v;
        out.pos = at;
        return out;
      }
    }
    fail_at(where + " can not be found", at);
  }

  void include(value& map) {
    while (is_blank(peek())) get();
    const position at = here();
    std::string name;
    char c = peek();
    if (c == '"' || c == '\'') {
      const char q = get();
      while (peek() != q) {
        if (peek() == '\0') lex_error(q == '"' ? "Unexpected EOF in double quoted include" : "Unexpected EOF in quoted include");
        name.push_back(get());
      }
      get();
    } else {
      if (c == '[') lex_error("Expected include value but found start of an array");
      if (c == '{') lex_error("Expected include value but found start of a map");
      if (c == '(') lex_error("Expected include value but found start of a block");
      if (is_digit(c) || c == '-') lex_error("Expected include value but found start of a number");
      if (c == '\\') lex_error("Expected include value but found escape sequence");
      if (is_nl(c)) lex_error("Expected include value but found new line");
      while (peek() != '\0' && !is_nl(peek()) && !is_blank(peek()) && peek() != ';' && peek() != '}') {
        if (peek() == '\'') {
          get();
          break;
        }
        name.push_back(get());
      }
    }
    // Optional quoted digest after the path (newer nats); accepted and not checked.
    while (is_blank(peek())) get();
    if (peek() == '"' || peek() == '\'') {
      const char q = get();
      while (peek() != q && peek() != '\0') get();
      get();
    }
    if (depth_ >= max_nesting) fail_at("error parsing include file '" + name + "', include nesting too deep", at);
    const std::filesystem::path full = dir_ / name;
    auto r = parse_file_impl(full.string(), depth_ + 1);
    if (auto* e = std::get_if<parse_error>(&r)) {
      throw failure{"error parsing include file '" + name + "', " + e->message, e->pos.line ? e->pos : at};
    }
    for (auto& m : std::get<value>(r).map) set_member(map, std::move(m.key), std::move(m.val));
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  int line_ = 1;
  std::size_t line_start_ = 0;
  std::string file_;
  std::filesystem::path dir_;
  int depth_;
  // Maps under construction, outermost first; each is a local of an active parse_map() call (or
  // the root), so the pointers stay valid while they are on this stack.
  std::vector<value*> frames_;
};

std::variant<value, parse_error> parse_impl(std::string_view text, const std::string& file, int depth) {
  try {
    reader r(text, file, depth);
    return r.document();
  } catch (failure& f) {
    return parse_error{std::move(f.message), std::move(f.pos)};
  }
}

std::variant<value, parse_error> parse_file_impl(const std::string& path, int depth) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return parse_error{"open " + path + ": " + std::strerror(errno), position{path, 0, 0}};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_impl(ss.str(), path, depth);
}

// ---- digest ---------------------------------------------------------------------------------

void json_string(std::string& out, std::string_view s) {
  static constexpr char hexd[] = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    // Go's encoder escapes control characters and, by default, <, > and & (HTML safety), and
    // U+2028/U+2029.
    if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      out += "\\u00";
      out.push_back(hexd[c >> 4]);
      out.push_back(hexd[c & 0xf]);
      continue;
    }
    if (c == 0xe2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) == 0xa8 || static_cast<unsigned char>(s[i + 2]) == 0xa9)) {
      out += static_cast<unsigned char>(s[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
      i += 2;
      continue;
    }
    out.push_back(static_cast<char>(c));
  }
  out.push_back('"');
}

void json_float(std::string& out, double f) {
  // Go encoding/json: shortest representation, 'f' format unless the exponent is extreme.
  char buf[64];
  const double a = f < 0 ? -f : f;
  const bool sci = a != 0 && (a < 1e-6 || a >= 1e21);
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, f, sci ? std::chars_format::scientific : std::chars_format::fixed);
  std::string s(buf, ec == std::errc() ? p : buf);
  // Go trims a negative two-digit exponent's leading zero ("1e-07" -> "1e-7").
  const std::size_t n = s.size();
  if (sci && n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') s.erase(n - 2, 1);
  out += s;
}

void json_value(std::string& out, const value& v) {
  switch (v.type) {
    case kind::string:
    case kind::datetime: json_string(out, v.str); return;
    case kind::integer: out += std::to_string(v.integer); return;
    case kind::floating: json_float(out, v.floating); return;
    case kind::boolean: out += v.boolean ? "true" : "false"; return;
    case kind::array: {
      out.push_back('[');
      for (std::size_t i = 0; i < v.array.size(); ++i) {
        if (i) out.push_back(',');
        json_value(out, v.array[i]);
      }
      out.push_back(']');
      return;
    }
    case kind::map: {
      std::vector<const member*> ms;
      for (const auto& m : v.map)
        if (!m.val.used_variable) ms.push_back(&m);
      std::sort(ms.begin(), ms.end(), [](const member* a, const member* b) { return a->key < b->key; });
      out.push_back('{');
      for (std::size_t i = 0; i < ms.size(); ++i) {
        if (i) out.push_back(',');
        json_string(out, ms[i]->key);
        out.push_back(':');
        json_value(out, ms[i]->val);
      }
      out.push_back('}');
      return;
    }
  }
}

}  // namespace

std::variant<value, parse_error> parse_file(const std::string& path) { return parse_file_impl(path, 0); }

std::variant<value, parse_error> parse_string(std::string_view text, const std::string& file) {
  return parse_impl(text, file, 0);
}

std::string digest(const value& root) {
  std::string json;
  json_value(json, root);
  json.push_back('\n');  // json.Encoder.Encode adds a newline
  return "sha256:" + sha256_hex(json);
}

std::string sha256_hex(std::string_view bytes) {
  static constexpr std::array<std::uint32_t, 64> k = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
      0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
      0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
      0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
  std::array<std::uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string msg(bytes);
  const std::uint64_t bits = static_cast<std::uint64_t>(bytes.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56) msg.push_back('\0');
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<char>((bits >> (i * 8)) & 0xff));
  auto rotr = [](std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  for (std::size_t off = 0; off < msg.size(); off += 64) {
    std::array<std::uint32_t, 64> w{};
    for (int i = 0; i < 16; ++i) {
      const auto* b = reinterpret_cast<const unsigned char*>(msg.data() + off + static_cast<std::size_t>(i) * 4);
      w[i] = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
    }
    for (int i = 16; i < 64; ++i) {
      const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    auto [a, b, c, d, e, f, g, hh] = h;
    for (int i = 0; i < 64; ++i) {
      const std::uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const std::uint32_t ch = (e & f) ^ (~e & g);
      const std::uint32_t t1 = hh + s1 + ch + k[i] + w[i];
      const std::uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const std::uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
      const std::uint32_t t2 = s0 + maj;
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  static constexpr char hexd[] = "0123456789abcdef";
  std::string out;
  for (std::uint32_t x : h)
    for (int i = 7; i >= 0; --i) out.push_back(hexd[(x >> (i * 4)) & 0xf]);
  return out;
}

}  // namespace jb::config::conf
