// The TTL commands and the TTL options of the string commands, with Redis
// 7.0's exact replies and errors (each checked by hand against Debian's
// redis-server 7.0.15), and the rule that an expired key is absent to every
// read and starts afresh on a write. The clock is MemoryPartitions::now_ms.
#include <catch2/catch.hpp>
#include <string>

#include "memory_partitions.h"

namespace geokv::replica {
namespace {

using test::MemoryPartitions;
using test::Run;

constexpr int64_t kNow = 1'700'000'000'000;  // MemoryPartitions' clock, ms

std::string Int(int64_t n) { return ":" + std::to_string(n) + "\r\n"; }
std::string Bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}
const std::string kOk = "+OK\r\n";
const std::string kNil = "$-1\r\n";
const std::string kSyntax = "-ERR syntax error\r\n";
const std::string kNotInteger = "-ERR value is not an integer or out of range\r\n";
std::string InvalidTime(const std::string& command) {
  return "-ERR invalid expire time in '" + command + "' command\r\n";
}

TEST_CASE("Expiry commands: EXPIRE family, TTL family and PERSIST reply as Redis 7.0",
          "[unit]") {
  MemoryPartitions ks;
  REQUIRE(ks.now_ms == kNow);
  CHECK(Run(ks, {"EXPIRE", "k", "10"}) == Int(0));  // no key
  CHECK(Run(ks, {"TTL", "k"}) == Int(-2));
  CHECK(Run(ks, {"PTTL", "k"}) == Int(-2));
  CHECK(Run(ks, {"EXPIRETIME", "k"}) == Int(-2));
  CHECK(Run(ks, {"PERSIST", "k"}) == Int(0));
  CHECK(Run(ks, {"SET", "k", "v"}) == kOk);
  CHECK(Run(ks, {"TTL", "k"}) == Int(-1));
  CHECK(Run(ks, {"PEXPIRETIME", "k"}) == Int(-1));
  CHECK(Run(ks, {"PERSIST", "k"}) == Int(0));

  CHECK(Run(ks, {"EXPIRE", "k", "100"}) == Int(1));
  CHECK(Run(ks, {"TTL", "k"}) == Int(100));
  CHECK(Run(ks, {"PTTL", "k"}) == Int(100'000));
  CHECK(Run(ks, {"PEXPIRETIME", "k"}) == Int(kNow + 100'000));
  CHECK(Run(ks, {"EXPIRETIME", "k"}) == Int(kNow / 1000 + 100));
  ks.now_ms += 1'499;  // 98.501 s left: TTL rounds to the nearest second
  CHECK(Run(ks, {"TTL", "k"}) == Int(99));
  ks.now_ms += 2;
  CHECK(Run(ks, {"TTL", "k"}) == Int(98));
  ks.now_ms = kNow;

  // NX XX GT LT: no TTL counts as an infinite one.
  CHECK(Run(ks, {"EXPIRE", "k", "50", "NX"}) == Int(0));
  CHECK(Run(ks, {"EXPIRE", "k", "50", "gt"}) == Int(0));
  CHECK(Run(ks, {"EXPIRE", "k", "50", "LT"}) == Int(1));
  CHECK(Run(ks, {"TTL", "k"}) == Int(50));
  CHECK(Run(ks, {"PEXPIRE", "k", "60000", "GT", "xx"}) == Int(1));
  CHECK(Run(ks, {"TTL", "k"}) == Int(60));
  CHECK(Run(ks, {"PERSIST", "k"}) == Int(1));
  CHECK(Run(ks, {"TTL", "k"}) == Int(-1));
  CHECK(Run(ks, {"EXPIRE", "k", "10", "XX"}) == Int(0));
  CHECK(Run(ks, {"EXPIRE", "k", "10", "GT"}) == Int(0));
  CHECK(Run(ks, {"EXPIRE", "k", "10", "LT"}) == Int(1));
  CHECK(Run(ks, {"EXPIRE", "k", "20", "NX", "NX"}) == Int(0));  // has one now
  CHECK(Run(ks, {"EXPIREAT", "k", std::to_string(kNow / 1000 + 500)}) == Int(1));
  CHECK(Run(ks, {"TTL", "k"}) == Int(500));
  CHECK(Run(ks, {"PEXPIREAT", "k", std::to_string(kNow + 7'000)}) == Int(1));
  CHECK(Run(ks, {"PTTL", "k"}) == Int(7'000));

  // Errors, in Redis's order: options, then the number, then the key.
  CHECK(Run(ks, {"EXPIRE", "k", "abc"}) == kNotInteger);
  CHECK(Run(ks, {"EXPIRE", "k", "abc", "foo"}) == "-ERR Unsupported option foo\r\n");
  CHECK(Run(ks, {"EXPIRE", "nokey", "10", "foo"}) == "-ERR Unsupported option foo\r\n");
  CHECK(Run(ks, {"EXPIRE", "k", "10", "NX", "XX"}) ==
        "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
  CHECK(Run(ks, {"EXPIRE", "k", "10", "GT", "LT"}) ==
        "-ERR GT and LT options at the same time are not compatible\r\n");
  CHECK(Run(ks, {"EXPIRE", "k", "99999999999999999"}) == InvalidTime("expire"));
  CHECK(Run(ks, {"expire", "k", "-99999999999999999"}) == InvalidTime("expire"));
  CHECK(Run(ks, {"PEXPIRE", "k", "9223372036854775807"}) == InvalidTime("pexpire"));
  CHECK(Run(ks, {"EXPIREAT", "k", "9223372036854775807"}) == InvalidTime("expireat"));
  CHECK(Run(ks, {"EXPIREAT", "k", "9223372036854775"}) == Int(1));  // fits in ms
  CHECK(Run(ks, {"EXPIRE", "k"}) == "-ERR wrong number of arguments for 'expire' command\r\n");
  CHECK(Run(ks, {"TTL", "k", "x"}) == "-ERR wrong number of arguments for 'ttl' command\r\n");

  // A deadline not in the future deletes the key at once.
  CHECK(Run(ks, {"EXPIRE", "k", "-1"}) == Int(1));
  CHECK(Run(ks, {"EXISTS", "k"}) == Int(0));
  CHECK(Run(ks, {"SET", "k", "v"}) == kOk);
  CHECK(Run(ks, {"PEXPIREAT", "k", std::to_string(kNow)}) == Int(1));
  CHECK(Run(ks, {"EXISTS", "k"}) == Int(0));

  // Any type has a TTL.
  CHECK(Run(ks, {"SADD", "s", "a"}) == Int(1));
  CHECK(Run(ks, {"EXPIRE", "s", "100"}) == Int(1));
  CHECK(Run(ks, {"TTL", "s"}) == Int(100));
  CHECK(Run(ks, {"TYPE", "s"}) == "+set\r\n");
}

TEST_CASE("Expiry commands: SET's TTL options in every combination Redis 7.0 allows",
          "[unit]") {
  MemoryPartitions ks;
  CHECK(Run(ks, {"SET", "k", "v", "EX", "10"}) == kOk);
  CHECK(Run(ks, {"TTL", "k"}) == Int(10));
  CHECK(Run(ks, {"SET", "k", "v", "PX", "1500"}) == kOk);
  CHECK(Run(ks, {"PTTL", "k"}) == Int(1500));
  CHECK(Run(ks, {"SET", "k", "v", "EXAT", std::to_string(kNow / 1000 + 30)}) == kOk);
  CHECK(Run(ks, {"TTL", "k"}) == Int(30));
  CHECK(Run(ks, {"SET", "k", "v2", "PXAT", std::to_string(kNow + 40'000), "GET"}) == Bulk("v"));
  CHECK(Run(ks, {"PTTL", "k"}) == Int(40'000));
  CHECK(Run(ks, {"SET", "k", "v3", "KEEPTTL"}) == kOk);
  CHECK(Run(ks, {"PTTL", "k"}) == Int(40'000));
  CHECK(Run(ks, {"GET", "k"}) == Bulk("v3"));
  CHECK(Run(ks, {"SET", "k", "v4"}) == kOk);  // without KEEPTTL: persistent
  CHECK(Run(ks, {"TTL", "k"}) == Int(-1));
  CHECK(Run(ks, {"SET", "k", "v", "ex", "10", "EX", "20"}) == kOk);  // the last one wins
  CHECK(Run(ks, {"TTL", "k"}) == Int(20));
  CHECK(Run(ks, {"SET", "k", "v", "NX", "NX"}) == kNil);
  CHECK(Run(ks, {"SET", "k", "x", "GET", "GET"}) == Bulk("v"));
  CHECK(Run(ks, {"SET", "k", "y", "NX", "GET"}) == Bulk("x"));  // not set: the old value
  CHECK(Run(ks, {"SET", "n", "y", "XX", "GET"}) == kNil);
  CHECK(Run(ks, {"SET", "n", "y", "NX", "GET", "PX", "100"}) == kNil);  // set
  CHECK(Run(ks, {"PTTL", "n"}) == Int(100));
  CHECK(Run(ks, {"SET", "k", "z", "XX", "KEEPTTL", "GET"}) == Bulk("x"));

  // Refused: conflicting options, a missing value, a bad number.
  for (const Args& bad : std::vector<Args>{{"SET", "k", "v", "EX"},
                                           {"SET", "k", "v", "EX", "10", "PX", "10"},
                                           {"SET", "k", "v", "KEEPTTL", "EX", "10"},
                                           {"SET", "k", "v", "EX", "10", "KEEPTTL"},
                                           {"SET", "k", "v", "EXAT", "10", "PXAT", "10"},
                                           {"SET", "k", "v", "NX", "XX"},
                                           {"SET", "k", "v", "PERSIST"},
                                           {"SET", "k", "v", "BOGUS"}}) {
    INFO(bad[3]);
    CHECK(Run(ks, bad) == kSyntax);
  }
  CHECK(Run(ks, {"SET", "k", "v", "EX", "0"}) == InvalidTime("set"));
  CHECK(Run(ks, {"SET", "k", "v", "EX", "-1"}) == InvalidTime("set"));
  CHECK(Run(ks, {"SET", "k", "v", "EX", "abc"}) == kNotInteger);
  CHECK(Run(ks, {"SET", "k", "v", "EX", "9223372036854775"}) == InvalidTime("set"));
  CHECK(Run(ks, {"SET", "k", "v", "PX", "9223372036854775000"}) == InvalidTime("set"));
  CHECK(Run(ks, {"SET", "k", "v", "PXAT", "9223372036854775807"}) == kOk);
  // A deadline already passed: the key is gone at once.
  CHECK(Run(ks, {"SET", "k", "v", "EXAT", "1"}) == kOk);
  CHECK(Run(ks, {"EXISTS", "k"}) == Int(0));
  // GET on another type fails after the TTL is checked, as in Redis.
  CHECK(Run(ks, {"SADD", "s", "m"}) == Int(1));
  CHECK(Run(ks, {"SET", "s", "v", "GET", "EX", "0"}) == InvalidTime("set"));
  CHECK(Run(ks, {"SET", "s", "v", "GET"}) ==
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
}

TEST_CASE("Expiry commands: SETEX PSETEX SETNX GETEX GETDEL", "[unit]") {
  MemoryPartitions ks;
  const std::string kWrongType =
      "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
  CHECK(Run(ks, {"SETEX", "k", "10", "v"}) == kOk);
  CHECK(Run(ks, {"TTL", "k"}) == Int(10));
  CHECK(Run(ks, {"PSETEX", "k", "1000", "v"}) == kOk);
  CHECK(Run(ks, {"PTTL", "k"}) == Int(1000));
  CHECK(Run(ks, {"SETEX", "k", "0", "v"}) == InvalidTime("setex"));
  CHECK(Run(ks, {"PSETEX", "k", "-5", "v"}) == InvalidTime("psetex"));
  CHECK(Run(ks, {"SETEX", "k", "abc", "v"}) == kNotInteger);
  CHECK(Run(ks, {"SETNX", "k", "w"}) == Int(0));
  CHECK(Run(ks, {"SETNX", "k2", "w"}) == Int(1));
  CHECK(Run(ks, {"TTL", "k2"}) == Int(-1));

  CHECK(Run(ks, {"GETEX", "k"}) == Bulk("v"));
  CHECK(Run(ks, {"PTTL", "k"}) == Int(1000));  // GETEX alone keeps the TTL
  CHECK(Run(ks, {"GETEX", "k", "EX", "100"}) == Bulk("v"));
  CHECK(Run(ks, {"TTL", "k"}) == Int(100));
  CHECK(Run(ks, {"GETEX", "k", "PERSIST"}) == Bulk("v"));
  CHECK(Run(ks, {"TTL", "k"}) == Int(-1));
  CHECK(Run(ks, {"GETEX", "k", "PXAT", std::to_string(kNow + 5)}) == Bulk("v"));
  CHECK(Run(ks, {"PTTL", "k"}) == Int(5));
  CHECK(Run(ks, {"GETEX", "k", "EX", "0"}) == InvalidTime("getex"));
  CHECK(Run(ks, {"GETEX", "nokey", "EX", "0"}) == kNil);  // the key first, as Redis
  CHECK(Run(ks, {"GETEX", "nokey", "EX", "abc"}) == kNil);
  CHECK(Run(ks, {"GETEX", "nokey", "foo"}) == kSyntax);
  for (const Args& bad : std::vector<Args>{{"GETEX", "k", "PERSIST", "EX", "10"},
                                           {"GETEX", "k", "EX", "10", "PERSIST"},
                                           {"GETEX", "k", "KEEPTTL"},
                                           {"GETEX", "k", "NX"},
                                           {"GETEX", "k", "GET"},
                                           {"GETEX", "k", "EX"}}) {
    CHECK(Run(ks, bad) == kSyntax);
  }
  CHECK(Run(ks, {"GETEX", "k", "EXAT", "1"}) == Bulk("v"));  // then deleted
  CHECK(Run(ks, {"EXISTS", "k"}) == Int(0));
  CHECK(Run(ks, {"SADD", "s", "m"}) == Int(1));
  CHECK(Run(ks, {"GETEX", "s"}) == kWrongType);
  CHECK(Run(ks, {"GETEX", "s", "EX", "0"}) == kWrongType);

  CHECK(Run(ks, {"GETDEL", "k2"}) == Bulk("w"));
  CHECK(Run(ks, {"GETDEL", "k2"}) == kNil);
  CHECK(Run(ks, {"EXISTS", "k2"}) == Int(0));
  CHECK(Run(ks, {"GETDEL", "s"}) == kWrongType);
  CHECK(Run(ks, {"SETEX", "s", "10", "v"}) == kOk);  // SETEX overwrites any type
  CHECK(Run(ks, {"TYPE", "s"}) == "+string\r\n");
}

TEST_CASE("Expiry commands: writes that keep the TTL keep it, those that replace it clear it",
          "[unit]") {
  MemoryPartitions ks;
  CHECK(Run(ks, {"SET", "c", "1", "EX", "100"}) == kOk);
  CHECK(Run(ks, {"INCRBY", "c", "5"}) == Int(6));
  CHECK(Run(ks, {"TTL", "c"}) == Int(100));
  CHECK(Run(ks, {"HSET", "h", "f", "1"}) == Int(1));
  CHECK(Run(ks, {"EXPIRE", "h", "100"}) == Int(1));
  CHECK(Run(ks, {"HSET", "h", "g", "2"}) == Int(1));
  CHECK(Run(ks, {"TTL", "h"}) == Int(100));
  CHECK(Run(ks, {"GETSET", "c", "x"}) == Bulk("6"));
  CHECK(Run(ks, {"TTL", "c"}) == Int(-1));
  CHECK(Run(ks, {"EXPIRE", "c", "100"}) == Int(1));
  CHECK(Run(ks, {"MSET", "c", "y"}) == kOk);
  CHECK(Run(ks, {"TTL", "c"}) == Int(-1));
  CHECK(Run(ks, {"EXPIRE", "c", "100"}) == Int(1));
  CHECK(Run(ks, {"DEL", "c"}) == Int(1));
  CHECK(Run(ks, {"SET", "c", "z"}) == kOk);
  CHECK(Run(ks, {"TTL", "c"}) == Int(-1));
}

TEST_CASE("Expiry commands: an expired key is absent to every read and starts afresh",
          "[unit]") {
  MemoryPartitions ks;
  CHECK(Run(ks, {"SET", "str", "v", "PX", "100"}) == kOk);
  CHECK(Run(ks, {"SADD", "set", "a", "b"}) == Int(2));
  CHECK(Run(ks, {"HSET", "hash", "f", "1"}) == Int(1));
  CHECK(Run(ks, {"MVSET", "mv", "x"}) == kOk);
  CHECK(Run(ks, {"SET", "keep", "forever"}) == kOk);
  for (const char* key : {"set", "hash", "mv"}) {
    CHECK(Run(ks, {"PEXPIRE", key, "100"}) == Int(1));
  }
  ks.now_ms += 100;  // at the deadline: still there
  CHECK(Run(ks, {"EXISTS", "str", "set", "hash", "mv"}) == Int(4));
  CHECK(Run(ks, {"PTTL", "str"}) == Int(0));
  ks.now_ms += 1;  // past it: gone for every read
  CHECK(Run(ks, {"GET", "str"}) == kNil);
  CHECK(Run(ks, {"MGET", "str", "keep"}) == "*2\r\n$-1\r\n$7\r\nforever\r\n");
  CHECK(Run(ks, {"STRLEN", "str"}) == Int(0));
  CHECK(Run(ks, {"EXISTS", "str", "set", "hash", "mv", "keep"}) == Int(1));
  CHECK(Run(ks, {"TYPE", "set"}) == "+none\r\n");
  CHECK(Run(ks, {"SMEMBERS", "set"}) == "*0\r\n");
  CHECK(Run(ks, {"SISMEMBER", "set", "a"}) == Int(0));
  CHECK(Run(ks, {"SCARD", "set"}) == Int(0));
  CHECK(Run(ks, {"HGET", "hash", "f"}) == kNil);
  CHECK(Run(ks, {"HGETALL", "hash"}) == "*0\r\n");
  CHECK(Run(ks, {"HLEN", "hash"}) == Int(0));
  CHECK(Run(ks, {"MVGET", "mv"}) == "*2\r\n$0\r\n\r\n*0\r\n");
  CHECK(Run(ks, {"TTL", "hash"}) == Int(-2));
  CHECK(Run(ks, {"PERSIST", "hash"}) == Int(0));
  CHECK(Run(ks, {"EXPIRE", "hash", "10"}) == Int(0));
  CHECK(Run(ks, {"SCAN", "0", "COUNT", "100"}) == "*2\r\n$1\r\n0\r\n*1\r\n$4\r\nkeep\r\n");
  // Writes see no key, and the key they make is new and persistent.
  CHECK(Run(ks, {"SET", "str", "w", "NX"}) == kOk);
  CHECK(Run(ks, {"TTL", "str"}) == Int(-1));
  CHECK(Run(ks, {"SADD", "set", "b", "c"}) == Int(2));
  CHECK(Run(ks, {"SMEMBERS", "set"}) == "*2\r\n$1\r\nb\r\n$1\r\nc\r\n");
  CHECK(Run(ks, {"TTL", "set"}) == Int(-1));
  CHECK(Run(ks, {"SET", "hash", "now a string", "GET"}) == kNil);  // no WRONGTYPE
  CHECK(Run(ks, {"DEL", "mv"}) == Int(0));
  CHECK(Run(ks, {"DBSIZE"}) == Int(4));  // str set hash keep: mv was removed by DEL's write
}

}  // namespace
}  // namespace geokv::replica
