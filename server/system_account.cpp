#include "server/system_account.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "protocol/subject.hpp"
#include "server/account.hpp"
#include "server/monitor/endpoints.hpp"
#include "server/router.hpp"
#include "server/server.hpp"
#include "server/time_util.hpp"

namespace jb::server {

namespace json = boost::json;

namespace {

thread_local const std::string* tl_publisher_user = nullptr;

// nats ServerCapability bits, all set by a server running JetStream (JetStreamEnabled,
// BinaryStreamSnapshot, AccountNRG) and none otherwise.
constexpr int server_flags_jetstream = 0b111;

// The endpoints of $SYS.REQ.SERVER.PING.<X> / $SYS.REQ.SERVER.<id>.<X> (nats-server 2.14).
constexpr std::array<std::string_view, 15> server_endpoints = {
    "VARZ",    "CONNZ", "SUBSZ",  "ROUTEZ",  "GATEWAYZ", "LEAFZ",     "ACCOUNTZ", "JSZ",
    "HEALTHZ", "IDZ",   "STATSZ", "EXPVARZ", "PROFILEZ", "IPQUEUESZ", "RAFTZ"};

enum class scope : std::uint8_t {
  server_ping,     // $SYS.REQ.SERVER.PING[.X]    (system account)
  server_direct,   // $SYS.REQ.SERVER.<id>.X      (system account)
  account_direct,  // $SYS.REQ.ACCOUNT.<acc>.X    (system account)
  account_local,   // $SYS.REQ.ACCOUNT.PING.X     (every other account: its own data)
  connz_local,     // $SYS.REQ.SERVER.PING.CONNZ  (every other account: its own connections)
  user_info,       // $SYS.REQ.USER.INFO          (every account)
};

struct request {
  scope where;
  std::string endpoint;  // VARZ, CONNZ, ... ("STATSZ" for the bare PING)
  std::string account;   // account_direct: the subject's account token
  std::string reply;
  std::string body;
  std::string user;  // user_info: the requester
};

std::vector<std::string_view> split(std::string_view subject) {
  std::vector<std::string_view> t;
  for (auto x : protocol::tokens(subject)) t.push_back(x);
  return t;
}

bool get_bool(const json::object& o, std::initializer_list<std::string_view> keys) {
  for (auto k : keys)
    if (auto* v = o.if_contains(k); v && v->is_bool()) return v->as_bool();
  return false;
}

std::string get_string(const json::object& o, std::string_view key) {
  if (auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->as_string());
  return {};
}

std::uint64_t get_uint(const json::object& o, std::string_view key) {
  if (auto* v = o.if_contains(key)) {
    if (v->is_uint64()) return v->as_uint64();
    if (v->is_int64() && v->as_int64() > 0) return static_cast<std::uint64_t>(v->as_int64());
  }
  return 0;
}

// nats EventFilterOptions: true when the request is not meant for this server.
bool filtered_out(server& srv, const json::object& o) {
  const auto& opts = srv.opts();
  auto name = get_string(o, "server_name");
  if (!name.empty() && srv.name().find(name) == std::string::npos) return true;
  auto host = get_string(o, "host");
  if (!host.empty() && opts.host.find(host) == std::string::npos) return true;
  if (!get_string(o, "cluster").empty()) return true;  // no cluster: "" contains nothing else
  if (auto* tags = o.if_contains("tags"); tags && tags->is_array()) {
    for (const auto& t : tags->as_array()) {
      if (!t.is_string()) continue;
      std::string want(t.as_string());
      auto eq = [&](const std::string& have) {
        return std::equal(have.begin(), have.end(), want.begin(), want.end(),
                          [](char a, char b) { return std::tolower(a) == std::tolower(b); });
      };
      if (std::none_of(opts.server_tags.begin(), opts.server_tags.end(), eq)) return true;
    }
  }
  auto domain = get_string(o, "domain");
  if (!domain.empty() && domain != opts.jetstream_domain) return true;
  return false;
}

monitor::connz_options connz_from(const json::object& o) {
  monitor::connz_options c;
  c.offset = get_uint(o, "offset");
  c.limit = get_uint(o, "limit");
  c.subscriptions = get_bool(o, {"subscriptions"});
  c.subscriptions_detail = get_bool(o, {"subscriptions_detail"});
  c.sort = get_string(o, "sort");
  switch (get_uint(o, "state")) {  // nats ConnState: 0 open, 1 closed, 2 all
    case 1: c.state = monitor::connz_options::state_filter::closed; break;
    case 2: c.state = monitor::connz_options::state_filter::any; break;
    default: break;
  }
  c.auth = get_bool(o, {"auth"});
  c.cid = get_uint(o, "cid");
  c.account = get_string(o, "acc");
  c.user = get_string(o, "user");
  return c;
}

json::object permissions_json(const config::permissions& p) {
  auto list = [](const config::subject_permission& sp) {
    json::object o;
    auto arr = [](const std::vector<std::string>& v) {
      json::array a;
      for (const auto& s : v) a.emplace_back(s);
      return a;
    };
    if (!sp.allow.empty()) o["allow"] = arr(sp.allow);
    if (!sp.deny.empty()) o["deny"] = arr(sp.deny);
    return o;
  };
  json::object o;
  if (p.publish) o["publish"] = list(*p.publish);
  if (p.subscribe) o["subscribe"] = list(*p.subscribe);
  if (p.allow_responses) {
    o["responses"] = json::object{
        {"max", p.allow_responses->max_msgs},
        {"ttl", std::chrono::duration_cast<std::chrono::nanoseconds>(p.allow_responses->expires).count()}};
  }
  return o;
}

// {"user","account","account_name"[,"permissions"]} for a requester of `acc`.
json::object user_info(server& srv, const account& acc, const std::string& user) {
  json::object d;
  d["user"] = user;
  d["account"] = acc.name();
  d["account_name"] = acc.name();
  for (const auto& u : srv.opts().users) {
    const std::string_view ua = u.account.empty() ? global_account_name : std::string_view(u.account);
    if ((u.name.empty() ? u.nkey : u.name) != user || ua != acc.name() || !u.perms) continue;
    auto p = permissions_json(*u.perms);
    if (!p.empty()) d["permissions"] = std::move(p);
    break;
  }
  return d;
}

class handler final : public subscriber {
 public:
  handler(system_services& svc, account& acc, scope where) : svc_(svc), acc_(acc), where_(where) {}

