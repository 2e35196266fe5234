#include "server/log.hpp"

#include <unistd.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace jb::log {
namespace {

// nats-server's three-letter level tags.
class level_flag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr const char* names[] = {"TRC", "DBG", "INF", "WRN", "ERR", "FTL", "   "};
    const char* n = names[static_cast<int>(msg.level)];
    dest.append(n, n + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<level_flag>(); }
};

std::shared_ptr<spdlog::logger> loggers[5];
const char* names[5] = {"server", "client", "jetstream", "storage", "monitor"};

std::shared_ptr<spdlog::logger>& get(int i) {
  if (!loggers[i]) init({});
  return loggers[i];
}

}  // namespace

void init(const log_options& o) {
  spdlog::sink_ptr sink;
  if (o.file.empty()) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  else sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(o.file, false);
  auto fmt = std::make_unique<spdlog::pattern_formatter>(
      o.utc ? spdlog::pattern_time_type::utc : spdlog::pattern_time_type::local);
  fmt->add_flag<level_flag>('*');
  std::string pattern = "[" + std::to_string(::getpid()) + "] ";
  if (o.logtime) pattern += "%Y/%m/%d %H:%M:%S.%f ";
  pattern += "[%*] %v";
  fmt->set_pattern(pattern);
  sink->set_formatter(std::move(fmt));
  auto level = o.trace ? spdlog::level::trace : o.debug ? spdlog::level::debug : spdlog::level::info;
  tracing_on.store(o.trace, std::memory_order_relaxed);
  for (int i = 0; i < 5; ++i) {
    loggers[i] = std::make_shared<spdlog::logger>(names[i], sink);
    loggers[i]->set_level(level);
    loggers[i]->flush_on(spdlog::level::info);
    // Registered so that libraries logging by name (storage/logger.hpp) share the sink and format.
    spdlog::drop(names[i]);
    spdlog::register_logger(loggers[i]);
  }
}

spdlog::logger& server() { return *get(0); }
spdlog::logger& client() { return *get(1); }
spdlog::logger& jetstream() { return *get(2); }
spdlog::logger& storage() { return *get(3); }
spdlog::logger& monitor() { return *get(4); }

std::atomic<bool> tracing_on{false};

namespace {
// Length of the valid UTF-8 sequence starting at s[i] (2-4), or 0.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  const std::size_t n = (b >= 0xC2 && b < 0xE0) ? 2 : (b >= 0xE0 && b < 0xF0) ? 3 : (b >= 0xF0 && b <= 0xF4) ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return n;
}
void quote_into(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\a': out += "\\a"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      case '\v': out += "\\v"; continue;
      default: break;
    }
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else if (std::size_t n = c >= 0x80 ? utf8_len(s, i) : 0; n > 0) {
      out.append(s.substr(i, n));
      i += n - 1;
    } else {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
}
}  // namespace

std::string quote_payload(std::string_view headers, std::string_view payload) {
  std::string out;
  out.reserve(headers.size() + payload.size() + 8);
  out += "[\"";
  quote_into(out, headers);
  quote_into(out, payload);
  out += "\"]";
  return out;
}

void fatal(const std::string& msg) {
  server().critical("{}", msg);
  server().flush();
}

}  // namespace jb::log
