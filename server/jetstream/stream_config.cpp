#include "server/jetstream/stream_config.hpp"

#include <algorithm>

#include "protocol/subject.hpp"
#include "server/jetstream/json_util.hpp"
#include "server/jetstream/subject_transform.hpp"
#include "server/server.hpp"

namespace jb::jetstream {

namespace json = boost::json;
using json_util::get_bool;
using json_util::get_int;
using json_util::get_string;
using json_util::get_uint;

namespace {

constexpr std::int64_t ns_per_ms = 1'000'000;
constexpr std::int64_t ns_per_s = 1'000'000'000;
constexpr std::int64_t default_duplicate_window = 120 * ns_per_s;

api_error invalid(const std::string& why) { return errors::stream_invalid_config.with(why); }
api_error bad_json(const std::string& why) { return errors::invalid_json.with(why); }

bool lower_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  return true;
}

}  // namespace

bool has_path_separator(std::string_view name) {
  return name.find('/') != std::string_view::npos || name.find('\\') != std::string_view::npos;
}

bool is_valid_asset_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c == '.' || c == '*' || c == '>' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
        c == '\0' || c == '/' || c == '\\')
      return false;
  }
  return true;
}

const char* to_string(retention_policy r) {
  switch (r) {
    case retention_policy::limits: return "limits";
    case retention_policy::interest: return "interest";
    case retention_policy::workqueue: return "workqueue";
  }
  return "limits";
}
const char* to_string(discard_policy d) { return d == discard_policy::new_msgs ? "new" : "old"; }
const char* to_string(storage_kind s) { return s == storage_kind::memory ? "memory" : "file"; }

