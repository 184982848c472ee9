#include "replica/node/node.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <charconv>
#include <climits>
#include <cstdlib>

#include "common/assert.h"
#include "crdt/join.h"
#include "replica/commands/command_util.h"
#include "replica/resp/resp_writer.h"

namespace geokv::replica {

namespace {
// The value of a RESP integer reply (":n\r\n"); nullopt for any other reply.
std::optional<int64_t> IntegerReply(std::string_view r) {
  if (r.size() < 4 || r[0] != ':' || r.substr(r.size() - 2) != "\r\n") return std::nullopt;
  int64_t n = 0;
  const char* end = r.data() + r.size() - 2;
  auto [at, ec] = std::from_chars(r.data() + 1, end, n);
  if (ec != std::errc() || at != end) return std::nullopt;
  return n;
}
}  // namespace

// The Partitions of one storage job.
class Node::TxnPartitions final : public Partitions {
 public:
  TxnPartitions(Node& node, NodeReplication::Job* job)
      : node_(node), job_(job), txn_(job != nullptr ? &job->txn() : nullptr) {}

  // The (partition, seq) of every delta committed since the last call.
  std::vector<std::pair<uint32_t, uint64_t>> TakeWrites() { return std::exchange(writes_, {}); }

  uint32_t PartitionOf(std::string_view key) const override {
    return node_.table_.PartitionOfKey(key);
  }
  bool Holds(uint32_t p) const override { return node_.held_[p]; }
  std::vector<uint32_t> HeldPartitions() const override { return node_.held_list_; }
  std::vector<std::string> PreferenceList(uint32_t p) const override {
    std::vector<std::string> ids;
    for (uint32_t n : node_.table_.PreferenceList(p)) {
      ids.push_back(node_.table_.topology().nodes()[n].id);
    }
    return ids;
  }
  crdt::MutableState& State(uint32_t p) override {
    GEOKV_ASSERT(txn_ != nullptr && node_.held_[p]);
    return txn_->Partition(p);
  }
  void Commit(uint32_t p, const crdt::Delta& delta) override {
    GEOKV_ASSERT(job_ != nullptr && node_.held_[p]);
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
    if (!hlc_bound_ms_) {  // first HLC of this job: the bound as storage has it
      const std::optional<std::string> stored = txn_->Meta(kHlcBoundMeta);
      hlc_bound_ms_ = stored ? std::strtoull(stored->c_str(), nullptr, 10) : 0;
      clock.Restore(crdt::Hlc::FromParts(*hlc_bound_ms_, 0));
    }
    const crdt::Hlc now = clock.Now();
    if (now.physical_ms() >= *hlc_bound_ms_) {
      hlc_bound_ms_ = now.physical_ms() + kHlcBoundAheadMs;
      txn_->SetMeta(kHlcBoundMeta, std::to_string(*hlc_bound_ms_));
    }
    return now;
  }
  int64_t NowMs() override { return static_cast<int64_t>(crdt::HybridClock::SystemWallClock()); }

