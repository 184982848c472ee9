#include "replica/node/hints.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>

#include "crdt/codec.h"
#include "crdt/memory_state.h"
#include "replica/commands/command_util.h"
#include "replica/resp/resp_writer.h"

namespace geokv::replica {

namespace {

uint64_t SteadyMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// The partitions a hint is built against: empty states whose context holds
// the origin's dots issued so far (so DeltaBuilder numbers after them), and
// whose commits are kept, not applied: a second write to the same key in one
// command (MSET k a k b) then removes nothing either.
class HintPartitions final : public Partitions {
 public:
  HintPartitions(Partitions& base, crdt::ReplicaId origin,
                 const std::map<uint32_t, uint64_t>& next_seq)
      : base_(base), origin_(origin), next_seq_(next_seq) {}

  std::vector<std::pair<uint32_t, crdt::Delta>> TakeDeltas() { return std::move(deltas_); }

  uint32_t PartitionOf(std::string_view key) const override { return base_.PartitionOf(key); }
  bool Holds(uint32_t) const override { return true; }
  std::vector<uint32_t> HeldPartitions() const override { return {}; }
  std::vector<std::string> PreferenceList(uint32_t) const override { return {}; }
  crdt::MutableState& State(uint32_t p) override {
    auto [it, added] = states_.try_emplace(p);
    if (added) {
      auto next = next_seq_.find(p);
      if (next != next_seq_.end() && next->second > 1) {
        crdt::DotContext issued;
        issued.InsertRange(origin_, 1, next->second - 1);
        it->second.JoinContext(issued);
      }
    }
    return it->second;
  }
  void Commit(uint32_t p, const crdt::Delta& delta) override {
    crdt::DotContext dots;
    dots.InsertRange(origin_, delta.first, delta.last);
    State(p).JoinContext(dots);
    deltas_.emplace_back(p, delta);
  }
  void ForEachKey(uint32_t, const std::function<bool(const std::string&)>&) override {}
  std::vector<std::string> ScanKeys(uint32_t, const std::optional<std::string>&, size_t) override {
    return {};
  }
  size_t KeyCount(uint32_t) override { return 0; }
  crdt::ReplicaId self() const override { return origin_; }
  crdt::Hlc Now() override { return base_.Now(); }
  int64_t NowMs() override { return base_.NowMs(); }

 private:
  Partitions& base_;
  crdt::ReplicaId origin_;
  const std::map<uint32_t, uint64_t>& next_seq_;
  std::map<uint32_t, crdt::MemoryState> states_;
  std::vector<std::pair<uint32_t, crdt::Delta>> deltas_;
};

}  // namespace

Hints::Hints(std::unique_ptr<storage::HintStore> store, crdt::ReplicaId origin,
             boost::asio::io_context& io, Forwarder& forwarder, ReplicasOf replicas_of)
    : store_(std::move(store)),
      origin_(origin),
      io_(io),
      forwarder_(forwarder),
      replicas_of_(std::move(replicas_of)),
      timer_(io) {}

Hints::~Hints() { *alive_ = false; }

crdt::ReplicaId Hints::HintOrigin(const std::string& node_id, uint64_t incarnation) {
  const std::string text = "hint/" + node_id + "/" + std::to_string(incarnation);
  return XXH64(text.data(), text.size(), 0);
}

bool Hints::Hintable(const CommandSpec& spec, const Args& args) {
  const std::string_view name = spec.name;
  if (name == "setex" || name == "psetex" || name == "mset") return true;
  if (name != "set") return false;
  // Only a TTL may come with it: NX/XX/GET/KEEPTTL read the state.
  for (size_t i = 3; i < args.size(); ++i) {
    const std::string& opt = args[i];
    const bool ttl = EqualsIgnoreCase(opt, "ex") || EqualsIgnoreCase(opt, "px") ||
                     EqualsIgnoreCase(opt, "exat") || EqualsIgnoreCase(opt, "pxat");
    if (!ttl || i + 1 >= args.size()) return false;
    ++i;
  }
  return true;
}

Hints::Kept Hints::Keep(DataHandler handler, const Args& args, Partitions& base, int protocol) {
  HintPartitions partitions(base, origin_, next_seq_);
  std::string out;
  RespWriter writer(&out, protocol);
  CommandContext ctx{partitions, writer};
  handler(ctx, args);
  std::vector<std::pair<uint32_t, crdt::Delta>> deltas = partitions.TakeDeltas();
  // Every dot taken is spent, kept or not: never issued twice.
  for (const auto& [p, d] : deltas) next_seq_[p] = std::max(next_seq_[p], d.last + 1);
  if (!out.empty() && out[0] == '-') return {std::move(out), {}};  // a syntax error: as it is
  // Nothing to add (a SET with a deadline already passed deletes): not a hint.
  if (deltas.empty()) return {};
  std::vector<std::pair<uint32_t, std::string>> encoded;
  for (const auto& [p, d] : deltas) encoded.emplace_back(p, crdt::EncodeDelta(d));
  Result<std::vector<uint64_t>> kept =
      store_->Add(std::move(encoded), static_cast<uint64_t>(base.NowMs()));
  if (!kept.ok()) {
    if (kept.status().code() == Status::Code::kBusy) {
      over_limit_.fetch_add(1, std::memory_order_relaxed);
      return {ErrorReply("TRYAGAIN no replica of the key's partition is reachable, and this node "
                         "keeps as many hints as it may (--hint-max-bytes, --hint-max-count)"),
              {}};
    }
    spdlog::error("hint not kept: {}", kept.status().message());
    return {ErrorReply("TRYAGAIN no replica of the key's partition is reachable, and keeping a "
                       "hint failed: " +
                       kept.status().message()),
            {}};
  }
  std::vector<uint64_t> ids = std::move(*kept);
  const uint64_t total = kept_.fetch_add(ids.size(), std::memory_order_relaxed) + ids.size();
  if (total == ids.size() || total / 1000 != (total - ids.size()) / 1000) {
    spdlog::info(
        "keeping writes as hints: no replica of partition {} reachable ({} hints kept "
        "since start, {} waiting)",
        deltas.front().first, total, store_->count());
  }
  return {std::move(out), std::move(ids)};
}

void Hints::Start() { Schedule(); }

void Hints::Schedule() {
  timer_.expires_after(std::chrono::milliseconds(kTickMs));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    Tick();
    Schedule();
  });
}

