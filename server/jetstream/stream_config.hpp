#pragma once
// StreamConfig: parsed from API JSON, validated and normalised the way nats-server's
// checkStreamCfg does it, and written back with the same fields and defaults.
#include <cstdint>
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
  std::int64_t subject_delete_marker_ttl = 0;  // ns
  std::optional<subject_transform_cfg> subject_transform;
  std::optional<republish_cfg> republish;
  std::uint64_t first_seq = 0;
  std::string compression = "none";
  std::map<std::string, std::string> metadata;  // user metadata plus _nats.req.level
  std::int64_t consumer_limits_inactive_threshold = 0;
  std::int64_t consumer_limits_max_ack_pending = 0;
  boost::json::value placement;  // echoed back as given (single server)

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

const char* to_string(retention_policy r);
const char* to_string(discard_policy d);
const char* to_string(storage_kind s);

// Asset names (streams, consumers): no whitespace, '.', '*', '>', path separators.
bool is_valid_asset_name(std::string_view name);
bool has_path_separator(std::string_view name);

// The JetStream API level and the compatibility version we report.
inline constexpr int api_level = 1;

}  // namespace jb::jetstream
