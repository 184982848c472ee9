#include "replica/resp/resp_parser.h"

#include <catch2/catch.hpp>

#include "common/prng.h"
#include "replica/resp/resp_writer.h"
#include "seed.h"

namespace geokv::replica {
namespace {

using Args = std::vector<std::string>;

// Feeds `bytes` in one piece and collects every request until the parser
// needs more or fails.
struct Parsed {
  std::vector<Args> requests;
  RespParser::Result last = RespParser::Result::kNeedMore;
  std::string error;
};

Parsed ParseAll(std::string_view bytes, const RespLimits& limits = {}) {
  RespParser parser(limits);
  Parsed out;
  if (!parser.Feed(bytes)) {
    out.last = RespParser::Result::kError;
    out.error = parser.error();
    return out;
  }
  Args args;
  while ((out.last = parser.Next(&args)) == RespParser::Result::kRequest) {
    out.requests.push_back(args);
  }
  out.error = parser.error();
  return out;
}

std::string Multibulk(const Args& args) {
  std::string out;
  RespWriter w(&out);
  w.ArrayHeader(args.size());
  for (const auto& a : args) w.Bulk(a);
  return out;
}

TEST_CASE("RESP: a pipeline of requests in one read yields each in order", "[unit]") {
  std::string bytes;
  for (int i = 0; i < 300; ++i) bytes += Multibulk({"SET", "key:" + std::to_string(i), "v"});
  bytes += "PING\r\n";
  bytes += Multibulk({"GET", std::string("bin\0\r\nary", 9)});
  Parsed p = ParseAll(bytes);
  REQUIRE(p.last == RespParser::Result::kNeedMore);
  REQUIRE(p.requests.size() == 302);
  CHECK(p.requests[299] == Args{"SET", "key:299", "v"});
  CHECK(p.requests[300] == Args{"PING"});
  CHECK(p.requests[301][1] == std::string("bin\0\r\nary", 9));
}

TEST_CASE("RESP: inline requests split words and honour quotes", "[unit]") {
  Parsed p = ParseAll("set k \"a b\\x41\\n\" 'it\\'s'\r\nPING\n\r\n   \r\n");
  REQUIRE(p.requests.size() == 2);
  CHECK(p.requests[0] == Args{"set", "k", "a bA\n", "it's"});
  CHECK(p.requests[1] == Args{"PING"});
  CHECK(ParseAll("*0\r\n*-1\r\nPING\r\n").requests == std::vector<Args>{{"PING"}});
}

TEST_CASE("RESP: any split of the bytes parses to the same requests", "[property]") {
  const uint64_t seed = test::TestSeed();
  for (int c = 0; c < test::CaseCount(1000); ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed * 13 + c);
    std::vector<Args> sent;
    std::string bytes;
    const int n = 1 + static_cast<int>(rng.Below(6));
    for (int i = 0; i < n; ++i) {
      Args args;
      const int argc = 1 + static_cast<int>(rng.Below(4));
      for (int a = 0; a < argc; ++a) {
        std::string arg(rng.Below(rng.Chance(10) ? 3000 : 12), '\0');
        for (char& ch : arg) ch = static_cast<char>(rng.Below(256));
        args.push_back(arg);
      }
      sent.push_back(args);
      bytes += Multibulk(args);
    }
    RespParser parser;
    std::vector<Args> got;
    Args args;
    size_t at = 0;
    while (at < bytes.size()) {
      const size_t piece = 1 + rng.Below(rng.Chance(50) ? 4 : 500);
      REQUIRE(parser.Feed(std::string_view(bytes).substr(at, piece)));
      at += piece;
      RespParser::Result r;
      while ((r = parser.Next(&args)) == RespParser::Result::kRequest) got.push_back(args);
      REQUIRE(r == RespParser::Result::kNeedMore);
    }
    REQUIRE(got == sent);
    REQUIRE(parser.buffered_bytes() == 0);
  }
}

TEST_CASE("RESP: malformed requests get Redis's protocol errors", "[hostile]") {
  struct Case {
    const char* name;
    std::string bytes;
    const char* error;
  };
  RespLimits small;
  small.max_bulk_bytes = 1000;
  const std::vector<Case> cases = {
      {"bad type byte", "*1\r\n:5\r\n", "Protocol error: expected '$', got ':'"},
      {"negative bulk length", "*1\r\n$-5\r\nabc\r\n", "Protocol error: invalid bulk length"},
      {"huge bulk length", "*1\r\n$99999999999999999999\r\n",
       "Protocol error: invalid bulk length"},
      {"bulk over the limit", "*1\r\n$1001\r\n", "Protocol error: invalid bulk length"},
      {"multibulk count of 2^31", "*2147483648\r\n", "Protocol error: invalid multibulk length"},
      {"non-numeric count", "*x\r\n", "Protocol error: invalid multibulk length"},
      {"missing CRLF after bulk", "*1\r\n$3\r\nabcXY",
       "Protocol error: expected CRLF after bulk data"},
      {"unbalanced quotes", "SET \"abc\r\n", "Protocol error: unbalanced quotes in request"},
      {"header line without end", "*" + std::string(70'000, '1'),
       "Protocol error: too big mbulk count string"},
      {"bulk header without end", "*1\r\n$" + std::string(70'000, '1'),
       "Protocol error: too big bulk count string"},
      {"inline line without end", std::string(70'000, 'a'),
       "Protocol error: too big inline request"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Parsed p = ParseAll(c.bytes, small);
    CHECK(p.last == RespParser::Result::kError);
    CHECK(p.error == c.error);
  }
}

TEST_CASE("RESP: the query buffer is bounded", "[hostile]") {
  RespLimits limits;
  limits.max_query_buffer_bytes = 10'000;
  RespParser parser(limits);
  // A client announces a 9,000-byte argument, sends it, and keeps sending.
  REQUIRE(parser.Feed("*2\r\n$9000\r\n" + std::string(9000, 'x') + "\r\n$9000\r\n"));
  Args args;
  CHECK(parser.Next(&args) == RespParser::Result::kNeedMore);
  CHECK_FALSE(parser.Feed(std::string(2000, 'y')));
  CHECK(parser.error() == "Protocol error: query buffer limit exceeded");
  CHECK(parser.Next(&args) == RespParser::Result::kError);
}

TEST_CASE("RESP: random bytes never crash the parser", "[hostile]") {
  const uint64_t seed = test::TestSeed();
  for (int c = 0; c < test::CaseCount(2000); ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed ^ (0xAB00000ull + c));
    static const char* kAlphabet[] = {"*", "$",           "\r\n", "\r", "\n",  "-1", "0", "1",
                                      "3", "99999999999", "\"",   "'",  "\\x", " ",  "a", "\0"};
    std::string bytes;
    const int pieces = static_cast<int>(rng.Below(40));
    for (int i = 0; i < pieces; ++i) {
      if (rng.Chance(20)) {
        bytes.push_back(static_cast<char>(rng.Below(256)));
      } else {
        bytes += kAlphabet[rng.Below(std::size(kAlphabet))];
      }
    }
    RespLimits limits;
    limits.max_bulk_bytes = 64;
    limits.max_inline_bytes = 32;
    RespParser parser(limits);
    Args args;
    size_t at = 0;
    int guard = 0;
    while (at < bytes.size() && ++guard < 10'000) {
      const size_t piece = 1 + rng.Below(8);
      if (!parser.Feed(std::string_view(bytes).substr(at, piece))) break;
      at += piece;
      RespParser::Result r;
      while ((r = parser.Next(&args)) == RespParser::Result::kRequest) {
        CHECK(args.size() <= limits.max_multibulk_count);
      }
      if (r == RespParser::Result::kError) {
        CHECK(parser.error().rfind("Protocol error: ", 0) == 0);
        break;
      }
    }
  }
}

TEST_CASE("RESP: replies are framed as Redis frames them", "[unit]") {
  std::string out;
  RespWriter w(&out);
  w.Simple("OK");
  w.Error("ERR bad\r\nthing");
  w.Integer(-42);
  w.Bulk("");
  w.Null();
  w.ArrayHeader(2);
  w.NullArray();
  CHECK(out == "+OK\r\n-ERR bad  thing\r\n:-42\r\n$0\r\n\r\n$-1\r\n*2\r\n*-1\r\n");
}

}  // namespace
}  // namespace geokv::replica
