// The $JS.API request handlers (run on the JetStream strand).
#include <algorithm>

#include <boost/json.hpp>

#include "protocol/headers.hpp"
#include "protocol/subject.hpp"
#include "server/jetstream/consumer.hpp"
#include "server/jetstream/jetstream.hpp"
#include "server/jetstream/json_util.hpp"
#include "server/jetstream/stream.hpp"
#include "server/log.hpp"
#include "server/server.hpp"
#include "server/time_util.hpp"

namespace jb::jetstream {

namespace json = boost::json;

namespace {

constexpr const char* type_prefix = "io.nats.jetstream.api.v1.";

std::string base64(std::string_view in) {
  static constexpr char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string go_time(std::int64_t ns) { return ns == 0 ? "0001-01-01T00:00:00Z" : server::rfc3339_ns(ns); }

// Parses an optional JSON object body. Empty body: an empty object.
std::variant<json::object, api_error> parse_body(std::string_view payload) {
  if (payload.empty()) return json::object{};
  boost::system::error_code ec;
  auto v = json::parse(payload, ec);
  if (ec) return errors::invalid_json.with(ec.message());
  if (!v.is_object()) return errors::invalid_json.with("json: cannot unmarshal value into Go value of type object");
  return std::move(v.as_object());
}

std::vector<std::string_view> split_tokens(std::string_view s) {
  std::vector<std::string_view> t;
  for (auto tok : protocol::tokens(s)) t.push_back(tok);
  return t;
}

}  // namespace

void jetstream::stream_advisory(std::string_view stream, std::string_view event, std::string_view action) {
  advisory("$JS.EVENT.ADVISORY.STREAM." + std::string(event) + "." + std::string(stream),
           "io.nats.jetstream.advisory.v1.stream_action", json::object{{"stream", stream}, {"action", action}});
}

void jetstream::consumer_advisory(std::string_view stream, std::string_view consumer, std::string_view event,
                                  std::string_view action) {
  advisory("$JS.EVENT.ADVISORY.CONSUMER." + std::string(event) + "." + std::string(stream) + "." + std::string(consumer),
           "io.nats.jetstream.advisory.v1.consumer_action",
           json::object{{"stream", stream}, {"consumer", consumer}, {"action", action}});
}

void jetstream::respond(std::string_view reply, json::object body, bool is_error) {
  ++api_total_;
  if (is_error) ++api_errors_;
  constexpr std::string_view audit_subject = "$JS.EVENT.ADVISORY.API";
  const bool audit = api_request_ != nullptr && has_interest(audit_subject);
  if (reply.empty() && !audit) return;
  const std::string text = json::serialize(body);
  if (!reply.empty()) publish(reply, text);
  if (audit) {
    // Every API answer is audited (nats-server's sendJetStreamAPIAuditAdvisory).
    json::object a;
    a["server"] = srv_.name();
    a["client"] = json::object{{"acc", srv_.js_account().name()}, {"server", srv_.name()}};
    a["subject"] = api_request_->subject();
    if (!api_request_->payload().empty()) a["request"] = api_request_->payload();
    a["response"] = text;
    advisory(audit_subject, "io.nats.jetstream.advisory.v1.api_audit", std::move(a));
  }
}

void jetstream::respond_error(std::string_view reply, const char* type, const api_error& e) {
  json::object o;
  o["type"] = std::string(type_prefix) + type;
  o["error"] = e.to_json();
  respond(reply, std::move(o), true);
}

json::object state_json(stream& s, const std::string& subjects_filter, bool deleted_details) {
  auto st = s.store().state(deleted_details ? storage::state_detail::with_deleted : storage::state_detail::summary);
  json::object o;
  o["messages"] = st.msgs;
  o["bytes"] = st.bytes;
  o["first_seq"] = st.first_seq;
  o["first_ts"] = go_time(st.msgs ? st.first_ts : 0);
  o["last_seq"] = st.last_seq;
  o["last_ts"] = go_time(st.last_ts);
  if (st.num_subjects) o["num_subjects"] = st.num_subjects;
  if (!subjects_filter.empty()) {
    auto counts = s.store().subject_counts(subjects_filter == ">" ? "" : subjects_filter);
    if (!counts.empty()) {
      json::object subj;
      for (auto& [k, v] : counts) subj[k] = v;
      o["subjects"] = std::move(subj);
    }
  }
  if (st.num_deleted) o["num_deleted"] = st.num_deleted;
  if (deleted_details && !st.deleted.empty()) {
    json::array d;
    for (auto q : st.deleted) d.emplace_back(q);
    o["deleted"] = std::move(d);
  }
  o["consumer_count"] = s.consumers().size();
  return o;
}

json::object jetstream::stream_info_json(stream& s, bool with_cluster) {
  json::object o;
  o["config"] = to_json(s.config(), with_cluster);
  o["created"] = server::rfc3339_ns(s.created());
  o["state"] = state_json(s, {}, false);
  if (with_cluster) o["cluster"] = json::object{{"leader", srv_.name()}};
  if (auto mi = s.mirror_info(); !mi.is_null()) o["mirror"] = std::move(mi);
  if (auto si = s.sources_info(); !si.is_null()) o["sources"] = std::move(si);
  o["ts"] = server::rfc3339_ns(now_ns());
  return o;
}

json::object jetstream::account_detail(bool streams, bool consumers, bool config) {
  std::uint64_t mem = 0, sto = 0;
  for (auto& [n, s] : streams_) (s->config().storage == storage_kind::memory ? mem : sto) += s->store().state().bytes;
  json::object d;
  d["name"] = srv_.js_account().name();
  d["id"] = srv_.js_account().name();
  d["memory"] = mem;
  d["storage"] = sto;
  // nats-server reports the account's limits as reservations: -1 (none) as an unsigned 64-bit value.
  d["reserved_memory"] = static_cast<std::uint64_t>(opts_.limits.max_memory);
  d["reserved_storage"] = static_cast<std::uint64_t>(opts_.limits.max_store);
  d["accounts"] = 0;
  d["ha_assets"] = 0;
  d["api"] = json::object{{"level", 0}, {"total", api_total_}, {"errors", api_errors_}};
  if (!streams) return d;
  json::array list;
  for (auto& [n, s] : streams_) {
    json::object sd;
    sd["name"] = n;
    sd["created"] = server::rfc3339_ns(s->created());
    sd["cluster"] = json::object{{"leader", srv_.name()}};
    if (config) sd["config"] = to_json(s->config(), false);
    sd["state"] = state_json(*s, {}, false);
    if (auto mi = s->mirror_info(); !mi.is_null()) sd["mirror"] = std::move(mi);
    if (auto si = s->sources_info(); !si.is_null()) sd["sources"] = std::move(si);
    if (consumers && !s->consumers().empty()) {
      json::array cl;
      for (auto& [cn, c] : s->consumers()) {
        auto ci = c->info_json(false);
        ci.erase("type");
        if (!config) ci.erase("config");
        cl.push_back(std::move(ci));
      }
      sd["consumer_detail"] = std::move(cl);
    }
    list.push_back(std::move(sd));
  }
  if (!list.empty()) d["stream_detail"] = std::move(list);
  return d;
}

std::pair<bool, bool> jetstream::has_assets(const std::string& stream, const std::string& consumer) {
  auto* s = find_stream(stream);
  return {s != nullptr, s != nullptr && !consumer.empty() && s->find_consumer(consumer) != nullptr};
}

void jetstream::handle_api(const inbound_msg& m) {
  struct scope {
    const inbound_msg*& p;
    ~scope() { p = nullptr; }
  } guard{api_request_};
  api_request_ = &m;
  const json_util::source_scope source(m.payload());  // Go's errors quote numbers as written
  auto t = split_tokens(m.subject());
  // t[0] = "$JS", t[1] = "API"
  if (t.size() < 3 || t[0] != "$JS" || t[1] != "API") return;
  auto tok = [&](std::size_t i) -> std::string_view { return i < t.size() ? t[i] : std::string_view{}; };
  if (t[2] == "INFO" && t.size() == 3) return api_info(m);
  if (t[2] == "STREAM") {
    auto op = tok(3);
    if (op == "CREATE" && t.size() == 5) return api_stream_create(m, t[4], false);
    if (op == "UPDATE" && t.size() == 5) return api_stream_create(m, t[4], true);
    if (op == "INFO" && t.size() == 5) return api_stream_info(m, t[4]);
    if (op == "DELETE" && t.size() == 5) return api_stream_delete(m, t[4]);
    if (op == "NAMES" && t.size() == 4) return api_stream_names(m, false);
    if (op == "LIST" && t.size() == 4) return api_stream_names(m, true);
    if (op == "PURGE" && t.size() == 5) return api_stream_purge(m, t[4]);
    if (op == "MSG" && tok(4) == "GET" && t.size() == 6) return api_stream_msg_get(m, t[5]);
    if (op == "MSG" && tok(4) == "DELETE" && t.size() == 6) return api_stream_msg_delete(m, t[5]);
    if (op == "SNAPSHOT" && t.size() == 5) return api_stream_snapshot(m, t[4]);
    if (op == "RESTORE" && t.size() == 5) return api_stream_restore(m, t[4]);
    return;
  }
  if (t[2] == "CONSUMER") {
    auto op = tok(3);
    if (op == "CREATE" && t.size() == 5) return api_consumer_create(m, t[4], {}, {}, false, false);
    if (op == "CREATE" && t.size() == 6) return api_consumer_create(m, t[4], t[5], {}, false, true);
    if (op == "CREATE" && t.size() > 6) {
      // The filter is everything after the name token.
      auto subj = m.subject();
      std::size_t pos = 0;
      for (int i = 0; i < 6; ++i) pos = subj.find('.', pos) + 1;
      return api_consumer_create(m, t[4], t[5], subj.substr(pos), false, true);
    }
    if (op == "DURABLE" && tok(4) == "CREATE" && t.size() == 7) return api_consumer_create(m, t[5], t[6], {}, true, true);
    if (op == "INFO" && t.size() == 6) return api_consumer_info(m, t[4], t[5]);
    if (op == "DELETE" && t.size() == 6) return api_consumer_delete(m, t[4], t[5]);
    if (op == "NAMES" && t.size() == 5) return api_consumer_names(m, t[4], false);
    if (op == "LIST" && t.size() == 5) return api_consumer_names(m, t[4], true);
    if (op == "PAUSE" && t.size() == 6) return api_consumer_pause(m, t[4], t[5]);
    if (op == "UNPIN" && t.size() == 6) return api_consumer_unpin(m, t[4], t[5]);
    if (op == "MSG" && tok(4) == "NEXT" && t.size() == 7) return api_consumer_next(m, t[5], t[6]);
    return;
  }
}

void jetstream::api_info(const inbound_msg& m) {
  std::uint64_t mem = 0, sto = 0, consumers = 0, res_mem = 0, res_sto = 0;
  for (auto& [n, s] : streams_) {
    auto b = s->store().state().bytes;
    const bool memory = s->config().storage == storage_kind::memory;
    (memory ? mem : sto) += b;
    if (s->config().max_bytes > 0) (memory ? res_mem : res_sto) += static_cast<std::uint64_t>(s->config().max_bytes);
    consumers += s->consumers().size();
  }
  json::object o;
  o["type"] = std::string(type_prefix) + "account_info_response";
  o["memory"] = mem;
  o["storage"] = sto;
  o["reserved_memory"] = res_mem;
  o["reserved_storage"] = res_sto;
  o["streams"] = streams_.size();
  o["consumers"] = consumers;
  const auto& l = opts_.limits;
  o["limits"] = json::object{{"max_memory", l.max_memory},
                             {"max_storage", l.max_store},
                             {"max_streams", l.max_streams},
                             {"max_consumers", l.max_consumers},
                             {"max_ack_pending", l.max_ack_pending},
                             {"memory_max_stream_bytes", l.memory_max_stream_bytes},
                             {"storage_max_stream_bytes", l.store_max_stream_bytes},
                             {"max_bytes_required", l.max_bytes_required}};
  o["api"] = json::object{{"level", api_level}, {"total", api_total_}, {"errors", api_errors_}};
  // The response shows the counters before this request; it is counted afterwards.
  if (!m.reply().empty()) publish(m.reply(), json::serialize(o));
  ++api_total_;
}

void jetstream::api_stream_create(const inbound_msg& m, std::string_view name, bool update) {
  const char* type = update ? "stream_update_response" : "stream_create_response";
  auto body = parse_body(m.payload());
  if (auto* e = std::get_if<api_error>(&body)) return respond_error(m.reply(), type, *e);
  auto& o = std::get<json::object>(body);
  auto parsed = parse_stream_config(o, name, update);
  if (auto* e = std::get_if<api_error>(&parsed)) return respond_error(m.reply(), type, *e);
  auto cfg = std::get<stream_config>(std::move(parsed));
  if (auto e = check_against_streams(cfg, [this](std::string_view n) -> const stream_config* {
        auto* s = find_stream(n);
        return s ? &s->config() : nullptr;
      }))
    return respond_error(m.reply(), type, e);

  auto* existing = find_stream(cfg.name);
  if (update) {
    if (!existing) return respond_error(m.reply(), type, errors::stream_not_found);
    if (auto e = check_update(existing->config(), cfg)) return respond_error(m.reply(), type, e);
  } else if (existing) {
    if (existing->config() == cfg) {
      auto info = stream_info_json(*existing, false);
      json::object r;
      r["type"] = std::string(type_prefix) + type;
      for (auto& kv : info) r[kv.key()] = kv.value();
      r.erase("cluster");
      r["did_create"] = true;
      return respond(m.reply(), std::move(r), false);
    }
    return respond_error(m.reply(), type, errors::stream_name_exist);
  } else if (auto e = check_source_filters(cfg)) {
    return respond_error(m.reply(), type, e);
  }
  if (auto e = check_stream_limits(cfg, update ? &existing->config() : nullptr)) return respond_error(m.reply(), type, e);
  for (auto& [n, s] : streams_) {
    if (n == cfg.name) continue;
    for (const auto& a : s->config().subjects)
      for (const auto& b : cfg.subjects)
        if (protocol::subjects_overlap(a, b)) return respond_error(m.reply(), type, errors::stream_subject_overlap);
  }
  auto stored = to_json(cfg, false);
  if (update) {
    stored["__created"] = existing->created();
    if (auto r = env_->put_stream_config(cfg.name, json::serialize(stored)); !r)
      return respond_error(m.reply(), type, errors::stream_store_failed.with(r.error().message()));
    existing->set_config(cfg);
    refresh_linked();
    stream_advisory(cfg.name, "UPDATED", "modify");
    auto info = stream_info_json(*existing, true);
    json::object r;
    r["type"] = std::string(type_prefix) + type;
    for (auto& kv : info) r[kv.key()] = kv.value();
    r.erase("cluster");
    return respond(m.reply(), std::move(r), false);
  }
  std::int64_t created = now_ns();
  stored["__created"] = created;
  auto st = env_->create_stream(cfg.name,
                                cfg.storage == storage_kind::memory ? storage::storage_type::memory : storage::storage_type::file,
                                json::serialize(stored));
  if (!st) return respond_error(m.reply(), type, errors::stream_store_failed.with(st.error().message()));
  auto s = std::make_unique<stream>(*this, cfg, *st, created);
  auto* sp = s.get();
  streams_.emplace(cfg.name, std::move(s));
  sp->start();
  refresh_linked();
  on_stream_appended(cfg.name);  // mirrors and sources waiting for this stream pick it up
  stream_advisory(cfg.name, "CREATED", "create");
  auto info = stream_info_json(*sp, true);
  json::object r;
  r["type"] = std::string(type_prefix) + type;
  for (auto& kv : info) r[kv.key()] = kv.value();
  r.erase("cluster");
  r["did_create"] = true;
  respond(m.reply(), std::move(r), false);
}

// The account's and the server's limits on a new stream, or on an update (`old`): the number of
// streams, max_bytes when required and its per-stream cap, and the bytes reserved by max_bytes
// (a stream without one reserves 1 byte, as in nats-server).
api_error jetstream::check_stream_limits(const stream_config& cfg, const stream_config* old) const {
  const auto& l = opts_.limits;
  if (!old && l.max_streams > 0 && static_cast<std::int64_t>(streams_.size()) >= l.max_streams)
    return errors::maximum_streams_limit;
  const bool memory = cfg.storage == storage_kind::memory;
  if (l.max_bytes_required && cfg.max_bytes <= 0) return errors::stream_max_bytes_required;
  const std::int64_t per_stream = memory ? l.memory_max_stream_bytes : l.store_max_stream_bytes;
  const bool over_cap = per_stream > 0 && cfg.max_bytes > per_stream;
  std::int64_t add = cfg.max_bytes > 0 ? cfg.max_bytes : 1;
  bool grows = true;
  if (old) {
    grows = cfg.max_bytes > 0 && cfg.max_bytes > old->max_bytes;
    if (old->max_bytes > 0) add -= old->max_bytes;
  }
  std::int64_t reserved = 0;
  for (const auto& [n, s] : streams_) {
    const auto& c = s->config();
    if ((c.storage == storage_kind::memory) == memory && c.max_bytes > 0) reserved += c.max_bytes;
  }
  const std::int64_t account_max = memory ? l.max_memory : l.max_store;
  const std::int64_t server_max = memory ? l.server_max_memory : l.server_max_store;
  const bool over_reserve =
      grows && ((account_max >= 0 && reserved + add > account_max) || (server_max > 0 && reserved + add > server_max));
  // nats-server 2.14.9 (observed): a memory stream over both reports the reservation, a file
  // stream the per-stream cap.
  if (memory && over_reserve) return errors::memory_resources_exceeded;
  if (over_cap) return errors::stream_max_stream_bytes_exceeded;
  if (over_reserve) return errors::storage_resources_exceeded;
  return {};
}

api_error jetstream::check_publish_resources(storage_kind kind, std::uint64_t add, std::uint64_t staged) const {
  const auto& l = opts_.limits;
  const bool memory = kind == storage_kind::memory;
  const std::int64_t account_max = memory ? l.max_memory : l.max_store;
  const std::int64_t server_max = memory ? l.server_max_memory : l.server_max_store;
  if (account_max < 0 && server_max <= 0) return {};
  std::uint64_t used = staged;
  for (const auto& [n, s] : streams_)
    if ((s->config().storage == storage_kind::memory) == memory) used += s->store().state().bytes;
  if (server_max > 0 && used > static_cast<std::uint64_t>(server_max)) return errors::insufficient_resources;
  if (account_max >= 0 && used + add > static_cast<std::uint64_t>(account_max)) return errors::account_resources_exceeded;
  return {};
}

void jetstream::api_stream_info(const inbound_msg& m, std::string_view name) {
  const char* type = "stream_info_response";
  auto body = parse_body(m.payload());
  if (auto* e = std::get_if<api_error>(&body)) return respond_error(m.reply(), type, *e);
  auto& o = std::get<json::object>(body);
  auto* s = find_stream(name);
  if (!s) {
    json::object r;
    r["type"] = std::string(type_prefix) + type;
    r["error"] = errors::stream_not_found.to_json();
    r["total"] = 0;
    r["offset"] = 0;
    r["limit"] = 0;
    return respond(m.reply(), std::move(r), true);
  }
  std::string filter, err;
  bool details = false;
  json_util::get_string(o, "subjects_filter", filter, err, "JSApiStreamInfoRequest");
  json_util::get_bool(o, "deleted_details", details, err, "JSApiStreamInfoRequest");
  json::object r;
  r["type"] = std::string(type_prefix) + type;
  std::uint64_t total = 0;
  if (!filter.empty()) total = s->store().subject_counts(filter == ">" ? "" : filter).size();
  r["total"] = total;
  r["offset"] = 0;
  r["limit"] = total > 0 ? 100000 : 0;
  auto info = stream_info_json(*s, true);
  info["state"] = state_json(*s, filter, details);
  for (auto& kv : info) r[kv.key()] = kv.value();
  respond(m.reply(), std::move(r), false);
}

void jetstream::api_stream_delete(const inbound_msg& m, std::string_view name) {
  const char* type = "stream_delete_response";
  auto it = streams_.find(name);
  if (it == streams_.end()) return respond_error(m.reply(), type, errors::stream_not_found);
  it->second->stop();
  std::string n = it->first;
  streams_.erase(it);
  refresh_linked();
  for (auto* l : linked_)
    if (l->reads_from(n)) l->on_origin_deleted(n);
  stream_advisory(n, "DELETED", "delete");
  if (auto r = env_->delete_stream(n); !r)
    log::jetstream().error("Deleting stream {} from the store failed: {}", n, r.error().message());
  json::object r;
  r["type"] = std::string(type_prefix) + type;
  r["success"] = true;
  respond(m.reply(), std::move(r), false);
}

void jetstream::api_stream_names(const inbound_msg& m, bool list) {
  const char* type = list ? "stream_list_response" : "stream_names_response";
  auto body = parse_body(m.payload());
  if (auto* e = std::get_if<api_error>(&body)) return respond_error(m.reply(), type, *e);
  auto& o = std::get<json::object>(body);
  std::int64_t offset = 0;
  std::string subject, err;
  json_util::get_int(o, "offset", offset, err, "ApiPagedRequest");
  json_util::get_string(o, "subject", subject, err, "JSApiStreamNamesRequest");
  if (offset < 0) offset = 0;
  std::vector<stream*> matched;
  for (auto& [n, s] : streams_) {
    if (!subject.empty() && subject != ">") {
      bool any = false;
      for (const auto& sub : s->config().subjects)
        if (protocol::subjects_overlap(sub, subject)) { any = true; break; }
      if (!any) continue;
    }
    matched.push_back(s.get());
  }
  const std::size_t limit = list ? 256 : 1024;
  json::object r;
  r["type"] = std::string(type_prefix) + type;
  r["total"] = matched.size();
  r["offset"] = offset;
  r["limit"] = limit;
  json::array arr;
  for (std::size_t i = static_cast<std::size_t>(offset); i < matched.size() && arr.size() < limit; ++i) {
    if (list) {
      arr.push_back(stream_info_json(*matched[i], false));
    } else {
      arr.emplace_back(matched[i]->config().name);
    }
  }
  if (!list && arr.empty()) r["streams"] = nullptr;
  else r["streams"] = std::move(arr);
  respond(m.reply(), std::move(r), false);
}

void jetstream::api_stream_purge(const inbound_msg& m, std::string_view name) {
  const char* type = "stream_purge_response";
  // Purge errors carry "purged": 0, as nats-server's response struct always has it.
  auto fail = [&](const api_error& e) {
    json::object o;
    o["type"] = std::string(type_prefix) + type;
    o["error"] = e.to_json();
    o["purged"] = 0;
    respond(m.reply(), std::move(o), true);
  };
  auto* s = find_stream(name);
  if (!s) return fail(errors::stream_not_found);
  auto body = parse_body(m.payload());
  if (auto* e = std::get_if<api_error>(&body)) return fail(*e);
  auto& o = std::get<json::object>(body);
  if (auto u = json_util::unknown_field(o, {"filter", "seq", "keep"}))
    return fail(errors::invalid_json.with("json: unknown field \"" + *u + "\""));
  storage::purge_request req;
  std::string err;
  std::uint64_t seq = 0, keep = 0;
  if (!json_util::get_string(o, "filter", req.filter, err, "JSApiStreamPurgeRequest") ||
      !json_util::get_uint(o, "seq", seq, err, "JSApiStreamPurgeRequest") ||
      !json_util::get_uint(o, "keep", keep, err, "JSApiStreamPurgeRequest"))
    return fail(errors::invalid_json.with(err));
  if (seq > 0 && keep > 0) return fail(errors::bad_request);
  if (s->config().sealed) return fail(errors::stream_sealed);
  if (s->config().deny_purge) return fail(errors::stream_purge_failed.with("stream purge not permitted"));
  if (!req.filter.empty() && !protocol::is_valid_filter(req.filter))
    return fail(errors::stream_purge_failed.with("invalid subject"));
  if (req.filter == ">") req.filter.clear();
  req.up_to = seq;
  req.keep = keep;
  auto r = s->store().purge(req);
  if (!r) return fail(errors::stream_purge_failed.with(r.error().message()));
  s->on_purged();
  json::object out;
  out["type"] = std::string(type_prefix) + type;
  out["success"] = true;
  out["purged"] = *r;
  respond(m.reply(), std::move(out), false);
}

json::object stored_msg_json(const storage::stored_msg& msg) {
  json::object o;
  o["subject"] = msg.subject;
  o["seq"] = msg.seq;
  if (!msg.hdr.empty()) o["hdrs"] = base64(msg.hdr);
  if (!msg.data.empty()) o["data"] = base64(msg.data);
  o["time"] = server::rfc3339_ns(msg.ts);
  return o;
}

void jetstream::api_stream_msg_get(const inbound_msg& m, std::string_view name) {
  const char* type = "stream_msg_get_response";
  auto* s = find_stream(name);
  if (!s) return respond_error(m.reply(), type, errors::stream_not_found);
  auto body = parse_body(m.payload());
  if (auto* e = std::get_if<api_error>(&body)) return respond_error(m.reply(), type, *e);
  auto& o = std::get<json::object>(body);
  if (auto u = json_util::unknown_field(o, {"seq", "last_by_subj", "next_by_subj", "batch", "max_bytes", "start_time",
                                            "multi_last", "up_to_seq", "up_to_time", "no_hdr"}))
    return respond_error(m.reply(), type, errors::invalid_json.with("json: unknown field \"" + *u + "\""));
  std::uint64_t seq = 0;
  std::string last_by, next_by, err;
  bool no_hdr = false;
  if (!json_util::get_uint(o, "seq", seq, err, "JSApiMsgGetRequest") ||
      !json_util::get_string(o, "last_by_subj", last_by, err, "JSApiMsgGetRequest") ||
      !json_util::get_string(o, "next_by_subj", next_by, err, "JSApiMsgGetRequest") ||
      !json_util::get_bool(o, "no_hdr", no_hdr, err, "JSApiMsgGetRequest"))
    return respond_error(m.reply(), type, errors::invalid_json.with(err));
  if (o.contains("batch") || o.contains("max_bytes") || o.contains("multi_last"))
    return respond_error(m.reply(), type, errors::bad_request);
  int forms = (seq > 0 && next_by.empty()) + !last_by.empty() + !next_by.empty();
  if (forms != 1) return respond_error(m.reply(), type, errors::bad_request);
  storage::result<storage::stored_msg> r = boost::system::error_code(storage::errc::msg_not_found);
  if (!last_by.empty()) {
    if (protocol::is_valid_filter(last_by)) r = s->store().load_last(last_by);
  } else if (!next_by.empty()) {
    if (protocol::is_valid_filter(next_by)) r = s->store().load_next(seq == 0 ? 1 : seq, next_by);
  } else {
    r = s->store().load(seq);
  }
  if (!r) return respond_error(m.reply(), type, errors::no_message_found);
  auto msg = std::move(*r);
  if (no_hdr) msg.hdr.clear();
  json::object out;
  out["type"] = std::string(type_prefix) + type;
  out["message"] = stored_msg_json(msg);
  respond(m.reply(), std::move(out), false);
}

void jetstream::api_stream_msg_delete(const inbound_msg& m, std::string_view name) {
  const char* type = "stream_msg_delete_response";
  auto* s = find_stream(name);
  if (!s) return respond_error(m.reply(), type, errors::stream_not_found);
  auto body = parse_body(m.payload());
  if (auto* e = std::get_if<api_error>(&body)) return respond_error(m.reply(), type, *e);
  auto& o = std::get<json::object>(body);
  std::uint64_t seq = 0;
  bool no_erase = false;
  std::string err;
  if (!json_util::get_uint(o, "seq", seq, err, "JSApiMsgDeleteRequest") ||
      !json_util::get_bool(o, "no_erase", no_erase, err, "JSApiMsgDeleteRequest"))
    return respond_error(m.reply(), type, errors::invalid_json.with(err));
  // nats-server counts MSG.DELETE failures in api.total but not in api.errors.
  auto fail = [&](const api_error& e) {
    json::object o;
    o["type"] = std::string(type_prefix) + type;
    o["error"] = e.to_json();
    respond(m.reply(), std::move(o), false);
  };
  if (s->config().sealed) return fail(errors::stream_sealed);
  if (s->config().deny_delete) return fail(errors::stream_msg_delete_failed.with("message delete not permitted"));
  if (seq > s->store().state().last_seq) return fail(errors::stream_msg_delete_failed.with("stream store EOF"));
  auto r = s->store().remove(seq);
  if (!r) return fail(errors::stream_msg_delete_failed.with(r.error().message()));
  if (!*r) return fail(errors::sequence_not_found.with(std::to_string(seq)));
  s->on_purged();
  json::object out;
  out["type"] = std::string(type_prefix) + type;
  out["success"] = true;
  respond(m.reply(), std::move(out), false);
}

// ---- consumers ----------------------------------------------------------------------------------

void jetstream::api_consumer_create(const inbound_msg& m, std::string_view sname, std::string_view name,
                                    std::string_view filter, bool durable_api, bool has_name_token) {
  const char* type = "consumer_create_response";
  auto body = parse_body(m.payload());
  if (auto* e = std::get_if<api_error>(&body)) return respond_error(m.reply(), type, *e);
  auto parsed = parse_consumer_create(std::get<json::object>(body));
  if (auto* e = std::get_if<api_error>(&parsed)) return respond_error(m.reply(), type, *e);
  auto req = std::get<consumer_create_request>(std::move(parsed));
  auto& cfg = req.config;
  if (!req.stream_name.empty() && req.stream_name != sname) return respond_error(m.reply(), type, errors::stream_mismatch);
  auto* s = find_stream(sname);
  if (!s) return respond_error(m.reply(), type, errors::stream_not_found);

  if (durable_api) {
    if (cfg.durable_name.empty()) return respond_error(m.reply(), type, errors::consumer_durable_name_not_set);
    if (cfg.durable_name != name) return respond_error(m.reply(), type, errors::consumer_durable_name_not_match_subject);
  } else if (has_name_token) {
    if (!cfg.durable_name.empty() && cfg.durable_name != name)
      return respond_error(m.reply(), type, errors::consumer_durable_name_not_match_subject);
    cfg.name = std::string(name);
    if (!filter.empty()) {
      if (!cfg.filter_subjects.empty()) return respond_error(m.reply(), type, errors::consumer_multiple_filters_not_allowed);
      if (!cfg.filter_subject.empty() && cfg.filter_subject != filter)
        return respond_error(m.reply(), type, errors::consumer_create_filter_subject_mismatch);
      cfg.filter_subject = std::string(filter);
    }
  } else {
    if (!cfg.durable_name.empty()) return respond_error(m.reply(), type, errors::consumer_ephemeral_with_durable_name);
  }
  if (auto e = normalize_consumer_config(cfg, s->config(), opts_.limits.max_ack_pending))
    return respond_error(m.reply(), type, e);

  auto respond_info = [&](consumer& c) {
    json::object r;
    r["type"] = std::string(type_prefix) + type;
    for (auto& kv : c.info_json(true)) r[kv.key()] = kv.value();
    respond(m.reply(), std::move(r), false);
  };

  if (auto* existing = s->find_consumer(cfg.name)) {
    consumer_config want = cfg;
    if (want.has_pause_until != existing->config().has_pause_until || want.pause_until != existing->config().pause_until) {
      want.has_pause_until = existing->config().has_pause_until;
      want.pause_until = existing->config().pause_until;
    }
    if (existing->config() == want) return respond_info(*existing);
    if (req.action == "create") return respond_error(m.reply(), type, errors::consumer_already_exists);
    if (auto e = check_consumer_update(existing->config(), want)) return respond_error(m.reply(), type, e);
    existing->update_config(want);
    return respond_info(*existing);
  }
  if (req.action == "update") return respond_error(m.reply(), type, errors::consumer_does_not_exist);
  if (s->config().max_consumers > 0 && static_cast<std::int64_t>(s->consumers().size()) >= s->config().max_consumers)
    return respond_error(m.reply(), type, errors::maximum_consumers_limit);
  if (opts_.limits.max_consumers > 0) {
    std::int64_t total = 0;
    for (const auto& [n, st] : streams_) total += static_cast<std::int64_t>(st->consumers().size());
    if (total >= opts_.limits.max_consumers) return respond_error(m.reply(), type, errors::maximum_consumers_limit);
  }
  if (s->config().retention == retention_policy::workqueue) {
    auto mine = cfg.filters();
    for (auto& [n, c] : s->consumers()) {
      auto theirs = c->config().filters();
      if (mine.empty() || theirs.empty()) return respond_error(m.reply(), type, errors::consumer_wq_multiple_unfiltered);
      for (const auto& a : mine)
        for (const auto& b : theirs)
          if (protocol::subjects_overlap(a, b)) return respond_error(m.reply(), type, errors::consumer_wq_consumer_not_unique);
    }
  }
  std::int64_t created = now_ns();
  auto stored = to_json(cfg, false);
  stored["__created"] = created;
  auto cs = env_->create_consumer(sname, cfg.name, json::serialize(stored));
  if (!cs) return respond_error(m.reply(), type, errors::consumer_create.with(cs.error().message()));
  auto c = std::make_unique<consumer>(*this, *s, cfg, *cs, created, false);
  auto* cp = c.get();
  s->consumers().emplace(cfg.name, std::move(c));
  cp->start();
  consumer_advisory(sname, cfg.name, "CREATED", "create");
  respond_info(*cp);
}

void jetstream::api_consumer_info(const inbound_msg& m, std::string_view sname, std::string_view name) {
  const char* type = "consumer_info_response";
  auto* s = find_stream(sname);
  if (!s) return respond_error(m.reply(), type, errors::stream_not_found);
  auto* c = s->find_consumer(name);
  if (!c) return respond_error(m.reply(), type, errors::consumer_not_found);
  json::object r;
  r["type"] = std::string(type_prefix) + type;
  for (auto& kv : c->info_json(true)) r[kv.key()] = kv.value();
  respond(m.reply(), std::move(r), false);
}

void jetstream::api_consumer_delete(const inbound_msg& m, std::string_view sname, std::string_view name) {
  const char* type = "consumer_delete_response";
  auto* s = find_stream(sname);
  if (!s) return respond_error(m.reply(), type, errors::stream_not_found);
  if (!s->find_consumer(name)) return respond_error(m.reply(), type, errors::consumer_not_found);
  s->delete_consumer(name);
  json::object r;
  r["type"] = std::string(type_prefix) + type;
  r["success"] = true;
  respond(m.reply(), std::move(r), false);
}

void jetstream::api_consumer_names(const inbound_msg& m, std::string_view sname, bool list) {
  const char* type = list ? "consumer_list_response" : "consumer_names_response";
  auto* s = find_stream(sname);
  if (!s) {
    json::object o;
    o["type"] = std::string(type_prefix) + type;
    o["error"] = errors::stream_not_found.to_json();
    o["total"] = 0;
    o["offset"] = 0;
    o["limit"] = 0;
    o["consumers"] = json::array{};
    return respond(m.reply(), std::move(o), true);
  }
  auto body = parse_body(m.payload());
  if (auto* e = std::get_if<api_error>(&body)) return respond_error(m.reply(), type, *e);
  std::int64_t offset = 0;
  std::string err;
  json_util::get_int(std::get<json::object>(body), "offset", offset, err, "ApiPagedRequest");
  if (offset < 0) offset = 0;
  const std::size_t limit = list ? 256 : 1024;
  json::object r;
  r["type"] = std::string(type_prefix) + type;
  r["total"] = s->consumers().size();
  r["offset"] = offset;
  r["limit"] = limit;
  json::array arr;
  std::size_t i = 0;
  for (auto& [n, c] : s->consumers()) {
    if (i++ < static_cast<std::size_t>(offset)) continue;
    if (arr.size() >= limit) break;
    if (list) arr.push_back(c->info_json(false));
    else arr.emplace_back(n);
  }
  r["consumers"] = std::move(arr);
  respond(m.reply(), std::move(r), false);
}

void jetstream::api_consumer_pause(const inbound_msg& m, std::string_view sname, std::string_view name) {
  const char* type = "consumer_pause_response";
  auto fail = [&](const api_error& e) {
    json::object o;
    o["type"] = std::string(type_prefix) + type;
    o["error"] = e.to_json();
    o["paused"] = false;
    o["pause_until"] = go_time(0);
    respond(m.reply(), std::move(o), true);
  };
  auto* s = find_stream(sname);
  if (!s) return fail(errors::stream_not_found);
  auto* c = s->find_consumer(name);
  if (!c) return fail(errors::consumer_not_found);
  auto body = parse_body(m.payload());
  if (auto* e = std::get_if<api_error>(&body)) return respond_error(m.reply(), type, *e);
  std::string until, err;
  json_util::get_string(std::get<json::object>(body), "pause_until", until, err, "JSApiConsumerPauseRequest");
  std::int64_t t = 0;
  if (!until.empty()) {
    auto p = json_util::parse_rfc3339(until);
    if (!p) return respond_error(m.reply(), type, errors::invalid_json.with("parsing time \"" + until + "\" as RFC3339"));
    t = *p;
  }
  auto now = now_ns();
  c->pause(t > now ? t : 0);
  json::object r;
  r["type"] = std::string(type_prefix) + type;
  r["paused"] = t > now;
  r["pause_until"] = until.empty() ? go_time(0) : server::rfc3339_ns(t);
  if (t > now) r["pause_remaining"] = t - now;
  respond(m.reply(), std::move(r), false);
}

void jetstream::api_consumer_unpin(const inbound_msg& m, std::string_view sname, std::string_view name) {
  const char* type = "consumer_unpin_response";
  auto* s = find_stream(sname);
  if (!s) return respond_error(m.reply(), type, errors::stream_not_found);
  auto* c = s->find_consumer(name);
  if (!c) return respond_error(m.reply(), type, errors::consumer_not_found);
  // Unlike most requests an empty body is an error here (Go: json.Unmarshal of nothing).
  if (m.payload().empty()) return respond_error(m.reply(), type, errors::invalid_json.with("unexpected end of JSON input"));
  auto body = parse_body(m.payload());
  if (auto* e = std::get_if<api_error>(&body)) return respond_error(m.reply(), type, *e);
  std::string group, err;
  if (!json_util::get_string(std::get<json::object>(body), "group", group, err, "JSApiConsumerUnpinRequest"))
    return respond_error(m.reply(), type, errors::invalid_json.with(err));
  if (group.empty()) return respond_error(m.reply(), type, errors::invalid_json.with("consumer group not specified"));
  if (!is_valid_priority_group_name(group)) return respond_error(m.reply(), type, errors::consumer_invalid_group_name);
  const auto& groups = c->config().priority_groups;
  if (std::find(groups.begin(), groups.end(), group) == groups.end())
    return respond_error(m.reply(), type, errors::consumer_invalid_priority_group);
  c->unpin("admin");
  json::object r;
  r["type"] = std::string(type_prefix) + type;
  respond(m.reply(), std::move(r), false);
}

void jetstream::api_consumer_next(const inbound_msg& m, std::string_view sname, std::string_view name) {
  if (m.reply().empty()) return;
  stream* s = find_stream(sname);
  consumer* c = s ? s->find_consumer(name) : nullptr;
  if (!c) {
    // nats-server has no subscription for a missing consumer: the requester sees no responders.
    auto hdr = protocol::header_builder().status(503).add("Nats-Subject", m.subject()).finish();
    publish(m.reply(), m.reply(), {}, hdr, {});
    return;
  }
  c->on_pull_request(m.reply(), m.payload());
}

void jetstream::handle_direct_get(const inbound_msg& m) {
  // $JS.API.DIRECT.GET.<stream>[.<subject...>]
  if (m.reply().empty()) return;
  auto* s = find_stream(m.stream);
  if (!s) return;
  std::string_view subj = m.subject();
  // The subject names the stream asked for: a mirror serving its origin's gets sees the origin's.
  constexpr std::string_view direct_get_prefix = "$JS.API.DIRECT.GET.";
  std::string_view asked = subj.substr(std::min(subj.size(), direct_get_prefix.size()));
  asked = asked.substr(0, asked.find('.'));
  std::string prefix = std::string(direct_get_prefix) + std::string(asked);
  std::string_view last_subject;
  if (subj.size() > prefix.size() + 1) last_subject = subj.substr(prefix.size() + 1);
  auto status = [&](int code, const char* text) {
    auto hdr = protocol::header_builder().status(code, text).finish();
    publish(m.reply(), m.reply(), {}, hdr, {});
  };
  storage::result<storage::stored_msg> r = boost::system::error_code(storage::errc::msg_not_found);
  if (!last_subject.empty()) {
    r = s->store().load_last(last_subject);
  } else {
    if (m.payload().empty()) return status(408, "Empty Request");
    boost::system::error_code ec;
    auto v = json::parse(m.payload(), ec);
    if (ec || !v.is_object()) return status(408, "Malformed Request");
    auto& o = v.as_object();
    std::uint64_t seq = 0;
    std::string last_by, next_by, err;
    if (!json_util::get_uint(o, "seq", seq, err, "JSApiMsgGetRequest") ||
        !json_util::get_string(o, "last_by_subj", last_by, err, "JSApiMsgGetRequest") ||
        !json_util::get_string(o, "next_by_subj", next_by, err, "JSApiMsgGetRequest"))
      return status(408, "Malformed Request");
    if (!last_by.empty()) r = s->store().load_last(last_by);
    else if (!next_by.empty()) r = s->store().load_next(seq == 0 ? 1 : seq, next_by);
    else if (seq > 0) r = s->store().load(seq);
    else return status(408, "Empty Request");
  }
  if (!r) return status(404, "Message Not Found");
  const auto& msg = *r;
  std::string hdr = msg.hdr.empty() ? std::string("NATS/1.0\r\n\r\n") : msg.hdr;
  std::string extra = "Nats-Stream: " + s->config().name + "\r\nNats-Subject: " + msg.subject +
                      "\r\nNats-Sequence: " + std::to_string(msg.seq) + "\r\nNats-Time-Stamp: " +
                      server::rfc3339_ns(msg.ts) + "\r\n\r\n";
  hdr.replace(hdr.size() - 2, 2, extra);
  publish(m.reply(), m.reply(), {}, hdr, msg.data);
}

}  // namespace jb::jetstream
