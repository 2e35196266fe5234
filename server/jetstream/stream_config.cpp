#include "server/jetstream/stream_config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "protocol/subject.hpp"
#include "server/jetstream/json_util.hpp"
#include "server/jetstream/subject_transform.hpp"
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
constexpr std::int64_t default_duplicate_window = 120 * ns_per_s;

api_error invalid(const std::string& why) { return errors::stream_invalid_config.with(why); }
api_error bad_json(const std::string& why) { return errors::invalid_json.with(why); }

bool lower_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  return true;
}

std::vector<std::string> split_keep_empty(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

bool has_fwc(std::string_view subject) {
  return subject == ">" || (subject.size() >= 2 && subject.substr(subject.size() - 2) == ".>");
}

// nats-server's ValidateMapping(src, dest) for source and mirror transforms: "" when valid,
// otherwise the error text. An empty destination means "filter only".
std::string mapping_error(std::string_view src, std::string_view dest) {
  static constexpr std::string_view bad_dest = "invalid mapping destination";
  if (dest.empty()) return {};
  bool after_fwc = false;
  for (const auto& t : split_keep_empty(dest, '.')) {
    if (t.empty() || after_fwc) return std::string(bad_dest) + ": invalid transform in " + t;
    const auto fn = subject_transform::parse_token(t);
    if (!fn.error.empty()) return std::string(bad_dest) + ": " + fn.error + " in " + t;
    if (fn.kind != subject_transform::token_info::literal) continue;
    if (t == ">") after_fwc = true;
    else if (t.find_first_of("\t\n\f\r ") != std::string::npos) return std::string(bad_dest) + ": invalid transform";
  }
  if (src.empty()) src = ">";
  int src_pwcs = 0, dest_pwcs = 0;
  for (auto tok : protocol::tokens(src)) src_pwcs += tok == "*";
  for (auto tok : protocol::tokens(dest)) dest_pwcs += tok == "*";
  if (!protocol::is_valid_filter(src) || !protocol::is_valid_filter(dest) || dest_pwcs > 0 || has_fwc(src) != has_fwc(dest))
    return "invalid subject";
  for (auto tok : protocol::tokens(dest)) {
    const auto fn = subject_transform::parse_token(tok);
    if (fn.kind == subject_transform::token_info::literal) continue;
    const bool partition = fn.kind == subject_transform::token_info::partition;
    if (src_pwcs == 0 && partition) continue;  // hashes the whole subject
    if (src_pwcs == 0) return std::string(bad_dest) + ": wildcard index out of range in " + std::string(tok);
    for (int n : fn.wildcards)
      if (n > src_pwcs)
        return std::string(bad_dest) + ": wildcard index out of range in " + std::string(tok) + ": [" + std::to_string(n) + "]";
  }
  return {};
}

// Seconds east of UTC of an RFC 3339 time ("Z" = 0).
int rfc3339_offset(std::string_view t) {
  if (t.size() < 6 || t.back() == 'Z' || t.back() == 'z') return 0;
  auto tail = t.substr(t.size() - 6);
  if ((tail[0] != '+' && tail[0] != '-') || tail[3] != ':') return 0;
  int h = (tail[1] - '0') * 10 + (tail[2] - '0'), m = (tail[4] - '0') * 10 + (tail[5] - '0');
  return (h * 3600 + m * 60) * (tail[0] == '-' ? -1 : 1);
}

// Go's time.Time JSON form: RFC 3339 with trailing zeros trimmed, in the offset it was given in.
std::string go_time_with_offset(std::int64_t ns, int offset) {
  if (offset == 0) return server::rfc3339_ns(ns);
  std::string s = server::rfc3339_ns(ns + static_cast<std::int64_t>(offset) * ns_per_s);
  s.pop_back();  // 'Z'
  const int a = offset < 0 ? -offset : offset;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", offset < 0 ? '-' : '+', (a / 3600) % 100, a / 60 % 60);
  return s + buf;
}

// One StreamSource object (mirror or sources[i]).
std::variant<stream_source_cfg, api_error> parse_source(const json::value& v, const std::string& field) {
  // Go names a field by its inner struct and its path in the request: StreamSource.StreamConfig.sources.name.
  const std::string path = ".StreamConfig." + field;
  const std::string st = "StreamSource" + path;
  if (!v.is_object())
    return bad_json("json: cannot unmarshal value into Go struct field StreamConfig." + field + " of type server.StreamSource");
  const auto& o = v.as_object();
  if (auto u = json_util::unknown_field(o, {"name", "opt_start_seq", "opt_start_time", "filter_subject",
                                            "subject_transforms", "external", "consumer"}))
    return bad_json("json: unknown field \"" + *u + "\"");
  stream_source_cfg src;
  std::string err, start_time;
  if (!get_string(o, "name", src.name, err, st.c_str()) || !get_uint(o, "opt_start_seq", src.opt_start_seq, err, st.c_str()) ||
      !get_string(o, "opt_start_time", start_time, err, st.c_str()) ||
      !get_string(o, "filter_subject", src.filter_subject, err, st.c_str()))
    return bad_json(err);
  if (!start_time.empty()) {
    auto t = json_util::parse_rfc3339(start_time);
    if (!t) return bad_json("parsing time \"\\\"" + start_time + "\\\"\" as \"\\\"2006-01-02T15:04:05Z07:00\\\"\"");
    src.opt_start_time = *t;
    src.opt_start_time_offset = rfc3339_offset(start_time);
  }
  if (auto* t = o.if_contains("subject_transforms"); t && !t->is_null()) {
    if (!t->is_array())
      return bad_json("json: cannot unmarshal value into Go struct field StreamSource." + field +
                      ".subject_transforms of type []server.SubjectTransformConfig");
    for (const auto& e : t->as_array()) {
      if (!e.is_object())
        return bad_json("json: cannot unmarshal value into Go struct field StreamSource." + field +
                        ".subject_transforms of type server.SubjectTransformConfig");
      if (auto u = json_util::unknown_field(e.as_object(), {"src", "dest"}))
        return bad_json("json: unknown field \"" + *u + "\"");
      subject_transform_cfg tr;
      const std::string tst = "SubjectTransformConfig" + path + ".subject_transforms";
      if (!get_string(e.as_object(), "src", tr.src, err, tst.c_str()) ||
          !get_string(e.as_object(), "dest", tr.dest, err, tst.c_str()))
        return bad_json(err);
      src.subject_transforms.push_back(std::move(tr));
    }
  }
  if (auto* x = o.if_contains("external"); x && !x->is_null()) {
    if (!x->is_object())
      return bad_json("json: cannot unmarshal value into Go struct field StreamSource." + field +
                      ".external of type server.ExternalStream");
    if (auto u = json_util::unknown_field(x->as_object(), {"api", "deliver"}))
      return bad_json("json: unknown field \"" + *u + "\"");
    external_stream_cfg ext;
    const std::string xst = "ExternalStream" + path + ".external";
    if (!get_string(x->as_object(), "api", ext.api, err, xst.c_str()) ||
        !get_string(x->as_object(), "deliver", ext.deliver, err, xst.c_str()))
      return bad_json(err);
    src.external = std::move(ext);
  }
  // Durable sourcing consumers (2.14) need a consumer on the origin's server; not provided.
  if (auto* c = o.if_contains("consumer"); c && !c->is_null())
    return invalid("durable sourcing consumers are not supported by this server");
  return src;
}

json::object source_json(const stream_source_cfg& src) {
  json::object o;
  o["name"] = src.name;
  if (src.opt_start_seq) o["opt_start_seq"] = src.opt_start_seq;
  if (src.opt_start_time) o["opt_start_time"] = go_time_with_offset(*src.opt_start_time, src.opt_start_time_offset);
  if (!src.filter_subject.empty()) o["filter_subject"] = src.filter_subject;
  if (!src.subject_transforms.empty()) {
    json::array a;
    for (const auto& t : src.subject_transforms) a.push_back(json::object{{"src", t.src}, {"dest", t.dest}});
    o["subject_transforms"] = std::move(a);
  }
  if (src.external) o["external"] = json::object{{"api", src.external->api}, {"deliver", src.external->deliver}};
  return o;
}

// Validation of the mirror and sources that needs no other stream (nats checkStreamCfg, in its
// order); `prefixes` collects the external delivery and API prefixes for the checks after.
api_error check_mirror(const stream_config& c, std::vector<std::string>& deliver_prefixes,
                       std::vector<std::string>& api_prefixes) {
  const auto& m = *c.mirror;
  if (c.first_seq > 0) return errors::stream_mirror_with_first_seq;
  if (!c.subjects.empty()) return errors::mirror_with_subjects;
  if (!c.sources.empty()) return errors::mirror_with_sources;
  if (c.allow_msg_counter) return errors::mirror_with_counters;
  if (c.allow_atomic) return errors::mirror_with_atomic_publish;
  if (c.allow_msg_schedules) return errors::mirror_with_msg_schedules;
  if (!m.filter_subject.empty() && !m.subject_transforms.empty()) return errors::mirror_multiple_filters_not_allowed;
  if (c.subject_delete_marker_ttl > 0) return invalid("subject delete markers forbidden on mirrors");
  for (std::size_t i = 0; i < m.subject_transforms.size(); ++i) {
    const auto& tr = m.subject_transforms[i];
    if (!tr.src.empty() && !protocol::is_valid_filter(tr.src))
      return errors::mirror_invalid_subject_filter.with("invalid subject " + tr.src);
    if (auto e = mapping_error(tr.src, tr.dest); !e.empty()) return errors::mirror_invalid_transform_destination.with(e);
    for (std::size_t j = 0; j < m.subject_transforms.size(); ++j) {
      const auto& other = m.subject_transforms[j].src;
      if (i != j && protocol::subjects_overlap(tr.src.empty() ? ">" : tr.src, other.empty() ? ">" : other))
        return errors::mirror_overlapping_subject_filters;
    }
  }
  if (!m.external) {
    if (!is_valid_asset_name(m.name)) return errors::mirror_invalid_stream_name;
  } else {
    if (!m.external->deliver.empty()) deliver_prefixes.push_back(m.external->deliver);
    if (!m.external->api.empty()) api_prefixes.push_back(m.external->api);
  }
  return {};
}

api_error check_sources(const stream_config& c, std::vector<std::string>& deliver_prefixes,
                        std::vector<std::string>& api_prefixes) {
  if (!c.sources.empty() && c.allow_msg_schedules) return errors::source_with_msg_schedules;
  std::vector<std::string> inames;
  for (const auto& src : c.sources) {
    if (!is_valid_asset_name(src.name)) return errors::source_invalid_stream_name;
    auto iname = src.index_name();
    if (std::find(inames.begin(), inames.end(), iname) != inames.end()) return errors::source_duplicate_detected;
    inames.push_back(std::move(iname));
    if (!src.filter_subject.empty() && !src.subject_transforms.empty()) return errors::source_multiple_filters_not_allowed;
    for (const auto& tr : src.subject_transforms) {
      if (!tr.src.empty() && !protocol::is_valid_filter(tr.src))
        return errors::source_invalid_subject_filter.with("invalid subject " + tr.src);
      if (auto e = mapping_error(tr.src, tr.dest); !e.empty()) return errors::source_invalid_transform_destination.with(e);
    }
    for (std::size_t i = 0; i < src.subject_transforms.size(); ++i)
      for (std::size_t j = 0; j < src.subject_transforms.size(); ++j) {
        const auto& a = src.subject_transforms[i].src;
        const auto& b = src.subject_transforms[j].src;
        if (i != j && protocol::subject_is_subset(a.empty() ? ">" : a, b.empty() ? ">" : b))
          return errors::source_overlapping_subject_filters;
      }
    if (src.external) {
      if (!src.external->deliver.empty()) deliver_prefixes.push_back(src.external->deliver);
      if (!src.external->api.empty()) api_prefixes.push_back(src.external->api);
    }
  }
  return {};
}

}  // namespace

