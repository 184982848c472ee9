#include "replica/node/node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <climits>
#include <cstdlib>
#include <iterator>
#include <map>
#include <random>
#include <tuple>

#include "common/assert.h"
#include "crdt/join.h"
#include "replica/commands/command_util.h"
#include "replica/node/info.h"
#include "replica/node/metrics_text.h"
#include "replica/resp/resp_writer.h"

namespace geokv::replica {

namespace {
// A request for a partition this node holds but does not serve right now
// (a move fills it, or handed it over since the request was routed here).
constexpr std::string_view kMoving =
    "TRYAGAIN the partition is moving between nodes (topology change); try again";
// A request for a partition whose hints this node has not handed off yet.
constexpr std::string_view kHandingOff =
    "TRYAGAIN this node is handing writes to the key's partition off to its replicas; try again";
}  // namespace

// The Partitions of one storage job.
class Node::TxnPartitions final : public Partitions {
 public:
  TxnPartitions(Node& node, NodeReplication::Job* job)
      : node_(node), job_(job), txn_(job != nullptr ? &job->txn() : nullptr), view_(node.View()) {}

  // The (partition, seq) of every delta committed since the last call.
  std::vector<std::pair<uint32_t, uint64_t>> TakeWrites() { return std::exchange(writes_, {}); }

  uint32_t PartitionOf(std::string_view key) const override {
    return node_.table_->PartitionOfKey(key);
  }
  // What this node serves as the job runs (with replication, the core's
  // word, exact in the job; the view may be a tick behind).
  bool Holds(uint32_t p) const override {
    return exact() ? job_->Serving(p) : view_->Serves(p);
  }
  std::vector<uint32_t> HeldPartitions() const override {
    if (!exact()) return view_->serving_list;
    std::vector<uint32_t> held;
    for (uint32_t p = 0; p < node_.table_->partitions(); ++p) {
      if (job_->Serving(p)) held.push_back(p);
    }
    return held;
  }
  // By the running topology (GEOKV.WHERE): where the key goes from now on.
  std::vector<std::string> PreferenceList(uint32_t p) const override {
    const auto running = node_.running_.table();
    std::vector<std::string> ids;
    for (uint32_t n : running->PreferenceList(p)) ids.push_back(running->topology().nodes()[n].id);
    return ids;
  }
  crdt::MutableState& State(uint32_t p) override {
    GEOKV_ASSERT(txn_ != nullptr);
    return txn_->Partition(p);
  }
  void Commit(uint32_t p, const crdt::Delta& delta) override {
    GEOKV_ASSERT(job_ != nullptr);
    crdt::ApplyDelta(txn_->Partition(p), delta);
    job_->OnLocalDelta(p, delta);  // logs it; with replication, ships it after the commit
    writes_.emplace_back(p, delta.last);
  }
  void ForEachKey(uint32_t p, const std::function<bool(const std::string&)>& visit) override {
    GEOKV_ASSERT(txn_ != nullptr);
    std::optional<std::string> after;
    for (;;) {
      auto keys = txn_->ScanKeys(p, after, 256);
      if (keys.empty()) return;
      for (const auto& key : keys) {
        if (!visit(key)) return;
      }
      after = keys.back();
    }
  }
  std::vector<std::string> ScanKeys(uint32_t p, const std::optional<std::string>& after,
                                    size_t max_keys) override {
    GEOKV_ASSERT(txn_ != nullptr);
    return txn_->ScanKeys(p, after, max_keys);
  }
  size_t KeyCount(uint32_t p) override {
    GEOKV_ASSERT(txn_ != nullptr);
    return txn_->KeyCount(p);
  }
  crdt::ReplicaId self() const override { return node_.self().replica_id; }
  crdt::Hlc Now() override {
    GEOKV_ASSERT(txn_ != nullptr);
    crdt::HybridClock& clock = node_.clock_;
    if (!node_.clock_restored_) {  // the first HLC since the process started
      if (const std::optional<std::string> stored = txn_->Meta(kHlcLastMeta)) {
        clock.Restore(crdt::Hlc{std::strtoull(stored->c_str(), nullptr, 10)});
      }
      node_.clock_restored_ = true;
    }
    issued_ = clock.Now();
    return *issued_;
  }
  // Stores the latest HLC this job issued (kHlcLastMeta), once per job rather
  // than once per write. Call it at the end of the job's body.
  void PersistClock() {
    if (issued_) txn_->SetMeta(kHlcLastMeta, std::to_string(issued_->value));
  }
  int64_t NowMs() override { return static_cast<int64_t>(crdt::HybridClock::SystemWallClock()); }

 private:
  Node& node_;
  NodeReplication::Job* job_;
  storage::Transaction* txn_;
  std::vector<std::pair<uint32_t, uint64_t>> writes_;
  bool exact() const { return job_ != nullptr && node_.replication_ != nullptr; }

  std::optional<crdt::Hlc> issued_;  // the latest HLC of this job
  std::shared_ptr<const ServingView> view_;
};

Node::Node(placement::PlacementTable table, size_t node_index, storage::Engine& engine,
           boost::asio::io_context& io)
    : table_(std::make_shared<const placement::PlacementTable>(std::move(table))),
      node_index_(node_index),
      running_(table_),
      engine_(engine),
      io_(io),
      forwarder_(io),
      quorum_(*table_, node_index_, engine_, io_, forwarder_, stats_, [this] { FlushBatch(); }) {
  started_unix_s_ = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  std::random_device random;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 40; ++i) run_id_ += kHex[random() % 16];
  auto view = std::make_shared<ServingView>();
  view->epoch = table_->topology().epoch();
  view->holds.assign(table_->partitions(), 0);
  for (uint32_t p : table_->PartitionsOfNode(node_index_)) view->holds[p] = 1;
  view->serving = view->holds;
  view->serving_list = table_->PartitionsOfNode(node_index_);
  static_view_ = std::move(view);
  previous_ = table_;
  known_nodes_ = table_->topology().nodes();
}

void Node::set_testing_clock_offset_ms(int64_t offset_ms) {
  clock_ = crdt::HybridClock([offset_ms] {
    return static_cast<uint64_t>(static_cast<int64_t>(crdt::HybridClock::SystemWallClock()) +
                                 offset_ms);
  });
}

