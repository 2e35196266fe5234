// In-process server fixture (the embedding API): start on port -1, drive with raw protocol
// bytes over loopback (nats-server's sendProto/expectResult style), stop.
#include "server/embedded.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <string>

namespace jb::server {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

class raw_client {
 public:
  explicit raw_client(int port) : sock_(io_) {
    sock_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    // A missing reply fails the test after 5 s instead of hanging it.
    struct timeval tv {5, 0};
    ::setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    info_ = line();
  }
  // PUB with the payload size filled in.
  void pub(const std::string& subject, const std::string& reply, const std::string& payload) {
    send("PUB " + subject + " " + reply + " " + std::to_string(payload.size()) + "\r\n" + payload + "\r\n");
  }
  void send(const std::string& s) { asio::write(sock_, asio::buffer(s)); }
  // Reads until `expected` has arrived (or the peer closes) and returns everything read.
  std::string expect(const std::string& expected) {
    asio::read_until(sock_, buf_, expected);
    std::string out(asio::buffers_begin(buf_.data()), asio::buffers_end(buf_.data()));
    buf_.consume(buf_.size());
    return out;
  }
  std::string line() { return expect("\r\n"); }
  const std::string& info() const { return info_; }

 private:
  asio::io_context io_;
  tcp::socket sock_;
  asio::streambuf buf_;
  std::string info_;
};

config::options test_options() {
  config::options o;
  o.host = "127.0.0.1";
  o.port = -1;
  o.worker_threads = 2;
  return o;
}

TEST(EmbeddedServer, StartsOnARandomPortAndRoutes) {
  embedded_server s(test_options());
  ASSERT_GT(s.port(), 0);
  raw_client sub(s.port()), pub(s.port());
  EXPECT_EQ(sub.info().rfind("INFO {", 0), 0u) << sub.info();
  EXPECT_NE(sub.info().find("\"port\":" + std::to_string(s.port())), std::string::npos) << sub.info();
  sub.send("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB foo.* 1\r\nPING\r\n");
  EXPECT_EQ(sub.expect("PONG\r\n"), "PONG\r\n");
  pub.send("CONNECT {\"verbose\":false}\r\nPUB foo.bar 5\r\nhello\r\nPING\r\n");
  EXPECT_EQ(pub.expect("PONG\r\n"), "PONG\r\n");
  EXPECT_EQ(sub.expect("hello\r\n"), "MSG foo.bar 1 5\r\nhello\r\n");
  s.stop();
}

TEST(EmbeddedServer, InMemoryJetStreamAnswersTheApi) {
  auto o = test_options();
  o.jetstream = true;
  o.store_in_memory = true;
  embedded_server s(o);
  raw_client c(s.port());
  EXPECT_NE(c.info().find("\"jetstream\":true"), std::string::npos) << c.info();
  c.send("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB r 1\r\n");
  c.pub("$JS.API.STREAM.CREATE.S", "r", "{\"name\":\"S\",\"subjects\":[\"s.>\"]}");
  auto reply = c.expect("}\r\n");
  EXPECT_NE(reply.find("stream_create_response"), std::string::npos) << reply;
  EXPECT_NE(reply.find("\"storage\":\"file\""), std::string::npos) << reply;
  EXPECT_EQ(reply.find("\"error\""), std::string::npos) << reply;
  c.pub("s.x", "r", "hi");
  EXPECT_NE(c.expect("}\r\n").find("{\"stream\":\"S\",\"seq\":1}"), std::string::npos);
}

TEST(EmbeddedServer, PortInUseIsAnError) {
  embedded_server first(test_options());
  auto o = test_options();
  o.port = first.port();
  EXPECT_THROW(embedded_server second(o), std::runtime_error);
}

TEST(EmbeddedServer, StopIsIdempotentAndFast) {
  embedded_server s(test_options());
  auto t0 = std::chrono::steady_clock::now();
  s.stop();
  s.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

}  // namespace
}  // namespace jb::server
