// Differential test: geokv-server against Debian's redis-server.
//
// A seeded generator writes command sequences over strings and counters, sets,
// hashes and the key space (wrong types, bad arguments, wrong arity, empty
// strings, int64 limits, huge numbers and offsets, binary bytes) and sends
// each command to a real redis-server and to a real one-node geokv-server
// (every key local). The replies must be equal byte for byte, after the
// normalizations of kAllowedDifferences: the ONE list of differences we accept,
// each with its reason (docs/compatibility.md mirrors it). Errors are always
// compared exactly.
//
// GEOKV_CASES sets the number of commands (default 10,000); GEOKV_SEED replays
// a run. A mismatch prints the seed, the commands before it and both replies.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdio>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/prng.h"
#include "redis_server.h"
#include "seed.h"
#include "server_process.h"

namespace geokv::test {
namespace {

using replica::RespClient;
using replica::RespValue;
using Args = std::vector<std::string>;

// How a command's successful replies are compared.
enum class Compare {
  kExact,
  kSet,           // an array compared as a set of elements
  kPairSet,       // an array of (field, value) pairs compared as a set of pairs
  kShape,         // random or time-dependent: types and lengths only
  kShapeThenDel,  // random and mutating: shape, then the key is deleted on both
  kScanSet,       // a cursor: iterate to the end, compare the union of elements
  kScanPairSet,   // as kScanSet, for (field, value) pairs
  kTtl,           // an integer compared as -2 (no key), -1 (no TTL) or positive
};

struct AllowedDifference {
  const char* command;  // lower case; "object" covers its subcommands
  Compare compare;
  const char* reason;
};

// THE list of accepted differences (docs/compatibility.md, "Differences").
constexpr AllowedDifference kAllowedDifferences[] = {
    {"smembers", Compare::kSet, "Redis answers in hash-table order, geokv in byte order"},
    {"sinter", Compare::kSet, "order (as SMEMBERS)"},
    {"sunion", Compare::kSet, "order (as SMEMBERS)"},
    {"sdiff", Compare::kSet, "order (as SMEMBERS)"},
    {"hgetall", Compare::kPairSet, "Redis answers in hash-table order, geokv in byte order"},
    {"hkeys", Compare::kSet, "order (as HGETALL)"},
    {"hvals", Compare::kSet, "order (as HGETALL)"},
    {"keys", Compare::kSet, "order: Redis walks its hash table, geokv its partitions"},
    {"scan", Compare::kScanSet,
     "cursors are each server's own (geokv: partition and key position), so one call's "
     "keys differ; a full iteration returns the same keys"},
    {"sscan", Compare::kScanSet, "cursors (as SCAN)"},
    {"hscan", Compare::kScanPairSet, "cursors (as SCAN)"},
    {"srandmember", Compare::kShape, "random choice"},
    {"hrandfield", Compare::kShape, "random choice"},
    {"randomkey", Compare::kShape, "random choice"},
    {"spop", Compare::kShapeThenDel, "random choice (the key is then deleted on both)"},
    {"object", Compare::kShape,
     "ENCODING names geokv's representation, IDLETIME is not tracked (0)"},
    {"time", Compare::kShape, "the clock"},
    {"ttl", Compare::kTtl, "the time left depends on when each server ran the command"},
    {"pttl", Compare::kTtl, "the time left depends on when each server ran the command"},
};

bool EqualsNoCase(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

Compare CompareOf(const std::string& command) {
  for (const auto& d : kAllowedDifferences) {
    if (EqualsNoCase(command, d.command)) return d.compare;
  }
  return Compare::kExact;
}

// Canonical RESP2 bytes of a reply.
std::string Encode(const RespValue& v) {
  switch (v.type) {
    case RespValue::Type::kSimple:
      return "+" + v.str + "\r\n";
    case RespValue::Type::kError:
      return "-" + v.str + "\r\n";
    case RespValue::Type::kInteger:
      return ":" + std::to_string(v.integer) + "\r\n";
    case RespValue::Type::kBulk:
      return "$" + std::to_string(v.str.size()) + "\r\n" + v.str + "\r\n";
    case RespValue::Type::kNull:
      return "$-1\r\n";
    case RespValue::Type::kNullArray:
      return "*-1\r\n";
    case RespValue::Type::kArray: {
      std::string out = "*" + std::to_string(v.elements.size()) + "\r\n";
      for (const auto& e : v.elements) out += Encode(e);
      return out;
    }
  }
  return "?";
}

RespValue Shape(const RespValue& v) {
  RespValue s = v;
  if (s.type == RespValue::Type::kBulk) s.str = "?";
  if (s.type == RespValue::Type::kInteger) s.integer = 0;
  for (auto& e : s.elements) e = Shape(e);
  return s;
}

// Elements (or pairs of elements) sorted and without duplicates.
RespValue AsSet(const RespValue& v, size_t group) {
  if (v.type != RespValue::Type::kArray || v.elements.size() % group != 0) return v;
  std::set<std::vector<std::string>> items;
  for (size_t i = 0; i < v.elements.size(); i += group) {
    std::vector<std::string> item;
    for (size_t j = 0; j < group; ++j) item.push_back(Encode(v.elements[i + j]));
    items.insert(item);
  }
  RespValue out;
  out.type = RespValue::Type::kArray;
  for (const auto& item : items) {
    for (const auto& e : item) {
      RespValue raw;
      raw.type = RespValue::Type::kSimple;
      raw.str = e;  // already encoded; only compared
      out.elements.push_back(raw);
    }
  }
  return out;
}

std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string Printable(const Args& args) {
  std::string out;
  for (const auto& a : args) out += (out.empty() ? "" : " ") + ("\"" + Printable(a) + "\"");
  return out;
}

// One command to one server, with the cursor loop of the SCAN family.
RespValue Exchange(RespClient& client, const Args& args, Compare compare) {
  auto reply = client.Command(args);
  INFO("command " << Printable(args) << ": " << reply.status().ToString());
  REQUIRE(reply.ok());
  if ((compare != Compare::kScanSet && compare != Compare::kScanPairSet) || reply->is_error()) {
    return *reply;
  }
  // Iterate to the end: bounded, a cursor that never returns to 0 is a bug.
  const size_t cursor_at = EqualsNoCase(args[0], "scan") ? 1 : 2;
  RespValue all;
  all.type = RespValue::Type::kArray;
  for (int calls = 0; calls < 100'000; ++calls) {
    REQUIRE(reply->type == RespValue::Type::kArray);
    REQUIRE(reply->elements.size() == 2);
    for (const auto& e : reply->elements[1].elements) all.elements.push_back(e);
    if (reply->elements[0].str == "0") return all;
    Args next = args;
    next[cursor_at] = reply->elements[0].str;
    reply = client.Command(next);
    REQUIRE(reply.ok());
    REQUIRE(!reply->is_error());
  }
  FAIL("a SCAN cursor did not come back to 0 within 100000 calls: " << Printable(args));
  return all;
}

std::string Normalize(const RespValue& reply, Compare compare) {
  if (reply.is_error()) return Encode(reply);
  switch (compare) {
    case Compare::kExact:
      return Encode(reply);
    case Compare::kSet:
    case Compare::kScanSet:
      return Encode(AsSet(reply, 1));
    case Compare::kPairSet:
    case Compare::kScanPairSet:
      return Encode(AsSet(reply, 2));
    case Compare::kShape:
    case Compare::kShapeThenDel:
      return Encode(Shape(reply));
    case Compare::kTtl: {
      RespValue sign = reply;
      if (sign.type == RespValue::Type::kInteger && sign.integer > 0) sign.integer = 1;
      return Encode(sign);
    }
  }
  return Encode(reply);
}

// The seeded command generator.
class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {
    Add(6, [this] { return Args{"get", Key()}; });
    Add(6, [this] { return SetCommand(); });
    Add(2, [this] { return Args{"getset", Key(), Value()}; });
    Add(2, [this] { return WithPairs("mset", 1 + Small(3), [this] { return Value(); }); });
    Add(2, [this] { return WithKeys({"mget"}, 1 + Small(4)); });
    Add(2, [this] { return Args{"strlen", Key()}; });
    Add(3, [this] { return Args{Pick({"incr", "decr"}), Key()}; });
    Add(4, [this] { return Args{Pick({"incrby", "decrby"}), Key(), Number()}; });
    Add(5, [this] { return WithMembers({"sadd", Key()}, 1 + Small(4)); });
    Add(3, [this] { return WithMembers({"srem", Key()}, 1 + Small(3)); });
    Add(3, [this] { return Args{"smembers", Key()}; });
    Add(2, [this] { return Args{"sismember", Key(), Member()}; });
    Add(2, [this] { return WithMembers({"smismember", Key()}, 1 + Small(3)); });
    Add(2, [this] { return Args{"scard", Key()}; });
    Add(5, [this] {
      return WithPairs(
          "hset", 1 + Small(3), [this] { return Value(); }, true);
    });
    Add(3, [this] { return Args{"hget", Key(), Field()}; });
    Add(2, [this] { return WithFields({"hmget", Key()}, 1 + Small(3)); });
    Add(3, [this] { return WithFields({"hdel", Key()}, 1 + Small(3)); });
    Add(2, [this] { return Args{"hgetall", Key()}; });
    Add(1, [this] { return Args{"hkeys", Key()}; });
    Add(1, [this] { return Args{"hvals", Key()}; });
    Add(1, [this] { return Args{"hlen", Key()}; });
    Add(1, [this] { return Args{"hexists", Key(), Field()}; });
    Add(3, [this] { return Args{"hincrby", Key(), Field(), Number()}; });
    Add(2, [this] { return WithKeys({"del"}, 1 + Small(3)); });
    Add(2, [this] { return WithKeys({"exists"}, 1 + Small(3)); });
    Add(2, [this] { return Args{"type", Key()}; });
    Add(1, [this] { return Args{"dbsize"}; });
    Add(1, [this] { return ScanCommand(); });
    Add(1, [this] { return FlushCommand(); });
    // Strings: read-modify-write, ranges, bits.
    Add(2, [this] { return WithPairs("msetnx", 1 + Small(3), [this] { return Value(); }); });
    Add(3, [this] { return Args{"append", Key(), Value()}; });
    Add(4, [this] { return Args{"incrbyfloat", Key(), Float()}; });
    Add(3, [this] { return Args{"hincrbyfloat", Key(), Field(), Float()}; });
    Add(3, [this] { return Args{"setrange", Key(), Offset(), Value()}; });
    Add(3, [this] { return Args{Pick({"getrange", "substr"}), Key(), Index(), Index()}; });
    Add(2, [this] { return LcsCommand(); });
    Add(3, [this] {
      // Not 4294967295: that builds a 512 MB value (geokv then ships it as a delta).
      const std::string offset =
          rng_.Chance(90) ? std::to_string(rng_.Below(80)) : Pick({"-1", "x", "4294967296"});
      return Args{"setbit", Key(), offset, Pick({"0", "1", "1", "2", "x"})};
    });
    Add(2, [this] { return Args{"getbit", Key(), BitOffset()}; });
    Add(2, [this] { return BitRangeCommand({"bitcount", Key()}, false); });
    Add(2, [this] { return BitRangeCommand({"bitpos", Key(), Pick({"0", "1", "2", "x"})}, true); });
    Add(2, [this] {
      return WithKeys({"bitop", Pick({"and", "OR", "xor", "not", "bogus"}), Key()}, 1 + Small(3));
    });
    // Sets.
    Add(2, [this] { return WithKeys({Pick({"sinter", "sunion", "sdiff"})}, 1 + Small(3)); });
    Add(2, [this] {
      return WithKeys({Pick({"sinterstore", "sunionstore", "sdiffstore"}), Key()}, 1 + Small(3));
    });
    Add(2, [this] { return SInterCardCommand(); });
    Add(2, [this] { return Args{"smove", Key(), Key(), Member()}; });
    Add(1, [this] {
      Args args{"spop", Key()};
      if (rng_.Chance(60)) args.push_back(Pick({"0", "1", "3", "100", "-1", "x"}));
      if (rng_.Chance(5)) args.push_back("extra");
      return args;
    });
    Add(2, [this] {
      Args args{"srandmember", Key()};
      if (rng_.Chance(70)) args.push_back(RandomCount());
      if (rng_.Chance(5)) args.push_back("extra");
      return args;
    });
    Add(2, [this] { return CollectionScan("sscan"); });
    // Hashes.
    Add(2, [this] { return Args{"hsetnx", Key(), Field(), Value()}; });
    Add(2, [this] { return Args{"hstrlen", Key(), Field()}; });
    Add(2, [this] {
      return WithPairs(
          "hmset", 1 + Small(3), [this] { return Value(); }, true);
    });
    Add(2, [this] {
      Args args{"hrandfield", Key()};
      if (rng_.Chance(70)) args.push_back(RandomCount());
      if (rng_.Chance(40)) args.push_back(Pick({"WITHVALUES", "withvalues", "bogus"}));
      return args;
    });
    Add(2, [this] { return CollectionScan("hscan"); });
    // Key space.
    Add(1, [this] { return Args{"keys", Pick({"*", "a*", "?", "[a-c]", "*x*", "\\{*", ""})}; });
    Add(1, [this] { return Args{"randomkey"}; });
    Add(2, [this] { return Args{Pick({"rename", "renamenx"}), Key(), Key()}; });
    Add(2, [this] {
      Args args{"copy", Key(), Key()};
      if (rng_.Chance(40)) args.push_back(Pick({"REPLACE", "replace", "bogus"}));
      if (rng_.Chance(20)) {
        args.push_back("DB");
        args.push_back(Pick({"0", "x"}));
      }
      return args;
    });
    Add(1, [this] { return WithKeys({"touch"}, 1 + Small(3)); });
    Add(1, [this] { return WithKeys({"unlink"}, 1 + Small(3)); });
    Add(1, [this] {
      return Args{"object", Pick({"encoding", "ENCODING", "freq", "idletime", "refcount", "bogus"}),
                  Key()};
    });
    Add(1, [this] { return Args{"time"}; });
    // TTLs: far ones only (see SetCommand); COPY and RENAME carry them.
    Add(1, [this] { return Args{Pick({"expire", "pexpire"}), Key(), "1000000"}; });
    Add(2, [this] { return Args{Pick({"ttl", "pttl"}), Key()}; });
    Add(1, [this] { return Args{"persist", Key()}; });
    Add(4, [this] { return WrongArity(); });
  }

  Args Next() {
    uint64_t r = rng_.Below(total_weight_);
    for (const auto& [weight, make] : makers_) {
      if (r < weight) return make();
      r -= weight;
    }
    return makers_.back().second();
  }

 private:
  void Add(uint64_t weight, std::function<Args()> make) {
    makers_.emplace_back(weight, std::move(make));
    total_weight_ += weight;
  }

  uint64_t Small(uint64_t n) { return rng_.Below(n); }
  std::string Pick(std::initializer_list<const char*> options) {
    return *(options.begin() + rng_.Below(options.size()));
  }

  // Few keys, so that types collide often; one empty and one binary.
  std::string Key() {
    static const char* const kKeys[] = {"a", "b", "c", "d", "e", "{t}x"};
    if (rng_.Chance(3)) return "";
    if (rng_.Chance(3)) return std::string("\x00\xff k", 4);
    return kKeys[rng_.Below(std::size(kKeys))];
  }
  std::string Member() {
    if (rng_.Chance(10)) return Value();
    return std::string(1, static_cast<char>('m' + rng_.Below(6)));
  }
  std::string Field() {
    if (rng_.Chance(10)) return Value();
    return std::string(1, static_cast<char>('f' + rng_.Below(5)));
  }
  // Numbers at and around the edges of int64, and some that are not numbers.
  std::string Number() {
    static const char* const kEdges[] = {"0",
                                         "1",
                                         "-1",
                                         "9223372036854775807",
                                         "-9223372036854775808",
                                         "9223372036854775808",
                                         "-9223372036854775809",
                                         "00",
                                         "-0",
                                         "+1",
                                         " 1",
                                         "1 ",
                                         "1.5",
                                         "1e3",
                                         "",
                                         "abc",
                                         "99999999999999999999999",
                                         "0x10",
                                         "4611686018427387904",
                                         "-4611686018427387905"};
    if (rng_.Chance(50)) return std::to_string(rng_.Between(-1000, 1000));
    return kEdges[rng_.Below(std::size(kEdges))];
  }
  std::string Value() {
    switch (rng_.Below(7)) {
      case 0:
        return Number();
      case 5: {  // text over a small alphabet: LCS and the bit commands have work to do
        std::string text(rng_.Below(40), 'a');
        for (char& c : text) c = static_cast<char>('a' + rng_.Below(4));
        return text;
      }
      case 1:
        return std::string(1 + rng_.Below(3), static_cast<char>('a' + rng_.Below(3)));
      case 2: {
        std::string bytes(rng_.Below(8), '\0');
        for (char& c : bytes) c = static_cast<char>(rng_.Below(256));
        return bytes;
      }
      case 3:
        return std::string(rng_.Chance(50) ? 0 : 300, 'x');
      default:
        return std::to_string(rng_.Between(-50, 50));
    }
  }

  Args WithKeys(Args args, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) args.push_back(Key());
    return args;
  }
  Args WithMembers(Args args, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) args.push_back(Member());
    return args;
  }
  Args WithFields(Args args, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) args.push_back(Field());
    return args;
  }
  // MSET k v ... or HSET key f v ...; sometimes with a missing value.
  Args WithPairs(const std::string& name, uint64_t n, const std::function<std::string()>& value,
                 bool hash = false) {
    Args args{name};
    if (hash) args.push_back(Key());
    for (uint64_t i = 0; i < n; ++i) {
      args.push_back(hash ? Field() : Key());
      args.push_back(value());
    }
    if (rng_.Chance(5)) args.pop_back();
    return args;
  }

  // INCRBYFLOAT increments: plain, exponents, tiny and huge, hex, inf.
  std::string Float() {
    if (rng_.Chance(40))
      return std::to_string(rng_.Between(-100, 100)) + "." + std::to_string(rng_.Below(1000));
    return Pick({"0.1",
                 "-0.1",
                 "1e20",
                 "-1e20",
                 "1e-20",
                 "1.5e3",
                 "0x1p3",
                 "inf",
                 "-inf",
                 "nan",
                 "1e308",
                 "1e4000",
                 "1e5000",
                 "1e-5000",
                 "3.0000000000000000001",
                 "-0",
                 " 1",
                 "1 ",
                 "",
                 "abc",
                 "0.30000000000000004",
                 "9223372036854775807",
                 "5e-324"});
  }

  // SETRANGE offsets: small ones, and the edges (the largest is past 512 MB).
  std::string Offset() {
    if (rng_.Chance(80)) return std::to_string(rng_.Below(20));
    return Pick({"-1", "x", "536870912", "0"});
  }
  // GETRANGE and BIT* indexes.
  std::string Index() {
    if (rng_.Chance(70)) return std::to_string(rng_.Between(-12, 12));
    return Pick({"-9223372036854775808", "9223372036854775807", "100", "-100", "x", ""});
  }
  std::string BitOffset() {
    if (rng_.Chance(85)) return std::to_string(rng_.Below(80));
    return Pick({"-1", "x", "4294967296", "4294967295"});
  }
  std::string RandomCount() {
    if (rng_.Chance(75)) return std::to_string(rng_.Between(-5, 8));
    return Pick({"9223372036854775807", "-9223372036854775808", "x", "4611686018427387904"});
  }

  Args LcsCommand() {
    Args args{"lcs", Key(), Key()};
    const uint64_t options = Small(3);
    for (uint64_t i = 0; i < options; ++i) {
      const std::string option = Pick({"LEN", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "bogus"});
      args.push_back(option);
      if (option == "MINMATCHLEN" && rng_.Chance(90))
        args.push_back(Pick({"0", "1", "2", "-1", "x"}));
    }
    return args;
  }

  // BITCOUNT key / BITPOS key bit, then [start [end [BYTE|BIT]]].
  Args BitRangeCommand(Args args, bool start_alone) {
    const uint64_t extra = Small(start_alone ? 5 : 4);
    if (extra >= 1 && (start_alone || extra >= 2)) args.push_back(Index());
    if (extra >= 2) args.push_back(Index());
    if (extra >= 3) args.push_back(Pick({"BYTE", "BIT", "bit", "bogus"}));
    if (extra >= 4) args.push_back("extra");
    return args;
  }

  Args SInterCardCommand() {
    const uint64_t keys = 1 + Small(3);
    Args args{"sintercard", rng_.Chance(85) ? std::to_string(keys) : Pick({"0", "-1", "x", "9"})};
    for (uint64_t i = 0; i < keys; ++i) args.push_back(Key());
    if (rng_.Chance(30)) {
      args.push_back(Pick({"LIMIT", "limit", "bogus"}));
      if (rng_.Chance(90)) args.push_back(Pick({"0", "1", "2", "-1", "x"}));
    }
    return args;
  }

  // SSCAN/HSCAN key 0 [MATCH pattern] [COUNT count], sometimes a bad cursor.
  Args CollectionScan(const char* name) {
    Args args{name, Key(), rng_.Chance(90) ? "0" : Pick({"x", "+0", " 1"})};
    if (rng_.Chance(30)) {
      args.push_back("MATCH");
      args.push_back(Pick({"*", "m*", "?", "[f-h]", "x*"}));
    }
    if (rng_.Chance(30)) {
      args.push_back("COUNT");
      args.push_back(Pick({"1", "2", "10", "0", "x"}));
    }
    if (rng_.Chance(5)) args.push_back(Pick({"TYPE", "bogus"}));
    return args;
  }

  Args SetCommand() {
    Args args{"set", Key(), Value()};
    const uint64_t options = rng_.Chance(60) ? 0 : 1 + Small(2);
    for (uint64_t i = 0; i < options; ++i) {
      args.push_back(
          Pick({"NX", "XX", "GET", "nx", "get", "bogus", "KEEPTTL", "EX", "PX", "EXAT"}));
      // Expiry options: far deadlines and bad values only (a passed one counts
      // in Redis's DBSIZE until reclaimed; a near one makes replies timing-dependent).
      if (args.back() == "EX")
        args.push_back(Pick({"1000", "0", "-1", "x", "9223372036854775807"}));
      if (args.back() == "PX") args.push_back(Pick({"1000000", "0", "x"}));
      if (args.back() == "EXAT") args.push_back(Pick({"99999999999", "0", "x"}));
    }
    return args;
  }

  Args ScanCommand() {
    Args args{"scan", "0"};
    if (rng_.Chance(30)) {
      args.push_back("MATCH");
      args.push_back(Pick({"*", "a*", "?", "[a-c]", "*x", "{t}*", "\\{*"}));
    }
    if (rng_.Chance(30)) {
      args.push_back("COUNT");
      args.push_back(Pick({"1", "2", "10", "1000"}));
    }
    if (rng_.Chance(20)) {
      args.push_back("TYPE");
      args.push_back(Pick({"string", "set", "hash", "list", "STRING"}));
    }
    return args;
  }

  Args FlushCommand() {
    Args args{Pick({"flushdb", "flushall"})};
    if (rng_.Chance(30)) args.push_back(Pick({"ASYNC", "SYNC", "sync", "bogus"}));
    return args;
  }

  // A command with too few or too many arguments.
  Args WrongArity() {
    static const std::vector<Args> kCases = {
        {"get"},
        {"get", "a", "b"},
        {"set", "a"},
        {"getset", "a"},
        {"mset", "a"},
        {"mget"},
        {"strlen"},
        {"incr"},
        {"incrby", "a"},
        {"decrby", "a", "1", "2"},
        {"sadd", "a"},
        {"srem", "a"},
        {"smembers"},
        {"sismember", "a"},
        {"smismember", "a"},
        {"scard"},
        {"hset", "a", "f"},
        {"hget", "a"},
        {"hmget", "a"},
        {"hdel", "a"},
        {"hgetall"},
        {"hincrby", "a", "f"},
        {"del"},
        {"exists"},
        {"type"},
        {"dbsize", "x"},
        {"scan"},
        {"hlen"},
        {"hexists", "a"},
        {"hkeys"},
        {"hvals"},
        {"decr"},
        {"msetnx", "a"},
        {"append", "a"},
        {"setrange", "a", "1"},
        {"getrange", "a", "1"},
        {"substr", "a"},
        {"lcs", "a"},
        {"setbit", "a", "1"},
        {"getbit", "a"},
        {"bitcount"},
        {"bitpos", "a"},
        {"bitop", "and", "d"},
        {"sinter"},
        {"sintercard", "1"},
        {"sinterstore", "d"},
        {"sunion"},
        {"sunionstore", "d"},
        {"sdiff"},
        {"sdiffstore", "d"},
        {"smove", "a", "b"},
        {"spop"},
        {"srandmember"},
        {"sscan", "a"},
        {"hsetnx", "a", "f"},
        {"hstrlen", "a"},
        {"hrandfield"},
        {"hmset", "a", "f"},
        {"hmset", "a", "f", "v", "g"},
        {"hscan", "a"},
        {"keys"},
        {"randomkey", "a"},
        {"rename", "a"},
        {"renamenx", "a"},
        {"copy", "a"},
        {"touch"},
        {"unlink"},
        {"object"},
        {"object", "encoding"},
        {"object", "freq", "a", "b"},
        {"time", "x"},
        {"incrbyfloat", "a"},
        {"hincrbyfloat", "a", "f"},
    };
    return kCases[rng_.Below(kCases.size())];
  }

  Prng rng_;
  std::vector<std::pair<uint64_t, std::function<Args()>>> makers_;
  uint64_t total_weight_ = 0;
};

