#include "replica/node/forwarder.h"

#include <catch2/catch.hpp>

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

}  // namespace
}  // namespace geokv::replica
