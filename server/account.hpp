#pragma once
// Accounts: each one is its own subject space (its own subscription index), as in nats-server.
// Clients of different accounts never see each other's messages, except through what one
// account exports and another imports:
//
//   stream import   the importer's subscriptions get "shadow" subscriptions in the exporter's
//                   index; a message published there reaches the importer's subscriber on the
//                   local subject (with `prefix`, `<prefix>.<subject>`; with `to`, transformed).
//   service import  an internal subscription in the importer's index on the local subject
//                   forwards each request into the exporter, with a fresh reply subject
//                   (`_R_.<account tag>.<id>`) that routes the response back to the requester's
//                   reply subject in the importer.
//
// The global account `$G` holds every client without an account (and JetStream).
//
// Thread-safety: accounts and their imports are created before the server accepts clients and
// never change afterwards; the subscription index is thread-safe; the response table has its
// own mutex (a leaf lock).
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/jetstream/subject_transform.hpp"
#include "server/sublist.hpp"
#include "server/subscription.hpp"

namespace jb::server {

inline constexpr std::string_view global_account_name = "$G";

class account;
class response_router;

// One stream import, from the importing account's point of view.
struct stream_import {
  account* from = nullptr;  // the exporting account
  std::string subject;      // in the exporter's subject space (may hold wildcards)
  std::string local;        // the same subjects in the importer's space
  std::string prefix;       // nats `prefix`: local = prefix + "." + subject
  std::optional<jetstream::subject_transform> to_local, to_remote;  // nats `to`

  // The subject the importer's subscriber sees for a message published on `remote`.
  [[nodiscard]] std::string local_subject(std::string_view remote) const;
  // The filter of the shadow subscription in the exporter for a local subscription on
  // `local_filter`; nullopt when the subscription does not overlap the import (or only partly).
  [[nodiscard]] std::optional<std::string> remote_filter(std::string_view local_filter) const;
};

// The round-trip time of the client whose message is being routed on this thread, reported to
// services in the Nats-Request-Info header of imported requests (0: not measured yet).
void set_publisher_rtt(std::int64_t rtt_ns) noexcept;

// The most specific filter matching exactly the subjects both filters match ("p.*.one" and
// "p.x.>" give "p.x.one"), or nullopt when they have none in common.
[[nodiscard]] std::optional<std::string> intersect_filters(std::string_view a, std::string_view b);

class account {
 public:
  explicit account(std::string name);
  ~account();
  account(const account&) = delete;
  account& operator=(const account&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] bool is_global() const noexcept { return name_ == global_account_name; }
  [[nodiscard]] sublist& subs() noexcept { return subs_; }
  [[nodiscard]] const std::vector<std::unique_ptr<stream_import>>& stream_imports() const noexcept {
    return stream_imports_;
  }

  // Set-up, before clients connect. `local` is the importer-side subject (`to`, or the
  // subject itself). Returns false when the subjects do not fit together.
  bool add_stream_import(account& from, const std::string& subject, const std::string& to, bool is_prefix);
  bool add_service_import(account& from, const std::string& subject, const std::string& to, bool singleton);

  [[nodiscard]] bool has_service_imports() const noexcept { return !service_subs_.empty(); }

  // A reply subject in this account that, published to, delivers to `reply` in `to`
  // (once for singleton responses, until it expires otherwise). Any thread.
  [[nodiscard]] std::string add_response(account& to, std::string_view reply, bool singleton);

 private:
  std::string name_;
  sublist subs_;
  std::vector<std::unique_ptr<stream_import>> stream_imports_;
  std::vector<std::shared_ptr<subscription>> service_subs_;  // internal, in subs_
  std::once_flag responses_once_;
  std::shared_ptr<response_router> responses_;
  std::shared_ptr<subscription> responses_sub_;
};

}  // namespace jb::server
