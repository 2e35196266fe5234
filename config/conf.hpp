#pragma once
// The nats-server configuration language (nats conf/lex.go + conf/parse.go), parsed into a
// plain value tree. No knowledge of option names lives here; load.hpp applies the tree to
// `options`.
//
// Syntax accepted (see config/README.md for the full list):
//   key: value, key = value, key value; maps `{}` (no separator needed), arrays `[]`;
//   `#` and `//` comments; values end at a newline, `;` or `,`; the whole file may be wrapped in
//   `{}` (JSON); "double" (with \t \n \r \" \\ \xHH escapes), 'single' and bare strings;
//   booleans true/false/yes/no/on/off; integers with size suffixes (k=1000, kb/ki/kib=1024,
//   m, mb, g, gb, t, tb, p, pb, e, eb); floats; Zulu datetimes; `( ... )` block strings;
//   `include path` relative to the including file; `$name` variables (enclosing blocks from the
//   inside out, then the environment, whose value is parsed as a config value).
//
// Thread affinity: none; pure functions, used once at startup (and on reload).
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace jb::config::conf {

struct position {
  std::string file;  // empty when parsing a string
  int line = 0;
  int column = 0;    // 1-based
  // "file:line:col", nats configErr.Source() shape.
  [[nodiscard]] std::string str() const;
};

enum class kind { string, integer, floating, boolean, datetime, array, map };

struct member;

struct value {
  kind type = kind::map;
  std::string str;  // string, datetime ("2006-01-02T15:04:05Z")
  std::int64_t integer = 0;
  double floating = 0;
  bool boolean = false;
  std::vector<value> array;
  std::vector<member> map;  // in file order; a repeated key replaces the earlier value in place
  // Map members: where the key starts. Array elements: where the value starts.
  position pos;
  // Set on a map member when some `$name` referred to it (nats token.IsUsedVariable): such
  // keys are variable definitions, not options, so unknown-key checks skip them.
  bool used_variable = false;

  [[nodiscard]] const value* find(std::string_view key) const;  // exact match
  // Go's type name as nats-server reports it: string, int64, float64, bool, time.Time,
  // []interface {}, map[string]interface {}.
  [[nodiscard]] const char* go_type() const;
};

struct member {
  std::string key;
  value val;
};

struct parse_error {
  // nats-server's wording, e.g. "Parse error on line 3: 'Expected a map value terminator ...'",
  // "variable reference for 'X' on line 4 can not be found",
  // "error parsing include file 'a.conf', open ...: No such file or directory".
  std::string message;
  position pos;  // best effort: where the problem was detected
};

// Reads and parses a file. Errors: the file cannot be read ("open <path>: <reason>"), any
// syntax error, an unresolved variable, a failing include.
[[nodiscard]] std::variant<value, parse_error> parse_file(const std::string& path);

// Parses text; `file` names it in positions and is the base for relative includes (its
// directory; the working directory when empty).
[[nodiscard]] std::variant<value, parse_error> parse_string(std::string_view text, const std::string& file = "");

// nats ParseFileWithChecksDigest: "sha256:<hex>" of the JSON encoding of the tree (sorted keys,
// Go's escaping, trailing newline), leaving out variable definitions that were used.
[[nodiscard]] std::string digest(const value& root);

// SHA-256 of bytes as lowercase hex (exposed for tests).
[[nodiscard]] std::string sha256_hex(std::string_view bytes);

}  // namespace jb::config::conf
