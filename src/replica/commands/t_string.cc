// String and counter commands: GET SET MSET MGET GETSET STRLEN INCR INCRBY DECR
// DECRBY, and those that write a TTL with the value (SET EX..., SETEX PSETEX
// GETEX SETNX GETDEL). Semantics: docs/crdt.md (a string is a register with
// increments on top; a SET without KEEPTTL makes the key persistent). Each
// handler: check type, read, mutate, reply.
#include "crdt/expiry.h"
#include "crdt/key_type.h"
#include "crdt/scalar.h"
#include "replica/commands/command_util.h"
#include "replica/commands/handlers.h"

namespace geokv::replica {

namespace {

using crdt::ScalarRef;
using crdt::ValueType;

ScalarRef StringRef(const std::string& key) { return ScalarRef{key, std::nullopt}; }

// What a whole-string write does to the key's TTL.
struct Ttl {
  enum class Kind : uint8_t { kPersist, kKeep, kDeadline } kind = Kind::kPersist;
  int64_t deadline_ms = 0;  // kDeadline: absolute ms

  static Ttl Persist() { return {}; }             // SET, GETSET, MSET: the key becomes persistent
  static Ttl Keep() { return {Kind::kKeep, 0}; }  // SET KEEPTTL (APPEND and the like)
  static Ttl At(int64_t deadline_ms) { return {Kind::kDeadline, deadline_ms}; }
};

// Replaces whatever the key holds (any type) with a string, and its TTL as
// `ttl` says. A deadline already passed deletes the key (Redis's lazy expiry
// would, at once).
void WriteString(CommandContext& ctx, const std::string& key, const std::string& value, Ttl ttl) {
  const crdt::Hlc now = ctx.partitions.Now();
  const bool gone = ttl.kind == Ttl::Kind::kDeadline && ttl.deadline_ms < ctx.partitions.NowMs();
  Mutate(ctx, key, [&](crdt::DeltaBuilder& b) {
    if (gone) {
      crdt::DeleteKey(b, key);
      return;
    }
    crdt::ClaimKey(b, key, ValueType::kString);
    switch (ttl.kind) {
      case Ttl::Kind::kPersist:
        crdt::ClearExpiry(b, key);
        crdt::SetScalar(b, StringRef(key), now, value, crdt::TtlEffect::kClear);
        break;
      case Ttl::Kind::kKeep:
        crdt::SetScalar(b, StringRef(key), now, value, crdt::TtlEffect::kKeep);
        break;
      case Ttl::Kind::kDeadline:
        crdt::ClearExpiry(b, key);
        crdt::SetScalar(b, StringRef(key), now, value, crdt::TtlEffect::kReplace);
        crdt::SetDeadline(b, key, ttl.deadline_ms);
        break;
    }
  });
}

// The options of SET (kSet) and GETEX (kGetEx), parsed as Redis 7.0's
// parseExtendedStringArgumentsOrReply does: each option once its conflicting
// ones are absent, the last of a repeated one winning.
struct StringOptions {
  bool nx = false, xx = false, get = false, keepttl = false, persist = false;
  const std::string* ttl_value = nullptr;  // the EX/PX/EXAT/PXAT argument
  TtlUnit ttl_unit;
};
enum class OptionsOf : uint8_t { kSet, kGetEx };

std::optional<StringOptions> ParseStringOptions(CommandContext& ctx, const Args& args, size_t first,
                                                OptionsOf command) {
  StringOptions o;
  const bool set = command == OptionsOf::kSet;
  for (size_t i = first; i < args.size(); ++i) {
    const std::string& opt = args[i];
    const bool has_next = i + 1 < args.size();
    const bool no_ttl_yet = o.ttl_value == nullptr && !o.keepttl && !o.persist;
    auto ttl_option = [&](const char* name, TtlUnit unit) {
      if (!EqualsIgnoreCase(opt, name) || !has_next) return false;
      // The same option may repeat (EX 1 EX 2); another TTL option may not.
      if (!no_ttl_yet && !(o.ttl_value != nullptr && o.ttl_unit.seconds == unit.seconds &&
                           o.ttl_unit.relative == unit.relative)) {
        return false;
      }
      o.ttl_value = &args[++i];
      o.ttl_unit = unit;
      return true;
    };
    if (set && EqualsIgnoreCase(opt, "nx") && !o.xx) {
      o.nx = true;
    } else if (set && EqualsIgnoreCase(opt, "xx") && !o.nx) {
      o.xx = true;
    } else if (set && EqualsIgnoreCase(opt, "get")) {
      o.get = true;
    } else if (set && EqualsIgnoreCase(opt, "keepttl") && !o.persist && o.ttl_value == nullptr) {
      o.keepttl = true;
    } else if (!set && EqualsIgnoreCase(opt, "persist") && !o.keepttl && o.ttl_value == nullptr) {
      o.persist = true;
    } else if (ttl_option("ex", {.seconds = true, .relative = true}) ||
               ttl_option("px", {.seconds = false, .relative = true}) ||
               ttl_option("exat", {.seconds = true, .relative = false}) ||
               ttl_option("pxat", {.seconds = false, .relative = false})) {
      continue;
    } else {
      ctx.reply.Error(errors::kSyntax);
      return std::nullopt;
    }
  }
  return o;
}

void IncrementBy(CommandContext& ctx, const std::string& key, int64_t by) {
  if (!CheckType(ctx, key, ValueType::kString)) return;
  const auto result = CheckedIncrement(ctx, crdt::ReadScalar(StateOf(ctx, key), StringRef(key)), by,
                                       errors::kNotInteger);
  if (!result) return;
  Mutate(ctx, key, [&](crdt::DeltaBuilder& b) { crdt::IncrementScalar(b, StringRef(key), by); });
  ctx.reply.Integer(*result);
}

}  // namespace

void CmdGet(CommandContext& ctx, const Args& args) {
  if (!CheckType(ctx, args[1], ValueType::kString)) return;
  ReplyScalar(ctx, crdt::ReadScalar(StateOf(ctx, args[1]), StringRef(args[1])));
}

// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]
void CmdSet(CommandContext& ctx, const Args& args) {
  auto o = ParseStringOptions(ctx, args, 3, OptionsOf::kSet);
  if (!o) return;
  Ttl ttl = o->keepttl ? Ttl::Keep() : Ttl::Persist();
  if (o->ttl_value != nullptr) {
    auto deadline = SetOptionDeadline(ctx, args, *o->ttl_value, o->ttl_unit);
    if (!deadline) return;
    ttl = Ttl::At(*deadline);
  }
  const std::string& key = args[1];
  const ValueType type = crdt::VisibleType(StateOf(ctx, key), key);
  if (o->get && type != ValueType::kString && type != ValueType::kNone) {
    return ctx.reply.Error(errors::kWrongType);
  }
  const crdt::ScalarValue old =
      o->get ? crdt::ReadScalar(StateOf(ctx, key), StringRef(key)) : crdt::ScalarValue{};
  const bool exists = type != ValueType::kNone;
  if ((o->nx && exists) || (o->xx && !exists)) {
    return o->get ? ReplyScalar(ctx, old) : ctx.reply.Null();
  }
  WriteString(ctx, key, args[2], ttl);
  if (o->get) {
    ReplyScalar(ctx, old);
  } else {
    ctx.reply.Simple("OK");
  }
}

void CmdGetSet(CommandContext& ctx, const Args& args) {
  if (!CheckType(ctx, args[1], ValueType::kString)) return;
  const crdt::ScalarValue old = crdt::ReadScalar(StateOf(ctx, args[1]), StringRef(args[1]));
  WriteString(ctx, args[1], args[2], Ttl::Persist());
  ReplyScalar(ctx, old);
}

void CmdMSet(CommandContext& ctx, const Args& args) {
  if (args.size() % 2 != 1) {
    return ctx.reply.Error("ERR wrong number of arguments for 'mset' command");
  }
  for (size_t i = 1; i + 1 < args.size(); i += 2) {
    WriteString(ctx, args[i], args[i + 1], Ttl::Persist());
  }
  ctx.reply.Simple("OK");
}

void CmdMGet(CommandContext& ctx, const Args& args) {
  ctx.reply.ArrayHeader(args.size() - 1);
  for (size_t i = 1; i < args.size(); ++i) {
    const crdt::LiveView state = StateOf(ctx, args[i]);
    if (crdt::VisibleType(state, args[i]) != ValueType::kString) {
      ctx.reply.Null();  // Redis: MGET answers nil for a key of another type
    } else {
      ReplyScalar(ctx, crdt::ReadScalar(state, StringRef(args[i])));
    }
  }
}

void CmdStrLen(CommandContext& ctx, const Args& args) {
  if (!CheckType(ctx, args[1], ValueType::kString)) return;
  const crdt::ScalarValue v = crdt::ReadScalar(StateOf(ctx, args[1]), StringRef(args[1]));
  ctx.reply.Integer(v.present() ? static_cast<int64_t>(v.ToBytes().size()) : 0);
}

void CmdIncr(CommandContext& ctx, const Args& args) { IncrementBy(ctx, args[1], 1); }
void CmdDecr(CommandContext& ctx, const Args& args) { IncrementBy(ctx, args[1], -1); }

void CmdIncrBy(CommandContext& ctx, const Args& args) {
  if (auto by = IntegerArg(ctx, args[2])) IncrementBy(ctx, args[1], *by);
}

void CmdDecrBy(CommandContext& ctx, const Args& args) {
  auto by = IntegerArg(ctx, args[2]);
  if (!by) return;
  if (*by == INT64_MIN) return ctx.reply.Error("ERR decrement would overflow");
  IncrementBy(ctx, args[1], -*by);
}

namespace {
// SETEX key seconds value / PSETEX key ms value
void SetWithTtl(CommandContext& ctx, const Args& args, bool seconds) {
  auto deadline = SetOptionDeadline(ctx, args, args[2], {.seconds = seconds, .relative = true});
  if (!deadline) return;
  WriteString(ctx, args[1], args[3], Ttl::At(*deadline));
  ctx.reply.Simple("OK");
}
}  // namespace

void CmdSetEx(CommandContext& ctx, const Args& args) { SetWithTtl(ctx, args, true); }
void CmdPSetEx(CommandContext& ctx, const Args& args) { SetWithTtl(ctx, args, false); }

// SETNX key value -> 1 if set, 0 if the key exists (any type)
void CmdSetNx(CommandContext& ctx, const Args& args) {
  if (crdt::VisibleType(StateOf(ctx, args[1]), args[1]) != ValueType::kNone) {
    return ctx.reply.Integer(0);
  }
  WriteString(ctx, args[1], args[2], Ttl::Persist());
  ctx.reply.Integer(1);
}

// GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST]: the value, and a new
// TTL. As in Redis 7.0 a missing key answers nil before the TTL is checked.
void CmdGetEx(CommandContext& ctx, const Args& args) {
  auto o = ParseStringOptions(ctx, args, 2, OptionsOf::kGetEx);
  if (!o) return;
  const std::string& key = args[1];
  if (!CheckType(ctx, key, ValueType::kString)) return;
  const crdt::ScalarValue value = crdt::ReadScalar(StateOf(ctx, key), StringRef(key));
  if (!value.present()) return ctx.reply.Null();
  std::optional<int64_t> deadline;
  if (o->ttl_value != nullptr) {
    deadline = SetOptionDeadline(ctx, args, *o->ttl_value, o->ttl_unit);
    if (!deadline) return;
  }
  ReplyScalar(ctx, value);
  if (!deadline && !o->persist) return;
  const int64_t now_ms = ctx.partitions.NowMs();
  Mutate(ctx, key, [&](crdt::DeltaBuilder& b) {
    if (!deadline) {
      crdt::Persist(b, key);
    } else if (!o->ttl_unit.relative && *deadline <= now_ms) {
      crdt::DeleteKey(b, key);  // EXAT/PXAT in the past: Redis deletes the key
    } else {
      crdt::SetDeadline(b, key, *deadline);
    }
  });
}

// GETDEL key: the value, and the key deleted.
void CmdGetDel(CommandContext& ctx, const Args& args) {
  const std::string& key = args[1];
  if (!CheckType(ctx, key, ValueType::kString)) return;
  const crdt::ScalarValue value = crdt::ReadScalar(StateOf(ctx, key), StringRef(key));
  if (value.present()) {
    Mutate(ctx, key, [&](crdt::DeltaBuilder& b) { crdt::DeleteKey(b, key); });
  }
  ReplyScalar(ctx, value);
}

}  // namespace geokv::replica

