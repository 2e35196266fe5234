#include "server/log.hpp"

#include <unistd.h>

#include <cstdint>
#include <mutex>
#include <optional>

#include <boost/regex.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
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

// The loggers live for the whole process and write through one dist_sink; init() (start-up,
// SIGHUP, SIGUSR1) swaps the sink inside it under the sink's mutex. Replacing the loggers
// themselves freed them under threads that were logging through them.
std::shared_ptr<spdlog::sinks::dist_sink_mt> out;
std::shared_ptr<spdlog::logger> loggers[5];
const char* names[5] = {"server", "client", "jetstream", "storage", "monitor"};
std::once_flag created;

void configure(const log_options& o) {
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
  out->set_sinks({std::move(sink)});
  const auto level = o.trace ? spdlog::level::trace : o.debug ? spdlog::level::debug : spdlog::level::info;
  for (auto& l : loggers) l->set_level(level);
  tracing_on.store(o.trace, std::memory_order_relaxed);
}

void create() {
  std::call_once(created, [] {
    out = std::make_shared<spdlog::sinks::dist_sink_mt>();
    for (int i = 0; i < 5; ++i) {
      loggers[i] = std::make_shared<spdlog::logger>(names[i], out);
      loggers[i]->flush_on(spdlog::level::info);
      // Registered so that libraries logging by name (storage/logger.hpp) share the sink and format.
      spdlog::drop(names[i]);
      spdlog::register_logger(loggers[i]);
    }
    configure({});
  });
}

spdlog::logger& get(int i) {
  create();
  return *loggers[i];
}

}  // namespace

void init(const log_options& o) {
  create();
  configure(o);
}

spdlog::logger& server() { return get(0); }
spdlog::logger& client() { return get(1); }
spdlog::logger& jetstream() { return get(2); }
spdlog::logger& storage() { return get(3); }
spdlog::logger& monitor() { return get(4); }

std::atomic<bool> tracing_on{false};

namespace {
// The valid UTF-8 sequence starting at s[i] (RFC 3629: no overlong forms, no surrogates, nothing
// past U+10FFFF): its length (2-4) and code point, or length 0.
std::size_t utf8_decode(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) n = 2;
  else if (b >= 0xE0 && b <= 0xEF) n = 3, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
  else if (b >= 0xF0 && b <= 0xF4) n = 4, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
  if (n == 0 || i + n > s.size()) return 0;
  const auto b1 = static_cast<unsigned char>(s[i + 1]);
  if (b1 < lo || b1 > hi) return 0;
  cp = b & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (std::size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  return n;
}

// Code points Go's strconv.Quote writes as u-escapes because unicode.IsPrint is false for them:
// C1 controls, the space separators but ASCII space, line and paragraph separators, the common
// format characters, private use and the noncharacters U+FFFE/U+FFFF. (Unassigned code points,
// which Go escapes as well, are passed through.)
bool go_unprintable(char32_t cp) {
  if (cp < 0xA0) return true;  // C1 (only reached for cp >= 0x80)
  switch (cp) {
    case 0xA0: case 0xAD: case 0x61C: case 0x1680: case 0x180E: case 0x202F: case 0x205F: case 0x3000:
    case 0xFEFF: case 0xFFFE: case 0xFFFF:
      return true;
    default: break;
  }
  return (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) ||
         (cp >= 0xE000 && cp <= 0xF8FF) || (cp >= 0xFFF9 && cp <= 0xFFFB) || cp >= 0xF0000;
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
    char32_t cp = 0;
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else if (std::size_t n = c >= 0x80 ? utf8_decode(s, i, cp) : 0; n > 0) {
      if (go_unprintable(cp)) {
        const int digits = cp < 0x10000 ? 4 : 8;
        out += cp < 0x10000 ? "\\u" : "\\U";
        for (int d = digits - 1; d >= 0; --d) out.push_back(hex[(cp >> (4 * d)) & 15]);
      } else {
        out.append(s.substr(i, n));
      }
      i += n - 1;
    } else {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
}
}  // namespace

std::optional<std::string> quote_payload(std::string_view headers, std::string_view payload, const payload_trace& t) {
  if (t.headers_only) {
    payload = {};
    headers = headers.substr(0, headers.size() >= 4 ? headers.size() - 4 : 0);  // as nats-server: no final CRLFs
  }
  if (headers.size() + payload.size() == 0) return std::nullopt;  // nats-server: no line at all
  const std::size_t max = t.max_len > 0 ? static_cast<std::size_t>(t.max_len) : SIZE_MAX;
  const bool cut = headers.size() + payload.size() > max;
  if (headers.size() > max) headers = headers.substr(0, max);
  if (headers.size() + payload.size() > max) payload = payload.substr(0, max - headers.size());
  std::string out;
  out.reserve(headers.size() + payload.size() + 10);
  out += "[\"";
  quote_into(out, headers);
  quote_into(out, payload);
  out += cut ? "...\"]" : "\"]";
  return out;
}

std::string redact_connect(std::string_view arg) {
  // nats-server's two patterns (client.go, removeSecretsFromTrace): keys starting with pass or
  // auth_token, then the exact keys sig, nkey and proxy_sig; each value becomes [REDACTED].
  static const boost::regex prefix_auth(R"re("?\s*(?:auth_token\S*?|pass\S*?)"?\s*[:=]\s*"?([^",\r\n}]*))re");
  static const boost::regex exact_auth(R"re((?:^|[^A-Za-z0-9_])"?\s*(?:proxy_sig|nkey|sig)"?\s*[:=]\s*"?([^",\r\n}]*))re");
  auto redact = [](const std::string& in, const boost::regex& re) {
    std::string out;
    auto last = in.begin();
    for (boost::sregex_iterator it(in.begin(), in.end(), re, boost::match_single_line), end; it != end; ++it) {
      const auto& value = (*it)[1];
      out.append(last, value.first).append("[REDACTED]");
      last = value.second;
    }
    out.append(last, in.end());
    return out;
  };
  return redact(redact(std::string(arg), prefix_auth), exact_auth);
}

void fatal(const std::string& msg) {
  server().critical("{}", msg);
  server().flush();
}

}  // namespace jb::log