 private:
  Node& node_;
  NodeReplication::Job* job_;
  storage::Transaction* txn_;
  std::vector<std::pair<uint32_t, uint64_t>> writes_;
  std::optional<uint64_t> hlc_bound_ms_;  // read at the job's first Now()
};

Node::Node(placement::PlacementTable table, size_t node_index, storage::Engine& engine,
           boost::asio::io_context& io)
    : table_(std::move(table)), node_index_(node_index), engine_(engine), io_(io), forwarder_(io) {
  held_.assign(table_.partitions(), false);
  for (uint32_t p : table_.PartitionsOfNode(node_index_)) held_[p] = true;
  for (uint32_t p = 0; p < table_.partitions(); ++p) {
    if (held_[p]) held_list_.push_back(p);
  }
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
    return reply(std::move(out));
  }
  if (!CheckArity(*spec, args, writer)) {
    client.multi.aborted |= client.multi.active;
    return reply(std::move(out));
  }
  if (auto denied = access_.Check(client, *spec, args)) {
    client.multi.aborted |= client.multi.active;
    return reply(ErrorReply(*denied));
  }
  if (client.multi.active && !(spec->flags & kTransactionControl)) {
    return Queue(*spec, client, std::move(args), std::move(reply));
  }
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

void Node::set_cluster_secret(const std::string& secret) {
  access_.SetPeerSecret(secret);
  forwarder_.set_credentials(std::string(AccessControl::kPeerUser), secret);
}

void Node::DispatchData(const CommandSpec& spec, DataHandler handler, ClientSession& client,
                        Args args, Reply reply) {
  std::vector<uint32_t> partitions = KeyPartitions(spec, args);
  const std::optional<size_t> target = RouteTo(partitions);
  if (!target) return reply(ErrorReply(errors::kCrossSlot));
  if (*target != node_index_) {
    if (client.forwarder) return reply(ErrorReply(errors::kForwardedTwice));
    const placement::Node& node = table_.topology().nodes()[*target];
    if (spec.flags & kWrite) {
      // For WAIT: where the write went, and when its reply is back.
      std::shared_ptr<ClientWrites> writes = client.writes;
      writes->forwarded[*target].insert(partitions.begin(), partitions.end());
      ++writes->forwards_in_flight;
      reply = [writes, reply = std::move(reply)](std::string resp) {
        reply(std::move(resp));
        if (--writes->forwards_in_flight > 0) return;
        for (auto& run : std::exchange(writes->after_forwards, {})) run();
      };
    }
    return forwarder_.Forward({node.id, node.client.host, node.client.port}, args, client.protocol,
                              std::move(reply));
  }
  if (testing_drop_every_nth_set_ > 0 && std::string_view(spec.name) == "set" &&
      ++testing_sets_seen_ % testing_drop_every_nth_set_ == 0) {
    return reply("+OK\r\n");  // deliberately broken store (set_testing_drop_every_nth_set)
  }
  std::vector<uint32_t> writes_to = WritesTo(spec, std::move(partitions));
  RunDataCommand([handler, args = std::move(args)](CommandContext& ctx) { handler(ctx, args); },
                 client, std::move(reply), std::move(writes_to));
}

std::vector<uint32_t> Node::KeyPartitions(const CommandSpec& spec, const Args& args) const {
  std::vector<uint32_t> partitions;
  for (std::string_view key : CommandKeys(spec, args)) {
    partitions.push_back(table_.PartitionOfKey(key));
  }
  return partitions;
}

std::vector<uint32_t> Node::WritesTo(const CommandSpec& spec,
                                     std::vector<uint32_t> key_partitions) const {
  if (!(spec.flags & kWrite)) return {};
  return key_partitions.empty() ? held_list_ : key_partitions;
}

bool Node::HoldsAll(const std::vector<std::string_view>& keys) const {
  for (std::string_view key : keys) {
    if (!held_[table_.PartitionOfKey(key)]) return false;
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
  for (const Args& args : queued) {
    const CommandSpec* spec = FindCommand(args[0]);
    GEOKV_ASSERT(spec != nullptr && spec->is_data());  // checked when queued
    handlers.push_back(std::get<DataHandler>(spec->handler));
    for (uint32_t p : WritesTo(*spec, KeyPartitions(*spec, args))) writes_to.push_back(p);
  }
  RunDataCommand(
      [handlers = std::move(handlers), queued = std::move(queued),
       watched = std::move(watched)](CommandContext& ctx) {
        if (watched && !watched->Unchanged(ctx.partitions)) return ctx.reply.NullArray();
        ctx.reply.ArrayHeader(queued.size());
        for (size_t i = 0; i < queued.size(); ++i) handlers[i](ctx, queued[i]);
      },
      client, std::move(reply), std::move(writes_to));
}

void Node::Info(const std::string& section, Reply reply) {
  // INFO needs the key counts, which live in storage, and the replication
  // state, which lives on the writer thread: it is answered from jobs.
  auto keys = std::make_shared<uint64_t>(0);
  auto hlc = std::make_shared<uint64_t>(0);
  auto finish = [this, section, reply, keys, hlc](std::string replication) {
    std::string out;
    RespWriter(&out).Bulk(InfoText(section, *keys, *hlc, replication));
    reply(std::move(out));
  };
  const Status s = engine_.Submit(
      [this, keys, hlc](storage::Transaction& txn) {
        *hlc = clock_.last().value;
        for (uint32_t p : held_list_) *keys += txn.KeyCount(p);
        return Status::Ok();
      },
      [this, finish](Status) {
        if (replication_ != nullptr) return replication_->InfoSection(finish);
        finish("");
      });
  if (!s.ok()) reply(ErrorReply(errors::kBusy));
}

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
    auto body = [this](NodeReplication::Job& job) {
      TxnPartitions partitions(*this, &job);
      active_expiry_.RunCycle(partitions);
    };
    auto done = [this](Status) { boost::asio::post(io_, [this] { ScheduleActiveExpiry(); }); };
    if (!NodeReplication::Submit(replication_, engine_, std::move(body), std::move(done)).ok()) {
      ScheduleActiveExpiry();  // busy: next period
    }
  });
}

