#include "replica/node/node_replication.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <stdexcept>
#include <variant>

#include "common/assert.h"
#include "crdt/codec.h"
#include "replica/node/move_estimate.h"
#include "replica/replication/messages.h"
#include "replica/resp/resp_writer.h"

namespace geokv::replica {

// The core's storage interface over a storage transaction.
namespace {
// A stable number for a datacenter's name (FNV-1a): the same in every
// topology and at every node, whatever the order of the file's datacenters.
uint32_t DcNumber(std::string_view name) {
  uint32_t h = 2166136261u;
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return h;
}
std::string TransferRecordName(uint32_t p) { return "replication.transfer." + std::to_string(p); }
std::string MoveRecordName(uint32_t p) { return "replication.move." + std::to_string(p); }
}  // namespace

class NodeReplication::TxnStore final : public replication::ReplicaStore {
 public:
  explicit TxnStore(storage::Transaction& txn) : txn_(txn) {}
  crdt::MutableState& Partition(uint32_t p) override { return txn_.Partition(p); }
  uint64_t Applied(uint32_t p, crdt::ReplicaId origin) override { return txn_.Applied(p, origin); }
  void SetApplied(uint32_t p, crdt::ReplicaId origin, uint64_t seq) override {
    txn_.SetApplied(p, origin, seq);
  }
  void AppendLog(uint32_t p, const crdt::Delta& delta, std::string_view encoded) override {
    txn_.AppendLog(p, delta, encoded);
  }
  Result<std::vector<crdt::Delta>> ReadLog(uint32_t p, crdt::ReplicaId origin, uint64_t after,
                                           size_t max_bytes) override {
    return txn_.ReadLog(p, origin, after, max_bytes);
  }
  void TruncateLog(uint32_t p, crdt::ReplicaId origin, uint64_t through) override {
    txn_.TruncateLog(p, origin, through);
  }
  std::string TransferRecord(uint32_t p) override {
    return txn_.Meta(TransferRecordName(p)).value_or("");
  }
  void SetTransferRecord(uint32_t p, std::string_view record) override {
    txn_.SetMeta(TransferRecordName(p), record);
  }
  std::string MoveRecord(uint32_t p) override { return txn_.Meta(MoveRecordName(p)).value_or(""); }
  void SetMoveRecord(uint32_t p, std::string_view record) override {
    txn_.SetMeta(MoveRecordName(p), record);
  }

