#include "crdt/or_set.h"

#include "crdt/key_type.h"

namespace geokv::crdt {

namespace {
Scope MemberScope(std::string_view key, std::string_view member) {
  return Scope::Field(std::string(key), Bit(Slot::kMember), std::string(member));
}
}  // namespace

void AddMember(DeltaBuilder& builder, std::string_view key, std::string_view member) {
  ClaimKey(builder, key, ValueType::kSet);
  builder.RemoveObserved(MemberScope(key, member));
  builder.Add(Path{std::string(key), Slot::kMember, std::string(member)}, Atom{});
}

bool RemoveMember(DeltaBuilder& builder, std::string_view key, std::string_view member) {
  ClaimKey(builder, key, ValueType::kSet);
  return builder.RemoveObserved(MemberScope(key, member)) > 0;
}

bool IsMember(const StateView& state, std::string_view key, std::string_view member) {
  bool found = false;
  state.Scan(MemberScope(key, member), [&](const Path&, const Atom&) {
    found = true;
    return false;
  });
  return found;
}

std::vector<std::string> Members(const StateView& state, std::string_view key) {
  std::vector<std::string> members;
  state.Scan(Scope::Key(std::string(key), Bit(Slot::kMember)), [&](const Path& path, const Atom&) {
    if (members.empty() || members.back() != path.field) members.push_back(path.field);
    return true;
  });
  return members;
}

size_t Cardinality(const StateView& state, std::string_view key) {
  // Atoms come ordered by member; a member with concurrent adds has several.
  size_t n = 0;
  std::string last;
  state.Scan(Scope::Key(std::string(key), Bit(Slot::kMember)), [&](const Path& path, const Atom&) {
    if (n == 0 || path.field != last) {
      last = path.field;
      ++n;
    }
    return true;
  });
  return n;
}

}  // namespace geokv::crdt