std::string stream_source_cfg::index_name() const {
  std::string iname = name;
  if (external) iname += ":" + external->api;
  std::string srcs, dests;
  if (subject_transforms.empty()) {
    srcs = filter_subject.empty() ? ">" : filter_subject;
    dests = ">";
  } else {
    for (std::size_t i = 0; i < subject_transforms.size(); ++i) {
      if (i) {
        srcs += '\f';
        dests += '\f';
      }
      srcs += subject_transforms[i].src.empty() ? ">" : subject_transforms[i].src;
      dests += subject_transforms[i].dest.empty() ? ">" : subject_transforms[i].dest;
    }
  }
  return iname + " " + srcs + " " + dests;
}

std::vector<std::string> stream_source_cfg::filters() const {
  std::vector<std::string> out;
  if (subject_transforms.empty()) {
    if (!filter_subject.empty() && filter_subject != ">") out.push_back(filter_subject);
    return out;
  }
  for (const auto& t : subject_transforms) {
    if (t.src.empty() || t.src == ">") return {};  // one of them takes everything
    out.push_back(t.src);
  }
  return out;
}

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
  // Go names a field by its path in the request: StreamConfigRequest.StreamConfig.<field>.
  static constexpr const char* st = "StreamConfigRequest.StreamConfig";
  static constexpr const char* dur = "time.Duration";
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
            get_string(o, "retention", retention, err, st) && get_int(o, "max_consumers", c.max_consumers, err, st, "int") &&
            get_int(o, "max_msgs", c.max_msgs, err, st) && get_int(o, "max_bytes", c.max_bytes, err, st) &&
            get_int(o, "max_age", c.max_age, err, st, dur) &&
            get_int(o, "max_msgs_per_subject", c.max_msgs_per_subject, err, st) &&
            get_int(o, "max_msg_size", c.max_msg_size, err, st, "int32", INT32_MIN, INT32_MAX) && get_string(o, "discard", discard, err, st) &&
            get_bool(o, "discard_new_per_subject", c.discard_new_per_subject, err, st) &&
            get_string(o, "storage", storage, err, st) && get_int(o, "num_replicas", c.num_replicas, err, st, "int") &&
            get_bool(o, "no_ack", c.no_ack, err, st) && get_int(o, "duplicate_window", c.duplicate_window, err, st, dur) &&
            get_bool(o, "sealed", c.sealed, err, st) && get_bool(o, "deny_delete", c.deny_delete, err, st) &&
            get_bool(o, "deny_purge", c.deny_purge, err, st) &&
            get_bool(o, "allow_rollup_hdrs", c.allow_rollup_hdrs, err, st) &&
            get_bool(o, "allow_direct", c.allow_direct, err, st) &&
            get_bool(o, "mirror_direct", c.mirror_direct, err, st) &&
            get_string(o, "compression", compression, err, st) && get_uint(o, "first_seq", c.first_seq, err, st) &&
            get_bool(o, "allow_msg_ttl", c.allow_msg_ttl, err, st) &&
            get_bool(o, "allow_atomic", c.allow_atomic, err, st) &&
            get_bool(o, "allow_msg_counter", c.allow_msg_counter, err, st) &&
            get_bool(o, "allow_msg_schedules", c.allow_msg_schedules, err, st) &&
            get_int(o, "subject_delete_marker_ttl", c.subject_delete_marker_ttl, err, st, dur);
  if (!ok) return bad_json(err);

  if (auto* s = o.if_contains("subjects"); s && !s->is_null()) {
    if (!s->is_array()) return bad_json("json: cannot unmarshal " + std::string(s->is_string() ? "string" : "value") +
                                        " into Go struct field StreamConfig.subjects of type []string");
    for (const auto& e : s->as_array()) {
      if (!e.is_string()) return bad_json("json: cannot unmarshal value into Go struct field StreamConfig.subjects of type string");
      c.subjects.emplace_back(e.as_string());
    }
  }
  if (auto* m = o.if_contains("mirror"); m && !m->is_null()) {
    auto src = parse_source(*m, "mirror");
    if (auto* e = std::get_if<api_error>(&src)) return *e;
    c.mirror = std::get<stream_source_cfg>(std::move(src));
  }
  if (auto* s = o.if_contains("sources"); s && !s->is_null()) {
    if (!s->is_array()) return bad_json("json: cannot unmarshal value into Go struct field StreamConfig.sources of type []*server.StreamSource");
    for (const auto& e : s->as_array()) {
      if (e.is_null()) return errors::source_invalid_stream_name;  // a null entry: nats' nil source
      auto src = parse_source(e, "sources");
      if (auto* err2 = std::get_if<api_error>(&src)) return *err2;
      c.sources.push_back(std::get<stream_source_cfg>(std::move(src)));
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
    static constexpr const char* cst = "StreamConsumerLimits.StreamConfig.consumer_limits";
    if (!get_int(cl->as_object(), "inactive_threshold", c.consumer_limits_inactive_threshold, err, cst, dur) ||
        !get_int(cl->as_object(), "max_ack_pending", c.consumer_limits_max_ack_pending, err, cst, "int"))
      return bad_json(err);
  }
  if (auto* t = o.if_contains("subject_transform"); t && !t->is_null()) {
    if (!t->is_object()) return bad_json("json: cannot unmarshal value into Go struct field StreamConfig.subject_transform");
    subject_transform_cfg tr;
    static constexpr const char* tst = "SubjectTransformConfig.StreamConfig.subject_transform";
    if (!get_string(t->as_object(), "src", tr.src, err, tst) || !get_string(t->as_object(), "dest", tr.dest, err, tst))
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
  if (auto* r = o.if_contains("republish"); r && r->is_object()) {
    republish_cfg rp;
    static constexpr const char* rst = "RePublish.StreamConfig.republish";
    if (!get_string(r->as_object(), "src", rp.src, err, rst) || !get_string(r->as_object(), "dest", rp.dest, err, rst) ||
        !get_bool(r->as_object(), "headers_only", rp.headers_only, err, rst))
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
  for (const char* k : {"allow_batched"}) {
    if (auto* v = o.if_contains(k); v && v->is_bool() && v->as_bool())
      return invalid(std::string(k) + " is not supported by this server");
  }
  if (auto* v = o.if_contains("persist_mode"); v && !v->is_null()) {
    if (!v->is_string()) return bad_json("json: cannot unmarshal value into Go struct field StreamConfig.persist_mode of type server.PersistModeType");
    const std::string pm(v->as_string());
    // Go's decoder takes exactly "", "default" and "async".
    if (pm == "async") c.async_persist = true;
    else if (!pm.empty() && pm != "default") return bad_enum(pm);
  }

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
    if (!c.mirror && c.sources.empty()) {  // mirrors and sources keep 0 (no de-duplication)
      c.duplicate_window = default_duplicate_window;
      if (c.max_age > 0 && c.max_age < c.duplicate_window) c.duplicate_window = c.max_age;
    }
  } else {
    if (c.duplicate_window < 100 * ns_per_ms) return invalid("duplicates window needs to be >= 100ms");
    if (c.max_age > 0 && c.duplicate_window > c.max_age)
      return invalid("duplicates window can not be larger then max age");
  }
  if (c.sealed && !for_update) return invalid("stream configuration for create can not be sealed");
  if (c.sealed) {
    c.max_age = 0;
    c.discard = discard_policy::new_msgs;
    c.deny_delete = c.deny_purge = true;
    c.allow_rollup_hdrs = false;
  }
  // nats-server checks this on create only (an update may carry a promoted mirror's flag).
  if (c.mirror_direct && !c.mirror && !for_update) return invalid("stream has no mirror but does have mirror direct");
  if (c.deny_purge && c.allow_rollup_hdrs && !c.sealed) return invalid("roll-ups require the purge permission");
  if (c.allow_msg_counter) {
    if (c.discard == discard_policy::new_msgs) return invalid("counter stream cannot use discard new");
    if (c.allow_msg_ttl) return invalid("counter stream cannot use message TTLs");
    if (c.allow_msg_schedules) return invalid("counter stream cannot use message schedules");
    if (c.retention != retention_policy::limits) return invalid("counter stream can only use limits retention");
  }
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
  // Schedules are one message per subject, replaced by roll-ups: roll-ups are switched on.
  if (c.allow_msg_schedules) {
    if (c.discard == discard_policy::new_msgs) return invalid("message scheduling cannot use discard new");
    if (!c.allow_rollup_hdrs) {
      c.allow_rollup_hdrs = true;
      c.deny_purge = false;
    }
  }
  if (c.async_persist) {
    if (c.storage != storage_kind::file) return invalid("async persist mode is only supported on file storage");
    if (c.num_replicas > 1) return invalid("async persist mode is not supported on replicated streams");
    if (c.allow_atomic) return invalid("async persist mode is not supported with atomic batch publish");
  }

  // Mirror and sources (the checks that need no other stream; see check_against_streams).
  {
    std::vector<std::string> deliver_prefixes, api_prefixes;
    if (c.mirror)
      if (auto e = check_mirror(c, deliver_prefixes, api_prefixes)) return e;
    if (auto e = check_sources(c, deliver_prefixes, api_prefixes)) return e;
    for (const auto& p : deliver_prefixes)
      if (!protocol::is_valid_literal_subject(p)) return errors::stream_invalid_external_delivery_subj.with(p);
    for (const auto& p : api_prefixes) {
      if (!protocol::is_valid_literal_subject(p))
        return invalid("stream external api prefix \"" + p + "\" must be a valid subject without wildcards");
      if (protocol::subjects_overlap(p, "$JS.API")) return errors::stream_external_api_overlap.with(p).with("$JS.API");
    }
  }

  // Subjects.
  if (c.subjects.empty() && !c.mirror && c.sources.empty()) c.subjects.push_back(c.name);
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
    if (!c.no_ack && protocol::subjects_overlap(s, "$SYS.>") && !protocol::subject_is_subset(s, "$SYS.ACCOUNT.>"))
      return invalid("subjects that overlap with system api require no-ack to be true");
  }
  if (c.subject_transform) {
    if (auto e = mapping_error(c.subject_transform->src, c.subject_transform->dest); !e.empty())
      return errors::stream_transform_invalid.with(e);
    if (!subject_transform::make(c.subject_transform->src, c.subject_transform->dest))
      return errors::stream_transform_invalid.with("invalid subject");
  }

  // Server metadata: clients echo _nats.* keys back; drop them and stamp the request level.
  for (auto it = c.metadata.begin(); it != c.metadata.end();) {
    if (it->first.rfind("_nats.", 0) == 0) it = c.metadata.erase(it);
    else ++it;
  }
  // The API level the stream's features need: per-message TTLs 1; counters, atomic batches,
  // async persistence and message schedules 2 (nats-server 2.12).
  const char* level = "0";
  if (c.allow_msg_ttl || c.subject_delete_marker_ttl) level = "1";
  if (c.allow_msg_counter || c.allow_atomic || c.async_persist || c.allow_msg_schedules) level = "2";
  c.metadata["_nats.req.level"] = level;
  return c;
}

