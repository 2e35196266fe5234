// jetbroker: the daemon. Parses nats-server's flags, sets up logging, runs the server until
// SIGINT/SIGTERM.
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <vector>

#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>

#include "config/cli.hpp"
#include "config/load.hpp"
#include "server/file_store_exec.hpp"
#include "server/log.hpp"
#include "server/server.hpp"
#include "server/tls.hpp"
#include "storage/file_env.hpp"
#include "version.hpp"

namespace {

int fail(const std::string& msg) {
  jb::log::fatal(msg);
  return 1;
}

// Writes `text` to a new file beside `path` (unique name, O_EXCL) and renames it into place, so a
// reader that sees the file (a harness polling for the pid or ports file) sees all of it. On
// failure nothing is renamed, the temporary is removed and the error is returned.
std::optional<std::string> write_file_whole(const std::filesystem::path& path, const std::string& text) {
  std::string tmp = path.string() + ".XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return "open " + path.string() + ": " + std::strerror(errno);
  std::optional<std::string> err;
  for (std::size_t off = 0; off < text.size() && !err;) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = "write " + path.string() + ": " + std::strerror(errno);
    else off += static_cast<std::size_t>(n);
  }
  if (!err && ::fchmod(fd, 0644) != 0) err = "chmod " + path.string() + ": " + std::strerror(errno);
  if (::close(fd) != 0 && !err) err = "write " + path.string() + ": " + std::strerror(errno);
  if (!err && ::rename(tmp.c_str(), path.c_str()) != 0) err = "rename to " + path.string() + ": " + std::strerror(errno);
  if (err) ::unlink(tmp.c_str());
  return err;
}

// Removes the pid and ports files when main returns or unwinds, as nats-server does on shutdown.
struct remove_on_exit {
  std::vector<std::filesystem::path> paths;
  ~remove_on_exit() {
    std::error_code ignored;
    for (const auto& p : paths) std::filesystem::remove(p, ignored);
  }
};

std::filesystem::path write_ports_file(const std::string& dir, const char* argv0, const jb::server::server& srv) {
  namespace json = boost::json;
  const auto& o = srv.opts();
  std::string host = o.host == "0.0.0.0" || o.host == "::" ? "127.0.0.1" : o.host;
  json::object ports;
  ports["nats"] = json::array{json::string("nats://" + host + ":" + std::to_string(srv.port()))};
  if (srv.websocket_port() > 0) {
    ports["websocket"] = json::array{json::string(std::string(o.websocket.tls ? "wss" : "ws") + "://" + host + ":" +
                                                  std::to_string(srv.websocket_port()))};
  }
  if (srv.http_port() > 0) ports["monitoring"] = json::array{json::string("http://" + host + ":" + std::to_string(srv.http_port()))};
  auto path = std::filesystem::path(dir) /
              (std::filesystem::path(argv0).filename().string() + "_" + std::to_string(::getpid()) + ".ports");
  if (auto err = write_file_whole(path, json::serialize(ports))) {
    jb::log::server().error("Error writing ports file ({}): {}", path.string(), *err);
    return {};
  }
  return path;
}