std::optional<size_t> Node::RouteTo(const std::vector<uint32_t>& partitions) const {
  auto holds_all = [&](size_t node) {
    for (uint32_t p : partitions) {
      const auto list = table_.PreferenceList(p);
      if (std::find(list.begin(), list.end(), node) == list.end()) return false;
    }
    return true;
  };
  if (partitions.empty() || holds_all(node_index_)) return node_index_;
  // Candidates: the first key's replicas; live ones in this datacenter first,
  // then live ones elsewhere in preference order, then (all down) the first.
  const auto list = table_.PreferenceList(partitions.front());
  const auto& nodes = table_.topology().nodes();
  auto up = [&](size_t n) { return replication_ == nullptr || replication_->IsUp(n); };
  std::optional<size_t> fallback;
  for (int pass = 0; pass < 2; ++pass) {
    for (uint32_t n : list) {
      const bool same_dc = nodes[n].dc_index == self().dc_index;
      if ((pass == 0) != same_dc || !holds_all(n)) continue;
      if (up(n)) return n;
      if (!fallback) fallback = n;
    }
  }
  return fallback;
}

void Node::RunDataCommand(std::function<void(CommandContext&)> run, const ClientSession& client,
                          Reply reply, std::vector<uint32_t> writes_to) {
  batch_.push_back(PendingCommand{std::move(run), std::move(reply), client.writes, client.protocol,
                                  std::move(writes_to)});
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
      c.reply(status.ok() ? std::move((*outputs)[i]) : error);
    }
  };
  if (!NodeReplication::Submit(replication_, engine_, std::move(body), std::move(done)).ok()) {
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
  auto start = [this, writes, numdcs, timeout_ms, reply] {
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
  if (writes->forwards_in_flight > 0) return writes->after_forwards.push_back(std::move(start));
  start();
}

void Node::AskWaitOwn(size_t target, const std::set<uint32_t>& partitions, int64_t numdcs,
                      int64_t timeout_ms, std::function<void(int64_t)> part) {
  // The target counts the datacenters other than its own that applied its
  // writes. Its own datacenter applied them too: when that is not this
  // node's and this node's datacenter holds none of the partitions (so the
  // target cannot have counted it), it adds one; otherwise the target's count
  // is a lower bound.
  const placement::Node& node = table_.topology().nodes()[target];
  bool own_dc_holds = false;
  for (uint32_t p : partitions) {
    for (uint32_t n : table_.PreferenceList(p)) {
      own_dc_holds |= table_.topology().nodes()[n].dc_index == self().dc_index;
    }
  }
  const int64_t extra = node.dc_index != self().dc_index && !own_dc_holds ? 1 : 0;
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
             table_.topology().nodes().size() > 1) {
           return "a multi-node topology needs --cluster-secret-file for a password";
         }
         access_.SetRequirePass(password);
         return "";
       }},
      {"aclfile", access_.aclfile(), nullptr},
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

std::string Node::InfoText(const std::string& section, uint64_t keys, uint64_t hlc,
                           const std::string& replication) {
  auto want = [&](const char* name) {
    return EqualsIgnoreCase(section, "default") || EqualsIgnoreCase(section, "all") ||
           EqualsIgnoreCase(section, "everything") || EqualsIgnoreCase(section, name);
  };
  const auto uptime =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count();
  std::string text;
  auto line = [&](const std::string& k, const std::string& v) { text += k + ":" + v + "\r\n"; };
  if (want("server")) {
    text += "# Server\r\n";
    line("geokv_version", "0.1.0");
    line("redis_version", "7.0.0");  // what clients check for feature support
    line("node_id", self().id);
    line("datacenter", self().dc);
    line("tcp_port", std::to_string(self().client.port));
    line("uptime_in_seconds", std::to_string(uptime));
    line("partitions_held", std::to_string(held_list_.size()));
    line("hlc", std::to_string(hlc));  // the latest HLC issued or adopted (0: none yet)
    text += "\r\n";
  }
  if (want("clients") && server_ != nullptr) {
    text += "# Clients\r\n";
    line("connected_clients", std::to_string(server_->stats().connected_clients.load()));
    text += "\r\n";
  }
  if (want("stats") && server_ != nullptr) {
    const ServerStats& s = server_->stats();
    text += "# Stats\r\n";
    line("total_connections_received", std::to_string(s.connections_received.load()));
    line("total_commands_processed", std::to_string(s.commands_processed.load()));
    line("rejected_connections", std::to_string(s.connections_rejected.load()));
    line("total_error_replies_protocol", std::to_string(s.protocol_errors.load()));
    line("client_output_buffer_limit_disconnections",
         std::to_string(s.output_limit_disconnects.load()));
    text += "\r\n";
  }
  if (want("replication")) text += replication;
  if (want("keyspace")) {
    text += "# Partitions\r\n";
    if (keys > 0) line("db0", "keys=" + std::to_string(keys) + ",expires=0,avg_ttl=0");
    text += "\r\n";
  }
  return text;
}

}  // namespace geokv::replica
