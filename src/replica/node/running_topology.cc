#include "replica/node/running_topology.h"

#include <fcntl.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "common/assert.h"

namespace geokv::replica {

TopologyJudgement JudgeTopology(const placement::Topology& running,
                                const placement::Topology& offered) {
  const std::string epochs = " (running epoch " + std::to_string(running.epoch()) +
                             ", offered epoch " + std::to_string(offered.epoch()) + ")";
  if (offered.text() == running.text()) return {TopologyVerdict::kSame, ""};
  if (offered.epoch() < running.epoch()) {
    return {TopologyVerdict::kRefuse, "a lower epoch than the running topology's" + epochs +
                                          ": to go back, apply the older file with a higher epoch"};
  }
  if (offered.epoch() == running.epoch()) {
    return {TopologyVerdict::kRefuse, "the same epoch as the running topology, with other content" +
                                          epochs + ": every change needs a higher epoch"};
  }
  // Keys map to partitions by Q: another Q is not a placement change, and the
  // node's storage is laid out for its Q for life.
  if (offered.partitions() != running.partitions()) {
    return {TopologyVerdict::kRefuse, "cluster.partitions differs from the running topology's (" +
                                          std::to_string(running.partitions()) + " vs " +
                                          std::to_string(offered.partitions()) +
                                          "): the partition count is fixed for a cluster's life"};
  }
  // A joining node takes the placement before it as the new file without
  // itself (TopologyWithout): with two nodes added at once, each would take
  // a placement holding the other, which no node ran.
  std::vector<std::string> added;
  for (const placement::Node& n : offered.nodes()) {
    if (!running.FindNode(n.id)) added.push_back(n.id);
  }
  if (added.size() > 1) {
    return {TopologyVerdict::kRefuse,
            "it adds " + std::to_string(added.size()) + " nodes (" + added[0] + ", " + added[1] +
                (added.size() > 2 ? ", ..." : "") + ")" + epochs + ": add one node per epoch"};
  }
  // A node restarted from a later file must still know whom it stopped
  // waiting for (its moves may still name them): forgotten ids stay.
  for (const std::string& id : running.forgotten()) {
    const auto& kept = offered.forgotten();
    if (std::find(kept.begin(), kept.end(), id) == kept.end()) {
      return {TopologyVerdict::kRefuse, "cluster.forget no longer lists \"" + id +
                                            "\", which the running topology forgets" + epochs +
                                            ": keep every forgotten node in later files"};
    }
  }
  return {TopologyVerdict::kAdopt, ""};
}

std::string AdoptedTopologyPath(const std::string& data_dir) { return data_dir + "/topology.toml"; }

namespace {
Status Errno(const std::string& what) { return Status::Io(what + ": " + std::strerror(errno)); }

Status SyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Errno("open " + path);
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : Errno("fsync " + path);
}
}  // namespace

namespace {
// `topology`'s text at `path` durably (a temporary file, fsync, rename over
// the old one, fsync of the directory).
Status SaveKept(const std::string& data_dir, const std::string& path,
                const placement::Topology& topology) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open " + tmp);
  const std::string& text = topology.text();
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const Status s = Errno("write " + tmp);
      ::close(fd);
      return s;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const Status s = Errno("fsync " + tmp);
    ::close(fd);
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("rename " + tmp);
  return SyncPath(data_dir, O_RDONLY | O_DIRECTORY);
}

Result<std::optional<placement::Topology>> LoadKept(const std::string& path,
                                                    const std::string& what) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return std::optional<placement::Topology>();
  auto topology = placement::LoadTopologyFile(path);
  if (!topology.ok()) {
    const std::string why = what + " cannot be used: " + topology.status().message();
    return topology.status().code() == Status::Code::kIo ? Status::Io(why) : Status::Invalid(why);
  }
  return std::optional<placement::Topology>(std::move(*topology));
}
}  // namespace

Status SaveAdoptedTopology(const std::string& data_dir, const placement::Topology& topology) {
  return SaveKept(data_dir, AdoptedTopologyPath(data_dir), topology);
}

