// Peer routes: parsing, and their application to a topology.
#include "placement/peer_routes.h"

#include <set>
#include <utility>

#include "placement/toml_reader.h"

namespace geokv::placement {

using toml_reader::Join;
using toml_reader::LineOf;

// Collects every problem, as the topology parser does (toml_reader.h).
class PeerRoutesParser {
 public:
  explicit PeerRoutesParser(std::string_view source_name)
      : source_name_(source_name), problems_(source_name_) {}

  Result<PeerRoutes> Parse(std::string_view text) {
    Result<toml::table> parsed =
        toml_reader::ParseDocument(text, source_name_, kMaxPeerRoutesBytes);
    if (!parsed.ok()) return parsed.status();
    const toml::table& root = *parsed;
    for (const auto& [key, value] : root) {
      if (key.str() != "peers") {
        Report(LineOf(value.source()), Join("", key.str()), "unknown key");
      }
    }
    if (const toml::node* peers = root.get("peers"); peers != nullptr) {
      const toml::array* list = peers->as_array();
      if (list == nullptr || !list->is_array_of_tables()) {
        Report(LineOf(peers->source()), "peers", "must be an array of tables ([[peers]])");
      } else if (list->size() > kMaxPeerRoutes) {
        Report(LineOf(peers->source()), "peers",
               "at most " + std::to_string(kMaxPeerRoutes) + " routes");
      } else {
        for (size_t i = 0; i < list->size(); ++i) ParsePeer(*list->get(i)->as_table(), i);
      }
    }
    if (!problems_.empty()) return Status::Invalid(problems_.Message());
    return std::move(routes_);
  }

 private:
  void Report(uint32_t line, std::string_view path, std::string_view what) {
    problems_.Report(line, path, what);
  }

  std::optional<Endpoint> EndpointAt(const toml::table& peer, std::string_view key,
                                     const std::string& path, bool tcp) {
    const toml::node* node = peer.get(key);
    const std::string where = path + "." + std::string(key);
    if (node == nullptr) {
      Report(LineOf(peer.source()), where, "missing");
      return std::nullopt;
    }
    const std::optional<std::string> text = node->value<std::string>();
    std::optional<Endpoint> endpoint;
    if (text) endpoint = ParseEndpoint(*text, tcp);
    if (!endpoint) {
      Report(LineOf(node->source()), where,
             tcp ? "must be \"tcp://host:port\"" : "must be \"host:port\"");
      return std::nullopt;
    }
    if (!endpoints_.insert(endpoint->host + ":" + std::to_string(endpoint->port)).second) {
      Report(LineOf(node->source()), where, "endpoint " + endpoint->text + " given twice");
    }
    return endpoint;
  }

  void ParsePeer(const toml::table& peer, size_t i) {
    const std::string path = "peers[" + std::to_string(i) + "]";
    for (const auto& [key, value] : peer) {
      const std::string_view k = key.str();
      if (k != "id" && k != "client" && k != "repl" && k != "sync") {
        Report(LineOf(value.source()), Join(path, k), "unknown key");
      }
    }
    std::optional<std::string> id;
    if (const toml::node* node = peer.get("id"); node == nullptr) {
      Report(LineOf(peer.source()), path + ".id", "missing");
    } else if (id = node->value<std::string>(); !id || !IsValidName(*id)) {
      Report(LineOf(node->source()), path + ".id",
             "must be a node id ([A-Za-z0-9._-], 1 to " + std::to_string(kMaxNameBytes) +
                 " characters)");
      id.reset();
    } else if (routes_.routes_.count(*id) != 0) {
      Report(LineOf(node->source()), path + ".id", "node " + *id + " has a route already");
      id.reset();
    }
    auto client = EndpointAt(peer, "client", path, false);
    auto repl = EndpointAt(peer, "repl", path, true);
    auto sync = EndpointAt(peer, "sync", path, true);
    if (id && client && repl && sync) {
      routes_.routes_.emplace(*id,
                              PeerRoute{std::move(*client), std::move(*repl), std::move(*sync)});
    }
  }

  const std::string source_name_;
  toml_reader::ProblemList problems_;
  PeerRoutes routes_;
  std::set<std::string> endpoints_;
};

Topology PeerRoutes::Apply(Topology topology, std::string_view self_id) const {
  for (Node& node : topology.nodes_) {
    if (node.id == self_id) continue;
    if (const PeerRoute* route = Find(node.id)) {
      node.client = route->client;
      node.repl = route->repl;
      node.sync = route->sync;
    }
  }
  return topology;
}

const PeerRoute* PeerRoutes::Find(std::string_view id) const {
  auto it = routes_.find(id);
  return it == routes_.end() ? nullptr : &it->second;
}

Result<PeerRoutes> ParsePeerRoutes(std::string_view text, std::string_view source_name) {
  return PeerRoutesParser(source_name).Parse(text);
}

Result<PeerRoutes> LoadPeerRoutesFile(const std::string& path) {
  Result<std::string> text = ReadTopologyText(path);
  if (!text.ok()) return text.status();
  return ParsePeerRoutes(*text, path);
}

}  // namespace geokv::placement