void Node::Dispatch(ClientSession& client, Args args, Reply reply) {
  std::string out;
  RespWriter writer(&out);
  const CommandSpec* spec = FindCommand(args[0]);
  if (spec == nullptr) {
    client.multi.aborted |= client.multi.active;
    ReplyUnknownCommand(args, writer);
    stats_.unknown_commands.fetch_add(1, std::memory_order_relaxed);
    stats_.CountError(out);
    return reply(std::move(out));
  }
  client.last_command = spec->name;
  if (!CheckArity(*spec, args, writer)) {
    client.multi.aborted |= client.multi.active;
    stats_.command(*spec).rejected.fetch_add(1, std::memory_order_relaxed);
    stats_.CountError(out);
    return reply(std::move(out));
  }
  if (auto denied = access_.Check(client, *spec, args)) {
    client.multi.aborted |= client.multi.active;
    return reply(ErrorReply(*denied));
  }
  if (memory_.over() && RefusedForMemory(*spec, client, args)) {
    client.multi.aborted |= client.multi.active;
    stats_.command(*spec).rejected.fetch_add(1, std::memory_order_relaxed);
    std::string error = ErrorReply(errors::kOom);
    stats_.CountError(error);
    return reply(std::move(error));
  }
  if (client.multi.active && !(spec->flags & kTransactionControl)) {
    return Queue(*spec, client, std::move(args), std::move(reply));
  }
  reply = Measured(*spec, client, args, std::move(reply));
  std::visit(replication::Overloaded{
                 [&](DataHandler handler) {
                   DispatchData(*spec, handler, client, std::move(args), std::move(reply));
                 },
                 [&](ConnectionHandler handler) {
                   ConnectionContext ctx(client, *this, std::move(reply));
                   handler(ctx, args);
                   ctx.Finish();
                 },
             },
             spec->handler);
}

Reply Node::Measured(const CommandSpec& spec, const ClientSession& client, const Args& args,
                     Reply reply) {
  const auto start = std::chrono::steady_clock::now();
  // The slow log needs the arguments after the command ran: kept (cut) only
  // while it is on.
  std::vector<std::string> logged;
  std::string address, name;
  if (stats_.slowlog.slower_than_us() >= 0) {
    logged = SlowLog::CutArgs(args);
    address = client.address;
    name = client.name;
  }
  // Redis counts a hit or a miss per key looked up; geokv per single-key read
  // command, by whether it replied null.
  const bool one_key_read = (spec.flags & kReadOnly) && spec.key_finder == nullptr &&
                            spec.first_key > 0 && spec.last_key == spec.first_key;
  return [this, &counters = stats_.command(spec), start, one_key_read, logged = std::move(logged),
          address = std::move(address), name = std::move(name),
          reply = std::move(reply)](std::string resp) mutable {
    const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count();
    counters.calls.fetch_add(1, std::memory_order_relaxed);
    counters.usec.fetch_add(static_cast<uint64_t>(us), std::memory_order_relaxed);
    counters.seconds.Observe(static_cast<double>(us) / 1e6);
    if (!resp.empty() && (resp[0] == '-' || resp[0] == '!')) {
      counters.failed.fetch_add(1, std::memory_order_relaxed);
      stats_.CountError(resp);
    } else if (one_key_read) {
      const bool null = resp == "$-1\r\n" || resp == "*-1\r\n" || resp == "_\r\n";
      (null ? stats_.keyspace_misses : stats_.keyspace_hits)
          .fetch_add(1, std::memory_order_relaxed);
    }
    if (!logged.empty() && stats_.slowlog.Wants(us)) {
      stats_.slowlog.Add(us, std::move(logged), std::move(address), std::move(name));
    }
    if (stats_.latency.Wants(us / 1000)) stats_.latency.Add("command", us / 1000);
    reply(std::move(resp));
  };
}

bool Node::RefusedForMemory(const CommandSpec& spec, const ClientSession& client,
                            const Args& args) const {
  // Inside MULTI every command that would be queued is refused (the queue
  // grows memory too), as in Redis; EXEC, DISCARD and QUIT go on. (Redis
  // also answers a nested MULTI or WATCH with -OOM; here they get their own
  // errors.) EXEC of a queue holding a denyoom command aborts (Exec).
  if (client.multi.active) return !(spec.flags & kTransactionControl);
  if (!(spec.flags & kDenyOom)) return false;
  // Refused where it would run, as Redis Cluster answers -MOVED before it
  // looks at memory: a write this node forwards is its target's to refuse.
  const auto route = RouteTo(KeyPartitions(spec, args));
  return route && route->self;
}

void Node::set_cluster_secret(const std::string& secret) {
  access_.SetPeerSecret(secret);
  forwarder_.set_credentials(std::string(AccessControl::kPeerUser), secret);
}