 private:
  storage::Transaction& txn_;
};

const char* MoveRoleName(replication::MoveStatus::Role role) {
  using Role = replication::MoveStatus::Role;
  static_assert(static_cast<size_t>(Role::kStaying) + 1 == kMoveRoles);
  switch (role) {
    case Role::kJoining:
      return "joining";
    case Role::kLeaving:
      return "leaving";
    case Role::kDraining:
      return "draining";
    case Role::kDeleting:
      return "deleting";
    case Role::kStaying:
      return "staying";
  }
  GEOKV_ASSERT(false);
  return "";
}

NodeReplication::NodeReplication(const placement::PlacementTable& table, size_t node_index,
                                 storage::Engine& engine, boost::asio::io_context& io,
                                 ReplicationSettings settings)
    : table_(table),
      node_index_(node_index),
      engine_(engine),
      io_(io),
      settings_(std::move(settings)),
      tick_timer_(io),
      own_fence_(settings_.fence_own_streams) {
  const auto& nodes = table_.topology().nodes();
  self_ = nodes[node_index_].replica_id;
  self_dc_ = DcNumber(nodes[node_index_].dc);
  // Grows with every start (peers tell a restart, or a second process with
  // this node id, by it): the wall clock in ms at start.
  incarnation_ = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
  membership_ = MembershipOf(table_);
  LearnNodes(table_);
  if (settings_.join_from) LearnNodes(*settings_.join_from);
  if (settings_.also_connect) LearnNodes(*settings_.also_connect);
  latest_epoch_ = table_.topology().epoch();
  // The start table is the node's own (it outlives this object).
  connected_.push_back(std::shared_ptr<const placement::PlacementTable>(
      &table_, [](const placement::PlacementTable*) {}));
  if (settings_.join_from) connected_.insert(connected_.begin(), settings_.join_from);
  if (settings_.also_connect) connected_.insert(connected_.begin(), settings_.also_connect);
  node_up_.store(std::make_shared<UpMap>());
  auto view = std::make_shared<ServingView>();
  view->holds.assign(table_.partitions(), 0);
  view->serving.assign(table_.partitions(), 0);
  serving_.store(std::move(view));
  spread_ =
      std::make_unique<TopologySpread>(self_, std::vector<std::string>{}, table_.topology().epoch(),
                                       table_.topology().text(), settings_.topology_spread);
  UpdatePeers();
}

replication::Membership NodeReplication::MembershipOf(
    const placement::PlacementTable& table) const {
  replication::Membership m;
  m.self = self_;
  m.incarnation = incarnation_;
  m.epoch = table.topology().epoch();
  const auto& nodes = table.topology().nodes();
  m.replicas.resize(table.partitions());
  for (uint32_t p = 0; p < table.partitions(); ++p) {
    for (uint32_t n : table.PreferenceList(p)) m.replicas[p].push_back(nodes[n].replica_id);
  }
  for (const auto& node : nodes) m.dc_of[node.replica_id] = DcNumber(node.dc);
  m.dc_of[m.self] = self_dc_;
  for (const std::string& id : table.topology().forgotten()) {
    m.forgotten.insert(placement::ReplicaIdOf(id));
  }
  return m;
}

void NodeReplication::LearnNodes(const placement::PlacementTable& table) {
  for (const auto& node : table.topology().nodes()) {
    node_id_of_[node.replica_id] = node.id;
    replica_id_of_[node.id] = node.replica_id;
    dc_name_[DcNumber(node.dc)] = node.dc;
  }
}

void NodeReplication::UpdatePeers() {
  // Per peer: the partitions shared with it in any connected table, and its
  // endpoints and key as the latest table naming it gives them.
  std::map<std::string, TransportPeer> peers;
  std::map<std::string, std::string> curve_clients;
  std::set<crdt::ReplicaId> ids;
  const std::string& self_id = table_.topology().nodes()[node_index_].id;
  // A partition this node holds in any of the tables is shared with its
  // owners in every one: a joiner fills from an old owner, an old owner
  // hands over to a new one.
  std::set<uint32_t> mine;
  // `node` as a peer, with the endpoints and key this table gives it.
  auto peer_of = [&](const placement::Node& node) -> TransportPeer& {
    TransportPeer& peer = peers[node.id];
    peer.id = node.id;
    peer.repl_endpoint = node.repl.text;
    peer.sync_endpoint = node.sync.text;
    peer.curve_public_key = node.curve_public;
    ids.insert(node.replica_id);
    return peer;
  };
  for (const auto& table : connected_) {
    if (const std::optional<size_t> self = table->topology().FindNode(self_id)) {
      for (uint32_t p : table->PartitionsOfNode(*self)) mine.insert(p);
    }
  }
  for (const auto& table : connected_) {
    const auto& nodes = table->topology().nodes();
    for (const placement::Node& node : nodes) {
      if (!node.curve_public.empty()) curve_clients[node.curve_public] = node.id;
    }
    for (uint32_t p : mine) {
      for (uint32_t n : table->PreferenceList(p)) {
        if (nodes[n].id != self_id) peer_of(nodes[n]).partitions.push_back(p);
      }
    }
  }
  // A node the latest table removed shares no partition in it, yet exits only
  // once it has heard every member run that epoch (ReplicationCore::
  // MayExit): it takes their heartbeats until then, also once its moves
  // ended before theirs began and the older tables were let go.
  if (const auto& latest = *connected_.back(); !latest.topology().FindNode(self_id)) {
    for (const placement::Node& node : latest.topology().nodes()) peer_of(node);
  }
  std::vector<std::string> names;
  std::vector<TransportPeer> list;
  for (auto& [id, peer] : peers) {
    std::sort(peer.partitions.begin(), peer.partitions.end());
    peer.partitions.erase(std::unique(peer.partitions.begin(), peer.partitions.end()),
                          peer.partitions.end());
    names.push_back(id);
    list.push_back(std::move(peer));
  }
  spread_->SetPeers(names);
  // The failure detector's view: the peers' current values, new ones up.
  const std::shared_ptr<UpMap> old = node_up_.load();
  auto up = std::make_shared<UpMap>();
  for (crdt::ReplicaId id : ids) {
    auto it = old->find(id);
    (*up)[id] = it == old->end() || it->second.load();
  }
  node_up_.store(std::move(up));
  peers_ = std::move(list);
  curve_clients_ = std::move(curve_clients);
  std::lock_guard lock(transport_mu_);
  if (!transport_) return;  // Start connects them
  if (Status s = transport_->SetPeers(peers_, curve_clients_); !s.ok()) {
    spdlog::error("replication: cannot connect to the topology's nodes: {}", s.message());
  }
}

NodeReplication::~NodeReplication() { Stop(); }

uint64_t NodeReplication::NowMs() const {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - epoch_)
                                   .count()) +
         1;
}

