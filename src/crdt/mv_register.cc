#include "crdt/mv_register.h"

#include "crdt/codec.h"
#include "crdt/key_type.h"

namespace geokv::crdt {

namespace {
Scope SiblingScope(std::string_view key) {
  return Scope::Key(std::string(key), Bit(Slot::kMultiValue));
}
}  // namespace

MvSiblings MvGet(const StateView& state, std::string_view key) {
  MvSiblings out;
  state.Scan(SiblingScope(key), [&](const Path&, const Atom& atom) {
    out.values.push_back(atom.bytes);
    out.token.Insert(atom.dot);
    return true;
  });
  return out;
}

void MvSet(DeltaBuilder& builder, std::string_view key, std::string value,
           const DotContext* token) {
  ClaimKey(builder, key, ValueType::kMvRegister);
  if (token == nullptr) {
    builder.RemoveObserved(SiblingScope(key));
  } else {
    DotContext doomed;
    builder.state().Scan(SiblingScope(key), [&](const Path&, const Atom& atom) {
      if (token->Contains(atom.dot)) doomed.Insert(atom.dot);
      return true;
    });
    builder.RemoveDots(SiblingScope(key), doomed);
  }
  Atom atom;
  atom.bytes = std::move(value);
  builder.Add(Path{std::string(key), Slot::kMultiValue, ""}, std::move(atom));
}

std::string EncodeMvToken(const DotContext& token) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string raw = EncodeDotContext(token);
  std::string text;
  text.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    text.push_back(kHex[c >> 4]);
    text.push_back(kHex[c & 15]);
  }
  return text;
}

Result<DotContext> DecodeMvToken(std::string_view text) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (text.size() % 2 != 0) return Status::Invalid("invalid MV token");
  std::string raw;
  raw.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return Status::Invalid("invalid MV token");
    raw.push_back(static_cast<char>(hi << 4 | lo));
  }
  auto ctx = DecodeDotContext(raw);
  if (!ctx.ok()) return Status::Invalid("invalid MV token");
  return ctx;
}

}  // namespace geokv::crdt