void Node::DispatchData(const CommandSpec& spec, DataHandler handler, ClientSession& client,
                        Args args, Reply reply) {
  std::vector<uint32_t> partitions = KeyPartitions(spec, args);
  const auto sticky =
      partitions.empty() ? client.forwarded_to.end() : client.forwarded_to.find(partitions.front());
  const std::optional<Route> route = RouteTo(
      partitions, sticky == client.forwarded_to.end() ? std::string_view() : sticky->second);
  if (!route) {
    // Held here but not served yet (a move fills it) and nowhere else to go.
    const auto view = View();
    const bool moving =
        !partitions.empty() && std::all_of(partitions.begin(), partitions.end(),
                                           [&](uint32_t p) { return view->holds[p]; });
    return reply(ErrorReply(moving ? kMoving : errors::kCrossSlot));
  }
  // Above level 1 a read joins several datacenters' replicas (quorum.h),
  // wherever the keys are held.
  if ((spec.flags & kReadOnly) && client.consistency.read > 1 && !partitions.empty()) {
    return quorum_.Read(handler, std::move(args), std::move(partitions), client.consistency,
                        client.protocol, std::move(reply));
  }
  if (!route->self) {
    if (client.forwarder) return reply(ErrorReply(errors::kForwardedTwice));
    const bool hintable =
        hints_ != nullptr && client.consistency.write == 1 && Hints::Hintable(spec, args);
    if (hints_ != nullptr && !hintable &&
        std::any_of(partitions.begin(), partitions.end(),
                    [&](uint32_t p) { return hints_->KeepsFor(p); })) {
      // Its replicas may not have this node's hints yet: a DEL would miss
      // the hinted SET before it, a GET would not show it (hints.h).
      return reply(ErrorReply(kHandingOff));
    }
    const placement::Node& node = *route->node;
    if (sticky != client.forwarded_to.end()) {
      sticky->second = node.id;
    } else if (!partitions.empty()) {
      if (client.forwarded_to.size() >= ClientSession::kMaxForwardedTo) client.forwarded_to.clear();
      client.forwarded_to.emplace(partitions.front(), node.id);
    }
    if ((spec.flags & kWrite) && client.consistency.write > 1) {
      reply = quorum_.AfterForwardedWrite({node.id, node.client.host, node.client.port},
                                          partitions, client.consistency, std::move(reply));
    }
    if (spec.flags & kWrite) {
      // For WAIT: where the write went, and when its reply is back (a hint
      // kept instead, below, before that).
      std::shared_ptr<ClientWrites> writes = client.writes;
      writes->forwarded[route->index].insert(partitions.begin(), partitions.end());
      ++writes->forwards_in_flight;
      reply = [writes, reply = std::move(reply)](std::string resp) {
        reply(std::move(resp));
        if (--writes->forwards_in_flight > 0) return;
        for (auto& run : std::exchange(writes->after_forwards, {})) run();
      };
    }
    if (hintable) {
      // No replica reachable: kept as a hint (hints.h). Level 1 only: a hint
      // counts toward no write level above it.
      reply = [this, handler, hinted = args, writes = client.writes, protocol = client.protocol,
               reply = std::move(reply)](std::string resp) mutable {
        if (stopping_ || !resp.starts_with("-TRYAGAIN forwarding failed")) {
          return reply(std::move(resp));
        }
        KeepHint(handler, std::move(hinted), writes, protocol, std::move(resp), std::move(reply));
      };
    }
    return forwarder_.Forward({node.id, node.client.host, node.client.port}, args, client.protocol,
                              std::move(reply));
  }
  if (testing_drop_every_nth_set_ > 0 && std::string_view(spec.name) == "set" &&
      ++testing_sets_seen_ % testing_drop_every_nth_set_ == 0) {
    return reply("+OK\r\n");  // deliberately broken store (set_testing_drop_every_nth_set)
  }
  std::vector<uint32_t> writes_to = WritesTo(spec, partitions);
  RunDataCommand([handler, args = std::move(args)](CommandContext& ctx) { handler(ctx, args); },
                 client, std::move(reply), std::move(writes_to), std::move(partitions));
}

std::vector<uint32_t> Node::KeyPartitions(const CommandSpec& spec, const Args& args) const {
  std::vector<uint32_t> partitions;
  for (std::string_view key : CommandKeys(spec, args)) {
    partitions.push_back(table_->PartitionOfKey(key));
  }
  return partitions;
}

std::vector<uint32_t> Node::WritesTo(const CommandSpec& spec,
                                     std::vector<uint32_t> key_partitions) const {
  if (!(spec.flags & kWrite)) return {};
  return key_partitions.empty() ? View()->serving_list : key_partitions;
}

bool Node::HoldsAll(const std::vector<std::string_view>& keys) const {
  const auto view = View();
  for (std::string_view key : keys) {
    if (!view->Serves(table_->PartitionOfKey(key))) return false;
  }
  return true;
}

void Node::Queue(const CommandSpec& spec, ClientSession& client, Args args, Reply reply) {
  Transaction& multi = client.multi;
  if (!spec.is_data()) {
    multi.aborted = true;
    return reply(ErrorReply(errors::kNotInTransaction));
  }
  // A transaction runs as one job on this node: every key must be held here.
  if (!HoldsAll(CommandKeys(spec, args))) {
    multi.aborted = true;
    return reply(ErrorReply(errors::kCrossSlot));
  }
  size_t bytes = 0;
  for (const std::string& a : args) bytes += a.size();
  if (multi.queued.size() >= kTransactionCommandsMax ||
      multi.queued_bytes + bytes > kTransactionBytesMax) {
    multi.aborted = true;
    return reply(ErrorReply(errors::kTransactionTooLarge));
  }
  multi.queued_bytes += bytes;
  multi.queued.push_back(std::move(args));
  reply("+QUEUED\r\n");
}

void Node::Watch(ClientSession& client, std::vector<std::string> keys, Reply reply) {
  if (!HoldsAll({keys.begin(), keys.end()})) return reply(ErrorReply(errors::kCrossSlot));
  if (!client.watched) client.watched = std::make_shared<WatchedKeys>();
  RunDataCommand(
      [watched = client.watched, keys = std::move(keys)](CommandContext& ctx) {
        for (const std::string& key : keys) {
          watched->Add(key, KeyVersion(StateOf(ctx, key), key));
        }
        ctx.reply.Simple("OK");
      },
      client, std::move(reply));
}

void Node::Exec(ClientSession& client, std::vector<Args> queued,
                std::shared_ptr<WatchedKeys> watched, Reply reply) {
  std::vector<DataHandler> handlers;
  std::vector<uint32_t> writes_to;
  bool deny_oom = false;
  for (const Args& args : queued) {
    const CommandSpec* spec = FindCommand(args[0]);
    GEOKV_ASSERT(spec != nullptr && spec->is_data());  // checked when queued
    handlers.push_back(std::get<DataHandler>(spec->handler));
    for (uint32_t p : WritesTo(*spec, KeyPartitions(*spec, args))) writes_to.push_back(p);
    deny_oom |= (spec->flags & kDenyOom) != 0;
  }
  if (deny_oom && memory_.over()) return reply(ErrorReply(errors::kExecAbortOom));
  RunDataCommand(
      [handlers = std::move(handlers), queued = std::move(queued),
       watched = std::move(watched)](CommandContext& ctx) {
        if (watched && !watched->Unchanged(ctx.partitions)) return ctx.reply.NullArray();
        ctx.reply.ArrayHeader(queued.size());
        for (size_t i = 0; i < queued.size(); ++i) handlers[i](ctx, queued[i]);
      },
      client, std::move(reply), std::move(writes_to));
}