Status NodeReplication::Start() {
  // The core, from what storage committed; a joining node's holding nothing
  // of the placement before it, then moving to its own.
  Status built = engine_.Run([this](storage::Transaction& txn) {
    TxnStore store(txn);
    if (!settings_.join_from) {
      PublishServing(Core(store), txn, NowMs(), true);
      return Status::Ok();
    }
    replication::Membership before = MembershipOf(*settings_.join_from);
    BuildCore(store, before);
    // (A join recorded before a crash is in force from the move records.)
    if (core_->Epoch() >= membership_.epoch) {
      PublishServing(*core_, txn, NowMs(), true);
      return Status::Ok();
    }
    Status s = core_->Reconfigure(store, membership_, NowMs());
    if (s.ok()) {
      spdlog::info("joining the cluster: epoch {} -> {}, filling {} partitions from their owners",
                   before.epoch, membership_.epoch, table_.PartitionsOfNode(node_index_).size());
    }
    PublishServing(*core_, txn, NowMs(), true);
    return s;
  });
  // Core() fences a new core's partitions until each is writable (own_fence_).
  if (!built.ok()) return built;

  const auto& nodes = table_.topology().nodes();
  TransportOptions options;
  options.self_id = nodes[node_index_].id;
  options.repl_endpoint = nodes[node_index_].repl.text;
  options.sync_endpoint = nodes[node_index_].sync.text;
  options.send_high_water_mark = settings_.send_high_water_mark;
  options.receive_high_water_mark = settings_.receive_high_water_mark;
  options.inbound_queue_max = settings_.inbound_queue_max;
  options.curve_public_key = settings_.curve_public_key;
  options.curve_secret_key = settings_.curve_secret_key;
  // A peer silent for several heartbeats gets new sockets (CURVE: a refused
  // handshake is never retried, e.g. before the others admitted a new node).
  options.curve_redial_ms = static_cast<int>(
      std::min<uint64_t>(std::max<uint64_t>(2000, 5 * settings_.core.heartbeat_interval_ms),
                         600'000));
  if (table_.topology().curve() != !settings_.curve_secret_key.empty()) {
    return Status::Invalid(table_.topology().curve()
                               ? "the topology has CURVE keys, but this node has no secret key"
                               : "this node has a CURVE secret key, but the topology no keys");
  }
  if (table_.topology().curve()) options.curve_clients = curve_clients_;
  options.peers = peers_;
  auto transport = Transport::Start(std::move(options), [this] { ScheduleInbound(); });
  if (!transport.ok()) return transport.status();
  {
    std::lock_guard lock(transport_mu_);
    transport_ = std::move(*transport);
  }
  ScheduleTick();
  return Status::Ok();
}

void NodeReplication::Stop() {
  if (stopped_.exchange(true)) return;
  boost::system::error_code ignored;
  tick_timer_.cancel(ignored);
  std::unique_ptr<Transport> transport;
  {
    std::lock_guard lock(transport_mu_);
    transport.swap(transport_);
  }
  transport.reset();  // joins its thread
}

replication::ReplicationCore& NodeReplication::Core(replication::ReplicaStore& store) {
  if (core_ && !stale_) return *core_;
  if (stale_)
    spdlog::warn("rebuilding the replication core from committed state after a failed job");
  BuildCore(store, membership_);
  return *core_;
}

void NodeReplication::BuildCore(replication::ReplicaStore& store,
                                const replication::Membership& membership) {
  core_ =
      std::make_unique<replication::ReplicationCore>(membership, settings_.core, store, NowMs());
  // Never reuse a dot: after opening the data, no new own dots until peers
  // told how far this node's streams got (a rebuild before that fences again).
  if (own_fence_) core_->FenceOwnStreams();
  if (settings_.aae_trees != nullptr) core_->UseTrees(settings_.aae_trees);
  stale_ = false;
}

void NodeReplication::Job::OnLocalDelta(uint32_t p, const crdt::Delta& delta) {
  // After a storage error (a full disk in the middle of the job) the job will
  // be rolled back: the core must not advance its own seq past a causal
  // context that may not have (the next delta could then reuse its dots).
  if (!txn_.status().ok()) return;
  ++local_deltas_;
  if (core_ == nullptr) return txn_.AppendLog(p, delta);
  core_->OnLocalDelta(store_, p, delta, now_ms_);
}

void NodeReplication::InjectFault(const Job& job) {
  const uint64_t every =
      std::max(settings_.testing_fail_job_every, settings_.testing_throw_job_every);
  if (every == 0 || job.local_deltas_ == 0 || ++jobs_with_deltas_ % every != 0) return;
  if (settings_.testing_throw_job_every > 0) throw std::runtime_error("testing: injected throw");
  job.txn_.FailForTesting(Status::Io("testing: injected storage failure"));
}

Status NodeReplication::Submit(NodeReplication* replication, storage::Engine& engine, Body body,
                               Done done, storage::Completion completion) {
  GEOKV_ASSERT(body && done);
  if (replication == nullptr) {
    auto job = [body = std::move(body)](storage::Transaction& txn) {
      TxnStore store(txn);
      Job j(txn, store, nullptr, 0);
      body(j);
      return Status::Ok();
    };
    return engine.Submit(std::move(job), std::move(done), completion);
  }
  NodeReplication& self = *replication;
  auto outgoing = std::make_shared<std::vector<replication::Outgoing>>();
  auto job = [&self, body = std::move(body), outgoing, completion](storage::Transaction& txn) {
    // A job before this one was rolled back (alone, or with its whole group)
    // and its `done` has not run yet: the core may hold its deltas and seqs.
    if (!txn.PreviousJobKept()) self.stale_ = true;
    TxnStore store(txn);
    const uint64_t now = self.NowMs();
    Job j(txn, store, &self.Core(store), now);
    try {
      body(j);
      self.InjectFault(j);
    } catch (...) {
      self.stale_ = true;  // rolled back: the core ran ahead of storage
      throw;
    }
    // A store error fails the job whatever it returns (storage/transaction.h).
    if (!txn.status().ok()) {
      self.stale_ = true;
    } else if (completion == storage::Completion::kAfterCommit && !self.stale_) {
      *outgoing = self.core_->TakeOutgoing(now);  // sent once this job committed
    }
    return Status::Ok();
  };
  auto after = [&self, done = std::move(done), outgoing](Status status) {
    if (!status.ok()) {
      self.stale_ = true;  // the job, or the group's COMMIT, failed
    } else if (!self.stale_ && !outgoing->empty()) {
      self.Send(std::move(*outgoing));  // committed: now it may go out
    }
    done(std::move(status));
  };
  return engine.Submit(std::move(job), std::move(after), completion);
}

void NodeReplication::Send(std::vector<replication::Outgoing> out) {
  std::lock_guard lock(transport_mu_);
  if (!transport_) return;
  for (replication::Outgoing& o : out) {
    std::string bytes = replication::EncodeMessage(o.message);
    switch (o.kind) {
      case replication::Outgoing::Kind::kPublishPartition:
        transport_->PublishDeltas(o.partition, std::move(bytes));
        break;
      case replication::Outgoing::Kind::kPublishHeartbeat:
        transport_->PublishHeartbeat(std::move(bytes));
        break;
      case replication::Outgoing::Kind::kSendRequest:
        transport_->SendRequest(node_id_of_[o.to], std::move(bytes));
        break;
      case replication::Outgoing::Kind::kSendReply:
        transport_->SendReply(node_id_of_[o.to], std::move(bytes));
        break;
    }
  }
}

namespace {
// A message must name the peer it came from: a SUB socket knows which peer's
// PUB it is connected to, a ROUTER the routing id of the DEALER that sent a
// request, a DEALER which peer's ROUTER replied.
bool FromItsSender(const InboundMessage& m, const replication::Message& message,
                   crdt::ReplicaId sender) {
  using Kind = InboundMessage::Kind;
  return std::visit(replication::Overloaded{
                        [&](const replication::DeltaBatch& batch) {
                          return m.kind == Kind::kPublished && batch.origin == sender;
                        },
                        [&](const replication::Heartbeat& heartbeat) {
                          return m.kind == Kind::kPublished && heartbeat.from == sender;
                        },
                        [&](const replication::CatchUpRequest& request) {
                          return m.kind == Kind::kRequest && request.from == sender;
                        },
                        [&](const replication::CatchUpReply& reply) {
                          return m.kind == Kind::kReply && reply.from == sender;
                        },
                        [&](const replication::AaeRequest& request) {
                          return m.kind == Kind::kRequest && request.from == sender;
                        },
                        [&](const replication::AaeReply& reply) {
                          return m.kind == Kind::kReply && reply.from == sender;
                        },
                    },
                    message);
}
}  // namespace

bool NodeReplication::FromItsSender(const InboundMessage& m,
                                    const replication::Message& message) const {
  auto it = replica_id_of_.find(m.peer);
  return it != replica_id_of_.end() && geokv::replica::FromItsSender(m, message, it->second);
}

void NodeReplication::ScheduleInbound() {
  if (stopped_ || inbound_scheduled_.exchange(true)) return;
  auto body = [this](Job& job) {
    inbound_scheduled_ = false;
    // Requests carried over from the job before come first.
    std::vector<InboundMessage> messages(std::make_move_iterator(carried_.begin()),
                                         std::make_move_iterator(carried_.end()));
    carried_.clear();
    {
      std::lock_guard lock(transport_mu_);
      if (transport_) {
        for (InboundMessage& m : transport_->Take(kInboundPerJobMax - messages.size())) {
          messages.push_back(std::move(m));
        }
      }
    }
    replication::ReplicationCore& core = *job.core_;
    // The core reads at most outbox_max_state_transfers state chunks per
    // job and drops the requests beyond (their senders ask again only after
    // a backed-off timeout: a joiner asking for 40 partitions at once would
    // wait seconds per four). So a job takes at most that many catch-up
    // requests; the rest wait for the next job, scheduled at once.
    size_t requests = 0;
    size_t taken = 0;
    for (const InboundMessage& m : messages) {
      if (m.kind == InboundMessage::Kind::kRequest &&
          requests++ >= settings_.core.outbox_max_state_transfers) {
        break;
      }
      ++taken;
      // Storage failed (a full disk): the job is rolled back and the core
      // rebuilt; the messages not yet applied are recovered by catch-up, as
      // any lost message is.
      if (!job.txn().status().ok()) break;
      if (replication::IsTopologyMessage(m.payload)) {
        OnTopologyMessage(m);
        continue;
      }
      auto decoded = replication::DecodeMessage(m.payload);
      if (!decoded.ok()) {
        if (malformed_messages_++ % 1000 == 0) {
          spdlog::warn("malformed replication message from {}: {}", m.peer,
                       decoded.status().message());
        }
        continue;
      }
      if (!FromItsSender(m, *decoded)) {
        ++malformed_messages_;
        continue;
      }
      if (settings_.testing_drop_every_nth_batch > 0 &&
          std::holds_alternative<replication::DeltaBatch>(*decoded) &&
          ++batches_received_ % settings_.testing_drop_every_nth_batch == 0) {
        continue;  // deliberately broken store (see ReplicationSettings)
      }
      AdoptClock(*decoded);
      const uint64_t stale_before = core.stats().stale_incarnations;
      const uint64_t duplicates_before = core.stats().duplicate_identities;
      core.OnMessage(job.store_, *decoded, job.now_ms_);
      if (const uint64_t d = core.stats().duplicate_identities;
          d > duplicates_before && d % 100 == 1) {
        spdlog::error(
            "two live processes claim node id {} ({} heartbeats of the first heard while a "
            "newer one talks): refusing the newer one; stop the one that should not run",
            m.peer, d);
      }
      if (const uint64_t stale = core.stats().stale_incarnations;
          stale > stale_before && stale % 100 == 1) {
        spdlog::error(
            "refusing an older process of node {} ({} heartbeats so far): is a second process "
            "running with that node id?",
            m.peer, stale);
      }
    }
    CheckWaiters(core, job.now_ms_);
    for (size_t i = taken; i < messages.size(); ++i) carried_.push_back(std::move(messages[i]));
    // More may be waiting.
    if (messages.size() == kInboundPerJobMax || !carried_.empty()) ScheduleInbound();
  };
  if (!Submit(this, engine_, std::move(body), [](Status) {}).ok()) {
    inbound_scheduled_ = false;  // the tick retries
  }
}

void NodeReplication::OnTopologyMessage(const InboundMessage& m) {
  auto decoded = replication::DecodeTopologyMessage(m.payload);
  auto sender = replica_id_of_.find(m.peer);
  if (!decoded.ok() || sender == replica_id_of_.end()) {
    if (malformed_messages_++ % 1000 == 0) {
      spdlog::warn("malformed topology message from {}: {}", m.peer,
                   decoded.ok() ? "an unknown node" : decoded.status().message());
    }
    return;
  }
  const uint64_t now = NowMs();
  if (const auto* request = std::get_if<replication::TopologyRequest>(&*decoded)) {
    if (m.kind != InboundMessage::Kind::kRequest || request->from != sender->second) {
      ++malformed_messages_;
      return;
    }
    std::string reply =
        replication::EncodeTopologyMessage(spread_->OnRequest(m.peer, *request, now));
    std::lock_guard lock(transport_mu_);
    if (transport_) transport_->SendReply(m.peer, std::move(reply));
    return;
  }
  const auto& reply = std::get<replication::TopologyReply>(*decoded);
  if (m.kind != InboundMessage::Kind::kReply || reply.from != sender->second) {
    ++malformed_messages_;
    return;
  }
  std::optional<std::string> offer = spread_->OnReply(m.peer, reply, now);
  if (offer && topology_offer_) {
    boost::asio::post(io_, [this, text = std::move(*offer), peer = m.peer]() mutable {
      topology_offer_(std::move(text), std::move(peer));
    });
  }
}

void NodeReplication::AskTopology() {
  const std::vector<std::string> due = spread_->Due(NowMs());
  if (due.empty()) return;
  const std::string request = replication::EncodeTopologyMessage(spread_->Request());
  std::lock_guard lock(transport_mu_);
  if (!transport_) return;
  for (const std::string& peer : due) transport_->SendRequest(peer, request);
}

void NodeReplication::AdoptTopology(std::shared_ptr<const placement::PlacementTable> next) {
  spread_->SetRunning(next->topology().epoch(), next->topology().text());
  const bool has_self =
      next->topology().FindNode(table_.topology().nodes()[node_index_].id).has_value();
  {
    std::lock_guard lock(adopt_mu_);
    to_adopt_.push_back(next);
    latest_epoch_ = next->topology().epoch();
    latest_has_self_ = has_self;
  }
  // Connected to the new nodes before the core moves (the next tick job).
  connected_.push_back(next);
  UpdatePeers();
  spdlog::info("replication: moving to topology epoch {}", next->topology().epoch());
}

void NodeReplication::FollowMoves(Job& job) {
  replication::ReplicationCore& core = *job.core_;
  std::vector<std::shared_ptr<const placement::PlacementTable>> adopted;
  {
    std::lock_guard lock(adopt_mu_);
    adopted.swap(to_adopt_);
  }
  // In order: the core queues what comes while it moves (a newer one
  // replaces a queued one), as it would had each come in its own tick.
  for (const auto& table : adopted) {
    LearnNodes(*table);
    replication::Membership next = MembershipOf(*table);
    const uint64_t epoch = next.epoch;
    if (epoch <= core.Epoch()) {
      // Already in force: a node restarted mid-move resumes it from its
      // move records (a removed node restarted with its older file adopts
      // the kept topology again).
      membership_ = std::move(next);
      continue;
    }
    if (Status s = core.Reconfigure(job.store_, next, job.now_ms_); !s.ok()) {
      spdlog::error("replication: topology epoch {} not adopted: {}", epoch, s.message());
      continue;
    }
    membership_ = std::move(next);  // what a rebuilt core starts from
    spdlog::info("replication: topology epoch {} adopted ({} partitions moving here)", epoch,
                 core.Moves().size());
  }
  // Heartbeats say which peer runs a later epoch: its file is fetched at
  // once rather than at the next poll (TopologySpread). And what each
  // peer's moves have left (GEOKV.MEMBERS).
  if (job.now_ms_ >= epochs_noted_ms_ + 250) {
    epochs_noted_ms_ = job.now_ms_;
    for (const auto& [id, epoch] : core.PeerEpochs()) {
      if (auto name = node_id_of_.find(id); name != node_id_of_.end()) {
        spread_->NoteEpoch(name->second, epoch);
      }
    }
    std::map<std::string, uint64_t> bytes_left;
    for (const auto& [id, bytes] : core.PeerMoveBytesLeft()) {
      if (auto name = node_id_of_.find(id); name != node_id_of_.end()) {
        bytes_left[name->second] = bytes;
      }
    }
    std::lock_guard lock(peer_bytes_mu_);
    peer_move_bytes_left_ = std::move(bytes_left);
  }
  WatchStalls(core, job.now_ms_);
  const uint64_t latest = latest_epoch_.load();
  const bool settled_here = core.Epoch() == latest && core.Moves().empty();
  const bool removed_here = settled_here && !latest_has_self_.load();
  removed_ = removed_here && core.MayExit();
  if (removed_here && !removed_ && core.Drained() &&
      job.now_ms_ >= exit_wait_warned_ms_ + 10'000) {
    exit_wait_warned_ms_ = job.now_ms_;
    spdlog::warn(
        "replication: removed and drained; stopping once [{}] are heard running epoch {} (a "
        "member still in an earlier epoch may be waiting for this node): start them, or forget "
        "a node lost for good (docs/operations.md)",
        NamesOf(core.ExitAwaited()), core.Epoch());
  }
  PublishServing(core, job.txn(), job.now_ms_, !adopted.empty());
  // Moves ended here: the nodes only older tables name are no longer needed.
  if (settled_here && !prune_posted_.exchange(true)) {
    boost::asio::post(io_, [this, latest] {
      prune_posted_ = false;
      if (connected_.size() <= 1 || connected_.back()->topology().epoch() != latest) return;
      connected_.erase(connected_.begin(), connected_.end() - 1);
      UpdatePeers();
      spdlog::info("replication: moves of epoch {} ended here", latest);
    });
  }
}

void NodeReplication::WatchStalls(const replication::ReplicationCore& core, uint64_t now_ms) {
  const uint64_t limit = settings_.move_stall_warn_ms;
  if (limit == 0 || now_ms < stalls_checked_ms_ + 1000) return;
  stalls_checked_ms_ = now_ms;
  uint64_t stalled = 0;
  std::map<uint32_t, uint64_t> warned;  // only moves still under way keep their mark
  for (const replication::MoveStatus& m : core.Moves()) {
    if (now_ms < m.started_ms + limit) continue;
    ++stalled;
    uint64_t& last = warned[m.partition];
    if (auto before = stall_warned_ms_.find(m.partition); before != stall_warned_ms_.end()) {
      last = before->second;
    }
    if (last != 0 && now_ms < last + limit) continue;
    last = now_ms;
    spdlog::warn(
        "replication: partition {} has been moving here for {} s ({}, epoch {}), waiting for "
        "joiners [{}] and the last writes of [{}]: start them, or forget a node lost for good "
        "(docs/operations.md)",
        m.partition, (now_ms - m.started_ms) / 1000, MoveRoleName(m.role), m.epoch,
        NamesOf(m.joining), NamesOf(m.leaving));
  }
  stall_warned_ms_ = std::move(warned);
  moves_stalled_.store(stalled, std::memory_order_relaxed);
}

std::string NodeReplication::NamesOf(const std::vector<crdt::ReplicaId>& ids) const {
  std::string out;
  for (crdt::ReplicaId id : ids) {
    auto name = node_id_of_.find(id);
    out += (out.empty() ? "" : ", ") + (name == node_id_of_.end() ? "?" : name->second);
  }
  return out;
}

void NodeReplication::PublishServing(replication::ReplicationCore& core, storage::Transaction& txn,
                                     uint64_t now_ms, bool force) {
  const uint32_t q = table_.partitions();
  auto view = std::make_shared<ServingView>();
  view->epoch = core.Epoch();
  view->holds.assign(q, 0);
  view->serving.assign(q, 0);
  for (uint32_t p = 0; p < q; ++p) {
    view->holds[p] = core.Holds(p) ? 1 : 0;
    view->serving[p] = core.Serving(p) ? 1 : 0;
    if (view->serving[p]) view->serving_list.push_back(p);
  }
  view->drained = removed_.load();
  const std::shared_ptr<const ServingView> old = serving_.load();
  const bool same = old->epoch == view->epoch && old->holds == view->holds &&
                    old->serving == view->serving && old->drained == view->drained;
  const bool moving = !old->moves.empty() || core.Epoch() != latest_epoch_.load();
  if (same && !force && !(moving && now_ms >= serving_published_ms_ + 200)) {
    core.SetMoveBytesLeft(old->move_bytes_left_total);  // (a rebuilt core has none yet)
    core.SetPartitionBytes(old->partition_bytes);
    return;
  }
  view->moves = core.Moves();
  MoveEstimates estimates = EstimateMoves(txn, *view, core.PeerPartitionBytes());
  view->move_bytes_left = std::move(estimates.bytes_left);
  view->move_bytes_left_total = estimates.bytes_left_total;
  view->partition_bytes = estimates.partition_bytes;
  for (const replication::MoveStatus& m : view->moves) {
    for (const auto* ids : {&m.joining, &m.leaving}) {
      for (crdt::ReplicaId id : *ids) {
        auto name = node_id_of_.find(id);
        view->node_ids[id] = name != node_id_of_.end() ? name->second : std::to_string(id);
      }
    }
  }
  core.SetMoveBytesLeft(view->move_bytes_left_total);
  core.SetPartitionBytes(view->partition_bytes);
  serving_published_ms_ = now_ms;
  serving_.store(std::move(view));
}

void NodeReplication::AdoptClock(const replication::Message& message) {
  if (clock_ == nullptr) return;
  crdt::Hlc latest;
  auto scan = [&](const replication::DeltaBatch& batch) {
    for (const crdt::Delta& delta : batch.deltas) {
      for (const crdt::Addition& addition : delta.additions) {
        latest = std::max(latest, addition.atom.hlc);
      }
    }
  };
  if (const auto* batch = std::get_if<replication::DeltaBatch>(&message)) scan(*batch);
  if (const auto* reply = std::get_if<replication::CatchUpReply>(&message)) scan(reply->batch);
  if (latest.value != 0 && !clock_->Update(latest) && clock_refused_++ % 1000 == 0) {
    spdlog::warn(
        "not adopting a peer's HLC at {} ms since the epoch: too far ahead of this "
        "node's clock (is the peer's clock wrong?)",
        latest.physical_ms());
  }
}

void NodeReplication::WhenOwnStreamsKnown(std::chrono::milliseconds max_wait,
                                          std::function<void()> ready) {
  const auto deadline = std::chrono::steady_clock::now() + max_wait;
  auto poll = std::make_shared<std::function<void()>>();
  auto timer = std::make_shared<boost::asio::steady_timer>(io_);
  *poll = [this, deadline, ready = std::move(ready), timer, poll] {
    if (own_streams_known_ || stopped_ || std::chrono::steady_clock::now() >= deadline) {
      if (!own_streams_known_) {
        spdlog::warn(
            "serving before every peer reported: partitions still learning their own "
            "high-water marks answer writes with -TRYAGAIN");
      }
      std::function<void()> run = ready;  // the closure dies with the next line
      *poll = nullptr;                    // breaks the cycle
      return run();
    }
    timer->expires_after(std::chrono::milliseconds(10));
    timer->async_wait([poll](boost::system::error_code) {
      if (*poll) (*poll)();
    });
  };
  boost::asio::post(io_, [poll] { (*poll)(); });
}

void NodeReplication::ScheduleTick() {
  if (stopped_) return;
  tick_timer_.expires_after(std::chrono::milliseconds(settings_.tick_interval_ms));
  tick_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    if (!tick_scheduled_.exchange(true)) {
      auto body = [this](Job& job) {
        tick_scheduled_ = false;
        replication::ReplicationCore& core = *job.core_;
        core.OnTick(job.store_, job.now_ms_);
        FollowMoves(job);
        const std::shared_ptr<UpMap> up = node_up_.load();
        for (const auto& peer : core.Peers(job.now_ms_)) {
          if (auto it = up->find(peer.id); it != up->end()) it->second = peer.up;
        }
        if (!own_streams_known_ && core.OwnStreamsKnown()) own_streams_known_ = true;
        for (const std::string& line : core.TakeAntiEntropyLog()) spdlog::warn("{}", line);
        if (own_fence_) {
          const auto held = serving_.load()->serving_list;
          own_fence_ = !std::all_of(held.begin(), held.end(),
                                    [&](uint32_t p) { return core.OwnWritable(p); });
          if (!own_fence_) spdlog::info("own streams known in every partition: writes accepted");
        }
        CheckWaiters(core, job.now_ms_);
      };
      if (!Submit(this, engine_, std::move(body), [](Status) {}).ok()) tick_scheduled_ = false;
    }
    ScheduleInbound();  // picks up anything whose signal found a job already queued
    AskTopology();
    ScheduleTick();
  });
}

