#include "replica/node/quorum.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <set>
#include <tuple>

#include "common/assert.h"
#include "crdt/codec.h"
#include "crdt/key_type.h"
#include "crdt/memory_state.h"
#include "replica/resp/resp_writer.h"

namespace geokv::replica {

namespace {

using SteadyClock = std::chrono::steady_clock;

double MsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
}

// What a node decodes from another (a key snapshot, a repair): no larger
// than a quorum read may fetch.
crdt::DecodeLimits FetchLimits() {
  crdt::DecodeLimits limits;
  limits.max_bytes = Quorum::kKeyLimits.bytes_max;
  limits.max_elements = Quorum::kKeyLimits.atoms_max;
  return limits;
}

constexpr std::string_view kTooLarge = "too large for a quorum read";

// An error reply's text without the leading '-' and the CRLF, cut short.
std::string ErrorText(const std::string& reply) {
  std::string text = reply.substr(0, 200);
  if (!text.empty() && (text[0] == '-' || text[0] == '!')) text.erase(0, 1);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

std::string ReceivingTransferError(uint32_t partition) {
  return "TRYAGAIN partition " + std::to_string(partition) +
         " is receiving a state transfer at this node";
}

}  // namespace

// One read at r > 1: the sources asked and answered. I/O thread only.
struct Quorum::ReadState {
  explicit ReadState(boost::asio::io_context& io) : timer(io) {}

  struct Source {
    ForwardTarget target;  // a remote source's
    bool local = false;
    crdt::ReplicaId replica = 0;
    std::map<uint32_t, crdt::Snapshot> snapshots;  // by partition
  };

  DataHandler handler = nullptr;
  Args args;
  ConsistencyLevel level;
  int protocol = kResp2;
  Reply reply;
  std::map<uint32_t, std::vector<std::string>> keys;  // by partition
  std::vector<Source> answered;
  std::vector<Candidate> candidates;  // remote nodes (Candidates)
  std::vector<bool> asked;            // by candidate
  // The datacenters of the sources answered or in flight: one source each.
  std::set<std::string> dcs_taken;
  size_t in_flight = 0;
  bool finished = false;
  std::string last_error;
  boost::asio::steady_timer timer;
};

// The read-only Partitions a quorum read's handler runs over: the join of the
// sources' snapshots, one MemoryState per partition of the command's keys.
class Quorum::ScratchPartitions final : public Partitions {
 public:
  ScratchPartitions(const Quorum& quorum, std::map<uint32_t, crdt::MemoryState>& states)
      : quorum_(quorum), states_(states) {}

  uint32_t PartitionOf(std::string_view key) const override {
    return quorum_.table_.PartitionOfKey(key);
  }
  bool Holds(uint32_t p) const override { return states_.contains(p); }
  std::vector<uint32_t> HeldPartitions() const override {
    std::vector<uint32_t> held;
    for (const auto& [p, state] : states_) held.push_back(p);
    return held;
  }
  std::vector<std::string> PreferenceList(uint32_t p) const override {
    const placement::PlacementTable& table = *quorum_.running_;
    std::vector<std::string> ids;
    for (uint32_t n : table.PreferenceList(p)) ids.push_back(table.topology().nodes()[n].id);
    return ids;
  }
  crdt::MutableState& State(uint32_t p) override {
    GEOKV_ASSERT(states_.contains(p));
    return states_.at(p);
  }
  void Commit(uint32_t, const crdt::Delta&) override {
    GEOKV_ASSERT(false && "a read-only command committed a delta");
  }
  void ForEachKey(uint32_t p, const std::function<bool(const std::string&)>& visit) override {
    for (const std::string& key : crdt::Keys(State(p))) {
      if (!visit(key)) return;
    }
  }
  std::vector<std::string> ScanKeys(uint32_t p, const std::optional<std::string>& after,
                                    size_t max_keys) override {
    std::vector<std::string> keys;
    for (const std::string& key : crdt::Keys(State(p))) {
      if (keys.size() >= max_keys) break;
      if (!after || key > *after) keys.push_back(key);
    }
    return keys;
  }
  size_t KeyCount(uint32_t p) override { return crdt::Keys(State(p)).size(); }
  crdt::ReplicaId self() const override {
    return quorum_.table_.topology().nodes()[quorum_.node_index_].replica_id;
  }
  // A read takes no timestamp; this one only keeps the interface total.
  crdt::Hlc Now() override { return crdt::Hlc::FromParts(crdt::HybridClock::SystemWallClock(), 0); }
  int64_t NowMs() override { return static_cast<int64_t>(crdt::HybridClock::SystemWallClock()); }