void Node::Info(const std::string& sections, Reply reply) {
  Report([sections, reply](NodeReport report) {
    std::string out;
    RespWriter(&out).Bulk(InfoText(report, sections));
    reply(std::move(out));
  });
}

void Node::Metrics(std::function<void(std::string)> done) {
  Report([done](NodeReport report) { done(MetricsText(report)); });
}

void Node::Report(std::function<void(NodeReport)> reply) {
  // The text is made on the I/O thread, not in a storage job's `done`.
  auto done = [this, reply = std::move(reply)](NodeReport report) {
    boost::asio::post(io_,
                      [reply, report = std::move(report)]() mutable { reply(std::move(report)); });
  };
  auto report = std::make_shared<NodeReport>();
  report->table = table_.get();
  report->node_index = node_index_;
  if (server_ != nullptr) {
    report->server = &server_->stats();
    report->max_clients = server_->options().max_clients;
  }
  report->stats = &stats_;
  report->engine = &engine_.stats();
  report->data_path = engine_.path();
  report->memory = ReadMemoryUsage();
  report->memory.used_bytes = memory_.used_bytes();
  report->memory.used_peak_bytes = memory_.peak_bytes();
  report->memory.max_bytes = memory_.max_bytes();
  report->memory.sample_us = memory_.sample_us();
  report->uptime_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count();
  report->started_unix_s = started_unix_s_;
  report->ops_per_sec = stats_.OpsPerSecond();
  report->run_id = run_id_;
  if (hints_ != nullptr) report->hints = hints_->Figures();
  {
    const auto running = running_.table();
    ClusterFigures& c = report->cluster;
    c.epoch = running->topology().epoch();
    c.source = running->topology().source_name();
    c.nodes = running->topology().nodes().size();
    c.datacenters = running->topology().datacenters().size();
    c.self_in_topology = running->topology().FindNode(self().id).has_value();
    c.peers_ahead = replication_ != nullptr ? replication_->PeersAhead() : 0;
    c.adopted = running_.adopted();
    c.refused = running_.refused();
    const auto view = View();
    c.move_bytes_left = view->move_bytes_left_total;
    for (const replication::MoveStatus& m : view->moves) {
      ++c.moves_by_role[static_cast<size_t>(m.role)];
    }
    c.moves_stalled = replication_ != nullptr ? replication_->MovesStalled() : 0;
  }
  // Key counts live in storage and the replication state on the writer
  // thread: both are read in jobs. A busy engine gives a report without them.
  const Status s = engine_.Submit(
      [this, report](storage::Transaction& txn) {
        report->hlc = clock_.last().value;
        const auto view = View();
        for (uint32_t p : view->serving_list) report->keys.emplace_back(p, txn.KeyCount(p));
        return Status::Ok();
      },
      [this, report, done](Status) {
        if (replication_ == nullptr) return done(std::move(*report));
        replication_->Snapshot([report, done](std::optional<ReplicationSnapshot> snapshot) {
          report->replication = std::move(snapshot);
          done(std::move(*report));
        });
      });
  if (!s.ok()) done(std::move(*report));
}

std::vector<ClientInfo> Node::Clients() {
  return server_ != nullptr ? server_->Clients() : std::vector<ClientInfo>{};
}

bool Node::KillClient(uint64_t id) { return server_ != nullptr && server_->KillClient(id); }

void Node::StartActiveExpiry(std::chrono::milliseconds period) {
  GEOKV_ASSERT(expiry_timer_ == nullptr);
  expiry_period_ = period;
  expiry_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  ScheduleActiveExpiry();
}

void Node::ScheduleActiveExpiry() {
  expiry_timer_->expires_after(expiry_period_);
  expiry_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    // The same period suits instantaneous_ops_per_sec's samples.
    if (server_ != nullptr) {
      stats_.SampleOps(server_->stats().commands_processed.load(),
                       std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count());
    }
    auto body = [this](NodeReplication::Job& job) {
      TxnPartitions partitions(*this, &job);
      stats_.expired_keys.fetch_add(active_expiry_.RunCycle(partitions).removed,
                                    std::memory_order_relaxed);
      partitions.PersistClock();
    };
    auto done = [this](Status) { boost::asio::post(io_, [this] { ScheduleActiveExpiry(); }); };
    if (!NodeReplication::Submit(replication_, engine_, std::move(body), std::move(done)).ok()) {
      ScheduleActiveExpiry();  // busy: next period
    }
  });
}

std::optional<Node::Route> Node::RouteTo(const std::vector<uint32_t>& partitions,
                                         std::string_view sticky) const {
  const auto view = View();
  if (std::all_of(partitions.begin(), partitions.end(),
                  [&](uint32_t p) { return view->Serves(p); })) {
    return Route{true, &self(), node_index_};
  }
  // Candidates: the first key's owners in the running topology and the one
  // before it that hold every key's partition there.
  const auto running = running_.table();
  struct Candidate {
    int group;  // 0: owner in both topologies, 1: new owner, 2: old owner
    int dc;     // 0: this datacenter
    size_t order;
    const placement::Node* node;
  };
  std::vector<Candidate> candidates;
  auto holds_all = [&](const placement::PlacementTable& t, const std::string& id) {
    const std::optional<size_t> n = t.topology().FindNode(id);
    if (!n) return false;
    for (uint32_t p : partitions) {
      const auto list = t.PreferenceList(p);
      if (std::find(list.begin(), list.end(), *n) == list.end()) return false;
    }
    return true;
  };
  const placement::PlacementTable* tables[2] = {running.get(), previous_.get()};
  size_t order = 0;
  for (int t = 0; t < 2; ++t) {
    for (uint32_t n : tables[t]->PreferenceList(partitions.front())) {
      const placement::Node& node = tables[t]->topology().nodes()[n];
      if (node.id == self().id || !holds_all(*tables[t], node.id)) continue;
      if (std::any_of(candidates.begin(), candidates.end(),
                      [&](const Candidate& c) { return c.node->id == node.id; })) {
        continue;
      }
      const bool both = holds_all(*tables[1 - t], node.id);
      candidates.push_back({both ? 0 : 1 + t, node.dc == self().dc ? 0 : 1, order++, &node});
    }
  }
  if (candidates.empty()) return std::nullopt;
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.group, a.dc, a.order) < std::tie(b.group, b.dc, b.order);
  });
  auto up = [&](const placement::Node& n) {
    return replication_ == nullptr || replication_->IsUp(n.replica_id);
  };
  const Candidate* chosen = &candidates.front();
  for (const Candidate& c : candidates) {
    if (up(*c.node)) {
      chosen = &c;
      break;
    }
  }
  // The connection's last holder, unless a move made it a worse kind of
  // owner (an old owner's copy goes once the move ends).
  for (const Candidate& c : candidates) {
    if (c.node->id == sticky && c.group == chosen->group && up(*c.node)) chosen = &c;
  }
  size_t index = 0;
  while (index < known_nodes_.size() && known_nodes_[index].id != chosen->node->id) ++index;
  GEOKV_ASSERT(index < known_nodes_.size());  // ApplyTopology adds every node it runs
  return Route{false, chosen->node, index};
}

