#pragma once
// One consumer: delivery (push to a deliver subject, pull on request), acknowledgements,
// redelivery, heartbeats and flow control. Lives on the JetStream strand.
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include "server/jetstream/deadline_queue.hpp"
#include "server/jetstream/jetstream.hpp"
#include "server/jetstream/pull_priority.hpp"
#include "storage/consumer_store.hpp"

namespace jb::jetstream {

class consumer {
 public:
  consumer(jetstream& js, stream& s, consumer_config cfg, std::shared_ptr<storage::consumer_store> store,
           std::int64_t created_ns, bool restored);
  ~consumer();

  void start();
  void stop();

  [[nodiscard]] const consumer_config& config() const noexcept { return cfg_; }
  [[nodiscard]] const std::string& name() const noexcept { return cfg_.name; }
  [[nodiscard]] const storage::consumer_store& store() const noexcept { return *store_; }
  void update_config(consumer_config cfg);
  [[nodiscard]] boost::json::object info_json(bool with_version_metadata);
  struct metrics_view {
    std::uint64_t num_pending = 0, num_ack_pending = 0, ack_floor = 0;
  };
  [[nodiscard]] metrics_view metrics();

  // New messages were stored, or interest / acks changed: deliver what can be delivered.
  void signal();
  // Recomputes the storage filters from the config and the stream's subjects (call after either
  // changes).
  void refresh_filters();
  void on_ack(std::string_view reply_tokens_subject, std::string_view payload, std::string_view reply);
  void on_flow_control(std::string_view subject);
  void on_pull_request(std::string_view reply, std::string_view payload);
  void on_interest(std::string_view subject);
  void on_stream_purged();
  void pause(std::int64_t until_ns);
  // Releases the pinned client of a pinned_client consumer (the UNPIN API: reason "admin"; the
  // pin timing out: "timeout"). The next eligible request then gets a new pin id.
  void unpin(const char* reason);

  // Does this consumer still need stream message `seq` (interest retention)?
  [[nodiscard]] bool needs(std::uint64_t seq, std::string_view subject) const;
  [[nodiscard]] bool matches(std::string_view subject) const;
  [[nodiscard]] bool push_bound() const;
  [[nodiscard]] bool paused() const;

 private:
  struct pull_request {
    std::string reply;
    std::int64_t batch = 1;
    std::int64_t max_bytes = 0;  // 0: no byte budget
    std::int64_t bytes_left = 0;
    std::int64_t expires_at = 0;  // steady ns; 0 = never
    bool no_wait = false;
    std::int64_t heartbeat = 0;  // ns
    std::int64_t next_heartbeat = 0;
    std::int64_t delivered = 0;
    pull_group prio;  // priority-group fields (ADR-42)
  };
  struct next_msg {
    storage::stored_msg msg;
    std::uint64_t dc = 1;  // delivery count
    bool redelivery = false;
    bool from_lps = false;  // taken from the initial last-per-subject set
  };

  void deliver_loop();
  std::optional<next_msg> next_message();
  void deliver(const next_msg& n, const std::string& route_subject);
  // Returns a message taken by next_message() but not delivered: it is the next one again.
  void put_back(next_msg n);
  // Priority policies: brings the request that may take message `n` to the front of waiting_,
  // answering requests with a stale pin id (423) and claiming the pin for a new client on the
  // way. False: no waiting request may take it now.
  bool front_request_for(const next_msg& n, bool& claimed_pin);
  void end_no_wait_requests();
  void send_pin_advisory(bool pinned, const char* reason);
  std::uint64_t pending_count();
  void schedule_timer();
  void on_timer();
  void expire_acks(std::int64_t now);
  // With max_deliver reached: advisory, drop from pending, true. Otherwise false.
  bool out_of_deliveries(std::uint64_t sseq, std::uint64_t dc, std::uint64_t dseq);
  void delivery_advisory(std::string_view event, std::string_view type, std::uint64_t sseq, std::uint64_t dseq,
                         std::uint64_t deliveries, std::string_view reason);
  void sample_ack(std::uint64_t sseq);
  int sample_percent_ = 0;  // cfg_.sample_freq as a percentage
  void send_heartbeat(bool force);
  void send_status(std::string_view reply, int code, std::string_view description, bool pending_headers,
                   std::int64_t pending_msgs = 0, std::int64_t pending_bytes = 0);
  void finish_request(std::deque<pull_request>::iterator it);
  void ack_one(std::uint64_t sseq, std::uint64_t dseq);
  void ack_all_upto(std::uint64_t sseq);
  void set_deadline(std::uint64_t sseq, std::int64_t deadline, bool in_order = true);
  void clear_deadline(std::uint64_t sseq);
  std::int64_t ack_deadline(std::uint64_t dc, std::int64_t now = 0) const;  // now: steady ns, 0 to read the clock
  void position_at_start();
  void check_inactivity(std::int64_t now);

  jetstream& js_;
  stream& stream_;
  // Timer handlers hold a weak reference: a handler already queued when the consumer is
  // deleted must not touch it.
  std::shared_ptr<int> life_ = std::make_shared<int>(0);
  consumer_config cfg_;
  std::shared_ptr<storage::consumer_store> store_;
  std::int64_t created_;
  std::int64_t last_delivered_wall_ = 0, last_ack_wall_ = 0;  // unix ns, for ConsumerInfo last_active
  boost::asio::steady_timer timer_;
  std::int64_t timer_at_ = 0;

  std::vector<std::string> filters_;
  std::uint64_t sseq_next_ = 1;  // next stream sequence to look at
  // Read-ahead (next_message): ahead_[ahead_pos_..] are the next matching messages from
  // ahead_from_ on, read when the stream had ahead_removals_ (last_seq - msgs) removals.
  std::vector<storage::stored_msg> ahead_;
  std::size_t ahead_pos_ = 0;
  std::uint64_t ahead_from_ = 0;
  std::uint64_t ahead_removals_ = 0;
  std::deque<std::uint64_t> lps_seqs_;  // last_per_subject: initial sequences still to deliver
  std::vector<storage::stored_msg> lps_ahead_;  // range read for a dense lps_seqs_
  std::size_t lps_pos_ = 0;
  std::uint64_t lps_removals_ = 0;
  std::set<std::uint64_t> redeliver_;  // due for redelivery, served before new messages
  deadline_queue deadlines_;  // ack deadlines (steady ns) of pending stream sequences
  std::uint64_t num_pending_cache_ = 0;
  bool num_pending_valid_ = false;
  bool delivering_ = false;

  // Push state.
  std::int64_t last_delivery_ = 0;  // steady ns of the last data message or heartbeat
  std::int64_t fc_window_ = 2 * 1024 * 1024;
  std::int64_t fc_request_bytes_ = 0;  // fc_bytes_ when the pending FC request was sent
  std::int64_t fc_bytes_ = 0;
  std::string fc_pending_;  // the outstanding flow-control reply subject
  bool was_active_ = false;
  std::int64_t last_active_ = 0;  // steady ns: interest or pull request last seen

  // Pull state.
  std::deque<pull_request> waiting_;
  std::int64_t pause_until_ = 0;

  // pinned_client state: the current pin id (empty: nobody pinned), when it was given (unix ns)
  // and when it lapses without a pull carrying it (steady ns).
  std::string pin_id_;
  std::int64_t pin_ts_ = 0;
  std::int64_t pin_expires_ = 0;
};

}  // namespace jb::jetstream