 private:
  const Quorum& quorum_;
  std::map<uint32_t, crdt::MemoryState>& states_;
};

Quorum::Quorum(const placement::PlacementTable& table, size_t node_index, storage::Engine& engine,
               boost::asio::io_context& io, Forwarder& forwarder, NodeStats& stats,
               std::function<void()> flush)
    : table_(table),
      node_index_(node_index),
      engine_(engine),
      io_(io),
      forwarder_(forwarder),
      stats_(stats),
      flush_(std::move(flush)) {
  held_.assign(table_.partitions(), false);
  for (uint32_t p : table_.PartitionsOfNode(node_index_)) held_[p] = true;
  auto start = std::make_shared<const placement::PlacementTable>(table_);
  Adopt(start, start);
}

Quorum::~Quorum() = default;

void Quorum::Adopt(std::shared_ptr<const placement::PlacementTable> running,
                   std::shared_ptr<const placement::PlacementTable> previous) {
  GEOKV_ASSERT(running->partitions() == table_.partitions());
  GEOKV_ASSERT(previous->partitions() == table_.partitions());
  running_ = std::move(running);
  previous_ = std::move(previous);
  partition_dcs_ = static_cast<uint32_t>(
      std::min<size_t>(running_->replicas(), running_->topology().datacenters().size()));
}

bool Quorum::Holds(uint32_t p) const {
  // With replication, what it serves now (a move may have changed it).
  return replication_ != nullptr ? replication_->serving()->Serves(p) : held_[p];
}

void Quorum::NoteRtt(const std::string& node_id, double sample_ms) {
  auto [it, fresh] = rtt_ms_.try_emplace(node_id, sample_ms);
  if (!fresh) it->second = 0.8 * it->second + 0.2 * sample_ms;
}

std::vector<Quorum::Candidate> Quorum::Candidates(const std::vector<uint32_t>& partitions,
                                                  bool local) const {
  const placement::Node& me = table_.topology().nodes()[node_index_];
  auto holds_all = [&](const placement::PlacementTable& t, const std::string& id) {
    const std::optional<size_t> n = t.topology().FindNode(id);
    return n && std::all_of(partitions.begin(), partitions.end(), [&](uint32_t p) {
             const auto list = t.PreferenceList(p);
             return std::find(list.begin(), list.end(), *n) != list.end();
           });
  };
  // Nearest first: up before down; then owners in both topologies, new
  // owners, old ones (a move hands a partition from the last to the second);
  // an unmeasured node before a measured one (so that each gets measured),
  // then by round trip; then preference order.
  using Rank = std::tuple<int, int, double, size_t>;
  std::vector<std::pair<Rank, Candidate>> ranked;
  const placement::PlacementTable* tables[2] = {running_.get(), previous_.get()};
  size_t position = 0;
  for (int t = 0; t < 2; ++t) {
    for (uint32_t n : tables[t]->PreferenceList(partitions.front())) {
      const placement::Node& node = tables[t]->topology().nodes()[n];
      ++position;
      if (node.id == me.id || !holds_all(*tables[t], node.id)) continue;
      if (std::any_of(ranked.begin(), ranked.end(),
                      [&](const auto& r) { return r.second.target.node_id == node.id; })) {
        continue;
      }
      const int group = holds_all(*tables[1 - t], node.id) ? 0 : 1 + t;
      const bool up = replication_ == nullptr || replication_->IsUp(node.replica_id);
      const auto rtt = rtt_ms_.find(node.id);
      ranked.push_back(
          {Rank{up ? 0 : 1, group, rtt == rtt_ms_.end() ? -1.0 : rtt->second, position},
           Candidate{{node.id, node.client.host, node.client.port}, node.replica_id, node.dc}});
    }
  }
  std::sort(ranked.begin(), ranked.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  // The best of each datacenter (not this node's if it serves them: it is
  // that datacenter's source), then the rest as replacements.
  std::vector<Candidate> out;
  std::vector<Candidate> rest;
  std::set<std::string> dcs;
  if (local) dcs.insert(me.dc);
  for (auto& [rank, c] : ranked) {
    (dcs.insert(c.dc).second ? out : rest).push_back(std::move(c));
  }
  for (Candidate& c : rest) out.push_back(std::move(c));
  return out;
}

void Quorum::Read(DataHandler handler, Args args, std::vector<uint32_t> partitions,
                  ConsistencyLevel level, int protocol, Reply reply) {
  GEOKV_ASSERT(level.read > 1);
  GEOKV_ASSERT(!partitions.empty());
  auto read = std::make_shared<ReadState>(io_);
  read->handler = handler;
  read->level = level;
  read->protocol = protocol;
  read->reply = std::move(reply);
  const CommandSpec* spec = FindCommand(args[0]);
  GEOKV_ASSERT(spec != nullptr);
  for (std::string_view key : CommandKeys(*spec, args)) {
    read->keys[table_.PartitionOfKey(key)].emplace_back(key);
  }
  read->args = std::move(args);
  std::sort(partitions.begin(), partitions.end());
  partitions.erase(std::unique(partitions.begin(), partitions.end()), partitions.end());
  const bool local =
      std::all_of(partitions.begin(), partitions.end(), [&](uint32_t p) { return Holds(p); });
  read->candidates = Candidates(partitions, local);
  read->asked.assign(read->candidates.size(), false);
  std::set<std::string> dcs;
  if (local) dcs.insert(table_.topology().nodes()[node_index_].dc);
  for (const Candidate& c : read->candidates) dcs.insert(c.dc);
  const size_t available = dcs.size();
  if (available < level.read) {
    stats_.noquorum_reads.fetch_add(1, std::memory_order_relaxed);
    return read->reply(ErrorReply("NOQUORUM READ " + std::to_string(level.read) + " needs " +
                                  std::to_string(level.read) + " datacenters holding the keys; " +
                                  std::to_string(available) + " hold them"));
  }
  read->timer.expires_after(std::chrono::milliseconds(level.timeout_ms));
  read->timer.async_wait([this, read](boost::system::error_code ec) {
    if (ec || read->finished) return;
    Finish(read, "");
  });
  if (local) AskLocal(read);
  for (size_t i = local ? 1 : 0; i < level.read; ++i) AskNext(read);
}

void Quorum::AskLocal(const std::shared_ptr<ReadState>& read) {
  ++read->in_flight;
  const std::string dc = table_.topology().nodes()[node_index_].dc;
  read->dcs_taken.insert(dc);
  // After the connection's queued writes (a pipelined SET before this read).
  flush_();
  auto source = std::make_shared<ReadState::Source>();
  source->local = true;
  source->replica = table_.topology().nodes()[node_index_].replica_id;
  auto error = std::make_shared<std::string>();
  auto body = [source, error, keys = read->keys](NodeReplication::Job& job) {
    for (const auto& [p, in_p] : keys) {
      if (job.ReceivingTransfer(p)) {
        *error = ReceivingTransferError(p);
        return;
      }
      auto snapshot = crdt::KeySnapshot(job.txn().Partition(p), in_p, kKeyLimits);
      if (!snapshot.ok()) {
        *error = "ERR " + snapshot.status().message();
        return;
      }
      source->snapshots[p] = std::move(*snapshot);
    }
  };
  auto done = [this, read, source, error, dc](Status status) {
    if (!status.ok() && error->empty()) *error = "ERR storage: " + status.message();
    boost::asio::post(io_, [this, read, source, error, dc] {
      --read->in_flight;
      if (!error->empty()) {
        read->dcs_taken.erase(dc);
        return OnSourceFailed(read, *error);
      }
      read->answered.push_back(std::move(*source));
      MaybeFinish(read);
    });
  };
  if (!NodeReplication::Submit(replication_, engine_, std::move(body), std::move(done)).ok()) {
    --read->in_flight;
    read->dcs_taken.erase(dc);
    OnSourceFailed(read, std::string(errors::kBusy));
  }
}

void Quorum::AskNext(const std::shared_ptr<ReadState>& read) {
  if (read->finished) return;
  // The first candidate not asked yet whose datacenter has no source.
  size_t i = 0;
  while (i < read->candidates.size() &&
         (read->asked[i] || read->dcs_taken.contains(read->candidates[i].dc))) {
    ++i;
  }
  if (i == read->candidates.size()) return;
  read->asked[i] = true;
  const Candidate& candidate = read->candidates[i];
  read->dcs_taken.insert(candidate.dc);
  ++read->in_flight;
  auto source = std::make_shared<ReadState::Source>();
  source->target = candidate.target;
  source->replica = candidate.replica;
  auto pending = std::make_shared<size_t>(read->keys.size());
  auto failed = std::make_shared<bool>(false);
  const auto sent = SteadyClock::now();
  for (const auto& [p, in_p] : read->keys) {
    Args args = {"GEOKV.ATOMS", std::to_string(p)};
    args.insert(args.end(), in_p.begin(), in_p.end());
    const uint32_t partition = p;
    forwarder_.Forward(
        source->target, args, read->protocol,
        [this, read, source, pending, failed, partition, dc = candidate.dc, sent](std::string r) {
          if (*failed) return;
          std::string why;
          if (const auto bytes = BulkReply(r)) {
            auto snapshot = crdt::DecodeSnapshot(*bytes, FetchLimits());
            if (snapshot.ok()) {
              source->snapshots[partition] = std::move(*snapshot);
            } else {
              why = "ERR malformed GEOKV.ATOMS answer from " + source->target.node_id + ": " +
                    snapshot.status().message();
            }
          } else {
            why = ErrorText(r);
          }
          if (!why.empty()) {
            *failed = true;
            NoteRtt(source->target.node_id,
                    std::max<double>(MsSince(sent), static_cast<double>(read->level.timeout_ms)));
            --read->in_flight;
            read->dcs_taken.erase(dc);
            return OnSourceFailed(read, why);
          }
          if (--*pending > 0) return;
          NoteRtt(source->target.node_id, MsSince(sent));
          --read->in_flight;
          if (read->finished) return;
          read->answered.push_back(std::move(*source));
          MaybeFinish(read);
        });
  }
}

void Quorum::OnSourceFailed(const std::shared_ptr<ReadState>& read, const std::string& why) {
  if (read->finished) return;
  // Too large is the key's, not the source's: no other source does better.
  if (why.find(kTooLarge) != std::string::npos) return Finish(read, ErrorReply(why));
  read->last_error = why;
  AskNext(read);  // in its place, if any is left (its failure may finish the read)
  if (!read->finished && read->in_flight == 0) Finish(read, "");
}

void Quorum::MaybeFinish(const std::shared_ptr<ReadState>& read) {
  if (!read->finished && read->answered.size() >= read->level.read) Answer(read);
}

void Quorum::Finish(const std::shared_ptr<ReadState>& read, std::string reply) {
  GEOKV_ASSERT(!read->finished);
  read->finished = true;
  read->timer.cancel();
  if (reply.empty()) {  // not enough sources answered
    stats_.noquorum_reads.fetch_add(1, std::memory_order_relaxed);
    std::string why = "NOQUORUM read answered by " + std::to_string(read->answered.size()) +
                      " of " + std::to_string(read->level.read) + " datacenters within " +
                      std::to_string(read->level.timeout_ms) + " ms";
    if (!read->last_error.empty()) why += " (last failure: " + read->last_error + ")";
    reply = ErrorReply(why);
  }
  read->reply(std::move(reply));
}

void Quorum::Answer(const std::shared_ptr<ReadState>& read) {
  std::map<uint32_t, crdt::MemoryState> joined;
  for (const ReadState::Source& source : read->answered) {
    for (const auto& [p, snapshot] : source.snapshots) crdt::JoinState(joined[p], snapshot);
  }
  std::string out;
  {
    ScratchPartitions view(*this, joined);
    RespWriter writer(&out, read->protocol);
    CommandContext ctx{view, writer};
    read->handler(ctx, read->args);
  }
  stats_.quorum_reads.fetch_add(1, std::memory_order_relaxed);
  Finish(read, std::move(out));
  std::map<uint32_t, crdt::Snapshot> all;
  for (const auto& [p, state] : joined) all[p] = crdt::TakeSnapshot(state);
  SendRepairs(read, all);
}

void Quorum::SendRepairs(const std::shared_ptr<ReadState>& read,
                         const std::map<uint32_t, crdt::Snapshot>& joined) {
  for (const ReadState::Source& source : read->answered) {
    for (const auto& [p, snapshot] : source.snapshots) {
      crdt::Snapshot repair = crdt::RepairFor(joined.at(p), snapshot.context, source.replica);
      if (repair.atoms.empty()) continue;
      stats_.read_repairs.fetch_add(1, std::memory_order_relaxed);
      if (source.local) {
        RepairLocal(p, std::move(repair), [](std::string) {});
      } else {
        forwarder_.Forward(source.target,
                           {"GEOKV.REPAIR", std::to_string(p), crdt::EncodeSnapshot(repair)},
                           kResp2, [](std::string) {});
      }
    }
  }
}

void Quorum::SettleWrite(std::string_view waited, ConsistencyLevel level, std::string output,
                         const Reply& reply) {
  // `waited`: how many datacenters besides the one that ran the write applied
  // it (WAIT's, or GEOKV.WAITOWN's, reply), or why that is not known.
  const std::optional<int64_t> others = IntegerReply(waited);
  const int64_t dcs = 1 + (others ? *others : 0);
  if (dcs >= level.write) {
    stats_.quorum_writes.fetch_add(1, std::memory_order_relaxed);
    return reply(std::move(output));
  }
  stats_.noquorum_writes.fetch_add(1, std::memory_order_relaxed);
  const std::string applied =
      others ? std::to_string(dcs) + " of " + std::to_string(level.write) + " datacenters within " +
                   std::to_string(level.timeout_ms) + " ms"
             : "at least 1 of " + std::to_string(level.write) +
                   " datacenters (no count: " + ErrorText(std::string(waited)) + ")";
  reply(ErrorReply("NOQUORUM write applied in " + applied +
                   "; it is durable there and will still replicate"));
}

void Quorum::AwaitWrites(std::vector<NodeReplication::Write> writes, ConsistencyLevel level,
                         std::string output, Reply reply) {
  GEOKV_ASSERT(level.write > 1);
  GEOKV_ASSERT(!writes.empty());
  if (replication_ == nullptr) return SettleWrite(":0\r\n", level, std::move(output), reply);
  replication_->Wait(std::move(writes), level.write - 1, level.timeout_ms,
                     [this, level, output = std::move(output), reply](std::string r) mutable {
                       SettleWrite(r, level, std::move(output), reply);
                     });
}

Reply Quorum::AfterForwardedWrite(ForwardTarget target, std::vector<uint32_t> partitions,
                                  ConsistencyLevel level, Reply reply) {
  GEOKV_ASSERT(level.write > 1);
  return [this, target = std::move(target), partitions = std::move(partitions), level,
          reply = std::move(reply)](std::string resp) {
    // An error applied nothing (or, -TRYAGAIN, nothing this node can know of).
    if (resp.empty() || resp[0] == '-' || resp[0] == '!') return reply(std::move(resp));
    // The target waits for w - 1 datacenters besides its own.
    Args args = {"GEOKV.WAITOWN", std::to_string(level.write - 1),
                 std::to_string(level.timeout_ms)};
    for (uint32_t p : partitions) args.push_back(std::to_string(p));
    forwarder_.Ask(target, args, level.timeout_ms + 1000,
                   [this, level, reply, resp = std::move(resp)](const std::string& r) mutable {
                     SettleWrite(r, level, std::move(resp), reply);
                   });
  };
}

void Quorum::Atoms(uint32_t partition, std::vector<std::string> keys, Reply reply) {
  if (partition >= table_.partitions() || !Holds(partition)) {
    return reply(
        ErrorReply("ERR partition " + std::to_string(partition) + " is not held by this node"));
  }
  for (const std::string& key : keys) {
    if (table_.PartitionOfKey(key) != partition) {
      return reply(ErrorReply("ERR key '" + key.substr(0, 128) + "' is not in partition " +
                              std::to_string(partition)));
    }
  }
  flush_();  // after the writes queued before it (a forwarded SET on the same link)
  auto out = std::make_shared<std::string>();
  auto body = [partition, keys = std::move(keys), out](NodeReplication::Job& job) {
    if (job.ReceivingTransfer(partition)) {
      *out = ErrorReply(ReceivingTransferError(partition));
      return;
    }
    auto snapshot = crdt::KeySnapshot(job.txn().Partition(partition), keys, kKeyLimits);
    if (!snapshot.ok()) {
      *out = ErrorReply("ERR " + snapshot.status().message());
      return;
    }
    RespWriter(out.get()).Bulk(crdt::EncodeSnapshot(*snapshot));
  };
  auto done = [out, reply](Status status) {
    reply(status.ok() ? std::move(*out) : ErrorReply("ERR storage: " + status.message()));
  };
  if (!NodeReplication::Submit(replication_, engine_, std::move(body), done).ok()) {
    reply(ErrorReply(errors::kBusy));
  }
}

void Quorum::Repair(uint32_t partition, std::string encoded, Reply reply) {
  if (partition >= table_.partitions() || !Holds(partition)) {
    return reply(
        ErrorReply("ERR partition " + std::to_string(partition) + " is not held by this node"));
  }
  auto repair = crdt::DecodeSnapshot(encoded, FetchLimits());
  Status valid = repair.ok() ? crdt::CheckRepair(*repair) : repair.status();
  if (valid.ok()) {
    for (const auto& [path, atom] : repair->atoms) {
      if (table_.PartitionOfKey(path.key) != partition) {
        valid = Status::Invalid("an atom's key is not in partition " + std::to_string(partition));
        break;
      }
    }
  }
  if (!valid.ok()) return reply(ErrorReply("ERR malformed repair: " + valid.message()));
  RepairLocal(partition, std::move(*repair), std::move(reply));
}

void Quorum::RepairLocal(uint32_t partition, crdt::Snapshot repair, Reply reply) {
  GEOKV_ASSERT(partition < held_.size());
  auto added = std::make_shared<size_t>(0);
  const crdt::ReplicaId self = table_.topology().nodes()[node_index_].replica_id;
  auto refused = std::make_shared<bool>(false);
  auto body = [partition, repair = std::move(repair), added, refused,
               self](NodeReplication::Job& job) {
    // A transfer may have removed atoms whose removals will never be applied
    // here again (docs/replication.md, DropSettledAdditions): no repair then.
    *refused = job.ReceivingTransfer(partition);
    if (!*refused) *added = crdt::ApplyRepair(job.txn().Partition(partition), repair, self);
  };
  auto done = [this, added, refused, partition, reply](Status status) {
    if (!status.ok()) return reply(ErrorReply("ERR storage: " + status.message()));
    if (*refused) return reply(ErrorReply(ReceivingTransferError(partition)));
    stats_.read_repair_atoms.fetch_add(*added, std::memory_order_relaxed);
    reply(":" + std::to_string(*added) + "\r\n");
  };
  if (!NodeReplication::Submit(replication_, engine_, std::move(body), done).ok()) {
    reply(ErrorReply(errors::kBusy));
  }
}

}  // namespace geokv::replica