void NodeReplication::CheckWaiters(const replication::ReplicationCore& core, uint64_t now_ms) {
  for (size_t i = 0; i < waiters_.size();) {
    Waiter& w = waiters_[i];
    const uint32_t dcs = core.DcsThatApplied(w.writes);
    if (dcs >= w.numdcs || (w.deadline_ms != 0 && now_ms >= w.deadline_ms)) {
      std::string out;
      RespWriter(&out).Integer(dcs);
      w.reply(std::move(out));
      waiters_[i] = std::move(waiters_.back());
      waiters_.pop_back();
    } else {
      ++i;
    }
  }
}

void NodeReplication::AddWaiter(Job& job, std::vector<Write> writes, int64_t numdcs,
                                int64_t timeout_ms, Reply reply) {
  if (waiters_.size() >= settings_.max_waiters) {
    reply("-ERR too many clients in WAIT\r\n");
    return;
  }
  const uint64_t now = job.now_ms_;
  waiters_.push_back(Waiter{std::move(writes), static_cast<uint32_t>(numdcs),
                            // +1: times are whole ms, and WAIT must wait at least the timeout
                            timeout_ms > 0 ? now + static_cast<uint64_t>(timeout_ms) + 1 : 0,
                            std::move(reply)});
  CheckWaiters(*job.core_, now);
}

