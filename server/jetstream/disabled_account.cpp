#include "server/jetstream/disabled_account.hpp"

#include <array>
#include <vector>

namespace jb::jetstream {
namespace {

// One API request shape: its subject tokens after "$JS.API." ("*" one name token, ">" one or
// more trailing tokens), the response type, and what follows the error object.
struct shape {
  std::vector<std::string_view> tokens;
  std::string_view type;
  std::string_view extra;  // appended after the error object, starting with ',' when not empty
  bool clustering = false;
};

const std::vector<shape>& shapes() {
  static const std::vector<shape> s = {
      {{"INFO"}, "account_info_response", ""},
      {{"STREAM", "CREATE", "*"}, "stream_create_response", ""},
      {{"STREAM", "UPDATE", "*"}, "stream_update_response", ""},
      {{"STREAM", "INFO", "*"}, "stream_info_response", R"(,"total":0,"offset":0,"limit":0)"},
      {{"STREAM", "DELETE", "*"}, "stream_delete_response", ""},
      {{"STREAM", "NAMES"}, "stream_names_response", R"(,"total":0,"offset":0,"limit":0,"streams":null)"},
      {{"STREAM", "LIST"}, "stream_list_response", R"(,"total":0,"offset":0,"limit":0,"streams":[])"},
      {{"STREAM", "PURGE", "*"}, "stream_purge_response", R"(,"purged":0)"},
      {{"STREAM", "MSG", "GET", "*"}, "stream_msg_get_response", ""},
      {{"STREAM", "MSG", "DELETE", "*"}, "stream_msg_delete_response", ""},
      {{"STREAM", "SNAPSHOT", "*"}, "stream_snapshot_response", ""},
      {{"STREAM", "RESTORE", "*"}, "stream_restore_response", R"(,"deliver_subject":"")"},
      {{"STREAM", "PEER", "REMOVE", "*"}, "stream_remove_peer_response", "", true},
      {{"STREAM", "LEADER", "STEPDOWN", "*"}, "stream_leader_stepdown_response", "", true},
      {{"CONSUMER", "CREATE", "*"}, "consumer_create_response", ""},
      {{"CONSUMER", "CREATE", "*", "*"}, "consumer_create_response", ""},
      {{"CONSUMER", "CREATE", "*", "*", ">"}, "consumer_create_response", ""},
      {{"CONSUMER", "DURABLE", "CREATE", "*", "*"}, "consumer_create_response", ""},
      {{"CONSUMER", "INFO", "*", "*"}, "consumer_info_response", ""},
      {{"CONSUMER", "DELETE", "*", "*"}, "consumer_delete_response", ""},
      {{"CONSUMER", "NAMES", "*"}, "consumer_names_response",
       R"(,"total":0,"offset":0,"limit":0,"consumers":[])"},
      {{"CONSUMER", "LIST", "*"}, "consumer_list_response", R"(,"total":0,"offset":0,"limit":0,"consumers":[])"},
      {{"CONSUMER", "PAUSE", "*", "*"}, "consumer_pause_response",
       R"(,"paused":false,"pause_until":"0001-01-01T00:00:00Z")"},
  };
  return s;
}

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  for (std::size_t pos = 0;;) {
    const auto dot = s.find('.', pos);
    out.push_back(s.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos));
    if (dot == std::string_view::npos) return out;
    pos = dot + 1;
  }
}

bool fits(const shape& sh, const std::vector<std::string_view>& t) {
  const bool tail = !sh.tokens.empty() && sh.tokens.back() == ">";
  if (tail ? t.size() < sh.tokens.size() : t.size() != sh.tokens.size()) return false;
  for (std::size_t i = 0; i < sh.tokens.size(); ++i) {
    if (sh.tokens[i] == ">") return true;
    if (sh.tokens[i] != "*" && sh.tokens[i] != t[i]) return false;
  }
  return true;
}

}  // namespace

disabled_reply disabled_account_reply(std::string_view subject) {
  constexpr std::string_view prefix = "$JS.API.";
  if (!subject.starts_with(prefix)) return {};
  const auto t = split(subject.substr(prefix.size()));
  if (t[0] == "DIRECT" || (t[0] == "CONSUMER" && t.size() > 1 && t[1] == "MSG")) return {disabled_answer::no_responder, {}};
  for (const auto& sh : shapes()) {
    if (!fits(sh, t)) continue;
    std::string j = R"({"type":"io.nats.jetstream.api.v1.)";
    j.append(sh.type);
    j.append(sh.clustering ? R"(","error":{"code":503,"err_code":10010,"description":"JetStream clustering support required"})"
                           : R"(","error":{"code":503,"err_code":10039,"description":"JetStream not enabled for account"})");
    j.append(sh.extra);
    j.push_back('}');
    return {disabled_answer::reply, std::move(j)};
  }
  return {};
}

}  // namespace jb::jetstream