json::object to_json(const stream_config& c, bool with_version_metadata) {
  json::object o;
  o["name"] = c.name;
  if (!c.description.empty()) o["description"] = c.description;
  if (!c.subjects.empty()) {
    json::array subs;
    for (const auto& s : c.subjects) subs.emplace_back(s);
    o["subjects"] = std::move(subs);
  }
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
  if (c.mirror) o["mirror"] = source_json(*c.mirror);
  if (!c.sources.empty()) {
    json::array a;
    for (const auto& src : c.sources) a.push_back(source_json(src));
    o["sources"] = std::move(a);
  }
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
  if (c.allow_msg_counter) o["allow_msg_counter"] = true;
  if (c.allow_atomic) o["allow_atomic"] = true;
  if (c.allow_msg_schedules) o["allow_msg_schedules"] = true;
  if (c.async_persist) o["persist_mode"] = "async";
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
  // Removing the mirror promotes it to a normal stream; any other change is refused.
  if (n.mirror && n.mirror != o.mirror) return errors::stream_mirror_not_updatable;
  if (o.allow_msg_ttl && !n.allow_msg_ttl) return invalid("message TTL status can not be disabled");
  if (o.allow_msg_counter != n.allow_msg_counter)
    return invalid("stream configuration update can not change message counter setting");
  if (o.allow_msg_schedules && !n.allow_msg_schedules) return invalid("message schedules can not be disabled");
  if (o.async_persist != n.async_persist) return invalid("stream configuration update can not change persist mode");
  return {};
}

}  // namespace jb::jetstream