void NodeReplication::Wait(std::vector<Write> writes, int64_t numdcs, int64_t timeout_ms,
                           Reply reply) {
  auto body = [this, writes = std::move(writes), numdcs, timeout_ms, reply](Job& job) mutable {
    AddWaiter(job, std::move(writes), numdcs, timeout_ms, std::move(reply));
  };
  if (!Submit(this, engine_, std::move(body), [](Status) {}).ok()) {
    reply("-BUSY geokv is overloaded, try again\r\n");
  }
}

void NodeReplication::WaitOwn(std::vector<uint32_t> partitions, int64_t numdcs, int64_t timeout_ms,
                              Reply reply) {
  auto body = [this, partitions = std::move(partitions), numdcs, timeout_ms,
               reply](Job& job) mutable {
    std::vector<Write> writes;
    for (uint32_t p : partitions) {
      if (p < table_.partitions() && job.core_->Holds(p)) {
        writes.emplace_back(p, job.core_->Applied(p, membership_.self));
      }
    }
    AddWaiter(job, std::move(writes), numdcs, timeout_ms, std::move(reply));
  };
  if (!Submit(this, engine_, std::move(body), [](Status) {}).ok()) {
    reply("-BUSY geokv is overloaded, try again\r\n");
  }
}

void NodeReplication::AntiEntropyStatus(Reply reply) {
  auto body = [this, reply](Job& job) {
    const auto status = job.core_->AntiEntropyStatus(job.now_ms_);
    std::string out;
    RespWriter w(&out);
    w.ArrayHeader(status.size());
    for (const replication::AaeStatus& st : status) {
      w.ArrayHeader(4);
      w.Integer(st.partition);
      w.Bulk(node_id_of_[st.peer]);
      if (st.age_ms) {
        w.Integer(static_cast<int64_t>(*st.age_ms));
      } else {
        w.Integer(-1);
      }
      w.Bulk(st.result);
    }
    reply(std::move(out));
  };
  if (!Submit(this, engine_, std::move(body), [](Status) {}).ok()) {
    reply("-BUSY geokv is overloaded, try again\r\n");
  }
}