  bool deliver(subscription& /*sub*/, const message_view& m) override {
    request r{where_, {}, {}, std::string(m.reply), {}, {}};
    auto t = split(m.subject);
    switch (where_) {
      case scope::server_ping:
      case scope::server_direct:
        // $SYS.REQ.SERVER.PING / $SYS.REQ.SERVER.PING.X / $SYS.REQ.SERVER.<id>.X
        if (t.size() == 4) {
          r.endpoint = "STATSZ";
        } else {
          if (std::find(server_endpoints.begin(), server_endpoints.end(), t[4]) == server_endpoints.end())
            return false;
          r.endpoint = std::string(t[4]);
        }
        break;
      case scope::account_direct:
      case scope::account_local:
        if (t[4] != "CONNZ" && t[4] != "STATZ") return false;
        r.endpoint = std::string(t[4]);
        r.account = std::string(t[3]);
        break;
      case scope::connz_local:
        r.endpoint = "CONNZ";
        break;
      case scope::user_info:
        if (const auto* u = publisher_user()) r.user = *u;
        break;
    }
    if (r.reply.empty()) return true;
    r.body.assign(m.payload);
    // Answered on the services' strand, not the requester's: connz reads every connection.
    boost::asio::post(svc_.executor(), [&svc = svc_, &acc = acc_, r = std::move(r)] { answer(svc, acc, r); });
    return true;
  }

