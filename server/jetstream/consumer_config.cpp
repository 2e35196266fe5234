#include "server/jetstream/consumer_config.hpp"

#include <chrono>

#include "protocol/subject.hpp"
#include "server/jetstream/json_util.hpp"
#include "server/server.hpp"
#include "server/time_util.hpp"

namespace jb::jetstream {

namespace json = boost::json;
using json_util::get_bool;
using json_util::get_int;
using json_util::get_string;
using json_util::get_uint;

namespace {

constexpr std::int64_t ns_per_ms = 1'000'000;
constexpr std::int64_t ns_per_s = 1'000'000'000;

api_error bad_json(const std::string& why) { return errors::invalid_json.with(why); }
api_error policy(const std::string& why) { return errors::consumer_invalid_policy.with(why); }
// Go's enum decoders quote the raw JSON value: can not unmarshal "\"bogus\"".
api_error bad_enum(const std::string& v) { return bad_json("can not unmarshal \"\\\"" + v + "\\\"\""); }

}  // namespace

const char* to_string(deliver_policy d) {
  switch (d) {
    case deliver_policy::all: return "all";
    case deliver_policy::last: return "last";
    case deliver_policy::new_only: return "new";
    case deliver_policy::by_start_sequence: return "by_start_sequence";
    case deliver_policy::by_start_time: return "by_start_time";
    case deliver_policy::last_per_subject: return "last_per_subject";
  }
  return "all";
}

const char* to_string(ack_policy a) {
  switch (a) {
    case ack_policy::none: return "none";
    case ack_policy::all: return "all";
    case ack_policy::explicit_ack: return "explicit";
  }
  return "none";
}

std::vector<std::string> consumer_config::filters() const {
  if (!filter_subject.empty()) return {filter_subject};
  return filter_subjects;
}

std::variant<consumer_config, api_error> parse_consumer_config_json(const json::object& o) {
  // Go names the field by its path in the create request: ConsumerConfig.config.<field>.
  static constexpr const char* st = "ConsumerConfig.config";
  static constexpr const char* dur = "time.Duration";
  if (auto u = json_util::unknown_field(
          o, {"durable_name", "name", "description", "deliver_policy", "opt_start_seq", "opt_start_time",
              "ack_policy", "ack_wait", "max_deliver", "backoff", "filter_subject", "filter_subjects",
              "replay_policy", "rate_limit_bps", "sample_freq", "max_waiting", "max_ack_pending", "flow_control",
              "headers_only", "max_batch", "max_expires", "max_bytes", "deliver_subject", "deliver_group",
              "idle_heartbeat", "inactive_threshold", "num_replicas", "mem_storage", "direct", "metadata",
              "pause_until", "priority_groups", "priority_policy", "priority_timeout"}))
    return bad_json("json: unknown field \"" + *u + "\"");
  consumer_config c;
  std::string err, dp, ap, rp, ost, pu;
  bool ok = get_string(o, "durable_name", c.durable_name, err, st) && get_string(o, "name", c.name, err, st) &&
            get_string(o, "description", c.description, err, st) && get_string(o, "deliver_policy", dp, err, st) &&
            get_uint(o, "opt_start_seq", c.opt_start_seq, err, st) &&
            get_string(o, "opt_start_time", ost, err, st) && get_string(o, "ack_policy", ap, err, st) &&
            get_int(o, "ack_wait", c.ack_wait, err, st, dur) && get_int(o, "max_deliver", c.max_deliver, err, st, "int") &&
            get_string(o, "filter_subject", c.filter_subject, err, st) &&
            get_string(o, "replay_policy", rp, err, st) && get_uint(o, "rate_limit_bps", c.rate_limit_bps, err, st) &&
            get_string(o, "sample_freq", c.sample_freq, err, st) &&
            get_int(o, "max_waiting", c.max_waiting, err, st, "int") &&
            get_int(o, "max_ack_pending", c.max_ack_pending, err, st, "int") &&
            get_bool(o, "flow_control", c.flow_control, err, st) &&
            get_bool(o, "headers_only", c.headers_only, err, st) && get_int(o, "max_batch", c.max_batch, err, st, "int") &&
            get_int(o, "max_expires", c.max_expires, err, st, dur) && get_int(o, "max_bytes", c.max_bytes, err, st, "int") &&
            get_string(o, "deliver_subject", c.deliver_subject, err, st) &&
            get_string(o, "deliver_group", c.deliver_group, err, st) &&
            get_int(o, "idle_heartbeat", c.idle_heartbeat, err, st, dur) &&
            get_int(o, "inactive_threshold", c.inactive_threshold, err, st, dur) &&
            get_int(o, "num_replicas", c.num_replicas, err, st, "int") &&
            get_bool(o, "mem_storage", c.mem_storage, err, st) && get_string(o, "pause_until", pu, err, st);
  if (!ok) return bad_json(err);
  if (auto* b = o.if_contains("backoff"); b && !b->is_null()) {
    static const std::string field = " into Go struct field ConsumerConfig.config.backoff of type ";
    if (!b->is_array()) return bad_json("json: cannot unmarshal " + json_util::type_name(*b) + field + "[]time.Duration");
    std::size_t i = 0;
    for (const auto& e : b->as_array()) {
      if (auto d = json_util::exact_int64(e)) c.backoff.push_back(*d);
      else return bad_json("json: cannot unmarshal " + json_util::type_name(e, "backoff", i) + field + "time.Duration");
      ++i;
    }
  }
  if (auto* f = o.if_contains("filter_subjects"); f && !f->is_null()) {
    static const std::string field = " into Go struct field ConsumerConfig.config.filter_subjects of type ";
    if (!f->is_array()) return bad_json("json: cannot unmarshal " + json_util::type_name(*f) + field + "[]string");
    for (const auto& e : f->as_array()) {
      if (!e.is_string()) return bad_json("json: cannot unmarshal " + json_util::type_name(e) + field + "string");
      c.filter_subjects.emplace_back(e.as_string());
    }
  }
  if (auto* m = o.if_contains("metadata"); m && !m->is_null() && m->is_object()) {
    for (const auto& kv : m->as_object())
      if (kv.value().is_string()) c.metadata.emplace(std::string(kv.key()), std::string(kv.value().as_string()));
  }
  // Priority groups: decoded as Go decodes ConsumerConfig inside the create request.
  if (auto* pg = o.if_contains("priority_groups"); pg && !pg->is_null()) {
    static const std::string field = " into Go struct field ConsumerConfig.config.priority_groups of type ";
    if (!pg->is_array()) return bad_json("json: cannot unmarshal " + json_util::type_name(*pg) + field + "[]string");
    for (const auto& e : pg->as_array()) {
      if (!e.is_string()) return bad_json("json: cannot unmarshal " + json_util::type_name(e) + field + "string");
      c.priority_groups.emplace_back(e.as_string());
    }
  }
  if (auto* pp = o.if_contains("priority_policy"); pp && !pp->is_null()) {
    std::optional<priority_policy> p;
    if (pp->is_string()) p = parse_priority_policy(pp->as_string());
    if (!p) return bad_json("unknown priority policy: " + json::serialize(*pp));
    c.priority = *p;
  }
  if (auto* pt = o.if_contains("priority_timeout"); pt && !pt->is_null()) {
    if (!pt->is_number())
      return bad_json("json: cannot unmarshal " + json_util::type_name(*pt) +
                      " into Go struct field ConsumerConfig.config.priority_timeout of type time.Duration");
    std::string e;
    if (!get_int(o, "priority_timeout", c.priority_timeout, e, st, dur)) return bad_json(e);
  }

  if (dp.empty() || dp == "all") c.deliver = deliver_policy::all;
  else if (dp == "last") c.deliver = deliver_policy::last;
  else if (dp == "new") c.deliver = deliver_policy::new_only;
  else if (dp == "by_start_sequence") c.deliver = deliver_policy::by_start_sequence;
  else if (dp == "by_start_time") c.deliver = deliver_policy::by_start_time;
  else if (dp == "last_per_subject") c.deliver = deliver_policy::last_per_subject;
  else return bad_enum(dp);
  if (ap.empty() || ap == "none") c.ack = ack_policy::none;
  else if (ap == "all") c.ack = ack_policy::all;
  else if (ap == "explicit") c.ack = ack_policy::explicit_ack;
  else return bad_enum(ap);
  if (rp.empty() || rp == "instant") c.replay = replay_policy::instant;
  else if (rp == "original") c.replay = replay_policy::original;
  else return bad_enum(rp);
  if (!ost.empty()) {
    auto t = json_util::parse_rfc3339(ost);
    if (!t) return bad_json("parsing time \"" + ost + "\" as RFC3339: cannot parse");
    c.opt_start_time = *t;
    c.has_opt_start_time = *t != 0;
  }
  if (!pu.empty()) {
    auto t = json_util::parse_rfc3339(pu);
    if (!t) return bad_json("parsing time \"" + pu + "\" as RFC3339: cannot parse");
    c.pause_until = *t;
    c.has_pause_until = *t > 0;
  }
  return c;
}

std::variant<consumer_create_request, api_error> parse_consumer_create(const json::object& o) {
  if (auto u = json_util::unknown_field(o, {"stream_name", "config", "action", "pedantic"}))
    return bad_json("json: unknown field \"" + *u + "\"");
  consumer_create_request r;
  std::string err;
  if (!get_string(o, "stream_name", r.stream_name, err, "CreateConsumerRequest") ||
      !get_string(o, "action", r.action, err, "CreateConsumerRequest"))
    return bad_json(err);
  if (r.action != "" && r.action != "create" && r.action != "update")
    return bad_json("unknown consumer action: " + r.action);
  auto* cfg = o.if_contains("config");
  if (!cfg || !cfg->is_object()) return errors::bad_request;  // nats: "consumer config required"
  auto c = parse_consumer_config_json(cfg->as_object());
  if (auto* e = std::get_if<api_error>(&c)) return *e;
  r.config = std::move(std::get<consumer_config>(c));
  return r;
}

api_error normalize_consumer_config(consumer_config& c, const stream_config& stream,
                                   std::int64_t account_max_ack_pending) {
  // Names.
  if (!c.durable_name.empty()) {
    if (has_path_separator(c.durable_name)) return errors::consumer_name_contains_path_separators;
    if (!is_valid_asset_name(c.durable_name)) return errors::consumer_bad_durable_name;
  }
  if (!c.name.empty() && has_path_separator(c.name)) return errors::consumer_name_contains_path_separators;
  if (!c.name.empty() && !is_valid_asset_name(c.name)) return errors::consumer_bad_durable_name;
  if (!c.name.empty() && !c.durable_name.empty() && c.name != c.durable_name)
    return errors::consumer_create_durable_and_name_mismatch;
  if (c.durable_name.size() > 255 || c.name.size() > 255) return errors::consumer_name_too_long.with("255");
  if (c.description.size() > 4096) return errors::consumer_create.with("consumer description is too long, maximum allowed is 4096");

  // Defaults (setConsumerConfigDefaults).
  if (c.max_deliver == 0 || c.max_deliver < -1) c.max_deliver = -1;
  if (c.ack_wait < 0) return errors::consumer_ack_wait_negative;
  for (auto b : c.backoff)
    if (b <= 0) return errors::consumer_backoff_negative;
  if (!c.backoff.empty() && c.ack_wait == 0) c.ack_wait = c.backoff.front();
  if (c.ack_wait == 0 && c.ack != ack_policy::none) c.ack_wait = 30 * ns_per_s;
  if (!c.is_push() && c.max_waiting == 0) c.max_waiting = 512;
  if (c.max_ack_pending == 0 && c.ack != ack_policy::none) {
    c.max_ack_pending = stream.consumer_limits_max_ack_pending > 0 ? stream.consumer_limits_max_ack_pending : 1000;
    if (account_max_ack_pending > 0 && c.max_ack_pending > account_max_ack_pending) c.max_ack_pending = account_max_ack_pending;
  }
  if (account_max_ack_pending > 0 && c.max_ack_pending > account_max_ack_pending)
    return errors::consumer_max_ack_pending_exceeds.with(std::to_string(account_max_ack_pending));
  if (c.durable_name.empty() && c.inactive_threshold == 0)
    c.inactive_threshold = stream.consumer_limits_inactive_threshold > 0 ? stream.consumer_limits_inactive_threshold : 5 * ns_per_s;
  if (c.durable_name.empty() && c.name.empty()) {
    static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    thread_local std::uint64_t s = 0x9e3779b97f4a7c15ull ^ static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (int i = 0; i < 8; ++i) {
      s ^= s << 13; s ^= s >> 7; s ^= s << 17;
      c.name += alphabet[s % 62];
    }
    c.name_generated = true;  // nats-server does not echo a generated name in the config
  } else if (c.name.empty()) {
    c.name = c.durable_name;
  }

  // Checks (checkConsumerCfg).
  if (!c.backoff.empty() && c.max_deliver != -1 && static_cast<std::int64_t>(c.backoff.size()) > c.max_deliver)
    return errors::consumer_max_deliver_backoff;
  if (c.is_push()) {
    if (!protocol::is_valid_subject(c.deliver_subject)) return errors::consumer_invalid_deliver_subject;
    if (protocol::has_wildcard(c.deliver_subject)) return errors::consumer_deliver_to_wildcards;
    for (const auto& s : stream.subjects)
      if (protocol::subjects_overlap(s, c.deliver_subject)) return errors::consumer_deliver_cycle;
    if (c.max_waiting != 0) return errors::consumer_push_max_waiting;
    if (c.max_batch != 0) return errors::consumer_create.with("consumer in push mode can not set max batch");
    if (c.max_bytes != 0) return errors::consumer_create.with("consumer in push mode can not set max bytes");
    if (c.max_expires != 0) return errors::consumer_create.with("consumer in push mode can not set max expires");
    if (c.ack == ack_policy::none && c.max_ack_pending > 0) return errors::consumer_max_pending_ack_policy_required;
  } else {
    if (c.rate_limit_bps != 0) return errors::consumer_pull_with_rate_limit;
    if (c.idle_heartbeat != 0) return errors::consumer_hb_requires_push;
    if (c.flow_control) return errors::consumer_fc_requires_push;
    if (!c.deliver_group.empty()) return errors::consumer_create.with("consumer is pull-based but has a deliver group set");
    if (c.max_waiting < 0) return errors::consumer_create.with("consumer max waiting needs to be positive");
    if (c.max_expires != 0 && c.max_expires < ns_per_ms) return errors::consumer_max_request_expires_too_small;
  }
  if (c.idle_heartbeat > 0 && c.idle_heartbeat < 100 * ns_per_ms) return errors::consumer_small_heartbeat;
  if (c.flow_control && c.idle_heartbeat <= 0) return errors::consumer_with_flow_control_needs_heartbeats;

  if (!c.filter_subject.empty() && !c.filter_subjects.empty()) return errors::consumer_duplicate_filter_subjects;
  for (const auto& f : c.filter_subjects)
    if (f.empty()) return errors::consumer_empty_filter;
  for (std::size_t i = 0; i < c.filter_subjects.size(); ++i)
    for (std::size_t j = i + 1; j < c.filter_subjects.size(); ++j)
      if (protocol::subjects_overlap(c.filter_subjects[i], c.filter_subjects[j]))
        return errors::consumer_overlapping_subject_filters;
  for (const auto& f : c.filters())
    if (!protocol::is_valid_filter(f)) return errors::consumer_create.with("consumer filter subject is not a valid subset of the interest subjects");
  if (c.filter_subject == ">") c.filter_subject.clear();

  switch (c.deliver) {
    case deliver_policy::all:
    case deliver_policy::last:
    case deliver_policy::new_only:
    case deliver_policy::last_per_subject:
      if (c.opt_start_seq != 0)
        return policy(std::string("consumer delivery policy is deliver ") + to_string(c.deliver) +
                      ", but optional start sequence is also set");
      if (c.has_opt_start_time)
        return policy(std::string("consumer delivery policy is deliver ") + to_string(c.deliver) +
                      ", but optional start time is also set");
      if (c.deliver == deliver_policy::last_per_subject && c.filters().empty())
        return policy("consumer delivery policy is deliver last per subject, but optional filter subject is not set");
      break;
    case deliver_policy::by_start_sequence:
      if (c.opt_start_seq == 0)
        return policy("consumer delivery policy is deliver by start sequence, but optional start sequence is not set");
      if (c.has_opt_start_time)
        return policy("consumer delivery policy is deliver by start sequence, but optional start time is also set");
      break;
    case deliver_policy::by_start_time:
      if (!c.has_opt_start_time)
        return policy("consumer delivery policy is deliver by start time, but optional start time is not set");
      if (c.opt_start_seq != 0)
        return policy("consumer delivery policy is deliver by start time, but optional start sequence is also set");
      break;
  }
  if (c.num_replicas > 1) return errors::stream_replicas_not_supported;

  // Priority groups (the end of nats-server's checkConsumerCfg). A negative timeout counts as
  // unset; pinned_client defaults it to two minutes.
  if (c.priority_timeout < 0) c.priority_timeout = 0;
  if (c.priority == priority_policy::pinned_client && c.priority_timeout == 0) c.priority_timeout = 120 * ns_per_s;
  if (c.priority != priority_policy::none) {
    if (c.is_push()) return errors::consumer_push_with_priority_group;
    if (c.priority_groups.empty()) return errors::consumer_priority_policy_without_group;
    for (const auto& g : c.priority_groups) {
      if (g.empty()) return errors::consumer_empty_group_name;
      if (!is_valid_priority_group_name(g)) return errors::consumer_invalid_group_name;
    }
  } else {
    if (!c.priority_groups.empty()) return errors::consumer_priority_group_with_policy_none;
    if (c.priority_timeout > 0) return errors::consumer_pinned_ttl_without_priority_policy_none;
  }

  if (stream.retention == retention_policy::workqueue) {
    if (c.ack != ack_policy::explicit_ack)
      return c.is_push() ? errors::consumer_wq_requires_explicit_ack : errors::consumer_pull_requires_ack;
    if (c.deliver != deliver_policy::all) return errors::consumer_wq_consumer_not_deliver_all;
  }
  for (auto it = c.metadata.begin(); it != c.metadata.end();) {
    if (it->first.rfind("_nats.", 0) == 0) it = c.metadata.erase(it);
    else ++it;
  }
  // The API level a server needs to honour this config (nats setStaticConsumerMetadata; the
  // pause_until part of that rule is not applied here yet).
  const bool needs_priority = c.priority != priority_policy::none || c.priority_timeout != 0 || !c.priority_groups.empty();
  c.metadata["_nats.req.level"] = needs_priority ? "1" : "0";
  return {};
}

api_error check_consumer_update(const consumer_config& o, const consumer_config& n) {
  auto fail = [](const char* what) { return errors::consumer_create.with(what); };
  if (o.deliver != n.deliver) return fail("deliver policy can not be updated");
  if (o.opt_start_seq != n.opt_start_seq) return fail("start sequence can not be updated");
  if (o.opt_start_time != n.opt_start_time) return fail("start time can not be updated");
  if (o.ack != n.ack) return fail("ack policy can not be updated");
  if (o.replay != n.replay) return fail("replay policy can not be updated");
  if (o.idle_heartbeat != n.idle_heartbeat) return fail("heart beats can not be updated");
  if (o.flow_control != n.flow_control) return fail("flow control can not be updated");
  if (o.is_push() != n.is_push()) return fail(o.is_push() ? "can not update push consumer to pull based" : "can not update pull consumer to push based");
  if (o.max_waiting != n.max_waiting) return fail("max waiting can not be updated");
  if (o.mem_storage != n.mem_storage) return fail("can not update memory storage");
  return {};
}

json::object to_json(const consumer_config& c, bool with_version_metadata) {
  json::object o;
  if (!c.durable_name.empty()) o["durable_name"] = c.durable_name;
  if (!c.name.empty() && !c.name_generated) o["name"] = c.name;
  if (!c.description.empty()) o["description"] = c.description;
  o["deliver_policy"] = to_string(c.deliver);
  if (c.opt_start_seq) o["opt_start_seq"] = c.opt_start_seq;
  if (c.has_opt_start_time) o["opt_start_time"] = server::rfc3339_ns(c.opt_start_time);
  o["ack_policy"] = to_string(c.ack);
  if (c.ack_wait) o["ack_wait"] = c.ack_wait;
  if (c.max_deliver) o["max_deliver"] = c.max_deliver;
  if (!c.backoff.empty()) {
    json::array b;
    for (auto v : c.backoff) b.emplace_back(v);
    o["backoff"] = std::move(b);
  }
  if (!c.filter_subject.empty()) o["filter_subject"] = c.filter_subject;
  if (!c.filter_subjects.empty()) {
    json::array f;
    for (const auto& s : c.filter_subjects) f.emplace_back(s);
    o["filter_subjects"] = std::move(f);
  }
  o["replay_policy"] = c.replay == replay_policy::original ? "original" : "instant";
  if (c.rate_limit_bps) o["rate_limit_bps"] = c.rate_limit_bps;
  if (!c.sample_freq.empty()) o["sample_freq"] = c.sample_freq;
  if (c.max_waiting) o["max_waiting"] = c.max_waiting;
  if (c.max_ack_pending) o["max_ack_pending"] = c.max_ack_pending;
  if (c.flow_control) o["flow_control"] = true;
  if (c.headers_only) o["headers_only"] = true;
  if (c.max_batch) o["max_batch"] = c.max_batch;
  if (c.max_expires) o["max_expires"] = c.max_expires;
  if (c.max_bytes) o["max_bytes"] = c.max_bytes;
  if (!c.deliver_subject.empty()) o["deliver_subject"] = c.deliver_subject;
  if (!c.deliver_group.empty()) o["deliver_group"] = c.deliver_group;
  if (c.idle_heartbeat) o["idle_heartbeat"] = c.idle_heartbeat;
  if (c.inactive_threshold) o["inactive_threshold"] = c.inactive_threshold;
  o["num_replicas"] = c.num_replicas;
  if (c.mem_storage) o["mem_storage"] = true;
  json::object md;
  if (with_version_metadata) md["_nats.level"] = std::to_string(api_level);
  for (const auto& [k, v] : c.metadata) md[k] = v;
  if (with_version_metadata) md["_nats.ver"] = server::nats_compat_version;
  o["metadata"] = std::move(md);
  if (c.has_pause_until) o["pause_until"] = server::rfc3339_ns(c.pause_until);
  if (!c.priority_groups.empty()) {
    json::array g;
    for (const auto& s : c.priority_groups) g.emplace_back(s);
    o["priority_groups"] = std::move(g);
  }
  if (c.priority != priority_policy::none) o["priority_policy"] = to_string(c.priority);
  if (c.priority_timeout) o["priority_timeout"] = c.priority_timeout;
  return o;
}

}  // namespace jb::jetstream
