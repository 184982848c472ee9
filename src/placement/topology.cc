// Topology parsing and validation.
//
// Parsing collects every problem rather than stopping at the first, so that an
// operator fixes a file in one pass. Each problem carries the line it points
// at; the final message lists them sorted by line (ties in the order found).
// Checks that relate nodes to each other (duplicates, replicas vs node count,
// token budget) run on whatever parsed cleanly, so one typo does not cascade
// into a page of follow-up complaints.
#include "placement/topology.h"

#include <arpa/inet.h>
#include <toml++/toml.h>
#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>

#include "placement/partitioner.h"
#include "placement/toml_reader.h"

namespace geokv::placement {

namespace {

using toml_reader::EscapeControls;
using toml_reader::Join;
using toml_reader::LineOf;
using toml_reader::Quoted;

constexpr uint32_t kDocumentLine = 1;
constexpr size_t kMaxHostBytes = 253;
constexpr size_t kMaxLabelBytes = 63;
constexpr std::string_view kTcpScheme = "tcp://";
constexpr size_t kReadChunkBytes = 64 * 1024;


bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}


bool IsValidHostName(std::string_view host) {
  if (host.empty() || host.size() > kMaxHostBytes) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = host.find('.', start);
    const std::string_view label =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > kMaxLabelBytes) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      const bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsValidIpv6(std::string_view literal) {
  if (literal.empty() || literal.size() > 45) return false;
  const std::string copy(literal);
  in6_addr addr;
  return inet_pton(AF_INET6, copy.c_str(), &addr) == 1;
}

// The TOML type of a node, as messages name it.
std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// An endpoint's identity for the duplicate check: ports are per host, and DNS
// names are case-insensitive. (No resolution: "localhost" and "127.0.0.1" are
// different strings to us, though the kernel would disagree.)
std::string EndpointKey(const Endpoint& e) {
  std::string host = e.host;
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(e.port);
}

}  // namespace

uint64_t ReplicaIdOf(std::string_view node_id) { return XXH64(node_id.data(), node_id.size(), 0); }

bool IsValidName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxNameBytes &&
         std::all_of(name.begin(), name.end(), IsNameChar);
}

std::optional<Endpoint> ParseEndpoint(std::string_view text, bool tcp) {
  std::string_view rest = text;
  if (tcp) {
    if (rest.substr(0, kTcpScheme.size()) != kTcpScheme) return std::nullopt;
    rest.remove_prefix(kTcpScheme.size());
  }
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = rest.substr(0, colon);
  const std::string_view port_text = rest.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5) return std::nullopt;
  uint32_t port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port < 1 || port > 65535) return std::nullopt;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (!IsValidIpv6(host)) return std::nullopt;
  } else if (!IsValidHostName(host)) {
    return std::nullopt;
  }
  return Endpoint{std::string(text), std::string(host), static_cast<uint16_t>(port)};
}

bool IsZ85Key(std::string_view text) {
  // ZeroMQ RFC 32: 85 digits, most significant first, five per 32-bit word.
  static constexpr std::string_view kZ85Digits =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  constexpr size_t kZ85KeyChars = 40;
  if (text.size() != kZ85KeyChars) return false;
  for (size_t group = 0; group < text.size(); group += 5) {
    uint64_t value = 0;
    for (size_t i = group; i < group + 5; ++i) {
      const size_t digit = kZ85Digits.find(text[i]);
      if (digit == std::string_view::npos) return false;
      value = value * 85 + digit;
    }
    if (value > UINT32_MAX) return false;
  }
  return true;
}

std::optional<size_t> Topology::FindNode(std::string_view id) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].id == id) return i;
  }
  return std::nullopt;
}

// Builds a Topology from parsed TOML, collecting problems. One use per parse.
class TopologyParser {
 public:
  TopologyParser(std::string_view source_name, uint64_t (*replica_id_of)(std::string_view))
      : source_name_(source_name), replica_id_of_(replica_id_of), problems_(source_name_) {}