namespace jb::jetstream {

api_error check_source_filters(const stream_config& c) {
  if (c.mirror && c.mirror->subject_transforms.empty() && !c.mirror->filter_subject.empty() &&
      !protocol::is_valid_filter(c.mirror->filter_subject))
    return errors::stream_create.with("subject filter '" + c.mirror->filter_subject + "' for the mirror invalid subject");
  for (const auto& src : c.sources)
    if (src.subject_transforms.empty() && !src.filter_subject.empty() && !protocol::is_valid_filter(src.filter_subject))
      return errors::stream_create.with("subject filter '" + src.filter_subject + "' for the source: invalid subject");
  return {};
}

api_error check_against_streams(stream_config& cfg,
                                const std::function<const stream_config*(std::string_view)>& lookup) {
  if (cfg.mirror && !cfg.mirror->external) {
    if (const auto* origin = lookup(cfg.mirror->name)) {
      if (cfg.max_msg_size > 0 && origin->max_msg_size > 0 && cfg.max_msg_size < origin->max_msg_size)
        return errors::mirror_max_message_size_too_big;
      cfg.mirror_direct = origin->allow_direct;  // a mirror serves direct gets when its origin does
    }
  }
  for (const auto& src : cfg.sources) {
    if (src.external) continue;
    if (const auto* origin = lookup(src.name))
      if (cfg.max_msg_size > 0 && origin->max_msg_size > 0 && cfg.max_msg_size < origin->max_msg_size)
        return errors::source_max_message_size_too_big;
  }
  // An external delivery prefix must not capture the subjects of the local streams it reads beside
  // (nats checkStreamCfg: "<sub>" colliding with "<prefix>.<sub>", which only wildcards do).
  {
    std::vector<std::string> local_subjects;
    auto collect = [&](const stream_source_cfg& src) {
      if (src.external) return;
      if (const auto* origin = lookup(src.name))
        local_subjects.insert(local_subjects.end(), origin->subjects.begin(), origin->subjects.end());
    };
    if (cfg.mirror) collect(*cfg.mirror);
    for (const auto& src : cfg.sources) collect(src);
    std::vector<std::string> prefixes;
    if (cfg.mirror && cfg.mirror->external && !cfg.mirror->external->deliver.empty())
      prefixes.push_back(cfg.mirror->external->deliver);
    for (const auto& src : cfg.sources)
      if (src.external && !src.external->deliver.empty()) prefixes.push_back(src.external->deliver);
    for (const auto& pfx : prefixes)
      for (const auto& sub : local_subjects)
        if (protocol::subjects_overlap(sub, pfx + "." + sub))
          return errors::stream_external_del_prefix_overlaps.with(pfx).with(sub);
  }
  // Cycles: walk what this stream sources from, transitively (nats checkStreamCfg).
  std::vector<const stream_config*> to_visit{&cfg};
  std::vector<std::string> visited;
  auto seen = [&](const std::string& n) { return std::find(visited.begin(), visited.end(), n) != visited.end(); };
  while (!to_visit.empty()) {
    const stream_config* cur = to_visit.front();
    to_visit.erase(to_visit.begin());
    visited.push_back(cur->name);
    for (const auto& src : cur->sources) {
      if (src.external) continue;
      if (seen(src.name)) {
        bool overlaps = src.filter_subject.empty();
        for (const auto& subj : cur->subjects) overlaps = overlaps || protocol::subjects_overlap(subj, src.filter_subject);
        if (overlaps) return invalid("detected cycle");
      } else if (const auto* next = lookup(src.name)) {
        to_visit.push_back(next);
      }
    }
    if (cur->mirror && !cur->mirror->external) {
      if (seen(cur->mirror->name)) return invalid("detected cycle");
      if (const auto* next = lookup(cur->mirror->name)) to_visit.push_back(next);
    }
  }
  return {};
}

}  // namespace jb::jetstream