TEST_CASE("Compat: geokv answers a seeded command stream as redis-server does", "[integration]") {
  const uint64_t seed = TestSeed();
  const int commands = CaseCount(10'000);
  RedisServer redis;
  TestCluster geokv(1, 1, 1);
  // Durability is not under test here: no fsync per commit (redis-server
  // runs without persistence too).
  Status started = geokv.Start(0, {"--synchronous", "normal"});
  INFO(started.ToString());
  REQUIRE(started.ok());

  RespClient to_redis;
  REQUIRE(to_redis.Connect("127.0.0.1", redis.port()).ok());
  RespClient to_geokv = geokv.Client(0);
  REQUIRE(to_redis.Command({"FLUSHALL"}).ok());

  Generator generator(seed);
  std::vector<Args> history;
  for (int step = 0; step < commands; ++step) {
    Args args = generator.Next();
    history.push_back(args);
    const Compare compare = CompareOf(args[0]);
    const RespValue from_redis = Exchange(to_redis, args, compare);
    const RespValue from_geokv = Exchange(to_geokv, args, compare);
    if (Normalize(from_redis, compare) != Normalize(from_geokv, compare)) {
      std::string prefix;
      const size_t shown = std::min<size_t>(history.size(), 40);
      for (size_t i = history.size() - shown; i < history.size(); ++i) {
        prefix += "  " + std::to_string(i) + ": " + Printable(history[i]) + "\n";
      }
      // The whole prefix, one command per line as redis-cli reads them.
      const std::string dump = "/tmp/geokv-compat-" + std::to_string(seed) + ".txt";
      if (std::FILE* f = std::fopen(dump.c_str(), "w")) {
        for (const auto& line : history) std::fprintf(f, "%s\n", Printable(line).c_str());
        std::fclose(f);
      }
      FAIL("GEOKV_SEED=" << seed << ": reply " << step << " differs (every command: " << dump
                         << ")\ncommands (last " << shown << " of " << history.size() << "):\n"
                         << prefix << "redis: " << Printable(from_redis.ToString())
                         << "\ngeokv: " << Printable(from_geokv.ToString()));
    }
    if (compare == Compare::kShapeThenDel && args.size() > 1) {
      REQUIRE(Encode(*to_redis.Command({"DEL", args[1]})) ==
              Encode(*to_geokv.Command({"DEL", args[1]})));
    }
  }
  // The two servers hold the same data at the end, too.
  const Args scan_all{"scan", "0", "COUNT", "100"};
  CHECK(Normalize(Exchange(to_redis, scan_all, Compare::kScanSet), Compare::kScanSet) ==
        Normalize(Exchange(to_geokv, scan_all, Compare::kScanSet), Compare::kScanSet));
  std::printf("compat: %d commands equal (GEOKV_SEED=%llu)\n", commands,
              static_cast<unsigned long long>(seed));
}

}  // namespace
}  // namespace geokv::test