void Node::RunDataCommand(std::function<void(CommandContext&)> run, const ClientSession& client,
                          Reply reply, std::vector<uint32_t> writes_to,
                          std::vector<uint32_t> reads_from) {
  batch_.push_back(PendingCommand{std::move(run), std::move(reply), client.writes, client.protocol,
                                  std::move(writes_to), client.consistency, std::move(reads_from)});
  if (batch_.size() == 1) boost::asio::post(io_, [this] { FlushBatch(); });
  if (batch_.size() >= kMaxBatch) FlushBatch();
}

void Node::FlushBatch() {
  if (batch_.empty()) return;
  auto commands = std::make_shared<std::vector<PendingCommand>>(std::move(batch_));
  batch_.clear();
  auto outputs = std::make_shared<std::vector<std::string>>(commands->size());
  auto writes =
      std::make_shared<std::vector<std::vector<std::pair<uint32_t, uint64_t>>>>(commands->size());
  auto body = [this, commands, outputs, writes](NodeReplication::Job& job) {
    TxnPartitions partitions(*this, &job);
    for (size_t i = 0; i < commands->size(); ++i) {
      // A storage error (a full disk) fails the whole job: running more
      // commands over a transaction that ignores their writes is pointless.
      if (!job.txn().status().ok()) break;
      RespWriter writer(&(*outputs)[i], (*commands)[i].protocol);
      const std::vector<uint32_t>& reads_from = (*commands)[i].reads_from;
      if (!std::all_of(reads_from.begin(), reads_from.end(),
                       [&](uint32_t p) { return job.Serving(p); })) {
        writer.Error(kMoving);  // handed over since it was routed here: ask again
        continue;
      }
      const std::vector<uint32_t>& writes_to = (*commands)[i].writes_to;
      if (!std::all_of(writes_to.begin(), writes_to.end(),
                       [&](uint32_t p) { return job.OwnWritable(p); })) {
        writer.Error(errors::kFenced);  // new dots could repeat lost ones: not yet
        continue;
      }
      CommandContext ctx{partitions, writer};
      (*commands)[i].run(ctx);
      (*writes)[i] = partitions.TakeWrites();
    }
    partitions.PersistClock();
  };
  auto done = [this, commands, outputs, writes](Status status) {
    std::string error;
    if (!status.ok()) RespWriter(&error).Error("ERR storage: " + status.message());
    for (size_t i = 0; i < commands->size(); ++i) {
      PendingCommand& c = (*commands)[i];
      if (status.ok() && !(*writes)[i].empty()) {
        std::lock_guard lock(c.writes->mu);
        for (auto [p, seq] : (*writes)[i]) c.writes->last[p] = std::max(c.writes->last[p], seq);
      }
      if (status.ok() && c.level.write > 1 && !(*writes)[i].empty()) {
        quorum_.AwaitWrites(std::move((*writes)[i]), c.level, std::move((*outputs)[i]),
                            std::move(c.reply));
        continue;
      }
      c.reply(status.ok() ? std::move((*outputs)[i]) : error);
    }
  };
  // A batch of reads only is answered as soon as it ran, from memory, without
  // waiting for the commit of earlier writes (storage/engine.h, Completion).
  // The server still writes each connection's replies in request order.
  const bool reads_only = std::all_of(commands->begin(), commands->end(),
                                      [](const PendingCommand& c) { return c.writes_to.empty(); });
  const storage::Completion completion =
      reads_only ? storage::Completion::kAfterRun : storage::Completion::kAfterCommit;
  if (!NodeReplication::Submit(replication_, engine_, std::move(body), std::move(done), completion)
           .ok()) {
    for (auto& c : *commands) c.reply(ErrorReply(errors::kBusy));
  }
}

