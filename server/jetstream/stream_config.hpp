#pragma once
// StreamConfig: parsed from API JSON, validated and normalised the way nats-server's
// checkStreamCfg does it, and written back with the same fields and defaults.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/json/object.hpp>

#include "server/jetstream/api_errors.hpp"

namespace jb::jetstream {

enum class retention_policy { limits, interest, workqueue };
enum class discard_policy { old_msgs, new_msgs };
enum class storage_kind { file, memory };

struct subject_transform_cfg {
  std::string src, dest;
  bool operator==(const subject_transform_cfg&) const = default;
};

// StreamSource.external: reach a stream through another domain's or account's API prefix.
struct external_stream_cfg {
  std::string api, deliver;
  bool operator==(const external_stream_cfg&) const = default;
};

// A mirror or one of the sources of a stream (nats StreamSource).
struct stream_source_cfg {
  std::string name;
  std::uint64_t opt_start_seq = 0;
  std::optional<std::int64_t> opt_start_time;  // unix ns
  int opt_start_time_offset = 0;               // seconds east of UTC as given, echoed back (Go keeps it)
  std::string filter_subject;
  std::vector<subject_transform_cfg> subject_transforms;
  std::optional<external_stream_cfg> external;

  // nats-server's index name: "<name>[:<api prefix>] <filters> <destinations>", with ">" for an
  // empty filter or destination and multiple transforms joined by '\f'. Distinct sources have
  // distinct index names; the name, filter and destination parts also form the start of the
  // Nats-Stream-Source header of sourced messages.
  [[nodiscard]] std::string index_name() const;
  // The subjects this source reads from its origin: the filter, or the transforms' sources; empty
  // means every subject.
  [[nodiscard]] std::vector<std::string> filters() const;
  bool operator==(const stream_source_cfg&) const = default;
};

struct republish_cfg {
  std::string src, dest;
  bool headers_only = false;
  bool operator==(const republish_cfg&) const = default;
};

struct stream_config {
  std::string name;
  std::string description;
  std::vector<std::string> subjects;
  retention_policy retention = retention_policy::limits;
  std::int64_t max_consumers = -1;
  std::int64_t max_msgs = -1;
  std::int64_t max_bytes = -1;
  std::int64_t max_age = 0;  // ns
  std::int64_t max_msgs_per_subject = -1;
  std::int64_t max_msg_size = -1;
  discard_policy discard = discard_policy::old_msgs;
  bool discard_new_per_subject = false;
  storage_kind storage = storage_kind::file;
  std::int64_t num_replicas = 1;
  bool no_ack = false;
  std::int64_t duplicate_window = 0;  // ns
  bool sealed = false, deny_delete = false, deny_purge = false, allow_rollup_hdrs = false;
  bool allow_direct = false, mirror_direct = false;
  bool allow_msg_ttl = false;
  bool allow_atomic = false;
  bool allow_msg_counter = false;  // ADR-49 counters (server/jetstream/counter.hpp)
  bool allow_msg_schedules = false;  // ADR-51 schedules (server/jetstream/schedule.hpp)
  bool async_persist = false;      // persist_mode "async": accepted and echoed; jetbroker still acks
                                   // only what is in RocksDB's WAL, which is at least as durable
  std::int64_t subject_delete_marker_ttl = 0;  // ns
  std::optional<subject_transform_cfg> subject_transform;
  std::optional<republish_cfg> republish;
  std::uint64_t first_seq = 0;
  std::string compression = "none";
  std::map<std::string, std::string> metadata;  // user metadata plus _nats.req.level
  std::int64_t consumer_limits_inactive_threshold = 0;
  std::int64_t consumer_limits_max_ack_pending = 0;
  boost::json::value placement;  // echoed back as given (single server)
  std::optional<stream_source_cfg> mirror;
  std::vector<stream_source_cfg> sources;

  bool operator==(const stream_config&) const = default;
};

// Parses and normalises a create/update request body. `subject_name` is the stream name from the
// API subject. Returns the config or the API error nats-server gives.
// With for_update, `sealed: true` is allowed and seals the stream (forcing its other settings).
std::variant<stream_config, api_error> parse_stream_config(const boost::json::object& body,
                                                           std::string_view subject_name, bool for_update = false);

// The config as nats-server writes it. `with_version_metadata` adds _nats.ver and _nats.level,
// as create/info/update responses do (stored configs and list responses do not).
boost::json::object to_json(const stream_config& c, bool with_version_metadata);

// Checks an update against the existing config (what may not change).
api_error check_update(const stream_config& old_cfg, const stream_config& new_cfg);

// The checks that need the other streams of the account (nats checkStreamCfg's lookups):
// max_msg_size against local origins (10030/10046), mirror_direct inherited from a local origin's
// allow_direct, and mirror/source cycles ("detected cycle"). `lookup` returns the config of a
// local stream, or nullptr. May change `cfg` (mirror_direct).
// Filter subjects of the mirror and sources (nats-server checks them when adding a new stream,
// after the name-in-use check: 10049).
api_error check_source_filters(const stream_config& cfg);

api_error check_against_streams(stream_config& cfg,
                                const std::function<const stream_config*(std::string_view)>& lookup);

const char* to_string(retention_policy r);
const char* to_string(discard_policy d);
const char* to_string(storage_kind s);

// Asset names (streams, consumers): no whitespace, '.', '*', '>', path separators.
bool is_valid_asset_name(std::string_view name);
bool has_path_separator(std::string_view name);

// The JetStream API level and the compatibility version we report.
// Level 2 (nats-server 2.12): counters, atomic batches, persist_mode, mirror promotion.
inline constexpr int api_level = 2;

}  // namespace jb::jetstream
