// The TTL commands and the TTL options of the string commands, with Redis
// 7.0's exact replies and errors (each checked by hand against Debian's
// redis-server 7.0.15), and the rule that an expired key is absent to every
// read and starts afresh on a write. The clock is MemoryPartitions::now_ms.
#include <catch2/catch.hpp>
#include <string>

#include "crdt/expiry.h"
#include "memory_partitions.h"
#include "replica/commands/transaction.h"

namespace geokv::replica {
namespace {

using test::MemoryPartitions;
using test::RunData;

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

TEST_CASE("Expiry commands: EXPIRE family, TTL family and PERSIST reply as Redis 7.0", "[unit]") {
  MemoryPartitions ks;
  REQUIRE(ks.now_ms == kNow);
  CHECK(RunData(ks, {"EXPIRE", "k", "10"}) == Int(0));  // no key
  CHECK(RunData(ks, {"TTL", "k"}) == Int(-2));
  CHECK(RunData(ks, {"PTTL", "k"}) == Int(-2));
  CHECK(RunData(ks, {"EXPIRETIME", "k"}) == Int(-2));
  CHECK(RunData(ks, {"PERSIST", "k"}) == Int(0));
  CHECK(RunData(ks, {"SET", "k", "v"}) == kOk);
  CHECK(RunData(ks, {"TTL", "k"}) == Int(-1));
  CHECK(RunData(ks, {"PEXPIRETIME", "k"}) == Int(-1));
  CHECK(RunData(ks, {"PERSIST", "k"}) == Int(0));

  CHECK(RunData(ks, {"EXPIRE", "k", "100"}) == Int(1));
  CHECK(RunData(ks, {"TTL", "k"}) == Int(100));
  CHECK(RunData(ks, {"PTTL", "k"}) == Int(100'000));
  CHECK(RunData(ks, {"PEXPIRETIME", "k"}) == Int(kNow + 100'000));
  CHECK(RunData(ks, {"EXPIRETIME", "k"}) == Int(kNow / 1000 + 100));
  ks.now_ms += 1'499;  // 98.501 s left: TTL rounds to the nearest second
  CHECK(RunData(ks, {"TTL", "k"}) == Int(99));
  ks.now_ms += 2;
  CHECK(RunData(ks, {"TTL", "k"}) == Int(98));
  ks.now_ms = kNow;

  // NX XX GT LT: no TTL counts as an infinite one.
  CHECK(RunData(ks, {"EXPIRE", "k", "50", "NX"}) == Int(0));
  CHECK(RunData(ks, {"EXPIRE", "k", "50", "gt"}) == Int(0));
  CHECK(RunData(ks, {"EXPIRE", "k", "50", "LT"}) == Int(1));
  CHECK(RunData(ks, {"TTL", "k"}) == Int(50));
  CHECK(RunData(ks, {"PEXPIRE", "k", "60000", "GT", "xx"}) == Int(1));
  CHECK(RunData(ks, {"TTL", "k"}) == Int(60));
  CHECK(RunData(ks, {"PERSIST", "k"}) == Int(1));
  CHECK(RunData(ks, {"TTL", "k"}) == Int(-1));
  CHECK(RunData(ks, {"EXPIRE", "k", "10", "XX"}) == Int(0));
  CHECK(RunData(ks, {"EXPIRE", "k", "10", "GT"}) == Int(0));
  CHECK(RunData(ks, {"EXPIRE", "k", "10", "LT"}) == Int(1));
  CHECK(RunData(ks, {"EXPIRE", "k", "20", "NX", "NX"}) == Int(0));  // has one now
  CHECK(RunData(ks, {"EXPIREAT", "k", std::to_string(kNow / 1000 + 500)}) == Int(1));
  CHECK(RunData(ks, {"TTL", "k"}) == Int(500));
  CHECK(RunData(ks, {"PEXPIREAT", "k", std::to_string(kNow + 7'000)}) == Int(1));
  CHECK(RunData(ks, {"PTTL", "k"}) == Int(7'000));

  // Errors, in Redis's order: options, then the number, then the key.
  CHECK(RunData(ks, {"EXPIRE", "k", "abc"}) == kNotInteger);
  CHECK(RunData(ks, {"EXPIRE", "k", "abc", "foo"}) == "-ERR Unsupported option foo\r\n");
  CHECK(RunData(ks, {"EXPIRE", "nokey", "10", "foo"}) == "-ERR Unsupported option foo\r\n");
  CHECK(RunData(ks, {"EXPIRE", "k", "10", "NX", "XX"}) ==
        "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
  CHECK(RunData(ks, {"EXPIRE", "k", "10", "GT", "LT"}) ==
        "-ERR GT and LT options at the same time are not compatible\r\n");
  CHECK(RunData(ks, {"EXPIRE", "k", "99999999999999999"}) == InvalidTime("expire"));
  CHECK(RunData(ks, {"expire", "k", "-99999999999999999"}) == InvalidTime("expire"));
  CHECK(RunData(ks, {"PEXPIRE", "k", "9223372036854775807"}) == InvalidTime("pexpire"));
  CHECK(RunData(ks, {"EXPIREAT", "k", "9223372036854775807"}) == InvalidTime("expireat"));
  CHECK(RunData(ks, {"EXPIREAT", "k", "9223372036854775"}) == Int(1));  // fits in ms
  CHECK(RunData(ks, {"EXPIRE", "k"}) == "-ERR wrong number of arguments for 'expire' command\r\n");
  CHECK(RunData(ks, {"TTL", "k", "x"}) == "-ERR wrong number of arguments for 'ttl' command\r\n");

  // A deadline not in the future deletes the key at once.
  CHECK(RunData(ks, {"EXPIRE", "k", "-1"}) == Int(1));
  CHECK(RunData(ks, {"EXISTS", "k"}) == Int(0));
  CHECK(RunData(ks, {"SET", "k", "v"}) == kOk);
  CHECK(RunData(ks, {"PEXPIREAT", "k", std::to_string(kNow)}) == Int(1));
  CHECK(RunData(ks, {"EXISTS", "k"}) == Int(0));

  // Any type has a TTL.
  CHECK(RunData(ks, {"SADD", "s", "a"}) == Int(1));
  CHECK(RunData(ks, {"EXPIRE", "s", "100"}) == Int(1));
  CHECK(RunData(ks, {"TTL", "s"}) == Int(100));
  CHECK(RunData(ks, {"TYPE", "s"}) == "+set\r\n");
}

TEST_CASE("Expiry commands: SET's TTL options in every combination Redis 7.0 allows", "[unit]") {
  MemoryPartitions ks;
  CHECK(RunData(ks, {"SET", "k", "v", "EX", "10"}) == kOk);
  CHECK(RunData(ks, {"TTL", "k"}) == Int(10));
  CHECK(RunData(ks, {"SET", "k", "v", "PX", "1500"}) == kOk);
  CHECK(RunData(ks, {"PTTL", "k"}) == Int(1500));
  CHECK(RunData(ks, {"SET", "k", "v", "EXAT", std::to_string(kNow / 1000 + 30)}) == kOk);
  CHECK(RunData(ks, {"TTL", "k"}) == Int(30));
  CHECK(RunData(ks, {"SET", "k", "v2", "PXAT", std::to_string(kNow + 40'000), "GET"}) == Bulk("v"));
  CHECK(RunData(ks, {"PTTL", "k"}) == Int(40'000));
  CHECK(RunData(ks, {"SET", "k", "v3", "KEEPTTL"}) == kOk);
  CHECK(RunData(ks, {"PTTL", "k"}) == Int(40'000));
  CHECK(RunData(ks, {"GET", "k"}) == Bulk("v3"));
  CHECK(RunData(ks, {"SET", "k", "v4"}) == kOk);  // without KEEPTTL: persistent
  CHECK(RunData(ks, {"TTL", "k"}) == Int(-1));
  CHECK(RunData(ks, {"SET", "k", "v", "ex", "10", "EX", "20"}) == kOk);  // the last one wins
  CHECK(RunData(ks, {"TTL", "k"}) == Int(20));
  CHECK(RunData(ks, {"SET", "k", "v", "NX", "NX"}) == kNil);
  CHECK(RunData(ks, {"SET", "k", "x", "GET", "GET"}) == Bulk("v"));
  CHECK(RunData(ks, {"SET", "k", "y", "NX", "GET"}) == Bulk("x"));  // not set: the old value
  CHECK(RunData(ks, {"SET", "n", "y", "XX", "GET"}) == kNil);
  CHECK(RunData(ks, {"SET", "n", "y", "NX", "GET", "PX", "100"}) == kNil);  // set
  CHECK(RunData(ks, {"PTTL", "n"}) == Int(100));
  CHECK(RunData(ks, {"SET", "k", "z", "XX", "KEEPTTL", "GET"}) == Bulk("x"));

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
    CHECK(RunData(ks, bad) == kSyntax);
  }
  CHECK(RunData(ks, {"SET", "k", "v", "EX", "0"}) == InvalidTime("set"));
  CHECK(RunData(ks, {"SET", "k", "v", "EX", "-1"}) == InvalidTime("set"));
  CHECK(RunData(ks, {"SET", "k", "v", "EX", "abc"}) == kNotInteger);
  CHECK(RunData(ks, {"SET", "k", "v", "EX", "9223372036854775"}) == InvalidTime("set"));
  CHECK(RunData(ks, {"SET", "k", "v", "PX", "9223372036854775000"}) == InvalidTime("set"));
  CHECK(RunData(ks, {"SET", "k", "v", "PXAT", "9223372036854775807"}) == kOk);
  // A deadline already passed: the key is gone at once.
  CHECK(RunData(ks, {"SET", "k", "v", "EXAT", "1"}) == kOk);
  CHECK(RunData(ks, {"EXISTS", "k"}) == Int(0));
  // GET on another type fails after the TTL is checked, as in Redis.
  CHECK(RunData(ks, {"SADD", "s", "m"}) == Int(1));
  CHECK(RunData(ks, {"SET", "s", "v", "GET", "EX", "0"}) == InvalidTime("set"));
  CHECK(RunData(ks, {"SET", "s", "v", "GET"}) ==
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
}

TEST_CASE("Expiry commands: SETEX PSETEX SETNX GETEX GETDEL", "[unit]") {
  MemoryPartitions ks;
  const std::string kWrongType =
      "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
  CHECK(RunData(ks, {"SETEX", "k", "10", "v"}) == kOk);
  CHECK(RunData(ks, {"TTL", "k"}) == Int(10));
  CHECK(RunData(ks, {"PSETEX", "k", "1000", "v"}) == kOk);
  CHECK(RunData(ks, {"PTTL", "k"}) == Int(1000));
  CHECK(RunData(ks, {"SETEX", "k", "0", "v"}) == InvalidTime("setex"));
  CHECK(RunData(ks, {"PSETEX", "k", "-5", "v"}) == InvalidTime("psetex"));
  CHECK(RunData(ks, {"SETEX", "k", "abc", "v"}) == kNotInteger);
  CHECK(RunData(ks, {"SETNX", "k", "w"}) == Int(0));
  CHECK(RunData(ks, {"SETNX", "k2", "w"}) == Int(1));
  CHECK(RunData(ks, {"TTL", "k2"}) == Int(-1));

  CHECK(RunData(ks, {"GETEX", "k"}) == Bulk("v"));
  CHECK(RunData(ks, {"PTTL", "k"}) == Int(1000));  // GETEX alone keeps the TTL
  CHECK(RunData(ks, {"GETEX", "k", "EX", "100"}) == Bulk("v"));
  CHECK(RunData(ks, {"TTL", "k"}) == Int(100));
  CHECK(RunData(ks, {"GETEX", "k", "PERSIST"}) == Bulk("v"));
  CHECK(RunData(ks, {"TTL", "k"}) == Int(-1));
  CHECK(RunData(ks, {"GETEX", "k", "PXAT", std::to_string(kNow + 5)}) == Bulk("v"));
  CHECK(RunData(ks, {"PTTL", "k"}) == Int(5));
  CHECK(RunData(ks, {"GETEX", "k", "EX", "0"}) == InvalidTime("getex"));
  CHECK(RunData(ks, {"GETEX", "nokey", "EX", "0"}) == kNil);  // the key first, as Redis
  CHECK(RunData(ks, {"GETEX", "nokey", "EX", "abc"}) == kNil);
  CHECK(RunData(ks, {"GETEX", "nokey", "foo"}) == kSyntax);
  for (const Args& bad : std::vector<Args>{{"GETEX", "k", "PERSIST", "EX", "10"},
                                           {"GETEX", "k", "EX", "10", "PERSIST"},
                                           {"GETEX", "k", "KEEPTTL"},
                                           {"GETEX", "k", "NX"},
                                           {"GETEX", "k", "GET"},
                                           {"GETEX", "k", "EX"}}) {
    CHECK(RunData(ks, bad) == kSyntax);
  }
  CHECK(RunData(ks, {"GETEX", "k", "EXAT", "1"}) == Bulk("v"));  // then deleted
  CHECK(RunData(ks, {"EXISTS", "k"}) == Int(0));
  CHECK(RunData(ks, {"SADD", "s", "m"}) == Int(1));
  CHECK(RunData(ks, {"GETEX", "s"}) == kWrongType);
  CHECK(RunData(ks, {"GETEX", "s", "EX", "0"}) == kWrongType);

  CHECK(RunData(ks, {"GETDEL", "k2"}) == Bulk("w"));
  CHECK(RunData(ks, {"GETDEL", "k2"}) == kNil);
  CHECK(RunData(ks, {"EXISTS", "k2"}) == Int(0));
  CHECK(RunData(ks, {"GETDEL", "s"}) == kWrongType);
  CHECK(RunData(ks, {"SETEX", "s", "10", "v"}) == kOk);  // SETEX overwrites any type
  CHECK(RunData(ks, {"TYPE", "s"}) == "+string\r\n");
}

TEST_CASE("Expiry commands: writes that keep the TTL keep it, those that replace it clear it",
          "[unit]") {
  MemoryPartitions ks;
  CHECK(RunData(ks, {"SET", "c", "1", "EX", "100"}) == kOk);
  CHECK(RunData(ks, {"INCRBY", "c", "5"}) == Int(6));
  CHECK(RunData(ks, {"TTL", "c"}) == Int(100));
  CHECK(RunData(ks, {"HSET", "h", "f", "1"}) == Int(1));
  CHECK(RunData(ks, {"EXPIRE", "h", "100"}) == Int(1));
  CHECK(RunData(ks, {"HSET", "h", "g", "2"}) == Int(1));
  CHECK(RunData(ks, {"TTL", "h"}) == Int(100));
  CHECK(RunData(ks, {"GETSET", "c", "x"}) == Bulk("6"));
  CHECK(RunData(ks, {"TTL", "c"}) == Int(-1));
  CHECK(RunData(ks, {"EXPIRE", "c", "100"}) == Int(1));
  CHECK(RunData(ks, {"MSET", "c", "y"}) == kOk);
  CHECK(RunData(ks, {"TTL", "c"}) == Int(-1));
  CHECK(RunData(ks, {"EXPIRE", "c", "100"}) == Int(1));
  CHECK(RunData(ks, {"DEL", "c"}) == Int(1));
  CHECK(RunData(ks, {"SET", "c", "z"}) == kOk);
  CHECK(RunData(ks, {"TTL", "c"}) == Int(-1));
}

TEST_CASE("Expiry commands: an expired key is absent to every read and starts afresh", "[unit]") {
  MemoryPartitions ks;
  CHECK(RunData(ks, {"SET", "str", "v", "PX", "100"}) == kOk);
  CHECK(RunData(ks, {"SADD", "set", "a", "b"}) == Int(2));
  CHECK(RunData(ks, {"HSET", "hash", "f", "1"}) == Int(1));
  CHECK(RunData(ks, {"MVSET", "mv", "x"}) == kOk);
  CHECK(RunData(ks, {"SET", "keep", "forever"}) == kOk);
  for (const char* key : {"set", "hash", "mv"}) {
    CHECK(RunData(ks, {"PEXPIRE", key, "100"}) == Int(1));
  }
  ks.now_ms += 100;  // at the deadline: still there
  CHECK(RunData(ks, {"EXISTS", "str", "set", "hash", "mv"}) == Int(4));
  CHECK(RunData(ks, {"PTTL", "str"}) == Int(0));
  ks.now_ms += 1;  // past it: gone for every read
  CHECK(RunData(ks, {"GET", "str"}) == kNil);
  CHECK(RunData(ks, {"MGET", "str", "keep"}) == "*2\r\n$-1\r\n$7\r\nforever\r\n");
  CHECK(RunData(ks, {"STRLEN", "str"}) == Int(0));
  CHECK(RunData(ks, {"EXISTS", "str", "set", "hash", "mv", "keep"}) == Int(1));
  CHECK(RunData(ks, {"TYPE", "set"}) == "+none\r\n");
  CHECK(RunData(ks, {"SMEMBERS", "set"}) == "*0\r\n");
  CHECK(RunData(ks, {"SISMEMBER", "set", "a"}) == Int(0));
  CHECK(RunData(ks, {"SCARD", "set"}) == Int(0));
  CHECK(RunData(ks, {"HGET", "hash", "f"}) == kNil);
  CHECK(RunData(ks, {"HGETALL", "hash"}) == "*0\r\n");
  CHECK(RunData(ks, {"HLEN", "hash"}) == Int(0));
  CHECK(RunData(ks, {"MVGET", "mv"}) == "*2\r\n$0\r\n\r\n*0\r\n");
  CHECK(RunData(ks, {"TTL", "hash"}) == Int(-2));
  CHECK(RunData(ks, {"PERSIST", "hash"}) == Int(0));
  CHECK(RunData(ks, {"EXPIRE", "hash", "10"}) == Int(0));
  CHECK(RunData(ks, {"SCAN", "0", "COUNT", "100"}) == "*2\r\n$1\r\n0\r\n*1\r\n$4\r\nkeep\r\n");
  // Writes see no key, and the key they make is new and persistent.
  CHECK(RunData(ks, {"SET", "str", "w", "NX"}) == kOk);
  CHECK(RunData(ks, {"TTL", "str"}) == Int(-1));
  CHECK(RunData(ks, {"SADD", "set", "b", "c"}) == Int(2));
  CHECK(RunData(ks, {"SMEMBERS", "set"}) == "*2\r\n$1\r\nb\r\n$1\r\nc\r\n");
  CHECK(RunData(ks, {"TTL", "set"}) == Int(-1));
  CHECK(RunData(ks, {"SET", "hash", "now a string", "GET"}) == kNil);  // no WRONGTYPE
  CHECK(RunData(ks, {"DEL", "mv"}) == Int(0));
  CHECK(RunData(ks, {"DBSIZE"}) == Int(4));  // str set hash keep: mv was removed by DEL's write
}

TEST_CASE("Expiry commands: a watched key that expires before EXEC counts as changed", "[unit]") {
  MemoryPartitions ks;
  CHECK(RunData(ks, {"SET", "k", "v", "PX", "100"}) == kOk);
  auto watch = [&] {
    WatchedKeys w;  // as WATCH records it: through the reader's view
    w.Add("k", KeyVersion(crdt::LiveView(ks.State(ks.PartitionOf("k")), ks.now_ms), "k"));
    return w;
  };
  const WatchedKeys live = watch();
  CHECK(live.Unchanged(ks));
  ks.now_ms += 101;
  CHECK_FALSE(live.Unchanged(ks));  // Redis 7.0: EXEC aborts
  const WatchedKeys expired = watch();
  CHECK(expired.Unchanged(ks));  // already gone at WATCH: nothing changed
}

}  // namespace
}  // namespace geokv::replica