void Node::Wait(ClientSession& client, int64_t numdcs, int64_t timeout_ms, Reply reply) {
  if (replication_ == nullptr) return reply(":0\r\n");
  // The connection's earlier requests may still be queued (a pipeline),
  // running, or forwarded. Local writes are read in the `done` of a job
  // submitted after theirs, which runs after their `done`s recorded them
  // (engine.h: jobs and their `done`s run in submission order); forwarded
  // ones once their replies are back (docs/replication.md, "WAIT").
  FlushBatch();
  std::shared_ptr<ClientWrites> writes = client.writes;
  auto tally = [this, writes, numdcs, timeout_ms, reply] {
    // The answer is the least count of the parts: the local writes (none:
    // every other datacenter counts), and each node the connection forwarded
    // writes to.
    struct Combined {
      size_t parts = 0;
      int64_t least = INT64_MAX;
      Reply reply;
    };
    auto combined = std::make_shared<Combined>();
    combined->reply = reply;
    combined->parts = writes->forwarded.size() + 1;
    auto part = [combined](int64_t count) {
      combined->least = std::min(combined->least, count);
      if (--combined->parts > 0) return;
      combined->reply(":" + std::to_string(combined->least) + "\r\n");
    };
    for (const auto& [target, partitions] : writes->forwarded) {
      AskWaitOwn(target, partitions, numdcs, timeout_ms, part);
    }
    auto run = [this, writes, numdcs, timeout_ms, part, reply](Status) {
      std::vector<NodeReplication::Write> seqs;
      {
        std::lock_guard lock(writes->mu);
        seqs.assign(writes->last.begin(), writes->last.end());
      }
      replication_->Wait(std::move(seqs), numdcs, timeout_ms, [this, part, reply](std::string r) {
        // Called on the writer thread: the parts are combined on the I/O thread.
        boost::asio::post(io_, [part, reply, r = std::move(r)] {
          const std::optional<int64_t> count = IntegerReply(r);
          if (!count) return reply(r);  // an error: as it is
          part(*count);
        });
      });
    };
    if (!engine_.Submit([](storage::Transaction&) { return Status::Ok(); }, std::move(run)).ok()) {
      part(0);
    }
  };
  // A write kept as a hint counts 0 DCs until it is handed off (hints.h).
  auto start = [this, writes, numdcs, timeout_ms, reply, tally = std::move(tally)] {
    std::vector<uint64_t> hinted;
    if (hints_ != nullptr && numdcs > 0) {
      std::lock_guard lock(writes->mu);
      for (uint64_t id : writes->hints) {
        if (hints_->Pending(id)) hinted.push_back(id);
      }
      writes->hints = hinted;  // those handed off are done with
    }
    if (hinted.empty()) return tally();
    hints_->WhenHandedOff(std::move(hinted), timeout_ms, [tally, reply](bool handed_off) {
      if (!handed_off) return reply(":0\r\n");
      tally();
    });
  };
  if (writes->forwards_in_flight > 0) return writes->after_forwards.push_back(std::move(start));
  start();
}

void Node::KeepHint(DataHandler handler, Args args, std::shared_ptr<ClientWrites> writes,
                    int protocol, std::string failure, Reply reply) {
  auto kept = std::make_shared<Hints::Kept>();
  auto body = [this, handler, args = std::move(args), protocol, kept](NodeReplication::Job& job) {
    TxnPartitions partitions(*this, &job);  // for the clock
    *kept = hints_->Keep(handler, args, partitions, protocol);
    partitions.PersistClock();
  };
  // The reply goes through the WAIT bookkeeping of forwarded writes: I/O thread.
  auto done = [this, kept, writes, failure, reply](Status status) {
    std::string out = kept->reply.empty() ? failure : kept->reply;
    if (!status.ok()) out = ErrorReply("ERR storage: " + status.message());
    if (!kept->ids.empty()) {
      std::lock_guard lock(writes->mu);
      // Those handed off are done with: forgotten now and then, so that a
      // long connection's list stays bounded.
      if (writes->hints.size() % 1024 == 1023) {
        std::erase_if(writes->hints, [&](uint64_t id) { return !hints_->Pending(id); });
      }
      writes->hints.insert(writes->hints.end(), kept->ids.begin(), kept->ids.end());
    }
    boost::asio::post(io_, [reply, out = std::move(out)] { reply(out); });
  };
  if (!NodeReplication::Submit(replication_, engine_, std::move(body), std::move(done)).ok()) {
    reply(std::move(failure));
  }
}

void Node::Hint(uint32_t partition, std::string delta, std::optional<uint64_t> epoch,
               Reply reply) {
  if (replication_ == nullptr) return reply(kNoReplication);
  replication_->ApplyHint(partition, std::move(delta), epoch, std::move(reply));
}

void Node::EnableHints(std::unique_ptr<storage::HintStore> store, uint64_t incarnation) {
  GEOKV_ASSERT(hints_ == nullptr);
  const crdt::ReplicaId origin = Hints::HintOrigin(self().id, incarnation);
  for (const placement::Node& n : known_nodes_) GEOKV_ASSERT(n.replica_id != origin);
  hints_ = std::make_unique<Hints>(std::move(store), origin, io_, forwarder_, [this](uint32_t p) {
    const auto running = running_.table();
    Hints::Owners owners{running->topology().epoch(), {}};
    for (uint32_t n : running->PreferenceList(p)) {
      const placement::Node& node = running->topology().nodes()[n];
      owners.targets.push_back({node.id, node.client.host, node.client.port});
    }
    return owners;
  });
  hints_->Start();
}

void Node::AskWaitOwn(size_t target, const std::set<uint32_t>& partitions, int64_t numdcs,
                      int64_t timeout_ms, std::function<void(int64_t)> part) {
  // The target counts the datacenters other than its own that applied its
  // writes. Its own datacenter applied them too: when that is not this
  // node's and this node's datacenter holds none of the partitions (so the
  // target cannot have counted it), it adds one; otherwise the target's count
  // is a lower bound.
  const placement::Node& node = known_nodes_[target];
  const auto running = running_.table();
  bool own_dc_holds = false;
  for (uint32_t p : partitions) {
    for (uint32_t n : running->PreferenceList(p)) {
      own_dc_holds |= running->topology().nodes()[n].dc == self().dc;
    }
  }
  const int64_t extra = node.dc != self().dc && !own_dc_holds ? 1 : 0;
  Args args = {"GEOKV.WAITOWN", std::to_string(std::max<int64_t>(numdcs - extra, 0)),
               std::to_string(timeout_ms)};
  for (uint32_t p : partitions) args.push_back(std::to_string(p));
  // No reply within the WAIT's timeout (plus a margin) counts as nothing.
  const int64_t deadline_ms = timeout_ms > 0 ? timeout_ms + 1000 : kWaitForeverMs;
  forwarder_.Ask({node.id, node.client.host, node.client.port}, args, deadline_ms,
                 [part = std::move(part), extra](const std::string& r) {
                   const std::optional<int64_t> count = IntegerReply(r);
                   part(count ? *count + extra : 0);
                 });
}

void Node::AntiEntropyStatus(Reply reply) {
  if (replication_ == nullptr) return reply(kNoReplication);
  replication_->AntiEntropyStatus(std::move(reply));
}

void Node::RunAntiEntropy(std::optional<uint32_t> partition, Reply reply) {
  if (replication_ == nullptr) return reply(kNoReplication);
  replication_->RunAntiEntropy(partition, std::move(reply));
}

void Node::Rebuild(uint32_t partition, Reply reply) {
  if (replication_ == nullptr) return reply(kNoReplication);
  replication_->Rebuild(partition, std::move(reply));
}