void NodeReplication::RunAntiEntropy(std::optional<uint32_t> partition, Reply reply) {
  auto body = [this, partition, reply](Job& job) {
    if (partition && !job.core_->Holds(*partition)) {
      return reply("-ERR partition " + std::to_string(*partition) + " is not held here\r\n");
    }
    reply(":" + std::to_string(job.core_->RunAntiEntropy(partition)) + "\r\n");
  };
  if (!Submit(this, engine_, std::move(body), [](Status) {}).ok()) {
    reply("-BUSY geokv is overloaded, try again\r\n");
  }
}

void NodeReplication::Rebuild(uint32_t partition, Reply reply) {
  auto result = std::make_shared<Status>();
  auto body = [this, partition, result](Job& job) {
    *result = partition < table_.partitions()
                  ? job.core_->Rebuild(job.store_, partition, job.now_ms_)
                  : Status::Invalid("no partition " + std::to_string(partition));
  };
  auto done = [partition, result, reply](Status s) {
    if (s.ok()) s = *result;
    if (!s.ok()) return reply("-ERR " + s.message() + "\r\n");
    spdlog::warn("GEOKV.REBUILD: partition {} is being refilled from its other replicas",
                 partition);
    reply("+OK\r\n");
  };
  if (!Submit(this, engine_, std::move(body), std::move(done)).ok()) {
    reply("-BUSY geokv is overloaded, try again\r\n");
  }
}

