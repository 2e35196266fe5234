#pragma once
// Applies a nats-server configuration file to `options` (nats opts.go ProcessConfigFile).
//
// Precedence (what nats-server does): parse the command line, load the file into a FRESH
// `options`, then apply the command line again on top, so flags win over the file. See
// config/README.md for the exact main() sequence.
//
// Errors and warnings use nats-server's text: `<file>:<line>:<col>: unknown field "foo"`,
// `<file>:<line>:<col>: invalid use of field "ping_interval": ping_interval should be converted
// to a duration`, or the parser's `Parse error on line N: '...'`.
//
// Thread affinity: none; call at startup (or reload) before the server reads the options.
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/conf.hpp"
#include "config/options.hpp"

namespace jb::config {

struct load_result {
  // nats-server's own warnings, each a full line, e.g. `<file>:3:1: invalid use of field
  // "ping_interval": ping_interval should be converted to a duration`. nats-server prints them
  // to stderr and carries on; under -t they are failures.
  std::vector<std::string> warnings;
  // jetbroker's: one line per recorded options::unsupported entry, e.g.
  // `<file>:5:1: "leafnodes" is not supported by jetbroker, ignoring it`. Log at warning level;
  // never fatal, not even under -t (nats-server accepts these files).
  std::vector<std::string> notices;
  std::string digest;  // "sha256:..." (nats ParseFileWithChecksDigest)
};

struct load_error {
  // Everything that went wrong, one per line: warnings first, then errors (nats
  // processConfigErr.Error()), without a trailing newline. Contains "Parse error" for syntax
  // errors.
  std::string message;
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};

// Parses `path` and applies it to `out`. Sets out.config_file = path. On error `out` may be
// partly updated; discard it. Unknown top-level keys are errors (unless they are variables that
// were referenced); cluster, gateway, leafnodes and mqtt are recorded in out.unsupported with a
// warning.
[[nodiscard]] std::variant<load_result, load_error> load_config_file(const std::string& path, options& out);

// The same for text (tests, embedding). `name` is used in positions and as the include base.
[[nodiscard]] std::variant<load_result, load_error> load_config_string(std::string_view text, options& out,
                                                                      const std::string& name = "");

// Applies an already parsed tree.
[[nodiscard]] std::variant<load_result, load_error> apply_config(const conf::value& root, options& out);

// `-t`: validate the file as nats-server does (warnings count as failures).
struct check_result {
  bool ok = false;
  // ok:  "configuration file <path> is valid (sha256:...)"; print as "<exe>: " + message to
  //      stderr and exit 0, as nats-server does.
  // !ok: the error text (as load_error::message); print "<exe>: " + message, exit 1.
  std::string message;
};
[[nodiscard]] check_result check_config_file(const std::string& path);

}  // namespace jb::config