void Node::Topology(std::optional<std::string> apply_text, Reply reply) {
  if (apply_text) return ApplyTopology(*apply_text, "GEOKV.TOPOLOGY APPLY", std::move(reply));
  const auto running = running_.table();
  std::string out;
  RespWriter w(&out);
  w.ArrayHeader(2);
  w.Integer(static_cast<int64_t>(running->topology().epoch()));
  w.Bulk(running->topology().text());
  reply(std::move(out));
}

void Node::ApplyTopology(std::string_view text, const std::string& source, Reply reply) {
  auto refuse = [&](const std::string& why) {
    running_.CountRefused();
    spdlog::warn("topology from {} refused: {}", source, why);
    std::string line = why;  // an error reply is one line
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::replace(line.begin(), line.end(), '\r', ' ');
    reply(ErrorReply("ERR topology refused: " + line));
  };
  // Validated exactly as the file at start-up.
  Result<placement::Topology> offered = placement::ParseTopology(text, source);
  if (!offered.ok()) return refuse(offered.status().message());
  const auto running = running_.table();
  const TopologyJudgement judgement = JudgeTopology(running->topology(), *offered);
  if (judgement.verdict == TopologyVerdict::kSame) return reply("+OK\r\n");
  if (judgement.verdict == TopologyVerdict::kRefuse) return refuse(judgement.reason);
  auto next = std::make_shared<const placement::PlacementTable>(
      routes_.Apply(std::move(*offered), self().id));
  const auto diff = placement::Diff(*running, *next);  // same Q: JudgeTopology checked it
  // Kept before it is run: a node restarted after +OK runs it (or a later one),
  // and still hears the nodes only the running one names (PreviousTopologyPath).
  if (!data_dir_.empty()) {
    Status s = SavePreviousTopology(data_dir_, running->topology());
    if (s.ok()) s = SaveAdoptedTopology(data_dir_, next->topology());
    if (!s.ok()) {
      spdlog::error("topology from {} not adopted: {}", source, s.message());
      return reply(ErrorReply("ERR topology not adopted: " + s.message()));
    }
  }
  previous_ = running;
  running_.Replace(next);
  quorum_.Adopt(next, running);
  for (const placement::Node& n : next->topology().nodes()) {
    if (std::none_of(known_nodes_.begin(), known_nodes_.end(),
                     [&](const placement::Node& k) { return k.id == n.id; })) {
      known_nodes_.push_back(n);
    }
  }
  spdlog::info(
      "running topology epoch {} from {} (was epoch {}): {} nodes in {} datacenters; {} of {} "
      "replicas change owner",
      next->topology().epoch(), source, running->topology().epoch(),
      next->topology().nodes().size(), next->topology().datacenters().size(),
      diff.ok() ? diff->moved_replicas : 0, diff.ok() ? diff->total_replicas : 0);
  if (!next->topology().FindNode(self().id)) {
    spdlog::warn(
        "node {} is not in topology epoch {}: it keeps running to drain its partitions to their "
        "new owners",
        self().id, next->topology().epoch());
  }
  if (replication_ != nullptr) replication_->AdoptTopology(next);
  reply("+OK\r\n");
}

void Node::Members(Reply reply) {
  const auto running = running_.table();
  const placement::Topology& next = running->topology();
  const placement::Topology& before = previous_->topology();
  const auto view = View();
  const std::map<std::string, uint64_t> epochs =
      replication_ != nullptr ? replication_->PeerEpochs() : std::map<std::string, uint64_t>{};
  // bytes_left: this node's as its view has it, another's as its latest
  // heartbeat said (-1: none heard).
  const std::map<std::string, uint64_t> bytes_left_of = replication_ != nullptr
                                                            ? replication_->PeerMoveBytesLeft()
                                                            : std::map<std::string, uint64_t>{};
  // Every node of the running topology, then those of the one before that
  // it dropped (they drain).
  std::vector<const placement::Node*> members;
  for (const placement::Node& n : next.nodes()) members.push_back(&n);
  for (const placement::Node& n : before.nodes()) {
    if (!next.FindNode(n.id)) members.push_back(&n);
  }
  std::string out;
  RespWriter w(&out);
  w.ArrayHeader(members.size());
  for (const placement::Node* n : members) {
    const std::optional<size_t> was = before.FindNode(n->id);
    const std::optional<size_t> target = next.FindNode(n->id);
    const bool is_self = n->id == self().id;
    // Held: what this node serves now (the replication's view); for another
    // node, by the topology before the running one. Moving: for this node
    // the partitions moving here; for another, those whose owners gain or
    // lose it between the two topologies.
    std::vector<uint32_t> held, wanted, moving;
    if (is_self) {
      held = view->serving_list;
    } else if (was) {
      held = previous_->PartitionsOfNode(*was);
    }
    if (target) wanted = running->PartitionsOfNode(*target);
    if (is_self) {
      for (const auto& m : view->moves) moving.push_back(m.partition);
    } else {
      std::set_symmetric_difference(held.begin(), held.end(), wanted.begin(), wanted.end(),
                                    std::back_inserter(moving));
    }
    std::string state;
    if (!target) {
      state = is_self && replication_ != nullptr && replication_->Removed() ? "left" : "draining";
    } else if (is_self ? std::any_of(view->moves.begin(), view->moves.end(),
                                     [](const replication::MoveStatus& m) {
                                       return m.role == replication::MoveStatus::Role::kJoining;
                                     })
                       : !was) {
      state = "joining";
    } else {
      state = replication_ == nullptr || replication_->IsUp(n->replica_id) ? "up" : "down";
    }
    int64_t epoch = -1;  // not heard yet
    int64_t bytes_left = -1;
    if (is_self) {
      epoch = static_cast<int64_t>(next.epoch());
      bytes_left = static_cast<int64_t>(view->move_bytes_left_total);
    } else {
      if (auto it = epochs.find(n->id); it != epochs.end()) {
        epoch = static_cast<int64_t>(it->second);
      }
      if (auto it = bytes_left_of.find(n->id); it != bytes_left_of.end()) {
        bytes_left = static_cast<int64_t>(it->second);
      }
    }
    w.ArrayHeader(18);
    w.Bulk("id");
    w.Bulk(n->id);
    w.Bulk("dc");
    w.Bulk(n->dc);
    w.Bulk("rack");
    w.Bulk(n->rack);
    w.Bulk("epoch");
    w.Integer(epoch);
    w.Bulk("state");
    w.Bulk(state);
    w.Bulk("partitions_held");
    w.Integer(static_cast<int64_t>(held.size()));
    w.Bulk("partitions_target");
    w.Integer(static_cast<int64_t>(wanted.size()));
    w.Bulk("partitions_moving");
    w.Integer(static_cast<int64_t>(moving.size()));
    w.Bulk("bytes_left");
    w.Integer(bytes_left);
  }
  reply(std::move(out));
}