// -sl/--signal <cmd>[=<pid or pid file>], with nats-server's commands and signals. Without a pid,
// the one running process with this executable's name is signalled.
int send_signal_command(const std::string& spec, const char* argv0) {
  std::string cmd = spec, target;
  if (auto eq = spec.find('='); eq != std::string::npos) {
    cmd = spec.substr(0, eq);
    target = spec.substr(eq + 1);
  }
  int sig = 0;
  if (cmd == "stop") sig = SIGKILL;
  else if (cmd == "quit") sig = SIGINT;
  else if (cmd == "term") sig = SIGTERM;
  else if (cmd == "reopen") sig = SIGUSR1;
  else if (cmd == "reload") sig = SIGHUP;
  else if (cmd == "ldm") sig = SIGUSR2;
  else {
    std::fprintf(stderr, "jetbroker: unknown signal \"%s\"\n", cmd.c_str());
    return 1;
  }
  std::vector<pid_t> pids;
  if (!target.empty()) {
    char* end = nullptr;
    long v = std::strtol(target.c_str(), &end, 10);
    if (end && *end == '\0' && v > 0) {
      pids.push_back(static_cast<pid_t>(v));
    } else {
      std::ifstream f(target);
      long p = 0;
      if (!(f >> p) || p <= 0) {
        std::fprintf(stderr, "jetbroker: invalid pid or pid file \"%s\"\n", target.c_str());
        return 1;
      }
      pids.push_back(static_cast<pid_t>(p));
    }
  } else {
    // Processes whose executable has our name, other than this one.
    const std::string self = std::filesystem::path(argv0).filename().string();
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      const auto name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream comm(e.path() / "comm");
      std::string c;
      std::getline(comm, c);
      pid_t p = static_cast<pid_t>(std::stol(name));
      if (c == self.substr(0, 15) && p != ::getpid()) pids.push_back(p);
    }
    if (pids.empty()) {
      std::fprintf(stderr, "jetbroker: no %s process running\n", self.c_str());
      return 1;
    }
    if (pids.size() > 1) {
      std::fprintf(stderr, "jetbroker: multiple %s processes running; specify a pid\n", self.c_str());
      return 1;
    }
  }
  for (pid_t p : pids) {
    if (::kill(p, sig) != 0) {
      std::fprintf(stderr, "jetbroker: sending signal to %d: %s\n", static_cast<int>(p), std::strerror(errno));
      return 1;
    }
  }
  return 0;
}