  Result<Topology> Parse(std::string_view text) {
    Result<toml::table> root = toml_reader::ParseDocument(text, source_name_, kMaxTopologyBytes);
    if (!root.ok()) return root.status();
    topology_.source_name_ = source_name_;
    topology_.text_ = std::string(text);
    CheckKeys(*root, "", {"cluster", "datacenters"});
    ParseCluster(*root);
    ParseDatacenters(*root);
    CheckAcrossNodes();
    if (!problems_.empty()) return Status::Invalid(problems_.Message());
    return std::move(topology_);
  }

 private:
  void Report(uint32_t line, std::string_view path, std::string_view what) {
    problems_.Report(line, path, what);
  }

  void CheckKeys(const toml::table& table, std::string_view path,
                 std::initializer_list<std::string_view> allowed) {
    for (auto&& [key, value] : table) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
      std::string expected;
      for (std::string_view a : allowed)
        expected += (expected.empty() ? "" : ", ") + std::string(a);
      Report(LineOf(key.source()), Join(path, key.str()),
             "unknown key (expected one of: " + expected + ")");
    }
  }

  // The node under `key`, or nullptr (with a problem when required).
  const toml::node* Get(const toml::table& table, std::string_view path, uint32_t table_line,
                        std::string_view key, bool required) {
    const toml::node* node = table.get(key);
    if (node == nullptr && required) Report(table_line, Join(path, key), "required key is missing");
    return node;
  }

  std::optional<std::string> GetString(const toml::table& table, std::string_view path,
                                       uint32_t table_line, std::string_view key, bool required) {
    const toml::node* node = Get(table, path, table_line, key, required);
    if (node == nullptr) return std::nullopt;
    if (!node->is_string()) {
      Report(LineOf(node->source()), Join(path, key),
             "must be a string (got " + std::string(TypeName(*node)) + ")");
      return std::nullopt;
    }
    return node->as_string()->get();
  }

  std::optional<int64_t> GetInteger(const toml::table& table, std::string_view path,
                                    uint32_t table_line, std::string_view key, bool required) {
    const toml::node* node = Get(table, path, table_line, key, required);
    if (node == nullptr) return std::nullopt;
    if (!node->is_integer()) {
      Report(LineOf(node->source()), Join(path, key),
             "must be an integer (got " + std::string(TypeName(*node)) + ")");
      return std::nullopt;
    }
    return node->as_integer()->get();
  }

  uint32_t LineOfKey(const toml::table& table, std::string_view key, uint32_t fallback) {
    const toml::node* node = table.get(key);
    return node == nullptr ? fallback : LineOf(node->source());
  }

  // A name field: cluster, datacenter and node names share one alphabet.
  std::optional<std::string> GetName(const toml::table& table, std::string_view path,
                                     uint32_t table_line, std::string_view key) {
    std::optional<std::string> name = GetString(table, path, table_line, key, true);
    if (!name) return std::nullopt;
    if (name->empty()) {
      Report(LineOfKey(table, key, table_line), Join(path, key), "must not be empty");
      return std::nullopt;
    }
    if (!IsValidName(*name)) {
      Report(LineOfKey(table, key, table_line), Join(path, key),
             "must be 1 to 64 characters from A-Z a-z 0-9 . _ - (got " + Quoted(*name) + ")");
      return std::nullopt;
    }
    return name;
  }

  void ParseCluster(const toml::table& root) {
    const toml::node* node = Get(root, "", kDocumentLine, "cluster", true);
    if (node == nullptr) return;
    const toml::table* cluster = node->as_table();
    if (cluster == nullptr) {
      Report(LineOf(node->source()), "cluster",
             "must be a table (got " + std::string(TypeName(*node)) + ")");
      return;
    }
    const uint32_t line = LineOf(cluster->source());
    CheckKeys(*cluster, "cluster", {"name", "epoch", "partitions", "replicas", "vnodes", "forget"});
    if (auto name = GetName(*cluster, "cluster", line, "name")) topology_.cluster_name_ = *name;

    if (auto q = GetInteger(*cluster, "cluster", line, "partitions", true)) {
      if (!IsValidPartitionCount(static_cast<uint64_t>(*q)) || *q < 1) {
        Report(LineOfKey(*cluster, "partitions", line), "cluster.partitions",
               "must be a power of two in 1.." + std::to_string(kMaxPartitions) + " (got " +
                   std::to_string(*q) + ")");
      } else {
        topology_.partitions_ = static_cast<uint32_t>(*q);
      }
    }
    replicas_line_ = LineOfKey(*cluster, "replicas", line);
    if (auto n = GetInteger(*cluster, "cluster", line, "replicas", true)) {
      if (*n < 1) {
        Report(replicas_line_, "cluster.replicas",
               "must be at least 1 (got " + std::to_string(*n) + ")");
      } else {
        requested_replicas_ = *n;
      }
    }
    vnodes_line_ = LineOfKey(*cluster, "vnodes", line);
    topology_.vnodes_ = kDefaultVnodes;
    if (auto v = GetInteger(*cluster, "cluster", line, "vnodes", false)) {
      if (*v < 1 || *v > kMaxVnodes) {
        Report(vnodes_line_, "cluster.vnodes",
               "must be in 1.." + std::to_string(kMaxVnodes) + " (got " + std::to_string(*v) + ")");
        topology_.vnodes_ = 0;
      } else {
        topology_.vnodes_ = static_cast<uint32_t>(*v);
      }
    }
    // TOML integers are signed 64-bit: a literal past INT64_MAX is already a
    // syntax error of the parser's; what is left to refuse is a negative one.
    if (auto e = GetInteger(*cluster, "cluster", line, "epoch", false)) {
      if (*e < 0) {
        Report(LineOfKey(*cluster, "epoch", line), "cluster.epoch",
               "must be a non-negative integer (got " + std::to_string(*e) + ")");
      } else {
        topology_.epoch_ = static_cast<uint64_t>(*e);
      }
    }
    ParseForget(*cluster, line);
  }

  // [cluster] forget: ids of nodes lost for good (docs/operations.md).
  void ParseForget(const toml::table& cluster, uint32_t line) {
    const toml::node* node = cluster.get("forget");
    if (node == nullptr) return;
    forget_line_ = LineOfKey(cluster, "forget", line);
    const toml::array* ids = node->as_array();
    if (ids == nullptr) {
      Report(forget_line_, "cluster.forget",
             "must be an array of node ids (got " + std::string(TypeName(*node)) + ")");
      return;
    }
    if (ids->size() > kMaxForgotten) {
      Report(forget_line_, "cluster.forget",
             "at most " + std::to_string(kMaxForgotten) + " node ids (got " +
                 std::to_string(ids->size()) + ")");
      return;
    }
    for (size_t i = 0; i < ids->size(); ++i) {
      const std::string path = "cluster.forget[" + std::to_string(i) + "]";
      const std::optional<std::string> id = ids->get(i)->value<std::string>();
      const uint32_t id_line = LineOf(ids->get(i)->source());
      if (!id || !IsValidName(*id)) {
        Report(id_line, path,
               "must be a node id ([A-Za-z0-9._-], 1 to " + std::to_string(kMaxNameBytes) +
                   " characters)");
      } else if (std::find(topology_.forgotten_.begin(), topology_.forgotten_.end(), *id) !=
                 topology_.forgotten_.end()) {
        Report(id_line, path, "node " + Quoted(*id) + " is listed twice");
      } else {
        topology_.forgotten_.push_back(*id);
      }
    }
  }

  void ParseDatacenters(const toml::table& root) {
    const toml::node* node = Get(root, "", kDocumentLine, "datacenters", true);
    if (node == nullptr) return;
    const toml::array* dcs = node->as_array();
    if (dcs == nullptr) {
      Report(LineOf(node->source()), "datacenters",
             "must be an array of tables (got " + std::string(TypeName(*node)) + ")");
      return;
    }
    if (dcs->empty()) {
      Report(LineOf(node->source()), "datacenters", "must list at least one datacenter");
      return;
    }
    std::map<std::string, uint32_t> dc_lines;  // name -> line first seen
    for (size_t d = 0; d < dcs->size(); ++d) {
      const std::string path = "datacenters[" + std::to_string(d) + "]";
      const toml::node& dc_node = *dcs->get(d);
      const toml::table* dc = dc_node.as_table();
      if (dc == nullptr) {
        Report(LineOf(dc_node.source()), path,
               "must be a table (got " + std::string(TypeName(dc_node)) + ")");
        continue;
      }
      const uint32_t line = LineOf(dc->source());
      CheckKeys(*dc, path, {"name", "nodes"});
      std::optional<std::string> name = GetName(*dc, path, line, "name");
      if (name) {
        auto [it, inserted] = dc_lines.emplace(*name, LineOfKey(*dc, "name", line));
        if (!inserted) {
          Report(LineOfKey(*dc, "name", line), path + ".name",
                 "duplicate datacenter name " + Quoted(*name) + " (first at line " +
                     std::to_string(it->second) + ")");
          name.reset();
        }
      }
      // A datacenter whose name is unusable still has its nodes checked.
      const size_t dc_index = topology_.datacenters_.size();
      if (name) topology_.datacenters_.push_back(Datacenter{*name, {}});
      ParseNodes(*dc, path, line, name ? std::optional<size_t>(dc_index) : std::nullopt);
    }
  }

  void ParseNodes(const toml::table& dc, const std::string& dc_path, uint32_t dc_line,
                  std::optional<size_t> dc_index) {
    const toml::node* node = Get(dc, dc_path, dc_line, "nodes", true);
    if (node == nullptr) return;
    const std::string path = dc_path + ".nodes";
    const toml::array* nodes = node->as_array();
    if (nodes == nullptr) {
      Report(LineOf(node->source()), path,
             "must be an array of tables (got " + std::string(TypeName(*node)) + ")");
      return;
    }
    if (nodes->empty()) {
      Report(LineOf(node->source()), path, "must list at least one node");
      return;
    }
    for (size_t n = 0; n < nodes->size(); ++n) {
      ++node_tables_;
      const std::string node_path = path + "[" + std::to_string(n) + "]";
      const toml::node& item = *nodes->get(n);
      const toml::table* table = item.as_table();
      if (table == nullptr) {
        Report(LineOf(item.source()), node_path,
               "must be a table (got " + std::string(TypeName(item)) + ")");
        continue;
      }
      ParseNode(*table, node_path, dc_index);
    }
  }

  std::optional<Endpoint> GetEndpoint(const toml::table& table, const std::string& path,
                                      uint32_t line, std::string_view key, bool tcp,
                                      bool required) {
    std::optional<std::string> text = GetString(table, path, line, key, required);
    if (!text) return std::nullopt;
    std::optional<Endpoint> endpoint = ParseEndpoint(*text, tcp);
    if (!endpoint) {
      Report(LineOfKey(table, key, line), Join(path, key),
             std::string("must be \"") + (tcp ? "tcp://" : "") +
                 "host:port\" with a port in 1..65535 (got " + Quoted(*text) + ")");
    }
    return endpoint;
  }

  void ParseNode(const toml::table& table, const std::string& path,
                 std::optional<size_t> dc_index) {
    const uint32_t line = LineOf(table.source());
    CheckKeys(table, path,
              {"id", "rack", "weight", "client", "repl", "sync", "metrics", "curve_public"});
    const size_t problems_before = problems_.size();
    Node node;
    node.line = line;
    if (auto id = GetName(table, path, line, "id")) node.id = *id;
    if (auto rack = GetString(table, path, line, "rack", false)) {
      if (!rack->empty() && !IsValidName(*rack)) {
        Report(LineOfKey(table, "rack", line), path + ".rack",
               "must be 1 to 64 characters from A-Z a-z 0-9 . _ - (got " + Quoted(*rack) + ")");
      }
      node.rack = *rack;
    }
    if (const toml::node* w = Get(table, path, line, "weight", false)) {
      if (!w->is_integer() || w->as_integer()->get() <= 0) {
        std::string got =
            w->is_integer() ? std::to_string(w->as_integer()->get()) : std::string(TypeName(*w));
        Report(LineOf(w->source()), path + ".weight",
               "must be a positive integer (got " + got + ")");
      } else if (w->as_integer()->get() > kMaxWeight) {
        Report(LineOf(w->source()), path + ".weight",
               "must be at most " + std::to_string(kMaxWeight) + " (got " +
                   std::to_string(w->as_integer()->get()) + ")");
      } else {
        node.weight = static_cast<uint32_t>(w->as_integer()->get());
      }
    }
    auto client = GetEndpoint(table, path, line, "client", false, true);
    auto repl = GetEndpoint(table, path, line, "repl", true, true);
    auto sync = GetEndpoint(table, path, line, "sync", true, true);
    auto metrics = GetEndpoint(table, path, line, "metrics", false, false);
    std::optional<std::string> curve = GetString(table, path, line, "curve_public", false);
    if (curve) {
      const uint32_t key_line = LineOfKey(table, "curve_public", line);
      if (!IsZ85Key(*curve)) {
        Report(key_line, path + ".curve_public",
               "must be a CURVE public key: 40 Z85 characters, as geokv-keygen prints (got " +
                   Quoted(*curve) + ")");
        curve.reset();
      } else if (auto [it, fresh] = curve_owners_.emplace(*curve, std::make_pair(path, key_line));
                 !fresh) {
        Report(key_line, path + ".curve_public",
               "the same key as " + it->second.first + " (line " +
                   std::to_string(it->second.second) + "): every node needs a key pair of its own");
      }
    }
    // All or none: a node without a key cannot take part in a CURVE cluster.
    const toml::node* curve_node = table.get("curve_public");
    curve_keys_.push_back({path, line, curve_node != nullptr});

    // Endpoints are checked for reuse even when something else about the node
    // is wrong: they are independent facts.
    const std::pair<std::string_view, const std::optional<Endpoint>*> endpoints[] = {
        {"client", &client}, {"repl", &repl}, {"sync", &sync}, {"metrics", &metrics}};
    for (const auto& [kind, endpoint] : endpoints) {
      if (!endpoint->has_value()) continue;
      const std::string key_path = path + "." + std::string(kind);
      const uint32_t key_line = LineOfKey(table, kind, line);
      auto [it, inserted] =
          endpoint_owners_.emplace(EndpointKey(**endpoint), std::make_pair(key_path, key_line));
      if (!inserted) {
        Report(key_line, key_path,
               "endpoint " + it->first + " is already used by " + it->second.first + " (line " +
                   std::to_string(it->second.second) + ")");
      }
    }

    if (!node.id.empty()) {
      const uint32_t id_line = LineOfKey(table, "id", line);
      auto [it, inserted] = id_lines_.emplace(node.id, id_line);
      if (!inserted) {
        Report(id_line, path + ".id",
               "duplicate node id " + Quoted(node.id) + " (first at line " +
                   std::to_string(it->second) + ")");
      } else {
        node.replica_id = replica_id_of_(node.id);
        auto [owner, fresh] =
            replica_ids_.emplace(node.replica_id, std::make_pair(node.id, id_line));
        if (!fresh) {
          char hex[24];
          std::snprintf(hex, sizeof hex, "0x%016llx",
                        static_cast<unsigned long long>(node.replica_id));
          Report(id_line, path + ".id",
                 "replica id " + std::string(hex) + " of " + Quoted(node.id) +
                     " collides with node " + Quoted(owner->second.first) + " (line " +
                     std::to_string(owner->second.second) + "); rename one of them");
        }
      }
    }

    if (problems_.size() != problems_before || !dc_index) return;
    node.client = std::move(*client);
    node.repl = std::move(*repl);
    node.sync = std::move(*sync);
    node.metrics = std::move(metrics);
    if (curve) node.curve_public = std::move(*curve);
    node.dc_index = *dc_index;
    node.dc = topology_.datacenters_[*dc_index].name;
    topology_.datacenters_[*dc_index].nodes.push_back(topology_.nodes_.size());
    topology_.nodes_.push_back(std::move(node));
  }

  void CheckAcrossNodes() {
    for (const std::string& id : topology_.forgotten_) {
      if (auto it = id_lines_.find(id); it != id_lines_.end()) {
        Report(forget_line_, "cluster.forget",
               "node " + Quoted(id) + " is in the topology (line " + std::to_string(it->second) +
                   "): only a node removed from it can be forgotten");
      }
    }
    const auto keyed = std::find_if(curve_keys_.begin(), curve_keys_.end(),
                                    [](const CurveKeyUse& u) { return u.present; });
    if (keyed != curve_keys_.end()) {
      for (const CurveKeyUse& u : curve_keys_) {
        if (u.present) continue;
        Report(u.line, u.path + ".curve_public",
               "required key is missing: " + keyed->path +
                   " has one, and CURVE is all or none (every node has a key, or no node has)");
      }
    }
    if (requested_replicas_ > 0 && node_tables_ > 0 &&
        requested_replicas_ > static_cast<int64_t>(node_tables_)) {
      Report(replicas_line_, "cluster.replicas",
             "must be at most the number of nodes, " + std::to_string(node_tables_) + " (got " +
                 std::to_string(requested_replicas_) + ")");
    } else if (requested_replicas_ > 0) {
      topology_.replicas_ = static_cast<uint32_t>(requested_replicas_);
    }
    if (topology_.vnodes_ > 0) {
      uint64_t total_weight = 0;
      for (const Node& n : topology_.nodes_) total_weight += n.weight;
      const uint64_t tokens = total_weight * topology_.vnodes_;
      if (tokens > kMaxRingTokens) {
        Report(vnodes_line_, "cluster.vnodes",
               "the ring would hold " + std::to_string(tokens) +
                   " tokens (vnodes x total weight); at most " + std::to_string(kMaxRingTokens) +
                   ": set a lower cluster.vnodes");
      }
    }
  }

  const std::string source_name_;
  uint64_t (*const replica_id_of_)(std::string_view);
  Topology topology_;
  toml_reader::ProblemList problems_;
  int64_t requested_replicas_ = 0;
  uint32_t replicas_line_ = kDocumentLine;
  uint32_t vnodes_line_ = kDocumentLine;
  uint32_t forget_line_ = kDocumentLine;
  size_t node_tables_ = 0;
  std::map<std::string, uint32_t> id_lines_;
  std::map<uint64_t, std::pair<std::string, uint32_t>> replica_ids_;
  std::map<std::string, std::pair<std::string, uint32_t>> endpoint_owners_;
  std::map<std::string, std::pair<std::string, uint32_t>> curve_owners_;
  struct CurveKeyUse {
    std::string path;  // the node's key path
    uint32_t line;     // the node's table
    bool present;      // it has a curve_public key (valid or not)
  };
  std::vector<CurveKeyUse> curve_keys_;
};

Result<Topology> ParseTopology(std::string_view text, std::string_view source_name) {
  return TopologyParser(source_name, ReplicaIdOf).Parse(text);
}

namespace detail {
Result<Topology> ParseTopologyWithIdHash(std::string_view text, std::string_view source_name,
                                         uint64_t (*replica_id_of)(std::string_view id)) {
  return TopologyParser(source_name, replica_id_of).Parse(text);
}
}  // namespace detail

Result<std::string> ReadTopologyText(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) return Status::Io(path + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Io(path + ": " + std::strerror(errno));
  std::string text;
  char chunk[kReadChunkBytes];
  // Reads one byte past the limit at most, so that ParseTopology reports it.
  while (text.size() <= kMaxTopologyBytes && (in.read(chunk, sizeof chunk) || in.gcount() > 0)) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return Status::Io(path + ": read failed");
  return text;
}

Result<Topology> LoadTopologyFile(const std::string& path) {
  Result<std::string> text = ReadTopologyText(path);
  if (!text.ok()) return text.status();
  return ParseTopology(*text, path);
}

}  // namespace geokv::placement
