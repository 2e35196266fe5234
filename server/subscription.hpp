#pragma once
// A subscription: one SUB of a client, or an internal interest (JetStream API, stream capture).
// Owned by shared_ptr; the sublist and in-flight match results hold references, so a
// subscription outlives its removal until every delivery that matched it has finished.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace jb::server {

class account;
class subscriber;
struct stream_import;

struct subscription {
  std::string subject;  // may hold wildcards
  std::string queue;    // empty: not in a queue group
  std::string sid;      // client-chosen id, echoed in MSG
  std::shared_ptr<subscriber> owner;
  std::atomic<std::uint64_t> delivered{0};
  std::uint64_t max_msgs = 0;  // 0: unlimited (UNSUB <sid> <max>); written on the owner's executor
  std::atomic<bool> closed{false};
  // The account whose index holds it (client subscriptions); set before insertion.
  account* home = nullptr;
  // A shadow subscription (in an exporting account, for a stream import): deliveries carry the
  // importer's subject. Null for ordinary subscriptions. Set before insertion.
  const stream_import* import = nullptr;
  // An internal forwarder (a service import): its owner's deliver() routes the message on into
  // another account and returns whether anything there matched, instead of asking for a kick.
  bool forwarder = false;
  // Owned by a client connection (counted in nats-server's out_msgs); set before insertion.
  bool client = false;
  // The shadow subscriptions of a client subscription; the owner's executor only.
  std::vector<std::shared_ptr<subscription>> shadows;
};

// One message on its way to subscribers; views valid only during delivery. `subject` is what the
// receiver sees in MSG/HMSG; routing may have used another subject (JetStream deliveries are
// routed on the deliver subject or pull inbox but carry the stored subject).
struct message_view {
  std::string_view subject;
  std::string_view reply;
  std::string_view headers;  // empty: no headers
  std::string_view payload;
};

// Everything that can receive messages from the router: client connections and internal
// handlers (JetStream). deliver() is called from any thread, concurrently.
class subscriber {
 public:
  virtual ~subscriber() = default;
  // Queues the message for `sub`. Returns true when the caller must call kick() on this
  // subscriber after its current batch (the receiver's writer is idle and needs waking).
  virtual bool deliver(subscription& sub, const message_view& m) = 0;
  // Wakes the receiver; called at most once per batch for each subscriber that asked for it.
  virtual void kick() {}
  // Called once when `sub` reached its auto-unsubscribe limit.
  virtual void on_max_reached(const std::shared_ptr<subscription>& sub) {}
  // Identity used for echo suppression: the client connection id, 0 for internal subscribers.
  [[nodiscard]] virtual std::uint64_t client_id() const noexcept { return 0; }
  // Deny-subscribe rules to apply at delivery (nats-server's message deny filter); consulted
  // only once filter_deliveries is set (release, after the rules are in place). Any thread.
  [[nodiscard]] virtual bool delivery_denied(std::string_view /*subject*/) const noexcept { return false; }
  std::atomic<bool> filter_deliveries{false};
};

}  // namespace jb::server
