#pragma once
// ConsumerConfig: parsed, validated and defaulted as nats-server's setConsumerConfigDefaults and
// checkConsumerCfg do, and written back with the same fields.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/json/object.hpp>

#include "server/jetstream/api_errors.hpp"
#include "server/jetstream/pull_priority.hpp"
#include "server/jetstream/stream_config.hpp"

namespace jb::jetstream {

enum class deliver_policy { all, last, new_only, by_start_sequence, by_start_time, last_per_subject };
enum class ack_policy { none, all, explicit_ack };
enum class replay_policy { instant, original };

struct consumer_config {
  std::string durable_name;
  std::string name;
  std::string description;
  deliver_policy deliver = deliver_policy::all;
  std::uint64_t opt_start_seq = 0;
  std::int64_t opt_start_time = 0;  // unix ns, 0 = unset
  bool has_opt_start_time = false;
  ack_policy ack = ack_policy::none;
  std::int64_t ack_wait = 0;  // ns
  std::int64_t max_deliver = -1;
  std::vector<std::int64_t> backoff;
  std::string filter_subject;
  std::vector<std::string> filter_subjects;
  replay_policy replay = replay_policy::instant;
  std::uint64_t rate_limit_bps = 0;
  std::string sample_freq;
  std::int64_t max_waiting = 0;
  std::int64_t max_ack_pending = 0;
  bool flow_control = false;
  bool headers_only = false;
  std::int64_t max_batch = 0;
  std::int64_t max_expires = 0;
  std::int64_t max_bytes = 0;
  std::string deliver_subject;
  std::string deliver_group;
  std::int64_t idle_heartbeat = 0;
  std::int64_t inactive_threshold = 0;
  std::int64_t num_replicas = 0;
  bool mem_storage = false;
  std::map<std::string, std::string> metadata;
  std::int64_t pause_until = 0;  // unix ns, 0 = unset
  bool has_pause_until = false;
  // Priority groups (ADR-42), pull consumers only.
  std::vector<std::string> priority_groups;
  priority_policy priority = priority_policy::none;
  std::int64_t priority_timeout = 0;  // ns; pinned_client pin lifetime without pulls (nats PinnedTTL)
  bool name_generated = false;  // legacy ephemeral: name made up by the server, not echoed

  [[nodiscard]] bool is_push() const { return !deliver_subject.empty(); }
  [[nodiscard]] bool is_durable() const { return !durable_name.empty(); }
  // The filters as a list (filter_subject or filter_subjects; empty = all).
  [[nodiscard]] std::vector<std::string> filters() const;
  bool operator==(const consumer_config&) const = default;
};

struct consumer_create_request {
  std::string stream_name;
  consumer_config config;
  std::string action;  // "", "create", "update"
};

// Parses the create envelope {stream_name, config, action, pedantic}.
std::variant<consumer_create_request, api_error> parse_consumer_create(const boost::json::object& body);

// Fills in defaults and validates against the stream (nats-server's order of checks).
// account_max_ack_pending: the account's max_ack_pending limit (-1: none), which caps the default
// and refuses larger values (10121).
api_error normalize_consumer_config(consumer_config& c, const stream_config& stream,
                                   std::int64_t account_max_ack_pending = -1);

// Checks an update of an existing consumer.
api_error check_consumer_update(const consumer_config& old_cfg, const consumer_config& new_cfg);

boost::json::object to_json(const consumer_config& c, bool with_version_metadata);
// Stored form (no server version metadata) round-trips through parse_consumer_config_json.
std::variant<consumer_config, api_error> parse_consumer_config_json(const boost::json::object& o);

const char* to_string(deliver_policy d);
const char* to_string(ack_policy a);

}  // namespace jb::jetstream