void Hints::Tick() {
  const uint64_t now = SteadyMs();
  const std::vector<storage::StoredHint> batch = store_->After(cursor_, kHintsPerTickMax);
  cursor_ = batch.size() < kHintsPerTickMax ? 0 : batch.back().id;
  size_t done = 0;
  for (const storage::StoredHint& hint : batch) {
    const Owners owners = replicas_of_(hint.partition);
    const std::vector<ForwardTarget>& targets = owners.targets;
    auto acked = [&](const ForwardTarget& t) {
      return hint.acked.contains(AckKey(t.node_id, owners.epoch));
    };
    if (std::all_of(targets.begin(), targets.end(), acked)) {
      if (Status s = store_->Remove(hint.id); !s.ok()) {
        spdlog::error("hint {} handed off but not deleted: {}", hint.id, s.message());
        continue;
      }
      handed_off_.fetch_add(1, std::memory_order_relaxed);
      ++done;
      continue;
    }
    for (const ForwardTarget& t : targets) {
      if (in_flight_.size() >= kSendsInFlightMax) break;
      if (acked(t) || in_flight_.contains({hint.id, t.node_id})) continue;
      if (backoff_[t.node_id].next_ms > now) continue;
      Send(hint, t, owners.epoch);
    }
  }
  if (done > 0) {
    spdlog::info("handed off {} hints to every replica of their partitions ({} waiting)", done,
                 store_->count());
  }
}

std::string Hints::AckKey(const std::string& node_id, uint64_t epoch) {
  return node_id + "@" + std::to_string(epoch);
}

void Hints::Send(const storage::StoredHint& hint, const ForwardTarget& target, uint64_t epoch) {
  in_flight_.insert({hint.id, target.node_id});
  sends_.fetch_add(1, std::memory_order_relaxed);
  Args args = {"GEOKV.HINT", std::to_string(hint.partition), hint.delta, std::to_string(epoch)};
  forwarder_.Forward(
      target, args, kResp2,
      [this, alive = alive_, id = hint.id, node = target.node_id, epoch](std::string r) {
        if (!*alive) return;
        in_flight_.erase({id, node});
        Backoff& b = backoff_[node];
        const bool refused = r.starts_with("-ERR hint refused");
        if (r == "+OK\r\n" || refused) {
          if (refused) {
            // Malformed for that replica: it will never take it. Asking again
            // forever would only hold the hint; the log says which one.
            refused_.fetch_add(1, std::memory_order_relaxed);
            spdlog::warn("hint {} refused by {}: {}", id, node, r.substr(1, r.size() - 3));
          }
          b = {};
          if (Status s = store_->Ack(id, AckKey(node, epoch)); !s.ok()) {
            spdlog::error("hint {}: acknowledgement of {} not recorded: {}", id, node, s.message());
          }
          return;
        }
        send_failures_.fetch_add(1, std::memory_order_relaxed);
        b.delay_ms = std::clamp(b.delay_ms * 2, kBackoffMinMs, kBackoffMaxMs);
        b.next_ms = SteadyMs() + b.delay_ms;
      });
}

void Hints::WhenHandedOff(std::vector<uint64_t> ids, int64_t timeout_ms,
                          std::function<void(bool)> done) {
  const uint64_t deadline =
      timeout_ms > 0 ? SteadyMs() + static_cast<uint64_t>(timeout_ms) : UINT64_MAX;
  Poll(std::make_shared<HandoffWait>(std::move(ids), deadline, io_, std::move(done)));
}

void Hints::Poll(std::shared_ptr<HandoffWait> wait) {
  if (std::none_of(wait->ids.begin(), wait->ids.end(), [&](uint64_t id) { return Pending(id); })) {
    return wait->done(true);
  }
  const uint64_t now = SteadyMs();
  if (now >= wait->deadline_ms) return wait->done(false);
  wait->timer.expires_after(
      std::chrono::milliseconds(std::min<uint64_t>(50, wait->deadline_ms - now)));
  wait->timer.async_wait([this, alive = alive_, wait](boost::system::error_code) {
    if (*alive) Poll(wait);
  });
}

HintFigures Hints::Figures() const {
  HintFigures f;
  f.stored = store_->count();
  f.bytes = store_->bytes();
  f.kept = kept_.load(std::memory_order_relaxed);
  f.handed_off = handed_off_.load(std::memory_order_relaxed);
  f.sends = sends_.load(std::memory_order_relaxed);
  f.send_failures = send_failures_.load(std::memory_order_relaxed);
  f.refused = refused_.load(std::memory_order_relaxed);
  f.over_limit = over_limit_.load(std::memory_order_relaxed);
  return f;
}

}  // namespace geokv::replica
