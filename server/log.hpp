#pragma once
// Logging in nats-server's line shape: `[pid] YYYY/MM/DD HH:MM:SS.micro [INF] message`.
// One spdlog logger per subsystem, all writing to the same sink (stderr or a file).
#include <atomic>
#include <memory>
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
// A payload as nats-server's trace lines show it (`MSG_PAYLOAD: ["..."]`): a double-quoted string
// with Go's escapes (\", \\, \n, \r, \t, \a, \b, \f, \v, \xNN for other control bytes and for
// bytes that are not valid UTF-8).
std::string quote_payload(std::string_view headers, std::string_view payload);

}  // namespace jb::log