std::variant<stream_config, api_error> parse_stream_config(const json::object& o, std::string_view subject_name,
                                                           bool for_update) {
  static constexpr const char* st = "StreamConfig";
  if (auto u = json_util::unknown_field(
          o, {"name", "description", "subjects", "retention", "max_consumers", "max_msgs", "max_bytes", "max_age",
              "max_msgs_per_subject", "max_msg_size", "discard", "discard_new_per_subject", "storage",
              "num_replicas", "no_ack", "duplicate_window", "placement", "mirror", "sources", "sealed",
              "deny_delete", "deny_purge", "allow_rollup_hdrs", "allow_direct", "mirror_direct", "republish",
              "subject_transform", "compression", "first_seq", "metadata", "consumer_limits", "allow_msg_ttl",
              "subject_delete_marker_ttl", "allow_msg_counter", "allow_atomic", "allow_msg_schedules",
              "persist_mode", "allow_batched", "pedantic", "template_owner"}))
    return bad_json("json: unknown field \"" + *u + "\"");

  stream_config c;
  std::string err;
  std::string retention, discard, storage, compression;
  bool ok = get_string(o, "name", c.name, err, st) && get_string(o, "description", c.description, err, st) &&
            get_string(o, "retention", retention, err, st) && get_int(o, "max_consumers", c.max_consumers, err, st) &&
            get_int(o, "max_msgs", c.max_msgs, err, st) && get_int(o, "max_bytes", c.max_bytes, err, st) &&
            get_int(o, "max_age", c.max_age, err, st) &&
            get_int(o, "max_msgs_per_subject", c.max_msgs_per_subject, err, st) &&
            get_int(o, "max_msg_size", c.max_msg_size, err, st) && get_string(o, "discard", discard, err, st) &&
            get_bool(o, "discard_new_per_subject", c.discard_new_per_subject, err, st) &&
            get_string(o, "storage", storage, err, st) && get_int(o, "num_replicas", c.num_replicas, err, st) &&
            get_bool(o, "no_ack", c.no_ack, err, st) && get_int(o, "duplicate_window", c.duplicate_window, err, st) &&
            get_bool(o, "sealed", c.sealed, err, st) && get_bool(o, "deny_delete", c.deny_delete, err, st) &&
            get_bool(o, "deny_purge", c.deny_purge, err, st) &&
            get_bool(o, "allow_rollup_hdrs", c.allow_rollup_hdrs, err, st) &&
            get_bool(o, "allow_direct", c.allow_direct, err, st) &&
            get_bool(o, "mirror_direct", c.mirror_direct, err, st) &&
            get_string(o, "compression", compression, err, st) && get_uint(o, "first_seq", c.first_seq, err, st) &&
            get_bool(o, "allow_msg_ttl", c.allow_msg_ttl, err, st) &&
            get_bool(o, "allow_atomic", c.allow_atomic, err, st) &&
            get_int(o, "subject_delete_marker_ttl", c.subject_delete_marker_ttl, err, st);
  if (!ok) return bad_json(err);

  if (auto* s = o.if_contains("subjects"); s && !s->is_null()) {
    if (!s->is_array()) return bad_json("json: cannot unmarshal " + std::string(s->is_string() ? "string" : "value") +
                                        " into Go struct field StreamConfig.subjects of type []string");
    for (const auto& e : s->as_array()) {
      if (!e.is_string()) return bad_json("json: cannot unmarshal value into Go struct field StreamConfig.subjects of type string");
      c.subjects.emplace_back(e.as_string());
    }
  }
  if (auto* m = o.if_contains("metadata"); m && !m->is_null()) {
    if (!m->is_object()) return bad_json("json: cannot unmarshal value into Go struct field StreamConfig.metadata of type map[string]string");
    for (const auto& kv : m->as_object()) {
      if (!kv.value().is_string()) return bad_json("json: cannot unmarshal value into Go struct field StreamConfig.metadata of type string");
      c.metadata.emplace(std::string(kv.key()), std::string(kv.value().as_string()));
    }
  }
  if (auto* cl = o.if_contains("consumer_limits"); cl && !cl->is_null()) {
    if (!cl->is_object()) return bad_json("json: cannot unmarshal value into Go struct field StreamConfig.consumer_limits");
    if (!get_int(cl->as_object(), "inactive_threshold", c.consumer_limits_inactive_threshold, err, "StreamConsumerLimits") ||
        !get_int(cl->as_object(), "max_ack_pending", c.consumer_limits_max_ack_pending, err, "StreamConsumerLimits"))
      return bad_json(err);
  }
  if (auto* t = o.if_contains("subject_transform"); t && !t->is_null()) {
    if (!t->is_object()) return bad_json("json: cannot unmarshal value into Go struct field StreamConfig.subject_transform");
    subject_transform_cfg tr;
    if (!get_string(t->as_object(), "src", tr.src, err, "SubjectTransformConfig") ||
        !get_string(t->as_object(), "dest", tr.dest, err, "SubjectTransformConfig"))
      return bad_json(err);
    c.subject_transform = tr;
  }
  if (auto* p = o.if_contains("placement"); p && p->is_object() && !p->as_object().empty()) c.placement = *p;

  // Enumerations (nats-server accepts any case for these).
  // Go's enum decoders quote the raw JSON value: can not unmarshal "\"bogus\"".
  auto bad_enum = [](const std::string& v) { return bad_json("can not unmarshal \"\\\"" + v + "\\\"\""); };
  if (retention.empty() || lower_equals(retention, "limits")) c.retention = retention_policy::limits;
  else if (lower_equals(retention, "interest")) c.retention = retention_policy::interest;
  else if (lower_equals(retention, "workqueue")) c.retention = retention_policy::workqueue;
  else return bad_enum(retention);
  if (discard.empty() || lower_equals(discard, "old")) c.discard = discard_policy::old_msgs;
  else if (lower_equals(discard, "new")) c.discard = discard_policy::new_msgs;
  else return bad_enum(discard);
  if (storage.empty() || lower_equals(storage, "file")) c.storage = storage_kind::file;
  else if (lower_equals(storage, "memory")) c.storage = storage_kind::memory;
  else return bad_enum(storage);
  if (compression.empty() || lower_equals(compression, "none")) c.compression = "none";
  else if (lower_equals(compression, "s2")) c.compression = "s2";
  else return bad_enum(compression);

  // Name.
  if (!subject_name.empty() && c.name != subject_name) return errors::stream_mismatch;
  if (has_path_separator(c.name)) return errors::stream_name_contains_path_separators;
  if (!is_valid_asset_name(c.name)) return invalid("invalid stream name");
  if (c.name.size() > 255) return invalid("stream name is too long, maximum allowed is 255");
  if (c.description.size() > 4096) return invalid("stream description is too long, maximum allowed is 4096");

  // Features this single server does not provide are refused, never silently ignored.
  if (auto* m = o.if_contains("mirror"); m && !m->is_null()) {
    if (c.first_seq > 0) return errors::stream_mirror_with_first_seq;
    return invalid("stream mirrors are not supported by this server");
  }
  if (auto* s = o.if_contains("sources"); s && !s->is_null() && !(s->is_array() && s->as_array().empty()))
    return invalid("stream sources are not supported by this server");
  if (auto* r = o.if_contains("republish"); r && r->is_object()) {
    republish_cfg rp;
    if (!get_string(r->as_object(), "src", rp.src, err, "RePublish") ||
        !get_string(r->as_object(), "dest", rp.dest, err, "RePublish") ||
        !get_bool(r->as_object(), "headers_only", rp.headers_only, err, "RePublish"))
      return bad_json(err);
    if (rp.src.empty()) rp.src = ">";
    const std::vector<std::string> subs = c.subjects.empty() ? std::vector<std::string>{c.name} : c.subjects;
    for (const auto& sub : subs)
      if (!rp.dest.empty() && protocol::subjects_overlap(sub, rp.dest))
        return invalid("stream configuration for republish destination forms a cycle");
    if (!subject_transform::make(rp.src, rp.dest))
      return invalid("stream configuration for republish destination is not valid");
    c.republish = rp;
  }
  for (const char* k : {"allow_msg_counter", "allow_msg_schedules", "allow_batched"}) {
    if (auto* v = o.if_contains(k); v && v->is_bool() && v->as_bool())
      return invalid(std::string(k) + " is not supported by this server");
  }
  if (auto* v = o.if_contains("persist_mode"); v && v->is_string() && v->as_string() != "" && v->as_string() != "default")
    return invalid("persist_mode async is not supported by this server");

  // Limits normalisation.
  auto norm = [](std::int64_t& v) { if (v == 0 || v < -1) v = -1; };
  norm(c.max_consumers);
  norm(c.max_msgs);
  norm(c.max_bytes);
  norm(c.max_msgs_per_subject);
  norm(c.max_msg_size);
  if (c.num_replicas == 0) c.num_replicas = 1;
  if (c.num_replicas < 0 || c.num_replicas > 5) return invalid("maximum replicas is 5");
  if (c.num_replicas > 1) return errors::stream_replicas_not_supported;
  if (c.max_age < 0) return invalid("max age can not be negative");
  if (c.max_age > 0 && c.max_age < 100 * ns_per_ms) return invalid("max age needs to be >= 100ms");
  if (c.duplicate_window < 0) return invalid("duplicates window can not be negative");
  if (c.duplicate_window == 0) {
    c.duplicate_window = default_duplicate_window;
    if (c.max_age > 0 && c.max_age < c.duplicate_window) c.duplicate_window = c.max_age;
  } else {
    if (c.duplicate_window < 100 * ns_per_ms) return invalid("duplicates window needs to be >= 100ms");
    if (c.max_age > 0 && c.duplicate_window > c.max_age)
      return invalid("duplicates window can not be larger then max age");
  }
  if (c.max_msg_size > INT32_MAX) return invalid("max message size is too large");
  if (c.sealed && !for_update) return invalid("stream configuration for create can not be sealed");
  if (c.sealed) {
    c.max_age = 0;
    c.discard = discard_policy::new_msgs;
    c.deny_delete = c.deny_purge = true;
    c.allow_rollup_hdrs = false;
  }
  if (c.mirror_direct) return invalid("stream has no mirror but does have mirror direct");
  if (c.discard_new_per_subject) {
    if (c.discard != discard_policy::new_msgs) return invalid("discard new per subject requires discard new policy to be set");
    if (c.max_msgs_per_subject <= 0) return invalid("discard new per subject requires max msgs per subject > 0");
  }
  if (c.subject_delete_marker_ttl != 0) {
    if (c.subject_delete_marker_ttl < ns_per_s) return invalid("subject delete marker TTL must be at least 1 second");
    c.allow_msg_ttl = true;
    c.allow_rollup_hdrs = true;
    c.deny_purge = false;
  }
  if (c.deny_purge && c.allow_rollup_hdrs && !c.sealed) return invalid("roll-ups require the purge permission");

  // Subjects.
  if (c.subjects.empty()) c.subjects.push_back(c.name);
  for (const auto& s : c.subjects)
    if (!protocol::is_valid_filter(s)) return invalid("invalid subject");
  for (std::size_t i = 0; i < c.subjects.size(); ++i)
    for (std::size_t j = i + 1; j < c.subjects.size(); ++j)
      if (protocol::subjects_overlap(c.subjects[i], c.subjects[j]))
        return invalid("subject \"" + c.subjects[i] + "\" overlaps with \"" + c.subjects[j] + "\"");
  for (const auto& s : c.subjects) {
    if (s == ">" && !c.no_ack) return invalid("capturing all subjects requires no-ack to be true");
    if (!c.no_ack && (protocol::subjects_overlap(s, "$JS.>") || protocol::subjects_overlap(s, "$JSC.>") ||
                      protocol::subjects_overlap(s, "$NRG.>")) &&
        !protocol::subject_is_subset(s, "$JS.EVENT.>"))
      return invalid("subjects that overlap with jetstream api require no-ack to be true");
  }
  if (c.subject_transform && !subject_transform::make(c.subject_transform->src, c.subject_transform->dest))
    return errors::stream_transform_invalid.with("invalid subject");

  // Server metadata: clients echo _nats.* keys back; drop them and stamp the request level.
  for (auto it = c.metadata.begin(); it != c.metadata.end();) {
    if (it->first.rfind("_nats.", 0) == 0) it = c.metadata.erase(it);
    else ++it;
  }
  // The API level the stream's features need (per-message TTLs are a level 1 feature).
  c.metadata["_nats.req.level"] = (c.allow_msg_ttl || c.subject_delete_marker_ttl) ? "1" : "0";
  return c;
}

