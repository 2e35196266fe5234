#pragma once
// Logging in nats-server's line shape: `[pid] YYYY/MM/DD HH:MM:SS.micro [INF] message`.
// One spdlog logger per subsystem, all writing to the same sink (stderr or a file).
#include <memory>
#include <string>

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

}  // namespace jb::log
