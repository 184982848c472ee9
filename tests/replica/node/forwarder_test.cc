#include "replica/node/forwarder.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>

namespace geokv::replica {
namespace {

TEST_CASE("Forwarder: finds where one raw reply ends", "[unit]") {
  CHECK(CompleteReplyLength("+OK\r\n") == 5);
  CHECK(CompleteReplyLength("+OK\r\n+OK\r\n") == 5);
  CHECK(CompleteReplyLength("-ERR x\r\n") == 8);
  CHECK(CompleteReplyLength(":42\r\n") == 5);
  CHECK(CompleteReplyLength("$3\r\nabc\r\n") == 9);
  CHECK(CompleteReplyLength("$-1\r\n") == 5);
  CHECK(CompleteReplyLength("*2\r\n$1\r\na\r\n:1\r\n") == 15);
  CHECK(CompleteReplyLength("*-1\r\n") == 5);
  CHECK(CompleteReplyLength("*2\r\n*1\r\n+x\r\n$0\r\n\r\n") == 18);
  // Incomplete: more bytes needed.
  CHECK(CompleteReplyLength("") == 0);
  CHECK(CompleteReplyLength("+OK") == 0);
  CHECK(CompleteReplyLength("$3\r\nab") == 0);
  CHECK(CompleteReplyLength("*2\r\n$1\r\na\r\n") == 0);
  // Invalid.
  CHECK(CompleteReplyLength("?x\r\n") == -1);
  CHECK(CompleteReplyLength("$-2\r\n") == -1);
  CHECK(CompleteReplyLength("$abc\r\n") == -1);
  CHECK(CompleteReplyLength("$100\r\n", /*max_bulk_bytes=*/10) == -1);
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "*1\r\n";
  CHECK(CompleteReplyLength(deep + "+x\r\n") == -1);
}

TEST_CASE("Forwarder: finds where one RESP3 reply ends", "[unit]") {
  CHECK(CompleteReplyLength("_\r\n") == 3);
  CHECK(CompleteReplyLength(",1.5\r\n") == 6);
  CHECK(CompleteReplyLength("#t\r\n") == 4);
  CHECK(CompleteReplyLength("(123\r\n") == 6);
  CHECK(CompleteReplyLength("%1\r\n$1\r\nf\r\n$1\r\nv\r\n") == 18);
  CHECK(CompleteReplyLength("%1\r\n$1\r\nf\r\n") == 0);  // a map's value still to come
  CHECK(CompleteReplyLength("~2\r\n+a\r\n+b\r\n") == 12);
  CHECK(CompleteReplyLength("=7\r\ntxt:abc\r\n") == 13);
  CHECK(CompleteReplyLength("!3\r\nERR\r\n") == 9);
  CHECK(CompleteReplyLength("%99999999999\r\n") == -1);  // absurd counts refused
}

TEST_CASE("Forwarder: a target that never answers fails each request in time under steady traffic",
          "[unit]") {
  namespace asio = boost::asio;
  asio::io_context io;
  // A "node" that accepts and then never reads or answers.
  asio::ip::tcp::acceptor stuck(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket accepted(io);
  stuck.async_accept(accepted, [](boost::system::error_code) {});
  constexpr int kTimeoutMs = 300;
  Forwarder forwarder(io, 4096, kTimeoutMs);
  const ForwardTarget target{"stuck", "127.0.0.1", stuck.local_endpoint().port()};
  const auto start = std::chrono::steady_clock::now();
  std::optional<std::string> first;
  std::chrono::milliseconds first_after{0};
  forwarder.Forward(target, {"GET", "k"}, kResp2, [&](std::string resp) {
    first = resp;
    first_after = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
  });
  // More requests every 20 ms for 1.5 s: they must not push the first one's
  // deadline back.
  asio::steady_timer tick(io);
  int sent = 0;
  std::function<void()> more = [&] {
    tick.expires_after(std::chrono::milliseconds(20));
    tick.async_wait([&](boost::system::error_code) {
      if (++sent > 75) return;
      forwarder.Forward(target, {"GET", "k"}, kResp2, [](std::string) {});
      more();
    });
  };
  more();
  io.run_for(std::chrono::milliseconds(1800));
  REQUIRE(first.has_value());
  CHECK(first->rfind("-TRYAGAIN forwarding failed: timed out", 0) == 0);
  CHECK(first_after.count() >= kTimeoutMs);
  CHECK(first_after.count() < 3 * kTimeoutMs);
}

}  // namespace
}  // namespace geokv::replica