 private:
  static void answer(system_services& svc, account& from, const request& r) {
    auto& srv = svc.srv();
    auto& ep = srv.monitoring();
    json::object opts;
    json::object env;
    if (!r.body.empty() && r.body.find_first_not_of(" \t\r\n") != std::string::npos) {
      boost::system::error_code ec;
      auto v = json::parse(r.body, ec);
      if (ec || !v.is_object()) {
        env["server"] = svc.server_info();
        env["error"] = json::object{{"code", 400}, {"description", ec ? ec.message() : "request is not a JSON object"}};
        svc.send(from, r.reply, json::serialize(env));
        return;
      }
      opts = std::move(v.as_object());
    }
    if ((r.where == scope::server_ping || r.where == scope::server_direct || r.where == scope::connz_local) &&
        filtered_out(srv, opts))
      return;

    if (r.where == scope::user_info) {
      env["server"] = svc.server_info();
      env["data"] = user_info(srv, from, r.user);
      svc.send(from, r.reply, json::serialize(env));
      return;
    }
    if (r.endpoint == "IDZ") {
      // The one bare answer: no envelope.
      json::object id{{"name", srv.name()}, {"host", srv.opts().host}, {"id", srv.id()}};
      svc.send(from, r.reply, json::serialize(id));
      return;
    }
    json::object data;
    if (r.where == scope::account_direct || r.where == scope::account_local || r.where == scope::connz_local) {
      // The local scopes: the requester's own account, whatever the request names.
      const std::string acc = r.where == scope::account_direct ? r.account : from.name();
      if (r.endpoint == "CONNZ") {
        auto c = connz_from(opts);
        c.account = acc;
        data = ep.connz(c);
      } else {
        const bool ping = r.where == scope::account_direct && acc == "PING";
        std::vector<std::string> names;
        if (auto* a = opts.if_contains("accounts"); a && a->is_array())
          for (const auto& n : a->as_array())
            if (n.is_string()) names.emplace_back(n.as_string());
        if (!ping) names = {acc};
        const bool unused = ping ? get_bool(opts, {"include_unused"}) : true;
        data = srv.monitoring().accstatz(names, unused);
        // A ping nobody here matches stays unanswered (other servers may have the accounts).
        if (ping && data["account_statz"].as_array().empty()) return;
      }
    } else if (r.endpoint == "STATSZ") {
      env["server"] = svc.server_info();
      env["statsz"] = ep.statsz();
      svc.send(from, r.reply, json::serialize(env));
      return;
    } else if (r.endpoint == "VARZ") {
      data = ep.varz();
    } else if (r.endpoint == "CONNZ") {
      data = ep.connz(connz_from(opts));
    } else if (r.endpoint == "SUBSZ") {
      monitor::subsz_options so;
      so.subscriptions = get_bool(opts, {"subscriptions"});
      so.offset = get_uint(opts, "offset");
      if (auto l = get_uint(opts, "limit")) so.limit = l;
      so.test = get_string(opts, "test");
      so.account = get_string(opts, "account");
      data = ep.subsz(so);
    } else if (r.endpoint == "JSZ") {
      data = ep.jsz();
    } else if (r.endpoint == "HEALTHZ") {
      monitor::healthz_options h;
      h.js_enabled_only = get_bool(opts, {"js-enabled-only", "js_enabled_only", "js-enabled"});
      h.js_server_only = get_bool(opts, {"js-server-only", "js_server_only"});
      h.details = get_bool(opts, {"details"});
      h.account = get_string(opts, "account");
      h.stream = get_string(opts, "stream");
      h.consumer = get_string(opts, "consumer");
      data = ep.healthz(h);
    } else if (r.endpoint == "ACCOUNTZ") {
      data = ep.accountz();
    } else if (r.endpoint == "ROUTEZ") {
      data = ep.routez();
    } else if (r.endpoint == "GATEWAYZ") {
      data = ep.gatewayz();
    } else if (r.endpoint == "LEAFZ") {
      data = ep.leafz();
    } else if (r.endpoint == "RAFTZ" || r.endpoint == "IPQUEUESZ") {
      // No clustering, no internal queues worth reporting: empty, as an idle nats-server's RAFTZ.
    } else if (r.endpoint == "PROFILEZ") {
      const auto name = get_string(opts, "name");
      data = json::object{{"profile", nullptr},
                          {"error", name.empty() ? std::string("Profile name not specified")
                                                 : "Profile \"" + name + "\" is not available"}};
    } else {
      // EXPVARZ: Go runtime memory statistics; there is no Go runtime to report.
      env["server"] = svc.server_info();
      env["error"] = json::object{{"code", 501}, {"description", "expvarz is not supported by jetbroker"}};
      svc.send(from, r.reply, json::serialize(env));
      return;
    }
    env["server"] = svc.server_info();
    env["data"] = std::move(data);
    svc.send(from, r.reply, json::serialize(env));
  }

