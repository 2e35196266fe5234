#include "config/cli.hpp"

#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

namespace jb::config {
namespace {

enum class kind { boolean, string, integer };

// Every flag, as a constant table: the start-up parse runs no constructor and touches one
// function (apply), where a table of std::function built at first use cost about a hundred
// allocations and as many scattered functions' pages on every start.
enum class flag {
  port, addr, name, http_port, config, jetstream, store_dir, user, pass, auth, tls, tlscert, tlskey,
  tlscacert, tlsverify, debug, trace, debug_trace, logtime, logtime_utc, log, pid, ports_file_dir,
  version, help, test_config, signal
};

struct flag_def {
  std::string_view names[3];
  kind k;
  flag id;
};

constexpr flag_def flag_defs[] = {
    {{"p", "port"}, kind::integer, flag::port},
    {{"a", "addr", "net"}, kind::string, flag::addr},
    {{"n", "name", "server_name"}, kind::string, flag::name},
    {{"m", "http_port"}, kind::integer, flag::http_port},
    {{"c", "config"}, kind::string, flag::config},
    {{"js", "jetstream"}, kind::boolean, flag::jetstream},
    {{"sd", "store_dir"}, kind::string, flag::store_dir},
    {{"user"}, kind::string, flag::user},
    {{"pass"}, kind::string, flag::pass},
    {{"auth"}, kind::string, flag::auth},
    {{"tls"}, kind::boolean, flag::tls},
    {{"tlscert"}, kind::string, flag::tlscert},
    {{"tlskey"}, kind::string, flag::tlskey},
    {{"tlscacert"}, kind::string, flag::tlscacert},
    {{"tlsverify"}, kind::boolean, flag::tlsverify},
    {{"D", "debug"}, kind::boolean, flag::debug},
    {{"V", "trace", "VV"}, kind::boolean, flag::trace},
    {{"DV", "DVV"}, kind::boolean, flag::debug_trace},
    {{"T", "logtime"}, kind::boolean, flag::logtime},
    {{"logtime_utc"}, kind::boolean, flag::logtime_utc},
    {{"l", "log"}, kind::string, flag::log},
    {{"P", "pid"}, kind::string, flag::pid},
    {{"ports_file_dir"}, kind::string, flag::ports_file_dir},
    {{"v", "version"}, kind::boolean, flag::version},
    {{"h", "help"}, kind::boolean, flag::help},
    {{"t"}, kind::boolean, flag::test_config},
    {{"sl", "signal"}, kind::string, flag::signal},
};

bool parse_int(std::string_view v, int& out) {
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && p == v.data() + v.size();
}

std::optional<bool> parse_bool(std::string_view v) {
  // Go's strconv.ParseBool.
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False") return false;
  return std::nullopt;
}

const flag_def* find_flag(std::string_view name) {
  for (const auto& f : flag_defs)
    for (auto n : f.names)
      if (!n.empty() && n == name) return &f;
  return nullptr;
}

// TLS flags override the config file's tls {}; any of them turns TLS on unless --tls=false.
tls_options& tls_of(options& o) {
  if (!o.tls) o.tls.emplace();
  return *o.tls;
}

// Sets one flag's value; false when the value is not valid for the flag's kind.
bool apply(const flag_def& f, std::string_view v, options& o, cli_result& r) {
  int n = 0;
  bool b = false;
  if (f.k == kind::integer && !parse_int(v, n)) return false;
  if (f.k == kind::boolean) {
    auto parsed = parse_bool(v);
    if (!parsed) return false;
    b = *parsed;
  }
  switch (f.id) {
    case flag::port: o.port = n == 0 ? 4222 : n; break;
    case flag::addr: o.host = v; break;
    case flag::name: o.server_name = v; break;
    case flag::http_port: o.http_port = n; break;
    case flag::config: o.config_file = v; break;
    case flag::jetstream: o.jetstream = b; break;
    case flag::store_dir:
      o.store_dir = v;
      o.store_in_memory = (v == ":memory:");
      break;
    case flag::user: o.user = v; break;
    case flag::pass: o.password = v; break;
    case flag::auth: o.auth_token = v; break;
    case flag::tls: r.tls_flag = b; break;
    case flag::tlscert: tls_of(o).cert_file = v; break;
    case flag::tlskey: tls_of(o).key_file = v; break;
    case flag::tlscacert: tls_of(o).ca_file = v; break;
    case flag::tlsverify: tls_of(o).verify = b; break;
    case flag::debug: o.debug = b; break;
    case flag::trace: o.trace = b; break;
    case flag::debug_trace: o.debug = o.trace = b; break;
    case flag::logtime: o.logtime = b; break;
    case flag::logtime_utc: o.logtime_utc = b; break;
    case flag::log: o.log_file = v; break;
    case flag::pid: o.pid_file = v; break;
    case flag::ports_file_dir: o.ports_file_dir = v; break;
    case flag::version:
      if (b) r.action = cli_action::print_version;
      break;
    case flag::help:
      if (b) r.action = cli_action::print_help;
      break;
    case flag::test_config:
      if (b) r.action = cli_action::test_config;
      break;
    case flag::signal:
      o.signal = v;
      r.action = cli_action::send_signal;
      break;
  }
  return true;
}

}  // namespace

std::variant<cli_result, cli_error> parse_command_line(std::span<const char* const> args) {
  return parse_command_line(args, options{});
}

std::variant<cli_result, cli_error> parse_command_line(std::span<const char* const> args, options base) {
  cli_result r;
  r.opts = std::move(base);
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a.size() < 2 || a[0] != '-') break;  // first positional argument
    if (a == "--") { ++i; break; }
    std::string_view body = a.substr(a[1] == '-' ? 2 : 1);
    if (body.empty() || body[0] == '-' || body[0] == '=') return cli_error{"bad flag syntax: " + std::string(a)};
    std::optional<std::string_view> value;
    if (auto eq = body.find('='); eq != std::string_view::npos) {
      value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    const flag_def* f = find_flag(body);
    if (!f) return cli_error{"flag provided but not defined: -" + std::string(body)};
    if (f->k == kind::boolean) {
      if (!value) value = "true";
    } else if (!value) {
      if (i + 1 >= args.size()) return cli_error{"flag needs an argument: -" + std::string(body)};
      value = args[++i];
    }
    if (!apply(*f, *value, r.opts, r)) {
      return cli_error{"invalid value \"" + std::string(*value) + "\" for flag -" + std::string(body)};
    }
  }
  if (r.tls_flag.value_or(true)) {
    if (r.tls_flag && !r.opts.tls) r.opts.tls.emplace();
  } else {
    r.opts.tls.reset();
  }
  for (; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "version") r.action = cli_action::print_version;
    else if (a == "help") r.action = cli_action::print_help;
    else return cli_error{"unrecognized command: \"" + std::string(a) + "\""};
  }
  return r;
}

const char* usage_text() {
  return R"(Usage: jetbroker [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222; -1 picks a free port)
    -n, --name, --server_name <name> Server name (default: the server id)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring (-1 picks a free port)
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
        --ports_file_dir <dir>       Write a <exe>_<pid>.ports file with the bound ports

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -DV                              Debug and trace

JetStream Options:
    -js, --jetstream                 Enable JetStream functionality
    -sd, --store_dir <dir>           Set the storage directory (":memory:" keeps everything in RAM)

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

Signal Options:
    -sl, --signal <cmd>[=<pid>]      Send signal to jetbroker process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID or the path to a PID file

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
)";
}

}  // namespace jb::config
