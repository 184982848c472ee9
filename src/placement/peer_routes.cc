// Peer routes: parsing, and their application to a topology. (Names in the
// anonymous namespace are distinct from topology.cc's: unity builds merge them.)
#include "placement/peer_routes.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

namespace geokv::placement {

namespace {

uint32_t RouteLineOf(const toml::source_region& region) {
  return region.begin.line == 0 ? 1 : static_cast<uint32_t>(region.begin.line);
}

}  // namespace

// Collects every problem, sorted by line, as the topology parser does.
class PeerRoutesParser {
 public:
  explicit PeerRoutesParser(std::string_view source_name) : source_name_(source_name) {}

  Result<PeerRoutes> Parse(std::string_view text) {
    if (text.size() > kMaxPeerRoutesBytes) {
      return Status::Invalid(source_name_ + ":1: document: larger than the " +
                             std::to_string(kMaxPeerRoutesBytes) + "-byte limit");
    }
    toml::table root;
    try {
      root = toml::parse(text, source_name_);
    } catch (const toml::parse_error& e) {
      return Status::Invalid(source_name_ + ":" + std::to_string(RouteLineOf(e.source())) +
                             ": syntax: " + std::string(e.description()));
    }
    for (const auto& [key, value] : root) {
      if (key.str() != "peers") {
        Report(RouteLineOf(value.source()), std::string(key.str()), "unknown key");
      }
    }
    if (const toml::node* peers = root.get("peers"); peers != nullptr) {
      const toml::array* list = peers->as_array();
      if (list == nullptr || !list->is_array_of_tables()) {
        Report(RouteLineOf(peers->source()), "peers", "must be an array of tables ([[peers]])");
      } else if (list->size() > kMaxPeerRoutes) {
        Report(RouteLineOf(peers->source()), "peers",
               "at most " + std::to_string(kMaxPeerRoutes) + " routes");
      } else {
        for (size_t i = 0; i < list->size(); ++i) ParsePeer(*list->get(i)->as_table(), i);
      }
    }
    if (!problems_.empty()) return Status::Invalid(Message());
    return std::move(routes_);
  }

 private:
  void Report(uint32_t line, std::string path, std::string what) {
    problems_.push_back({line, std::move(path), std::move(what)});
  }

  std::optional<Endpoint> EndpointAt(const toml::table& peer, std::string_view key,
                                     const std::string& path, bool tcp) {
    const toml::node* node = peer.get(key);
    const std::string where = path + "." + std::string(key);
    if (node == nullptr) {
      Report(RouteLineOf(peer.source()), where, "missing");
      return std::nullopt;
    }
    const std::optional<std::string> text = node->value<std::string>();
    std::optional<Endpoint> endpoint;
    if (text) endpoint = ParseEndpoint(*text, tcp);
    if (!endpoint) {
      Report(RouteLineOf(node->source()), where,
             tcp ? "must be \"tcp://host:port\"" : "must be \"host:port\"");
      return std::nullopt;
    }
    if (!endpoints_.insert(endpoint->host + ":" + std::to_string(endpoint->port)).second) {
      Report(RouteLineOf(node->source()), where, "endpoint " + endpoint->text + " given twice");
    }
    return endpoint;
  }

  void ParsePeer(const toml::table& peer, size_t i) {
    const std::string path = "peers[" + std::to_string(i) + "]";
    for (const auto& [key, value] : peer) {
      const std::string_view k = key.str();
      if (k != "id" && k != "client" && k != "repl" && k != "sync") {
        Report(RouteLineOf(value.source()), path + "." + std::string(k), "unknown key");
      }
    }
    std::optional<std::string> id;
    if (const toml::node* node = peer.get("id"); node == nullptr) {
      Report(RouteLineOf(peer.source()), path + ".id", "missing");
    } else if (id = node->value<std::string>(); !id || !IsValidName(*id)) {
      Report(RouteLineOf(node->source()), path + ".id",
             "must be a node id ([A-Za-z0-9._-], 1 to " + std::to_string(kMaxNameBytes) +
                 " characters)");
      id.reset();
    } else if (routes_.routes_.count(*id) != 0) {
      Report(RouteLineOf(node->source()), path + ".id", "node " + *id + " has a route already");
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

  std::string Message() const {
    std::vector<const Problem*> sorted;
    for (const Problem& p : problems_) sorted.push_back(&p);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Problem* a, const Problem* b) { return a->line < b->line; });
    std::ostringstream out;
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (i > 0) out << "\n";
      out << source_name_ << ":" << sorted[i]->line << ": " << sorted[i]->path << ": "
          << sorted[i]->what;
    }
    return out.str();
  }

  struct Problem {
    uint32_t line;
    std::string path;
    std::string what;
  };
  const std::string source_name_;
  PeerRoutes routes_;
  std::vector<Problem> problems_;
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