void Node::Moves(Reply reply) {
  const auto view = View();
  const uint64_t now_ms = replication_ != nullptr ? replication_->NowMs() : 0;
  std::string out;
  RespWriter w(&out);
  auto ids = [&](const std::vector<crdt::ReplicaId>& of) {
    w.ArrayHeader(of.size());
    for (crdt::ReplicaId id : of) {
      auto name = view->node_ids.find(id);
      w.Bulk(name != view->node_ids.end() ? name->second : std::to_string(id));
    }
  };
  w.ArrayHeader(view->moves.size());
  for (size_t i = 0; i < view->moves.size(); ++i) {
    const replication::MoveStatus& m = view->moves[i];
    w.ArrayHeader(18);
    w.Bulk("partition");
    w.Integer(m.partition);
    w.Bulk("role");
    w.Bulk(MoveRoleName(m.role));
    w.Bulk("epoch");
    w.Integer(static_cast<int64_t>(m.epoch));
    w.Bulk("waiting_for_joiners");
    ids(m.joining);
    w.Bulk("waiting_for_finals");
    ids(m.leaving);
    w.Bulk("atoms_deleted");
    w.Integer(static_cast<int64_t>(m.atoms_deleted));
    w.Bulk("age_ms");
    w.Integer(static_cast<int64_t>(now_ms > m.started_ms ? now_ms - m.started_ms : 0));
    w.Bulk("bytes_left");
    w.Integer(i < view->move_bytes_left.size() ? static_cast<int64_t>(view->move_bytes_left[i])
                                               : -1);
    w.Bulk("waiting_for_acks");
    ids(m.acknowledging);
  }
  reply(std::move(out));
}

void Node::WaitOwn(std::vector<uint32_t> partitions, int64_t numdcs, int64_t timeout_ms,
                   Reply reply) {
  if (replication_ == nullptr) return reply(":0\r\n");
  replication_->WaitOwn(std::move(partitions), numdcs, timeout_ms, std::move(reply));
}

std::vector<ConfigParam> Node::ConfigParams() {
  ServerOptions& o = server_->options();
  return {
      {"maxclients", std::to_string(o.max_clients), &o.max_clients},
      {"proto-max-bulk-len", std::to_string(o.resp.max_bulk_bytes), &o.resp.max_bulk_bytes},
      {"client-query-buffer-limit", std::to_string(o.resp.max_query_buffer_bytes),
       &o.resp.max_query_buffer_bytes},
      {"geokv-client-output-buffer-limit", std::to_string(o.output_buffer_limit_bytes),
       &o.output_buffer_limit_bytes},
      {"geokv-max-pending-requests", std::to_string(o.max_pending_requests),
       &o.max_pending_requests},
      {"slowlog-log-slower-than", std::to_string(stats_.slowlog.slower_than_us()), nullptr, nullptr,
       [this](int64_t us) { stats_.slowlog.set_slower_than_us(us); }, -1},
      {"slowlog-max-len", std::to_string(stats_.slowlog.max_len()), nullptr, nullptr,
       [this](int64_t len) { stats_.slowlog.set_max_len(len); }, 0, SlowLog::kEntriesMax},
      {"latency-monitor-threshold", std::to_string(stats_.latency.threshold_ms()), nullptr, nullptr,
       [this](int64_t ms) { stats_.latency.set_threshold_ms(ms); }, 0},
      // TLS (read-only: set by geokv-server's --tls-* flags).
      {"tls-port", std::to_string(server_->tls().port), nullptr},
      {"tls-cert-file", server_->tls().cert_file, nullptr},
      {"tls-key-file", server_->tls().key_file, nullptr},
      {"tls-ca-cert-file", server_->tls().ca_cert_file, nullptr},
      {"tls-auth-clients", server_->tls().auth_clients, nullptr},
      {"requirepass", access_.requirepass(), nullptr,
       [this](const std::string& password) -> std::string {
         // Forwarded requests must still authenticate at their targets.
         if (!password.empty() && !access_.HasPeerSecret() &&
             table_->topology().nodes().size() > 1) {
           return "a multi-node topology needs --cluster-secret-file for a password";
         }
         access_.SetRequirePass(password);
         return "";
       }},
      {"aclfile", access_.aclfile(), nullptr},
      {"maxmemory", std::to_string(memory_.max_bytes()), nullptr,
       [this](const std::string& text) -> std::string {
         const std::optional<uint64_t> bytes = ParseMemoryBytes(text);
         if (!bytes) return "argument must be a memory value";  // Redis's words
         memory_.set_max_bytes(*bytes);
         return "";
       }},
      {"maxmemory-policy", "noeviction", nullptr},
      {"save", "", nullptr},
      {"appendonly", "no", nullptr},
      {"databases", "1", nullptr},
      // Redis's encoding tunables: accepted and shown, changing nothing (geokv
      // keeps one representation), so that clients and tools that set them
      // keep working.
      {"hash-max-ziplist-entries", std::to_string(tunables_.hash_entries), &tunables_.hash_entries},
      {"hash-max-listpack-entries", std::to_string(tunables_.hash_entries),
       &tunables_.hash_entries},
      {"hash-max-ziplist-value", std::to_string(tunables_.hash_value), &tunables_.hash_value},
      {"hash-max-listpack-value", std::to_string(tunables_.hash_value), &tunables_.hash_value},
      {"set-max-intset-entries", std::to_string(tunables_.set_intset_entries),
       &tunables_.set_intset_entries},
  };
}

}  // namespace geokv::replica
