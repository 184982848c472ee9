// Redo rows: what a group writes decodes to the same changes, compressed or
// plain, and a damaged compressed row is an error naming the row, never a crash.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "storage/redo.h"

namespace geokv::storage::internal {
namespace {

// A group's changes: `n` SET-like puts (key, value) with their log entries.
std::string Changes(int n) {
  RedoWriter w;
  for (int i = 0; i < n; ++i) {
    const std::string key = "key:" + std::to_string(100000 + i);
    crdt::Atom atom;
    atom.dot = crdt::Dot{0x1234567890abcdefULL, static_cast<uint64_t>(i + 1)};
    atom.first = atom.dot.counter;
    atom.bytes = "xxx";
    w.Put(3, crdt::Path{key, crdt::Slot::kRegister, ""}, atom);
    w.LogAppend(3, atom.dot.origin, atom.dot.counter, atom.dot.counter, "delta of " + key);
    w.Applied(3, atom.dot.origin, atom.dot.counter);
  }
  return w.Take();
}

std::vector<std::string> Keys(std::string_view blob, Status* status) {
  std::vector<std::string> keys;
  *status = ForEachRedo(7, blob, 64, [&](const RedoRecord& r) {
    if (r.op == RedoOp::kPut) keys.push_back(r.path.key);
    return Status::Ok();
  });
  return keys;
}

TEST_CASE("Redo: a compressed row decodes to the same changes as the plain one, and is smaller",
          "[unit]") {
  const std::string plain = Changes(50);
  const auto packed = CompressRedoRow(plain);
  REQUIRE(packed.has_value());
  CHECK(static_cast<uint8_t>((*packed)[0]) == kCompressedRedoTag);
  CHECK(packed->size() * 2 < plain.size());
  Status a, b;
  const auto from_plain = Keys(plain, &a);
  const auto from_packed = Keys(*packed, &b);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(from_plain.size() == 50);
  CHECK(from_packed == from_plain);
}

TEST_CASE("Redo: a small group stays plain", "[unit]") {
  RedoWriter w;
  w.Meta("n", "1");
  CHECK_FALSE(CompressRedoRow(w.Take()).has_value());
}

TEST_CASE("Redo: a damaged compressed row is Corrupt, naming the row", "[hostile]") {
  const auto packed = CompressRedoRow(Changes(20));
  REQUIRE(packed.has_value());
  std::vector<std::string> damaged;
  damaged.push_back(packed->substr(0, 3));                  // cut inside the length
  damaged.push_back(packed->substr(0, packed->size() / 2));  // cut inside the stream
  std::string flipped = *packed;
  flipped[flipped.size() / 2] ^= 0x5a;
  damaged.push_back(flipped);
  std::string huge = *packed;
  huge[4] = static_cast<char>(0x7f);  // claims more than 1 GiB
  damaged.push_back(huge);
  std::string longer = *packed;
  longer[1] = static_cast<char>(static_cast<uint8_t>(longer[1]) + 1);  // a wrong length
  damaged.push_back(longer);
  for (const std::string& row : damaged) {
    Status s;
    (void)Keys(row, &s);
    CHECK(s.code() == Status::Code::kCorrupt);
    CHECK(s.message().find("redo row 7") != std::string::npos);
  }
}

}  // namespace
}  // namespace geokv::storage::internal
