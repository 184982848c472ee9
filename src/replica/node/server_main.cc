// geokv-server: one geokv node.
//
//   geokv-server --topology FILE --node ID --data DIR [limits] [--log-level L]
//                [--tls-port P --tls-cert-file F --tls-key-file F ...]
//                [--curve-secret-file F]
//                [--requirepass PASS | --aclfile FILE] [--cluster-secret-file FILE]
//                [--unprotected]
//                [--config FILE]
//
// Loads the topology (the embedded local 3-DC one without --topology), opens
// the node's database under DIR, and serves the Redis protocol on the node's
// client endpoint until SIGTERM or SIGINT, which stop it cleanly: no new
// requests, every accepted write committed, sockets closed.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <utility>  // before Boost.Asio (see server.h)

#include "placement/default_topology.h"
#include "placement/peer_routes.h"
#include "placement/ring.h"
#include "placement/topology.h"
#include "replica/node/allocation_counter.h"
#include "replica/node/memory_limit.h"
#include "replica/node/metrics_http.h"
#include "replica/node/node.h"
#include "replica/node/server.h"
#include "replica/replication/aae_trees.h"
#include "replica/transport/curve_keys.h"
#include "storage/engine.h"
#include "storage/hint_store.h"

namespace {

using namespace geokv;

int Fail(const std::string& message) {
  spdlog::error("{}", message);
  return 1;
}

// This node's CURVE key pair from --curve-secret-file, checked against the
// topology: a file is needed exactly when the topology has keys, and its key
// must be the one the topology gives this node. None (both empty) without.
geokv::Result<replica::CurveKeyPair> CurveKeys(const placement::Topology& topology,
                                               const placement::Node& self,
                                               const std::string& secret_file) {
  if (secret_file.empty() && !topology.curve()) return replica::CurveKeyPair{};
  if (!topology.curve()) {
    return Status::Invalid("--curve-secret-file is given, but " + topology.source_name() +
                           " has no curve_public keys: add every node's key to it, or drop the "
                           "flag");
  }
  if (secret_file.empty()) {
    return Status::Invalid(topology.source_name() +
                           " has CURVE keys (curve_public): this node needs its secret key, "
                           "--curve-secret-file FILE (geokv-keygen makes a key pair)");
  }
  auto keys = replica::LoadCurveSecretFile(secret_file);
  if (!keys.ok()) return keys.status();
  if (keys->public_key != self.curve_public) {
    return Status::Invalid(secret_file + " is the secret key of public key \"" + keys->public_key +
                           "\", but " + topology.source_name() + " gives node " + self.id +
                           " the key \"" + self.curve_public + "\"");
  }
  return keys;
}

bool IsLoopback(const std::string& host) {
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  return host == "localhost" || (!ec && address.is_loopback());
}

// The cluster secret: the file's first line, at most 4 KiB.
Result<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  std::string secret;
  if (!in || !std::getline(in, secret)) return Status::Io("cannot read " + path);
  while (!secret.empty() && (secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
  if (secret.empty() || secret.size() > 4096) {
    return Status::Invalid(path + ": the first line must hold the secret (1 to 4096 bytes)");
  }
  return secret;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"geokv-server: one node of a geo-replicated key-value store"};
  std::string topology_path, node_id, data_dir, log_level = "info", sync = "full";
  replica::ServerOptions options;
  replica::ReplicationSettings replication;
  replica::MetricsHttpOptions metrics_options;
  app.add_option("--topology", topology_path,
                 "topology file (TOML); default: the embedded local 3-DC topology");
  app.set_config("--config", "",
                 "read options from FILE: `name = value` lines (TOML), names as the long flags "
                 "without --; flags on the command line win");
  app.add_option("--node", node_id, "this node's id in the topology")->required();
  std::string peer_routes_path;
  app.add_option("--peer-routes", peer_routes_path,
                 "TOML file of other nodes' endpoints as this node reaches them, when not at "
                 "those the topology gives (a tunnel, a NAT, a proxy); docs/topology.md");
  app.add_option("--data", data_dir, "data directory (created if missing); default ./data/<node>");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--synchronous", sync,
                 "full (default): commits survive power loss; normal: only a process crash "
                 "(a power loss may drop the last acknowledged writes from this node's disk)")
      ->check(CLI::IsMember({"normal", "full"}));
  app.add_option("--maxclients", options.max_clients, "connections at most")
      ->check(CLI::PositiveNumber);
  app.add_option("--proto-max-bulk-len", options.resp.max_bulk_bytes,
                 "largest bulk string a client may send, bytes")
      ->check(CLI::PositiveNumber);
  app.add_option("--client-query-buffer-limit", options.resp.max_query_buffer_bytes,
                 "unparsed bytes buffered per client at most")
      ->check(CLI::PositiveNumber);
  app.add_option("--client-output-buffer-limit", options.output_buffer_limit_bytes,
                 "unsent reply bytes per client before it is disconnected")
      ->check(CLI::PositiveNumber);
  app.add_option("--metrics-timeout-ms", metrics_options.read_timeout_ms,
                 "time a /metrics connection has for its request and response")
      ->check(CLI::PositiveNumber);
  app.add_option("--heartbeat-ms", replication.core.heartbeat_interval_ms,
                 "replication heartbeat interval")
      ->check(CLI::PositiveNumber);
  app.add_option("--move-stall-warn-ms", replication.move_stall_warn_ms,
                 "a partition moving here longer than this is logged as stalled, with the nodes "
                 "it waits for, and counted (INFO moves_stalled); 0: never")
      ->capture_default_str();
  app.add_option("--down-after-ms", replication.core.down_after_ms,
                 "silence after which a peer counts as down")
      ->check(CLI::PositiveNumber);
  app.add_option("--repl-receive-hwm", replication.receive_high_water_mark,
                 "ZeroMQ receive high-water mark of replication sockets (messages)")
      ->check(CLI::PositiveNumber);
  app.add_option("--repl-inbound-queue", replication.inbound_queue_max,
                 "replication messages queued for processing at most (more are dropped "
                 "and recovered by catch-up)")
      ->check(CLI::PositiveNumber);
  size_t log_max_bytes = storage::Options{}.log_max_bytes_per_partition;
  app.add_option("--repl-log-max-bytes", log_max_bytes,
                 "own deltas kept per partition for catch-up, in bytes (a peer that needs "
                 "older ones gets a state transfer)")
      ->check(CLI::PositiveNumber);
  app.add_option("--state-chunk-max-atoms", replication.core.state_chunk_max_atoms,
                 "atoms per state transfer chunk at most")
      ->check(CLI::PositiveNumber);
  app.add_option("--aae-interval-ms", replication.core.aae_interval_ms,
                 "anti-entropy: compare each held partition with each peer about once per this "
                 "many ms (0: only on GEOKV.AAE RUN)");
  app.add_option("--aae-max-bytes-per-sec", replication.core.aae_max_bytes_per_sec,
                 "anti-entropy messages sent and received, bytes per second at most")
      ->check(CLI::PositiveNumber);
  std::string maxmemory = "0";
  app.add_option("--maxmemory", maxmemory,
                 "used memory (allocated bytes) past which commands that may grow memory get "
                 "-OOM, as redis-server's maxmemory: bytes, or with a unit (100mb, 2gb); "
                 "0 (default): no limit");
  storage::HintLimits hint_limits;
  app.add_option("--hint-max-bytes", hint_limits.bytes_max,
                 "hinted handoff: delta bytes of the hints a node keeps for partitions it cannot "
                 "reach (beyond: -TRYAGAIN); 0 turns hints off")
      ->capture_default_str();
  app.add_option("--hint-max-count", hint_limits.count_max, "hinted handoff: hints kept at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  replica::TlsOptions tls;
  app.add_option("--tls-port", tls.port,
                 "also serve TLS on this port, on the host of the node's client endpoint");
  app.add_option("--tls-cert-file", tls.cert_file, "the TLS port's certificate chain (PEM)");
  app.add_option("--tls-key-file", tls.key_file, "its private key (PEM)");
  app.add_option("--tls-ca-cert-file", tls.ca_cert_file,
                 "CA certificates (PEM) that client certificates must be signed by");
  app.add_option("--tls-auth-clients", tls.auth_clients,
                 "yes (default): clients need a certificate signed by the CA; optional: "
                 "checked if given; no: not asked for")
      ->check(CLI::IsMember({"yes", "no", "optional"}));
  app.add_option("--tls-handshake-timeout-ms", options.tls_handshake_timeout_ms,
                 "a TLS client that has not completed its handshake by then is closed")
      ->check(CLI::PositiveNumber);
  std::string curve_secret_file;
  app.add_option("--curve-secret-file", curve_secret_file,
                 "this node's CURVE secret key (geokv-keygen), when the topology has "
                 "curve_public keys; mode 0600");
  std::string requirepass, aclfile, cluster_secret_file;
  bool unprotected = false;
  app.add_option("--requirepass", requirepass,
                 "the default user's password (clients AUTH with it), as redis-server's");
  app.add_option("--aclfile", aclfile,
                 "ACL users file, Redis's format (user <name> <rules...>); ACL LOAD/SAVE use it");
  app.add_option("--cluster-secret-file", cluster_secret_file,
                 "file whose first line is the secret nodes authenticate to each other with "
                 "(needed with --requirepass/--aclfile on a multi-node topology)");
  app.add_flag("--unprotected", unprotected,
               "serve clients on a non-loopback address without authentication");
  app.add_option("--testing-drop-every-nth-batch", replication.testing_drop_every_nth_batch,
                 "TESTING ONLY: a deliberately broken store that loses every n-th received "
                 "delta batch for good (geokv-check's self-test)")
      ->group("Testing");
  app.add_option("--testing-fail-job", replication.testing_fail_job_every,
                 "TESTING ONLY: every n-th job with a local write fails with a storage error "
                 "after running (fault injection)")
      ->group("Testing");
  app.add_option("--testing-throw-job", replication.testing_throw_job_every,
                 "TESTING ONLY: every n-th job with a local write throws after running")
      ->group("Testing");
  uint64_t max_db_bytes = 0;
  app.add_option("--testing-max-db-bytes", max_db_bytes,
                 "TESTING ONLY: cap the database file (SQLite max_page_count): writes beyond "
                 "it fail as on a full disk")
      ->group("Testing");
  int64_t clock_offset_ms = 0;
  app.add_option("--testing-clock-offset-ms", clock_offset_ms,
                 "TESTING ONLY: run the HLC's wall clock this many ms off the system clock")
      ->group("Testing");
  // Broken stores for geokv-check's self-tests (tests/tools/check_run_test.cc):
  // hidden from --help (an empty group), never for real use.
  uint64_t testing_drop_every_nth_set = 0;
  bool testing_no_restart_fence = false;
  app.add_option("--testing-drop-every-nth-set", testing_drop_every_nth_set,
                 "TESTING ONLY: acknowledge every n-th local SET and never apply it")
      ->group("");
  app.add_flag("--testing-no-restart-fence", testing_no_restart_fence,
               "TESTING ONLY: no restart fence: after a restore from an older copy the node "
               "reuses dots its peers hold (DESIGN.md \"Never reuse a dot\")")
      ->group("");
  app.add_flag("--testing-delete-before-caught-up",
               replication.core.testing_delete_before_caught_up,
               "TESTING ONLY: an old owner deletes a partition it gives up at once, before its "
               "new owners caught up (loses writes)")
      ->group("");
  CLI11_PARSE(app, argc, argv);
  if (testing_no_restart_fence) replication.fence_own_streams = false;
  if (replication.testing_drop_every_nth_batch > 0) {
    replication.core.testing_ignore_gaps = true;  // and never repairs the loss
  }

  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [" + node_id + "] %v");
  const std::optional<uint64_t> maxmemory_bytes = replica::ParseMemoryBytes(maxmemory);
  if (!maxmemory_bytes) {
    return Fail("--maxmemory: '" + maxmemory +
                "' is not a memory size (bytes, or 100mb, 2gb, ...)");
  }

  placement::PeerRoutes routes;
  if (!peer_routes_path.empty()) {
    auto loaded = placement::LoadPeerRoutesFile(peer_routes_path);
    if (!loaded.ok()) return Fail("--peer-routes: " + loaded.status().message());
    routes = std::move(*loaded);
  }
  auto topology = topology_path.empty() ? placement::DefaultTopology()
                                        : placement::LoadTopologyFile(topology_path);
  if (!topology.ok()) return Fail(topology.status().message());
  // A topology adopted earlier (GEOKV.TOPOLOGY APPLY, SIGHUP, a peer) wins
  // over the file if its epoch is higher (docs/operations.md).
  if (data_dir.empty()) data_dir = "data/" + node_id;
  auto adopted = replica::LoadAdoptedTopology(data_dir);
  if (!adopted.ok()) return Fail(adopted.status().message());
  // A node removed by the topology it adopted, restarted before it drained
  // (a crash): it starts with its file, where it still is, and adopts the
  // kept topology at once, which resumes handing its partitions over.
  std::optional<placement::Topology> removed_by;
  auto previous = replica::LoadPreviousTopology(data_dir);
  if (!previous.ok()) return Fail(previous.status().message());
  std::optional<placement::Topology> placed_before;  // ReplicationSettings::also_connect
  {
    std::string note;
    placement::Topology from_file = *topology;
    const std::optional<placement::Topology> kept = *adopted;
    topology = replica::ChooseStartTopology(std::move(*topology), std::move(*adopted), &note);
    if (!note.empty()) spdlog::warn("{}", note);
    if (const placement::Topology* b =
            replica::TopologyBefore(*topology, {&from_file, kept ? &*kept : nullptr,
                                                *previous ? &**previous : nullptr})) {
      placed_before = *b;
    }
    if (!topology->FindNode(node_id) && from_file.FindNode(node_id)) {
      spdlog::warn("node {} is not in topology epoch {} it adopted: resuming its drain", node_id,
                   topology->epoch());
      removed_by = std::move(*topology);
      topology = std::move(from_file);
      placed_before.reset();  // it starts with its file and adopts the kept one at once
    }
  }
  const auto node_index = topology->FindNode(node_id);
  if (!node_index) {
    return Fail("node '" + node_id + "' is not in " + topology->source_name());
  }
  // Every topology the node runs reaches its peers by their routes; the
  // text (judged, kept, spread) stays the shared file's.
  placement::PlacementTable table(routes.Apply(std::move(*topology), node_id));
  const placement::Node& self = table.topology().nodes()[*node_index];
  auto curve = CurveKeys(table.topology(), self, curve_secret_file);
  if (!curve.ok()) return Fail(curve.status().message());
  replication.curve_public_key = curve->public_key;
  replication.curve_secret_key = curve->secret_key;

  replica::AccessControl access;
  if (!requirepass.empty() && !aclfile.empty()) {
    return Fail(
        "--requirepass and --aclfile together: set the default user's password in the "
        "ACL file instead");
  }
  if (!requirepass.empty()) access.SetRequirePass(requirepass);
  if (!aclfile.empty()) {
    if (Status s = access.UseAclFile(aclfile); !s.ok()) return Fail("--aclfile: " + s.message());
  }
  std::optional<std::string> cluster_secret;
  if (!cluster_secret_file.empty()) {
    auto secret = ReadSecretFile(cluster_secret_file);
    if (!secret.ok()) return Fail("--cluster-secret-file: " + secret.status().message());
    cluster_secret = *secret;
  }
  if (access.AuthConfigured() && !cluster_secret && table.topology().nodes().size() > 1) {
    return Fail(
        "--requirepass/--aclfile on a multi-node topology needs --cluster-secret-file "
        "(nodes authenticate to each other to forward requests)");
  }
  if (!IsLoopback(self.client.host) && !access.AuthConfigured() && !unprotected) {
    return Fail("refusing to serve clients on " + self.client.text +
                " (not loopback) without authentication: give --requirepass or --aclfile, or "
                "--unprotected to serve it open");
  }

  // A fresh data directory given a topology of a later epoch: a node that
  // joins a running cluster. It starts holding nothing of the placement
  // before it and fills its partitions from their owners (docs/operations.md).
  // A marker file stays until the join is recorded in its store (the move
  // records of the replication's first job): a crash before that joins again.
  std::error_code fs_error;
  const std::string joining_marker = data_dir + "/joining";
  if (table.topology().epoch() > 0 &&
      (!std::filesystem::exists(data_dir + "/geokv.db", fs_error) ||
       std::filesystem::exists(joining_marker, fs_error))) {
    auto before = replica::TopologyWithout(table.topology(), node_id);
    if (before.ok()) {
      spdlog::info("a fresh data directory in topology epoch {}: joining the running cluster",
                   table.topology().epoch());
      replication.join_from =
          std::make_shared<const placement::PlacementTable>(routes.Apply(std::move(*before), node_id));
    } else {
      spdlog::warn(
          "a fresh data directory, but not joining ({}): taking the placement as the "
          "cluster's first",
          before.status().message());
    }
  }
  std::filesystem::create_directories(data_dir, fs_error);
  if (fs_error) return Fail("cannot create data directory " + data_dir + ": " + fs_error.message());
  if (!replication.join_from && placed_before) {
    replication.also_connect = std::make_shared<const placement::PlacementTable>(
        routes.Apply(std::move(*placed_before), node_id));
  }
  if (replication.join_from && !std::ofstream(joining_marker)) {
    return Fail("cannot write " + joining_marker);
  }
  // Kept as the topology before the one it runs: restarted once its join is
  // recorded (no marker), it still connects to the nodes that placement
  // names (TopologyBefore, also_connect) until its moves end. An old owner
  // in its own datacenter shares no partition with it in the new placement,
  // yet its moves wait for that owner's last writes (geokv-check seed 1820).
  if (replication.join_from) {
    if (Status s = replica::SavePreviousTopology(data_dir, replication.join_from->topology());
        !s.ok()) {
      return Fail(s.message());
    }
  }

  storage::Options storage_options;
  storage_options.path = data_dir + "/geokv.db";
  storage_options.partitions = table.partitions();
  storage_options.log_max_bytes_per_partition = log_max_bytes;
  storage_options.synchronous =
      sync == "full" ? storage::Synchronous::kFull : storage::Synchronous::kNormal;
  storage_options.max_database_bytes = max_db_bytes;
  storage_options.log = [](std::string_view line) { spdlog::info("{}", line); };
  // Anti-entropy's trees follow every atom change from the first job on, in
  // every partition (a move may bring any of them here).
  std::vector<uint32_t> every_partition(table.partitions());
  for (uint32_t p = 0; p < table.partitions(); ++p) every_partition[p] = p;
  replication::AaeTrees aae_trees(table.partitions(), every_partition);
  storage_options.atom_observer = &aae_trees;
  replication.aae_trees = &aae_trees;
  auto engine = storage::Engine::Open(storage_options);
  if (!engine.ok()) return Fail(engine.status().message());

  boost::asio::io_context io;
  replica::Node node(std::move(table), *node_index, **engine, io);
  node.set_data_dir(data_dir);
  node.set_peer_routes(std::move(routes));
  if (clock_offset_ms != 0) node.set_testing_clock_offset_ms(clock_offset_ms);
  node.access() = std::move(access);
  if (cluster_secret) node.set_cluster_secret(*cluster_secret);
  replica::Server server(io, node, options);
  if (tls.port != 0) {
    if (Status s = server.ConfigureTls(tls); !s.ok()) return Fail(s.message());
  }
  node.set_server(&server);
  node.set_testing_drop_every_nth_set(testing_drop_every_nth_set);
  replica::NodeReplication replicator(node.table(), *node_index, **engine, io, replication);
  replicator.set_clock(node.clock());
  replicator.set_topology_offer([&node](std::string text, std::string peer) {
    node.ApplyTopology(text, "peer " + peer, [](const std::string&) {});  // logged there
  });
  if (Status s = replicator.Start(); !s.ok()) return Fail(s.message());
  if (replication.join_from) std::filesystem::remove(joining_marker, fs_error);  // recorded
  node.set_replication(&replicator);
  if (hint_limits.bytes_max > 0) {
    auto hint_store = storage::HintStore::Open(
        (std::filesystem::path(data_dir) / "hints.db").string(), hint_limits);
    if (!hint_store.ok()) return Fail(hint_store.status().message());
    node.EnableHints(std::move(*hint_store), replicator.incarnation());
  }
  if (removed_by) {
    node.ApplyTopology(removed_by->text(), "the topology adopted earlier",
                       [](const std::string&) {});  // logged there
  }
  node.StartActiveExpiry(std::chrono::milliseconds(100));
  node.memory().set_max_bytes(*maxmemory_bytes);
  node.memory().set_source(replica::UsedMemoryBytes);
  node.memory().Start(std::chrono::milliseconds(100));
  // /metrics on the topology's metrics endpoint, from the start (a node
  // waiting for its peers is worth watching too).
  replica::MetricsHttpServer metrics(
      io, [&node](auto done) { node.Metrics(std::move(done)); }, metrics_options);
  if (self.metrics) {
    if (Status s = metrics.Listen(self.metrics->host, self.metrics->port); !s.ok()) {
      return Fail(s.message());
    }
    spdlog::info("metrics on http://{}/metrics", self.metrics->text);
  }
  // Clients are let in once peers told this node how far its own writes got
  // (bounded by the failure detector's timeout): see "Never reuse a dot".
  int exit_code = 0;
  replicator.WhenOwnStreamsKnown(
      std::chrono::milliseconds(3 * replication.core.down_after_ms + 500), [&] {
        if (Status s = server.Listen(self.client.host, self.client.port); !s.ok()) {
          spdlog::error("{}", s.message());
          exit_code = 1;
          return io.stop();
        }
        if (tls.port != 0) {
          if (Status s = server.ListenTls(self.client.host); !s.ok()) {
            spdlog::error("{}", s.message());
            exit_code = 1;
            return io.stop();
          }
          spdlog::info("TLS on {}:{} (tls-auth-clients {})", self.client.host, server.tls_port(),
                       tls.auth_clients);
        }
        spdlog::info(
            "node {} of datacenter {} serving {} partitions (of {} it holds) on {} (data {})",
            self.id, self.dc, replicator.serving()->serving_list.size(),
            node.table().PartitionsOfNode(*node_index).size(), self.client.text, data_dir);
      });

  // SIGHUP: re-read --topology and apply it like GEOKV.TOPOLOGY APPLY.
  boost::asio::signal_set hangup(io, SIGHUP);
  std::function<void()> await_hangup = [&] {
    hangup.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      if (topology_path.empty()) {
        spdlog::warn("SIGHUP: no --topology file to re-read (running the embedded one)");
      } else if (auto text = placement::ReadTopologyText(topology_path); !text.ok()) {
        spdlog::error("SIGHUP: {}", text.status().message());
      } else {
        node.ApplyTopology(*text, topology_path, [](const std::string& r) {
          if (r.rfind("+OK", 0) == 0) spdlog::info("SIGHUP: running the topology file");
        });
      }
      await_hangup();
    });
  };
  await_hangup();

  auto stop = [&](const std::string& why) {
    spdlog::info("{}: stopping", why);
    server.Stop();
    metrics.Stop();
    hangup.cancel();
    // Let in-flight replies drain briefly, then leave the loop.
    auto timer = std::make_shared<boost::asio::steady_timer>(io, std::chrono::milliseconds(50));
    timer->async_wait([&io, timer](boost::system::error_code) { io.stop(); });
  };
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int signal) {
    if (!ec) stop("signal " + std::to_string(signal));  // (cancelled: stopping already)
  });
  // A node removed from the topology exits once it handed every partition
  // over (or when told to, by a signal).
  boost::asio::steady_timer drained_timer(io);
  std::function<void()> await_drained = [&] {
    drained_timer.expires_after(std::chrono::milliseconds(200));
    drained_timer.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      if (replicator.Removed()) {
        signals.cancel();
        return stop("removed from topology epoch " + std::to_string(node.running().epoch()) +
                    " and drained");
      }
      await_drained();
    });
  };
  await_drained();
  io.run();
  // No more replication traffic; then the engine's destructor runs every queued
  // job and commits before closing.
  replicator.Stop();
  engine->reset();
  spdlog::info("stopped");
  return exit_code;
}
