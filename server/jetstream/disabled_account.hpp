#pragma once
// What nats-server answers on $JS.API.* in an account without JetStream, on a server that runs
// JetStream: a typed response with error 10039 "JetStream not enabled for account" (plus the
// zero-valued fields nats-server's response structs always carry), 10010 for the clustering
// requests, and nothing at all for the rest (DIRECT.GET and CONSUMER.MSG.NEXT have no responder
// there; unknown API subjects go unanswered).
#include <optional>
#include <string>
#include <string_view>

namespace jb::jetstream {

enum class disabled_answer { reply, silent, no_responder };

struct disabled_reply {
  disabled_answer kind = disabled_answer::silent;
  std::string json;  // kind == reply
};

[[nodiscard]] disabled_reply disabled_account_reply(std::string_view subject);

}  // namespace jb::jetstream