// `jetbroker` is linked without RocksDB (storage/file_env.hpp): a broker without JetStream, or
// with JetStream in memory only, never maps or initialises the file store's code. When the
// configuration asks for a store directory, the process execs the sibling executable that has it,
// with the same arguments and environment: same pid, argv and open descriptors (none yet), so
// harnesses, pid files and signals see one process. Returns only on failure.
int exec_file_store(char** argv) {
  char path[4096];
  if (!jb::server::file_store_executable(argv[0], path, sizeof path)) {
    std::fprintf(stderr, "jetbroker: executable path too long\n");
    return 1;
  }
  ::execv(path, argv);
  const int e = errno;
  std::fprintf(stderr,
               "jetbroker: JetStream with a store directory needs the file store executable %s: %s "
               "(install it beside jetbroker, or use --store_dir=:memory:)\n",
               path, std::strerror(e));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::span<const char* const> args(argv + 1, static_cast<std::size_t>(argc - 1));
  auto parsed = jb::config::parse_command_line(args);
  if (auto* err = std::get_if<jb::config::cli_error>(&parsed)) {
    std::fprintf(stderr, "jetbroker: %s\n%s", err->message.c_str(), jb::config::usage_text());
    return 1;
  }
  auto& cli = std::get<jb::config::cli_result>(parsed);
  switch (cli.action) {
    case jb::config::cli_action::print_version:
      std::printf("jetbroker: v%s (nats-server v%s compatible)\n", jb::jetbroker_version, jb::server::nats_compat_version);
      return 0;
    case jb::config::cli_action::print_help:
      std::printf("%s", jb::config::usage_text());
      return 0;
    case jb::config::cli_action::test_config: {
      if (cli.opts.config_file.empty()) {
        std::fprintf(stderr, "jetbroker: must specify [-c, --config] option to check configuration file(s)\n");
        return 1;
      }
      auto c = jb::config::check_config_file(cli.opts.config_file);
      std::fprintf(stderr, "jetbroker: %s\n", c.message.c_str());
      return c.ok ? 0 : 1;
    }
    case jb::config::cli_action::send_signal:
      return send_signal_command(cli.opts.signal, argv[0]);
    case jb::config::cli_action::run:
      break;
  }
  auto opts = cli.opts;
  std::vector<std::string> warnings, notices;
  if (!cli.opts.config_file.empty()) {
    // Flags, then the file, then the flags again on top: command-line flags win.
    jb::config::options from_file;
    auto r = jb::config::load_config_file(cli.opts.config_file, from_file);
    if (auto* e = std::get_if<jb::config::load_error>(&r)) {
      std::fprintf(stderr, "jetbroker: %s\n", e->message.c_str());
      return 1;
    }
    auto& ok = std::get<jb::config::load_result>(r);
    warnings = std::move(ok.warnings);
    notices = std::move(ok.notices);
    auto again = jb::config::parse_command_line(args, std::move(from_file));
    opts = std::get<jb::config::cli_result>(again).opts;
  }
  if (!jb::storage::file_store_linked()) {
    if (opts.jetstream && !opts.store_in_memory) return exec_file_store(argv);
  } else {
    // Exec'd by `jetbroker`: the process keeps the name it was started with, for ps, pgrep and
    // `--signal` without a pid.
    ::prctl(PR_SET_NAME, std::filesystem::path(argv[0]).filename().string().substr(0, 15).c_str());
  }
  for (auto& w : warnings) std::fprintf(stderr, "%s\n", w.c_str());
  if (opts.tls) {
    if (auto e = jb::server::check_tls_options(*opts.tls)) {
      std::fprintf(stderr, "jetbroker: %s\n", e->c_str());
      return 1;
    }
  }
  if (auto e = jb::server::check_websocket_options(opts)) {
    std::fprintf(stderr, "jetbroker: %s\n", e->c_str());
    return 1;
  }
  jb::log::init({opts.log_file, opts.debug, opts.trace, opts.logtime, opts.logtime_utc});
  for (auto& n : notices) jb::log::server().warn("{}", n);
  std::signal(SIGPIPE, SIG_IGN);
  try {
    jb::server::server srv(opts);
    // Signals as nats-server handles them: INT/TERM stop, USR1 reopens the log file, USR2 enters
    // lame-duck mode, HUP reloads (logging options from the config file).
    boost::asio::signal_set signals(srv.io(), SIGINT, SIGTERM, SIGUSR1);
    signals.add(SIGUSR2);
    signals.add(SIGHUP);
    std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int sig) {
      if (ec) return;
      switch (sig) {
        case SIGINT:
        case SIGTERM:
          jb::log::server().info("Trapped \"{}\" signal", sig == SIGINT ? "interrupt" : "terminated");
          jb::log::server().info("Initiating Shutdown...");
          srv.shutdown();
          return;  // no more signals
        case SIGUSR1:
          jb::log::init({opts.log_file, opts.debug, opts.trace, opts.logtime, opts.logtime_utc});
          jb::log::server().info("Reopened log file");
          break;
        case SIGUSR2:
          jb::log::server().info("Trapped \"user defined signal 2\" signal");
          srv.enter_lame_duck();
          break;
        case SIGHUP: {
          jb::log::server().info("Trapped \"hangup\" signal");
          if (opts.config_file.empty()) {
            jb::log::server().warn("Reload: no configuration file to reload");
            break;
          }
          jb::config::options reloaded;
          auto r = jb::config::load_config_file(opts.config_file, reloaded);
          if (auto* e = std::get_if<jb::config::load_error>(&r)) {
            jb::log::server().error("Failed to reload server configuration: {}", e->message);
            break;
          }
          auto again = jb::config::parse_command_line(args, std::move(reloaded));
          auto& n = std::get<jb::config::cli_result>(again).opts;
          opts.log_file = n.log_file;
          opts.debug = n.debug;
          opts.trace = n.trace;
          opts.logtime = n.logtime;
          opts.logtime_utc = n.logtime_utc;
          jb::log::init({opts.log_file, opts.debug, opts.trace, opts.logtime, opts.logtime_utc});
          jb::log::server().info("Reloaded server configuration");
          break;
        }
        default:
          break;
      }
      signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);
    srv.start();
    remove_on_exit cleanup;
    if (!opts.pid_file.empty()) {
      if (auto err = write_file_whole(opts.pid_file, std::to_string(::getpid())))
        throw std::runtime_error("Could not write pidfile: " + *err);
      cleanup.paths.emplace_back(opts.pid_file);
    }
    if (!opts.ports_file_dir.empty()) {
      if (auto ports_file = write_ports_file(opts.ports_file_dir, argv[0], srv); !ports_file.empty())
        cleanup.paths.push_back(std::move(ports_file));
    }
    srv.run();
    if (srv.failed()) return 1;  // logged by server::fail
    jb::log::server().info("Server Exiting..");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return 0;
}