  system_services& svc_;
  account& acc_;
  const scope where_;
};

}  // namespace

void set_publisher_user(const std::string* user) noexcept { tl_publisher_user = user; }
const std::string* publisher_user() noexcept { return tl_publisher_user; }

system_services::system_services(server& srv, account& sys)
    : srv_(srv), sys_(sys), strand_(boost::asio::make_strand(srv.io())) {}

system_services::~system_services() {
  for (auto& [acc, sub] : subs_) {
    sub->closed.store(true, std::memory_order_relaxed);
    acc->subs().remove(sub);
  }
}

void system_services::subscribe(account& acc, const std::string& subject, std::shared_ptr<subscriber> h) {
  auto sub = std::make_shared<subscription>();
  sub->subject = subject;
  sub->sid = "sys";
  // A forwarder: its deliver() says whether it answers, so unknown endpoints get no-responders.
  sub->forwarder = true;
  sub->owner = std::move(h);
  if (acc.subs().insert(sub)) subs_.emplace_back(&acc, std::move(sub));
}

void system_services::start() {
  auto ping = std::make_shared<handler>(*this, sys_, scope::server_ping);
  subscribe(sys_, "$SYS.REQ.SERVER.PING", ping);
  subscribe(sys_, "$SYS.REQ.SERVER.PING.*", ping);
  subscribe(sys_, "$SYS.REQ.SERVER." + srv_.id() + ".*", std::make_shared<handler>(*this, sys_, scope::server_direct));
  subscribe(sys_, "$SYS.REQ.ACCOUNT.*.*", std::make_shared<handler>(*this, sys_, scope::account_direct));
  for (const auto& name : srv_.account_names()) {
    account* acc = srv_.find_account(name);
    if (acc == nullptr) continue;
    subscribe(*acc, "$SYS.REQ.USER.INFO", std::make_shared<handler>(*this, *acc, scope::user_info));
    if (acc == &sys_) continue;
    auto local = std::make_shared<handler>(*this, *acc, scope::account_local);
    subscribe(*acc, "$SYS.REQ.ACCOUNT.PING.CONNZ", local);
    subscribe(*acc, "$SYS.REQ.ACCOUNT.PING.STATZ", local);
    subscribe(*acc, "$SYS.REQ.SERVER.PING.CONNZ", std::make_shared<handler>(*this, *acc, scope::connz_local));
  }
}

json::object system_services::server_info() {
  const auto& o = srv_.opts();
  json::object si;
  si["name"] = srv_.name();
  si["host"] = o.host;
  si["id"] = srv_.id();
  if (!o.jetstream_domain.empty()) si["domain"] = o.jetstream_domain;
  si["ver"] = nats_compat_version;
  if (!o.server_tags.empty()) {
    json::array tags;
    for (const auto& t : o.server_tags) tags.emplace_back(t);
    si["tags"] = std::move(tags);
  }
  si["jetstream"] = srv_.js() != nullptr;
  si["flags"] = srv_.js() != nullptr ? server_flags_jetstream : 0;
  si["seq"] = seq_.fetch_add(1, std::memory_order_relaxed) + 1;
  si["time"] = rfc3339(std::chrono::system_clock::now());
  return si;
}

void system_services::send(account& acc, const std::string& reply, const std::string& payload) {
  std::vector<std::shared_ptr<subscriber>> kicks;
  auto r = acc.subs().match(reply);
  auto st = route_to(*r, message_view{reply, {}, {}, payload}, 0, true, kicks);
  flush_kicks(kicks);
  auto& c = srv_.counters();
  c.out_msgs.fetch_add(st.to_clients, std::memory_order_relaxed);
  c.out_bytes.fetch_add(st.to_clients * payload.size(), std::memory_order_relaxed);
}

}  // namespace jb::server