json::object to_json(const stream_config& c, bool with_version_metadata) {
  json::object o;
  o["name"] = c.name;
  if (!c.description.empty()) o["description"] = c.description;
  json::array subs;
  for (const auto& s : c.subjects) subs.emplace_back(s);
  o["subjects"] = std::move(subs);
  if (c.subject_transform) o["subject_transform"] = json::object{{"src", c.subject_transform->src}, {"dest", c.subject_transform->dest}};
  if (c.republish) {
    json::object rp{{"src", c.republish->src}, {"dest", c.republish->dest}};
    if (c.republish->headers_only) rp["headers_only"] = true;
    o["republish"] = std::move(rp);
  }
  o["retention"] = to_string(c.retention);
  o["max_consumers"] = c.max_consumers;
  o["max_msgs"] = c.max_msgs;
  o["max_bytes"] = c.max_bytes;
  o["max_age"] = c.max_age;
  o["max_msgs_per_subject"] = c.max_msgs_per_subject;
  o["max_msg_size"] = c.max_msg_size;
  o["discard"] = to_string(c.discard);
  if (c.discard_new_per_subject) o["discard_new_per_subject"] = true;
  o["storage"] = to_string(c.storage);
  o["num_replicas"] = c.num_replicas;
  if (c.no_ack) o["no_ack"] = true;
  if (c.duplicate_window) o["duplicate_window"] = c.duplicate_window;
  if (!c.placement.is_null()) o["placement"] = c.placement;
  o["compression"] = c.compression;
  if (c.first_seq) o["first_seq"] = c.first_seq;
  o["allow_direct"] = c.allow_direct;
  o["mirror_direct"] = c.mirror_direct;
  o["sealed"] = c.sealed;
  o["deny_delete"] = c.deny_delete;
  o["deny_purge"] = c.deny_purge;
  o["allow_rollup_hdrs"] = c.allow_rollup_hdrs;
  json::object cl;
  if (c.consumer_limits_inactive_threshold) cl["inactive_threshold"] = c.consumer_limits_inactive_threshold;
  if (c.consumer_limits_max_ack_pending) cl["max_ack_pending"] = c.consumer_limits_max_ack_pending;
  o["consumer_limits"] = std::move(cl);
  o["allow_msg_ttl"] = c.allow_msg_ttl;
  if (c.subject_delete_marker_ttl) o["subject_delete_marker_ttl"] = c.subject_delete_marker_ttl;
  if (c.allow_atomic) o["allow_atomic"] = true;
  json::object md;
  if (with_version_metadata) md["_nats.level"] = std::to_string(api_level);
  for (const auto& [k, v] : c.metadata) md[k] = v;
  if (with_version_metadata) md["_nats.ver"] = server::nats_compat_version;
  o["metadata"] = std::move(md);
  return o;
}

api_error check_update(const stream_config& o, const stream_config& n) {
  if (o.storage != n.storage) return invalid("stream configuration update can not change storage type");
  if ((o.retention == retention_policy::workqueue) != (n.retention == retention_policy::workqueue))
    return invalid("stream configuration update can not change retention policy to/from workqueue");
  if (o.sealed && !n.sealed) return invalid("stream configuration update can not unseal a sealed stream");
  if (o.deny_delete && !n.deny_delete) return invalid("stream configuration update can not cancel deny message deletes");
  if (o.deny_purge && !n.deny_purge) return invalid("stream configuration update can not cancel deny purge");
  if (o.allow_msg_ttl && !n.allow_msg_ttl) return invalid("message TTL status can not be disabled");
  return {};
}

}  // namespace jb::jetstream
