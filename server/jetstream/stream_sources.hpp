#pragma once
// Mirrors and sources: a stream copying messages from other streams of this server.
//
// nats-server drives each mirror/source through a push consumer on the origin (with heartbeats,
// flow control and retries). Here every stream lives on the JetStream strand, so a link reads the
// origin's store directly: when the origin stores messages (or appears), the sourcing stream is
// scheduled for a sync step that copies what is new. What a client sees is kept the same:
//  - a mirror stores every message with the origin's sequence and timestamp; sequences it does not
//    copy (deleted, expired, filtered out) are skipped, so they count as deleted in the mirror;
//  - a source appends with the sourcing stream's own sequences and timestamps and adds the
//    `Nats-Stream-Source: <name> <origin seq> <filters> <destinations> <origin subject>` header,
//    which is also how the position of each source is found again after a restart;
//  - STREAM.INFO reports `mirror` / `sources` with lag, active (-1 before any contact, then the
//    time since the last message or heartbeat: the heartbeats of nats' 1 s sourcing consumers are
//    emulated), the origin's `stream not found` error while it is missing, and the filters.
// External origins (another domain or account) are not reachable from here: they stay inactive.
//
// Thread affinity: owned by its stream, used on the JetStream strand only.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/jetstream/api_errors.hpp"
#include "server/jetstream/stream_config.hpp"
#include "server/jetstream/subject_transform.hpp"

namespace jb::jetstream {

// One mirror or source of a stream and its progress.
struct source_link {
  stream_source_cfg cfg;
  bool is_mirror = false;
  std::string iname;                 // stream_source_cfg::index_name()
  std::string hdr_name, hdr_filters;  // Nats-Stream-Source parts: "<name>" and "<filters> <destinations>"
  std::vector<std::string> filters;  // subjects read from the origin; empty = all
  // Transforms in order: the first whose source matches renames the subject.
  std::vector<std::optional<subject_transform>> transforms;

  bool positioned = false;   // sseq is known (from our store, or the origin's start options)
  std::uint64_t sseq = 0;    // last origin sequence copied or passed over
  std::uint64_t lag = 0;     // origin messages still to copy, as of the last step
  std::int64_t last_contact = 0;  // unix ns of the last step that reached the origin; 0 = never
  std::int64_t connected_at = 0;  // unix ns since when the origin has been reachable; 0 = not now
  std::optional<api_error> error;
  bool set_up = false;   // a first attempt was made (a mirror shows its filters from then on)
  bool blocked = false;  // our limits (discard new) refused the next message; retried later

  static source_link make(const stream_source_cfg& cfg, bool is_mirror);
  // The origin subject renamed by the first matching transform (unchanged when none matches).
  [[nodiscard]] std::string transform(std::string_view subject) const;
  [[nodiscard]] bool is_local() const noexcept { return !cfg.external; }
};

}  // namespace jb::jetstream