void NodeReplication::ApplyHint(uint32_t partition, std::string encoded,
                                std::optional<uint64_t> epoch, Reply reply) {
  auto refuse = [&](const std::string& why) {
    hints_malformed_.fetch_add(1, std::memory_order_relaxed);
    reply(ErrorReply("ERR hint refused: " + why));
  };
  if (partition >= table_.partitions()) return refuse("no partition " + std::to_string(partition));
  Result<crdt::Delta> hint = crdt::DecodeDelta(encoded);
  if (!hint.ok()) return refuse(hint.status().message());
  for (const crdt::Addition& a : hint->additions) {
    if (table_.PartitionOfKey(a.path.key) != partition) {
      return refuse("a key is not in partition " + std::to_string(partition));
    }
  }
  auto outcome = std::make_shared<replication::HintOutcome>(replication::HintOutcome::kNotServing);
  auto body = [partition, hint = std::move(*hint), epoch, outcome](Job& job) {
    *outcome = job.core_->ApplyHint(job.store_, partition, hint, epoch);
  };
  auto done = [partition, outcome, reply](Status s) {
    if (!s.ok()) return reply(ErrorReply("TRYAGAIN storage: " + s.message()));
    switch (*outcome) {
      case replication::HintOutcome::kApplied:
      case replication::HintOutcome::kDuplicate:
        return reply("+OK\r\n");
      case replication::HintOutcome::kNotServing:
        return reply(ErrorReply("TRYAGAIN partition " + std::to_string(partition) +
                                " is not served here now, or at another epoch"));
      case replication::HintOutcome::kRefused:
        return reply(
            ErrorReply("ERR hint refused: not a hint for partition " + std::to_string(partition)));
    }
  };
  if (!Submit(this, engine_, std::move(body), std::move(done)).ok()) {
    reply("-BUSY geokv is overloaded, try again\r\n");
  }
}

void NodeReplication::Snapshot(std::function<void(std::optional<ReplicationSnapshot>)> reply) {
  auto snapshot = std::make_shared<ReplicationSnapshot>();
  auto body = [this, snapshot](Job& job) {
    for (const auto& p : job.core_->Peers(job.now_ms_)) {
      auto dc = dc_name_.find(p.dc);
      snapshot->peers.push_back({node_id_of_[p.id], dc != dc_name_.end() ? dc->second : "?", p.up,
                                 p.lag_ms, p.pending_deltas});
    }
    snapshot->stats = job.core_->stats();
    snapshot->stats.hints_refused += hints_malformed_.load(std::memory_order_relaxed);
    snapshot->malformed_messages = malformed_messages_;
    snapshot->hlc_refused = clock_refused_;
    std::lock_guard lock(transport_mu_);
    if (transport_) snapshot->transport = transport_->stats();
  };
  if (!Submit(this, engine_, std::move(body), [snapshot, reply](Status) {
         reply(std::move(*snapshot));
       }).ok()) {
    reply(std::nullopt);
  }
}

}  // namespace geokv::replica