Result<std::optional<placement::Topology>> LoadAdoptedTopology(const std::string& data_dir) {
  return LoadKept(AdoptedTopologyPath(data_dir), "the topology this node adopted earlier");
}

std::string PreviousTopologyPath(const std::string& data_dir) {
  return data_dir + "/topology.previous.toml";
}

Status SavePreviousTopology(const std::string& data_dir, const placement::Topology& topology) {
  return SaveKept(data_dir, PreviousTopologyPath(data_dir), topology);
}

Result<std::optional<placement::Topology>> LoadPreviousTopology(const std::string& data_dir) {
  return LoadKept(PreviousTopologyPath(data_dir), "the topology this node ran before");
}

const placement::Topology* TopologyBefore(const placement::Topology& start,
                                          const std::vector<const placement::Topology*>& kept) {
  const placement::Topology* before = nullptr;
  for (const placement::Topology* t : kept) {
    if (t != nullptr && t->epoch() < start.epoch() && (!before || t->epoch() > before->epoch())) {
      before = t;
    }
  }
  return before;
}

placement::Topology ChooseStartTopology(placement::Topology from_file,
                                        std::optional<placement::Topology> adopted,
                                        std::string* note) {
  note->clear();
  if (!adopted || adopted->text() == from_file.text() || from_file.epoch() > adopted->epoch()) {
    return from_file;
  }
  *note = "running topology epoch " + std::to_string(adopted->epoch()) + " adopted earlier (" +
          adopted->source_name() + ") rather than " + from_file.source_name() + " of epoch " +
          std::to_string(from_file.epoch()) +
          (from_file.epoch() == adopted->epoch() ? ", same epoch with other content: refused"
                                                 : ": the higher epoch wins");
  return std::move(*adopted);
}

Result<placement::Topology> TopologyWithout(const placement::Topology& topology,
                                            const std::string& node_id) {
  if (topology.epoch() == 0) return Status::Invalid("epoch 0 has no epoch before it");
  toml::table doc;
  try {
    doc = toml::parse(topology.text());
  } catch (const toml::parse_error& e) {
    return Status::Invalid(std::string("unreadable topology: ") + std::string(e.description()));
  }
  bool found = false;
  if (toml::array* dcs = doc["datacenters"].as_array()) {
    for (size_t d = 0; d < dcs->size() && !found; ++d) {
      toml::table* dc = (*dcs)[d].as_table();
      toml::array* nodes = dc != nullptr ? (*dc)["nodes"].as_array() : nullptr;
      if (nodes == nullptr) continue;
      for (size_t n = 0; n < nodes->size(); ++n) {
        const toml::table* node = (*nodes)[n].as_table();
        if (node == nullptr || (*node)["id"].value_or(std::string()) != node_id) continue;
        nodes->erase(nodes->begin() + static_cast<std::ptrdiff_t>(n));
        if (nodes->empty()) dcs->erase(dcs->begin() + static_cast<std::ptrdiff_t>(d));
        found = true;
        break;
      }
    }
  }
  if (!found) return Status::Invalid("node " + node_id + " is not in the topology");
  if (toml::table* cluster = doc["cluster"].as_table()) {
    cluster->insert_or_assign("epoch", static_cast<int64_t>(topology.epoch() - 1));
  }
  std::ostringstream text;
  text << doc;
  return placement::ParseTopology(text.str(), topology.source_name() + " without " + node_id);
}

RunningTopology::RunningTopology(std::shared_ptr<const placement::PlacementTable> table)
    : table_(std::move(table)) {
  GEOKV_ASSERT(table_ != nullptr);
}

std::shared_ptr<const placement::PlacementTable> RunningTopology::table() const {
  std::lock_guard lock(mu_);
  return table_;
}

void RunningTopology::Replace(std::shared_ptr<const placement::PlacementTable> next) {
  GEOKV_ASSERT(next != nullptr);
  std::shared_ptr<const placement::PlacementTable> old;  // released outside the lock
  {
    std::lock_guard lock(mu_);
    old = std::exchange(table_, std::move(next));
  }
  adopted_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace geokv::replica