// Read-modify-write string commands (MSETNX APPEND SETRANGE GETRANGE SUBSTR
// LCS). APPEND and SETRANGE write a new register value: concurrent ones
// resolve as concurrent SETs (the greater (HLC, replica) wins on the whole
// value; docs/crdt.md).
namespace geokv::replica {

// MSETNX key value [key value ...]: all or nothing.
void CmdMSetNx(CommandContext& ctx, const Args& args) {
  if (args.size() % 2 != 1) {
    return ctx.reply.Error("ERR wrong number of arguments for 'msetnx' command");
  }
  for (size_t i = 1; i < args.size(); i += 2) {
    if (crdt::VisibleType(StateOf(ctx, args[i]), args[i]) != crdt::ValueType::kNone) {
      return ctx.reply.Integer(0);
    }
  }
  for (size_t i = 1; i + 1 < args.size(); i += 2) {
    ReplaceString(ctx, args[i], args[i + 1], crdt::TtlEffect::kClear);
  }
  ctx.reply.Integer(1);
}

// APPEND key value
void CmdAppend(CommandContext& ctx, const Args& args) {
  if (!CheckType(ctx, args[1], crdt::ValueType::kString)) return;
  std::string value = ReadString(ctx, args[1]);
  if (value.size() + args[2].size() > kStringBytesMax)
    return ctx.reply.Error(errors::kStringTooLong);
  value += args[2];
  const auto length = static_cast<int64_t>(value.size());
  ReplaceString(ctx, args[1], std::move(value), crdt::TtlEffect::kKeep);
  ctx.reply.Integer(length);
}

// SETRANGE key offset value
void CmdSetRange(CommandContext& ctx, const Args& args) {
  auto offset = IntegerArg(ctx, args[2]);
  if (!offset) return;
  if (*offset < 0) return ctx.reply.Error(errors::kOffsetRange);
  auto type = CheckType(ctx, args[1], crdt::ValueType::kString);
  if (!type) return;
  std::string value = ReadString(ctx, args[1]);
  const std::string& patch = args[3];
  // Nothing to write: Redis creates no key and answers the current length.
  if (patch.empty()) return ctx.reply.Integer(static_cast<int64_t>(value.size()));
  if (static_cast<uint64_t>(*offset) + patch.size() > kStringBytesMax) {
    return ctx.reply.Error(errors::kStringTooLong);
  }
  const size_t at = static_cast<size_t>(*offset);
  if (value.size() < at + patch.size()) value.resize(at + patch.size(), '\0');
  value.replace(at, patch.size(), patch);
  const auto length = static_cast<int64_t>(value.size());
  ReplaceString(ctx, args[1], std::move(value), crdt::TtlEffect::kKeep);
  ctx.reply.Integer(length);
}

// GETRANGE key start end (and its old name SUBSTR)
void CmdGetRange(CommandContext& ctx, const Args& args) {
  auto start = IntegerArg(ctx, args[2]);
  if (!start) return;
  auto end = IntegerArg(ctx, args[3]);
  if (!end || !CheckType(ctx, args[1], crdt::ValueType::kString)) return;
  const std::string value = ReadString(ctx, args[1]);
  const auto length = static_cast<int64_t>(value.size());
  if (*start < 0 && *end < 0 && *start > *end) return ctx.reply.Bulk("");
  int64_t first = *start < 0 ? length + *start : *start;
  int64_t last = *end < 0 ? length + *end : *end;
  first = std::max<int64_t>(first, 0);
  last = std::max<int64_t>(last, 0);
  if (last >= length) last = length - 1;
  if (first > last || length == 0) return ctx.reply.Bulk("");
  ctx.reply.Bulk(std::string_view(value).substr(static_cast<size_t>(first),
                                                static_cast<size_t>(last - first + 1)));
}

// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: Redis's dynamic
// programme, walked back the same way so that IDX lists the same matches.
void CmdLcs(CommandContext& ctx, const Args& args) {
  for (int i = 1; i <= 2; ++i) {
    const auto type = crdt::VisibleType(StateOf(ctx, args[i]), args[i]);
    if (type != crdt::ValueType::kNone && type != crdt::ValueType::kString) {
      return ctx.reply.Error(errors::kLcsNotStrings);
    }
  }
  const std::string a = ReadString(ctx, args[1]), b = ReadString(ctx, args[2]);
  bool get_len = false, get_idx = false, with_match_len = false;
  int64_t min_match_len = 0;
  for (size_t j = 3; j < args.size(); ++j) {
    if (EqualsIgnoreCase(args[j], "idx")) {
      get_idx = true;
    } else if (EqualsIgnoreCase(args[j], "len")) {
      get_len = true;
    } else if (EqualsIgnoreCase(args[j], "withmatchlen")) {
      with_match_len = true;
    } else if (EqualsIgnoreCase(args[j], "minmatchlen") && j + 1 < args.size()) {
      auto n = IntegerArg(ctx, args[++j]);
      if (!n) return;
      min_match_len = std::max<int64_t>(*n, 0);
    } else {
      return ctx.reply.Error(errors::kSyntax);
    }
  }
  if (get_idx && get_len) {
    return ctx.reply.Error(errors::kLcsLenAndIdx);
  }
  const uint64_t cells = (uint64_t{a.size()} + 1) * (uint64_t{b.size()} + 1);
  if (cells * sizeof(uint32_t) > kStringBytesMax) {
    return ctx.reply.Error(errors::kLcsTooLarge);
  }
  const size_t alen = a.size(), blen = b.size();
  std::vector<uint32_t> table(cells, 0);
  const auto at = [&](size_t i, size_t j) -> uint32_t& { return table[j + i * (blen + 1)]; };
  for (size_t i = 1; i <= alen; ++i) {
    for (size_t j = 1; j <= blen; ++j) {
      at(i, j) = a[i - 1] == b[j - 1] ? at(i - 1, j - 1) + 1 : std::max(at(i - 1, j), at(i, j - 1));
    }
  }
  const uint32_t total = at(alen, blen);
  if (get_len) return ctx.reply.Integer(total);
  std::string common(total, '\0');
  struct Match {
    size_t a_start, a_end, b_start, b_end;
  };
  std::vector<Match> matches;
  size_t idx = total, i = alen, j = blen;
  size_t a_start = alen, a_end = 0, b_start = 0, b_end = 0;  // a_start == alen: no range
  while (i > 0 && j > 0) {
    bool emit = false;
    if (a[i - 1] == b[j - 1]) {
      common[idx - 1] = a[i - 1];
      if (a_start == alen) {
        a_start = a_end = i - 1;
        b_start = b_end = j - 1;
      } else if (a_start == i && b_start == j) {
        --a_start;
        --b_start;
      } else {
        emit = true;
      }
      if (a_start == 0 || b_start == 0) emit = true;
      --idx;
      --i;
      --j;
    } else {
      if (at(i - 1, j) > at(i, j - 1)) {
        --i;
      } else {
        --j;
      }
      if (a_start != alen) emit = true;
    }
    if (emit) {
      const size_t match_len = a_end - a_start + 1;
      if (min_match_len == 0 || match_len >= static_cast<uint64_t>(min_match_len)) {
        matches.push_back(Match{a_start, a_end, b_start, b_end});
      }
      a_start = alen;
    }
  }
  if (!get_idx) return ctx.reply.Bulk(common);
  ctx.reply.MapHeader(2);
  ctx.reply.Bulk("matches");
  ctx.reply.ArrayHeader(matches.size());
  for (const Match& m : matches) {
    ctx.reply.ArrayHeader(with_match_len ? 3 : 2);
    ctx.reply.ArrayHeader(2);
    ctx.reply.Integer(static_cast<int64_t>(m.a_start));
    ctx.reply.Integer(static_cast<int64_t>(m.a_end));
    ctx.reply.ArrayHeader(2);
    ctx.reply.Integer(static_cast<int64_t>(m.b_start));
    ctx.reply.Integer(static_cast<int64_t>(m.b_end));
    if (with_match_len) ctx.reply.Integer(static_cast<int64_t>(m.a_end - m.a_start + 1));
  }
  ctx.reply.Bulk("len");
  ctx.reply.Integer(total);
}

// INCRBYFLOAT key increment: a counter step, exact (crdt/decimal.h), so that
// concurrent float increments add up to identical bytes on every replica.
void CmdIncrByFloat(CommandContext& ctx, const Args& args) {
  const std::string& key = args[1];
  if (!CheckType(ctx, key, crdt::ValueType::kString)) return;
  // A bad increment and a current value that is not a float get the same
  // error in Redis, so the order of the two checks does not show.
  auto by = FloatArg(ctx, args[2]);
  if (!by) return;
  const crdt::ScalarRef ref{key, std::nullopt};
  auto step = CheckedFloatIncrement(ctx, StateOf(ctx, key), ref, *by, errors::kNotFloat);
  if (!step) return;
  const crdt::Hlc now = ctx.partitions.Now();
  Mutate(ctx, key, [&](crdt::DeltaBuilder& b) {
    if (step->rewrite) {
      crdt::ClaimKey(b, key, crdt::ValueType::kString);
      crdt::SetScalar(b, ref, now, step->reply);
    } else {
      crdt::IncrementScalarDecimal(b, ref, step->delta);
    }
  });
  ctx.reply.Bulk(step->reply);
}

}  // namespace geokv::replica
