#pragma once
// Server options: a plain struct with nats-server's defaults. Filled from the command line
// (cli.hpp) and a configuration file (load.hpp); read-only once the server starts.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace jb::config {

// Allow/deny subject lists for one direction (nats SubjectPermission). Empty lists: no rule.
struct subject_permission {
  std::vector<std::string> allow;
  std::vector<std::string> deny;
};

// nats ResponsePermission: `allow_responses: true` means max 1, expires 2m.
struct response_permission {
  int max_msgs = 1;
  std::chrono::milliseconds expires{std::chrono::minutes(2)};
};

struct permissions {
  std::optional<subject_permission> publish;
  std::optional<subject_permission> subscribe;
  std::optional<response_permission> allow_responses;
};

// A user from `authorization { users [...] }` or `accounts { X { users [...] } }`.
struct user {
  std::string name;      // empty for an nkey-only user
  std::string password;  // may be a bcrypt hash ("$2a$...")
  std::string nkey;
  std::string account;   // empty: the global account ($G)
  std::optional<permissions> perms;
  std::vector<std::string> allowed_connection_types;  // STANDARD, WEBSOCKET, MQTT, LEAFNODE...
};

// `accounts { A { jetstream: {...} } }`; -1: unlimited / not set (nats uses -1 the same way).
struct account_jetstream {
  bool enabled = false;
  std::int64_t max_memory = -1;
  std::int64_t max_store = -1;
  std::int64_t max_streams = -1;
  std::int64_t max_consumers = -1;
  std::int64_t max_ack_pending = -1;
  std::int64_t memory_max_stream_bytes = -1;
  std::int64_t store_max_stream_bytes = -1;
  bool max_bytes_required = false;
};

// One entry of an account's `exports` or `imports` list.
struct account_export {
  enum class kind { stream, service } type = kind::stream;
  std::string subject;
  std::vector<std::string> accounts;  // empty: public
  std::string response_type;          // services: Singleton (default), Stream, Chunked
};
struct account_import {
  enum class kind { stream, service } type = kind::stream;
  std::string account;  // exporting account
  std::string subject;
  std::string to;       // service `to` or stream `prefix` (nats `to`/`prefix`)
  bool prefix = false;  // `to` came from `prefix`: the local subject is `<prefix>.<subject>`
};

struct account {
  std::string name;
  account_jetstream jetstream;
  std::optional<permissions> default_permissions;
  std::vector<account_export> exports;
  std::vector<account_import> imports;
  std::vector<std::pair<std::string, std::string>> mappings;  // subject -> destination (unweighted only)
  std::string nkey;
  // limits {} (-1: unlimited)
  std::int64_t max_connections = -1;
  std::int64_t max_subscriptions = -1;
  std::int64_t max_payload = -1;
};

struct tls_options {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  bool verify = false;
  bool verify_and_map = false;
  bool insecure = false;
  bool handshake_first = false;
  std::chrono::milliseconds handshake_first_fallback{0};  // `handshake_first: "300ms"`
  std::chrono::milliseconds timeout{std::chrono::milliseconds(2000)};  // nats default 2s
  std::vector<std::string> cipher_suites;
  std::vector<std::string> curve_preferences;
  std::vector<std::string> pinned_certs;
  std::string min_version;
};

struct websocket_options {
  bool configured = false;  // a websocket {} block was present
  std::string host;         // empty: same default as nats (0.0.0.0)
  int port = 0;             // -1: pick a free port
  std::string advertise;
  bool no_tls = false;
  bool compression = false;
  bool same_origin = false;
  std::vector<std::string> allowed_origins;
  std::chrono::milliseconds handshake_timeout{0};
  std::optional<tls_options> tls;
  std::string no_auth_user;
  std::string jwt_cookie, user_cookie, pass_cookie, token_cookie;
  std::string user, password, token;  // websocket authorization {}
};

// A block nats-server knows but jetbroker does not implement (cluster, gateway, leafnodes, mqtt,
// operator/resolver...). Recorded so the server can warn instead of failing.
struct unsupported_feature {
  std::string key;       // as written, e.g. "leafnodes"
  std::string location;  // "file:line:col"
  std::string listen;    // "host:port" or port from listen/host/port, if the block had one
};

