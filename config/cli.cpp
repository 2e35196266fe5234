#include "config/cli.hpp"

#include <charconv>
#include <cstring>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace jb::config {
namespace {

enum class kind { boolean, string, integer };

struct flag_def {
  std::vector<std::string_view> names;
  kind k;
  std::function<bool(options&, cli_result&, std::string_view)> set;  // false: bad value
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

const std::vector<flag_def>& flags() {
  static const std::vector<flag_def> defs = [] {
    std::vector<flag_def> d;
    auto str = [&](std::vector<std::string_view> n, std::function<void(options&, std::string_view)> f) {
      d.push_back({std::move(n), kind::string, [f](options& o, cli_result&, std::string_view v) { f(o, v); return true; }});
    };
    auto integer = [&](std::vector<std::string_view> n, std::function<void(options&, int)> f) {
      d.push_back({std::move(n), kind::integer, [f](options& o, cli_result&, std::string_view v) {
                     int x = 0;
                     if (!parse_int(v, x)) return false;
                     f(o, x);
                     return true;
                   }});
    };
    auto boolean = [&](std::vector<std::string_view> n, std::function<void(options&, cli_result&, bool)> f) {
      d.push_back({std::move(n), kind::boolean, [f](options& o, cli_result& r, std::string_view v) {
                     auto b = parse_bool(v);
                     if (!b) return false;
                     f(o, r, *b);
                     return true;
                   }});
    };
    integer({"p", "port"}, [](options& o, int v) { o.port = v == 0 ? 4222 : v; });
    str({"a", "addr", "net"}, [](options& o, std::string_view v) { o.host = v; });
    str({"n", "name", "server_name"}, [](options& o, std::string_view v) { o.server_name = v; });
    integer({"m", "http_port"}, [](options& o, int v) { o.http_port = v; });
    str({"c", "config"}, [](options& o, std::string_view v) { o.config_file = v; });
    boolean({"js", "jetstream"}, [](options& o, cli_result&, bool b) { o.jetstream = b; });
    str({"sd", "store_dir"}, [](options& o, std::string_view v) {
      o.store_dir = v;
      o.store_in_memory = (v == ":memory:");
    });
    str({"user"}, [](options& o, std::string_view v) { o.user = v; });
    str({"pass"}, [](options& o, std::string_view v) { o.password = v; });
    str({"auth"}, [](options& o, std::string_view v) { o.auth_token = v; });
    // TLS flags override the config file's tls {}; any of them turns TLS on unless --tls=false.
    auto tls_of = [](options& o) -> tls_options& {
      if (!o.tls) o.tls.emplace();
      return *o.tls;
    };
    boolean({"tls"}, [](options&, cli_result& r, bool b) { r.tls_flag = b; });
    str({"tlscert"}, [tls_of](options& o, std::string_view v) { tls_of(o).cert_file = v; });
    str({"tlskey"}, [tls_of](options& o, std::string_view v) { tls_of(o).key_file = v; });
    str({"tlscacert"}, [tls_of](options& o, std::string_view v) { tls_of(o).ca_file = v; });
    boolean({"tlsverify"}, [tls_of](options& o, cli_result&, bool b) { tls_of(o).verify = b; });
    boolean({"D", "debug"}, [](options& o, cli_result&, bool b) { o.debug = b; });
    boolean({"V", "trace"}, [](options& o, cli_result&, bool b) { o.trace = b; });
    boolean({"VV"}, [](options& o, cli_result&, bool b) { o.trace = b; });
    boolean({"DV"}, [](options& o, cli_result&, bool b) { o.debug = o.trace = b; });
    boolean({"DVV"}, [](options& o, cli_result&, bool b) { o.debug = o.trace = b; });
    boolean({"T", "logtime"}, [](options& o, cli_result&, bool b) { o.logtime = b; });
    boolean({"logtime_utc"}, [](options& o, cli_result&, bool b) { o.logtime_utc = b; });
    str({"l", "log"}, [](options& o, std::string_view v) { o.log_file = v; });
    str({"P", "pid"}, [](options& o, std::string_view v) { o.pid_file = v; });
    str({"ports_file_dir"}, [](options& o, std::string_view v) { o.ports_file_dir = v; });
    boolean({"v", "version"}, [](options&, cli_result& r, bool b) { if (b) r.action = cli_action::print_version; });
    boolean({"h", "help"}, [](options&, cli_result& r, bool b) { if (b) r.action = cli_action::print_help; });
    boolean({"t"}, [](options&, cli_result& r, bool b) { if (b) r.action = cli_action::test_config; });
    d.push_back({{"sl", "signal"}, kind::string, [](options& o, cli_result& r, std::string_view v) {
                   o.signal = v;
                   r.action = cli_action::send_signal;
                   return true;
                 }});
    return d;
  }();
  return defs;
}

const flag_def* find_flag(std::string_view name) {
  for (const auto& f : flags())
    for (auto n : f.names)
      if (n == name) return &f;
  return nullptr;
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
    if (!f->set(r.opts, r, *value)) {
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
