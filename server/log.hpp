#pragma once
// Logging in nats-server's line shape: `[pid] YYYY/MM/DD HH:MM:SS.micro [INF] message`.
// One spdlog logger per subsystem, all writing to the same sink (stderr or a file).
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace jb::log {

struct log_options {
  std::string file;  // empty: stderr
  bool debug = false;
  bool trace = false;
  bool logtime = true;
  bool utc = false;
};

// Sets up the sinks and the subsystem loggers; call once at start-up (and on reopen).
void init(const log_options& o);

spdlog::logger& server();
spdlog::logger& client();
spdlog::logger& jetstream();
spdlog::logger& storage();
spdlog::logger& monitor();

// The fatal line ([FTL]) that harnesses look for, then flush.
void fatal(const std::string& msg);

// Protocol tracing (-V): was init() called with trace on? A relaxed load, cheap enough for the
// per-message paths that check it.
extern std::atomic<bool> tracing_on;
inline bool tracing() noexcept { return tracing_on.load(std::memory_order_relaxed); }
// A message as nats-server's trace lines show it (`MSG_PAYLOAD: ["..."]`): headers and payload as
// one double-quoted string with Go's %q escapes (\", \\, \n, \r, \t, \a, \b, \f, \v, \xNN for
// other control bytes and for bytes that are not valid UTF-8, \uNNNN for non-printable code
// points). nullopt when nats-server prints no line: nothing to show (an empty message, or no
// headers with trace_headers).
struct payload_trace {
  int max_len = 0;            // max_traced_msg_len: longer messages are cut, with `...` at the end
  bool headers_only = false;  // trace_headers
};
std::optional<std::string> quote_payload(std::string_view headers, std::string_view payload, const payload_trace& t = {});
// CONNECT's arguments as nats-server traces them: the values of pass*, auth_token*, sig, nkey and
// proxy_sig replaced by [REDACTED].
std::string redact_connect(std::string_view arg);

}  // namespace jb::log