struct options {
  // Client listener.
  std::string host = "0.0.0.0";
  int port = 4222;  // -1: pick a free port
  std::string server_name;  // empty: the server id
  // Monitoring (0: off, -1: pick a free port).
  std::string http_host;  // empty: same as host
  int http_port = 0;

  // Limits.
  std::int64_t max_payload = 1024 * 1024;
  std::size_t max_control_line = 4096;
  std::int64_t max_pending = 64 * 1024 * 1024;  // per-client outbound bytes before slow consumer
  int max_connections = 64 * 1024;
  std::chrono::milliseconds ping_interval{std::chrono::minutes(2)};
  int max_pings_out = 2;
  std::chrono::milliseconds write_deadline{std::chrono::seconds(10)};
  std::chrono::milliseconds auth_timeout{std::chrono::seconds(2)};
  int max_subscriptions = 0;  // 0: unlimited
  int max_traced_msg_len = 0;
  bool trace_headers = false;  // trace only the headers of messages
  bool no_header_support = false;
  std::chrono::milliseconds lame_duck_duration{std::chrono::minutes(2)};
  std::chrono::milliseconds lame_duck_grace_period{std::chrono::seconds(10)};
  std::string client_advertise;
  std::vector<std::string> server_tags;
  int https_port = 0;  // config `https`/`https_port`: monitoring over TLS (needs tls)
  std::string http_base_path;

  // Authentication (single user or token).
  std::string user;
  std::string password;
  std::string auth_token;
  // Clients must authenticate (INFO auth_required, CONNECT first). Not with no_auth_user, which
  // lets clients without credentials in as that user.
  [[nodiscard]] bool auth_required() const {
    return (!user.empty() || !auth_token.empty() || !users.empty()) && no_auth_user.empty();
  }
  // Multi-user auth (authorization.users and every account's users, with `account` set).
  std::vector<jb::config::user> users;
  std::optional<permissions> default_permissions;  // authorization.default_permissions
  std::string no_auth_user;
  std::vector<account> accounts;
  std::string system_account;
  bool no_system_account = false;

  // TLS for client connections (config `tls {}`, --tls* flags; server/tls.hpp). Not yet used:
  // verify_and_map, insecure, cipher_suites, curve_preferences, pinned_certs, min_version.
  std::optional<tls_options> tls;
  bool allow_non_tls = false;

  // WebSocket listener (config `websocket {}`; server/websocket_listener.hpp). Not yet used:
  // advertise, authorization/no_auth_user/cookies (the auth work), handshake `headers`.
  websocket_options websocket;

  // Known nats-server features jetbroker does not implement.
  std::vector<unsupported_feature> unsupported;

  // JetStream.
  bool jetstream = false;
  std::string store_dir;  // empty: a temporary-directory default, as nats-server
  bool store_in_memory = false;  // --store_dir=:memory: no disk at all
  std::int64_t jetstream_max_memory = -1;  // -1: dynamic (nats: 75% of RAM)
  std::int64_t jetstream_max_store = -1;   // -1: dynamic (nats: 1 TB or 75% of disk)
  std::string jetstream_domain;
  bool jetstream_strict = true;  // nats >= 2.11 defaults strict on
  std::string jetstream_unique_tag;
  // sync_interval: nullopt keeps the storage default (2m in nats); sync_always: fsync every write.
  std::optional<std::chrono::milliseconds> jetstream_sync_interval;
  bool jetstream_sync_always = false;

  // Logging.
  bool debug = false;
  bool trace = false;
  bool logtime = true;
  bool logtime_utc = false;
  std::string log_file;
  std::string pid_file;
  std::string ports_file_dir;
  std::int64_t log_size_limit = 0;
  bool syslog = false;
  std::string remote_syslog;

  std::string config_file;
  std::string signal;  // -sl/--signal <cmd>[=<pid or pidfile>]: send a signal to a running server
  int worker_threads = 0;  // 0: one per core
};

}  // namespace jb::config
