// storage_crash_writer: a child process for the storage tests.
//
//   storage_crash_writer write DB ROUND [ABORT_SLICE]   writes SETs of keys
//       "r<ROUND>-<i>" = "v<i>" (i = 0, 1, ...) as fast as group commit
//       allows, and after each acknowledged write prints "<i>\n" to stdout
//       (unbuffered), until killed. Checkpoints run often, in small slices, so
//       that a kill lands in one now and then; with ABORT_SLICE the process
//       aborts itself inside its ABORT_SLICE-th checkpoint transaction.
//   storage_crash_writer hold DB          opens DB, prints "ready\n", keeps it
//       open until stdin reaches end of file, exits 0.
//   storage_crash_writer open DB          opens and closes DB: exit 0, or the
//       error on stderr and exit 1.
//
// Every mode opens DB with kCrashPartitions partitions.
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "crdt/delta.h"
#include "crdt/hlc.h"
#include "crdt/join.h"
#include "crdt/scalar.h"
#include "storage/engine.h"

namespace {

using namespace geokv;

constexpr uint32_t kCrashPartitions = 8;
constexpr crdt::ReplicaId kSelf = 7;
constexpr size_t kMaxInFlight = 4096;

void WriteAll(const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, s.data() + done, s.size() - done);
    if (n <= 0) _exit(3);  // the parent went away
    done += static_cast<size_t>(n);
  }
}

std::unique_ptr<storage::Engine> OpenOrExit(const char* path, uint64_t abort_slice = 0) {
  storage::Options options;
  options.path = path;
  options.partitions = kCrashPartitions;
  options.checkpoint_redo_bytes = 128 << 10;
  options.checkpoint_slice_atoms = 300;
  options.testing_abort_in_checkpoint_slice = abort_slice;
  auto engine = storage::Engine::Open(options);
  if (!engine.ok()) {
    std::fprintf(stderr, "storage_crash_writer: %s\n", engine.status().message().c_str());
    std::exit(1);
  }
  return std::move(engine).value();
}

int Write(const char* path, const std::string& round, uint64_t abort_slice) {
  auto engine = OpenOrExit(path, abort_slice);
  crdt::HybridClock clock;  // used on the writer thread only
  std::mutex mu;
  std::condition_variable cv;
  size_t in_flight = 0;
  for (uint64_t i = 0;; ++i) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < kMaxInFlight; });
      ++in_flight;
    }
    const std::string key = "r" + round + "-" + std::to_string(i);
    const uint32_t p = static_cast<uint32_t>(i % kCrashPartitions);
    auto job = [key, p, i, &clock](storage::Transaction& txn) {
      crdt::MutableState& state = txn.Partition(p);
      crdt::DeltaBuilder builder(state, kSelf);
      crdt::SetScalar(builder, crdt::ScalarRef{key, std::nullopt}, clock.Now(),
                      "v" + std::to_string(i));
      const crdt::Delta delta = std::move(builder).Finish();
      crdt::ApplyDelta(state, delta);
      txn.AppendLog(p, delta);
      return Status::Ok();
    };
    auto done = [i, &mu, &cv, &in_flight](Status status) {
      if (!status.ok()) {
        std::fprintf(stderr, "storage_crash_writer: write failed: %s\n", status.message().c_str());
        _exit(2);
      }
      WriteAll(std::to_string(i) + "\n");
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
      cv.notify_one();
    };
    if (Status s = engine->Submit(job, done); !s.ok()) {
      std::fprintf(stderr, "storage_crash_writer: submit: %s\n", s.message().c_str());
      return 2;
    }
  }
}

int Hold(const char* path) {
  auto engine = OpenOrExit(path);
  WriteAll("ready\n");
  char buf[64];
  while (::read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if ((argc == 4 || argc == 5) && std::strcmp(argv[1], "write") == 0) {
    return Write(argv[2], argv[3], argc == 5 ? std::strtoull(argv[4], nullptr, 10) : 0);
  }
  if (argc == 3 && std::strcmp(argv[1], "hold") == 0) return Hold(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "open") == 0) {
    OpenOrExit(argv[2]);
    return 0;
  }
  std::fprintf(stderr, "usage: storage_crash_writer write DB ROUND [ABORT_SLICE] | hold DB | open DB\n");
  return 64;
}
