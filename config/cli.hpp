#pragma once
// Command-line parsing with nats-server's flags and Go `flag` package semantics:
// -x or --x, -x=v or -x v, booleans as -x or -x=false, multi-letter short flags (-js, -DV)
// are single flags, "--" ends the flags, and the bare words "version" and "help" work.
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "config/options.hpp"

namespace jb::config {

enum class cli_action { run, print_version, print_help, test_config, send_signal };

struct cli_result {
  cli_action action = cli_action::run;
  options opts;
  std::optional<bool> tls_flag;  // --tls as given (--tls=false turns TLS off whatever else says)
};

struct cli_error {
  std::string message;  // e.g. `flag provided but not defined: -foo`
};

// argv without the program name.
[[nodiscard]] std::variant<cli_result, cli_error> parse_command_line(std::span<const char* const> args);
// The same, on top of `base` (options loaded from a config file): flags override the file, as in
// nats-server, which parses the flags, loads the file, then applies the flags again.
[[nodiscard]] std::variant<cli_result, cli_error> parse_command_line(std::span<const char* const> args, options base);

[[nodiscard]] const char* usage_text();

}  // namespace jb::config
