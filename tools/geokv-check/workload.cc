#include "workload.h"

#include <set>
#include <thread>

#include "common/prng.h"
#include "replica/resp/resp_client.h"

namespace geokv::check {

using replica::RespClient;
using replica::RespValue;

KeySpace KeySpace::Make(int n) {
  KeySpace k;
  for (int i = 0; i < n; ++i) {
    const std::string s = std::to_string(i);
    k.counters.push_back("counter:" + s);
    k.sets.push_back("set:" + s);
    k.carts.push_back("cart:" + s);
    k.registers.push_back("register:" + s);
    k.mvregs.push_back("mv:" + s);
  }
  return k;
}

Workload::Workload(const placement::Topology& topology, WorkloadOptions options,
                   std::chrono::steady_clock::time_point epoch, Router router)
    : topology_(topology),
      options_(options),
      epoch_(epoch),
      router_(std::move(router)),
      keys_(KeySpace::Make(options.keys_per_type)) {}

uint64_t Workload::NowMs() const {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - epoch_)
                                   .count());
}

void Workload::Run(const std::atomic<bool>& stop) {
  std::vector<std::thread> threads;
  for (size_t dc = 0; dc < topology_.datacenters().size(); ++dc) {
    for (int c = 0; c < options_.clients_per_dc; ++c) {
      threads.emplace_back([this, dc, c, &stop] { Client(dc, c, stop); });
    }
  }
  for (auto& t : threads) t.join();
}

void Workload::Hold(bool on, uint64_t max_wait_ms) {
  held_ = on;
  if (!on) return;
  const int clients = static_cast<int>(topology_.datacenters().size()) * options_.clients_per_dc;
  const uint64_t until = NowMs() + max_wait_ms;
  while (parked_ < clients && NowMs() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

std::vector<Op> Workload::TakeHistory() {
  std::lock_guard lock(mu_);
  return std::move(history_);
}

void Workload::Client(size_t dc, int index, const std::atomic<bool>& stop) {
  const auto& datacenter = topology_.datacenters()[dc];
  // The node this client talks to now (null: none).
  auto route = [&]() -> const placement::Node* {
    const std::optional<size_t> n =
        router_ ? router_(dc, index) : datacenter.nodes[index % datacenter.nodes.size()];
    return n ? &topology_.nodes()[*n] : nullptr;
  };
  const placement::Node* target = route();
  Prng rng(options_.seed * 1'000'003 + dc * 1000 + index);
  // Unique per client whichever node it talks to (values must be unique).
  const std::string prefix =
      (target != nullptr ? target->id : datacenter.name) + "-" + std::to_string(index) + "-";
  uint64_t serial = 0;
  RespClient client;
  client.set_timeout_ms(options_.reply_timeout_ms);
  std::set<std::string> held;  // keys whose partition `node` holds
  bool where_known = false;
  std::vector<Op> local;

  auto connect = [&]() {
    if (router_) {
      const placement::Node* now = route();
      if (now != target) {  // moved: what the new node holds is learnt again
        client.Close();
        target = now;
        held.clear();
        where_known = false;
      }
    }
    if (target == nullptr) return false;
    const placement::Node& node = *target;
    if (client.connected()) return true;
    if (!client.Connect(node.client.host, node.client.port, 500).ok()) return false;
    if (!where_known) {
      // Which keys this node applies itself (the checker's same-node rule).
      where_known = true;
      for (const auto* list :
           {&keys_.counters, &keys_.sets, &keys_.carts, &keys_.registers, &keys_.mvregs}) {
        for (const auto& k : *list) {
          auto r = client.Command({"GEOKV.WHERE", k});
          if (!r.ok() || r->elements.size() != 2) {
            where_known = false;
            client.Close();
            return false;
          }
          for (const auto& id : r->elements[1].elements) {
            if (id.str == node.id) held.insert(k);
          }
        }
      }
    }
    return true;
  };
  auto pick = [&](const std::vector<std::string>& keys) { return keys[rng.Below(keys.size())]; };
  // Sends a request and records it, with its outcome, as `op`.
  auto perform = [&](Op op, const std::vector<std::string>& args) {
    op.dc = datacenter.name;
    op.node = held.contains(op.key) ? target->id : "";
    op.start_ms = NowMs();
    Result<RespValue> r = client.Command(args);
    op.end_ms = NowMs();
    if (!r.ok()) {
      op.outcome = Outcome::kUnknown;
      client.Close();
    } else if (r->is_error()) {
      op.outcome = r->str.rfind("TRYAGAIN", 0) == 0 ? Outcome::kUnknown : Outcome::kError;
    } else {
      op.outcome = Outcome::kOk;
    }
    local.push_back(std::move(op));
    ops_++;
  };

  while (!stop) {
    if (held_) {
      ++parked_;
      while (held_ && !stop) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      --parked_;
      continue;
    }
    if (!connect()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    Op op;
    const uint64_t dice = rng.Below(100);
    if (dice < 22) {
      op.kind = OpKind::kIncr;
      op.key = pick(keys_.counters);
      op.amount = rng.Between(1, 10);
      perform(op, {"INCRBY", op.key, std::to_string(op.amount)});
    } else if (dice < 25) {
      op.kind = OpKind::kDel;
      op.key = pick(keys_.counters);
      perform(op, {"DEL", op.key});
    } else if (dice < 40) {
      op.kind = OpKind::kSAdd;
      op.key = pick(keys_.sets);
      op.field = prefix + std::to_string(serial++);
      perform(op, {"SADD", op.key, op.field});
    } else if (dice < 45) {
      const std::string key = pick(keys_.sets);
      auto members = client.Command({"SMEMBERS", key});  // a read: not recorded
      if (!members.ok()) {
        client.Close();
        continue;
      }
      if (members->elements.empty()) continue;
      op.kind = OpKind::kSRem;
      op.key = key;
      op.field = members->elements[rng.Below(members->elements.size())].str;
      perform(op, {"SREM", op.key, op.field});
    } else if (dice < 62) {
      op.kind = OpKind::kHIncr;
      op.key = pick(keys_.carts);
      op.field = "sku:" + std::to_string(rng.Below(3));
      op.amount = rng.Between(1, 3);
      perform(op, {"HINCRBY", op.key, op.field, std::to_string(op.amount)});
    } else if (dice < 66) {
      op.kind = OpKind::kHDel;
      op.key = pick(keys_.carts);
      op.field = "sku:" + std::to_string(rng.Below(3));
      perform(op, {"HDEL", op.key, op.field});
    } else if (dice < 82) {
      op.kind = OpKind::kSet;
      op.key = pick(keys_.registers);
      op.value = prefix + std::to_string(serial++);
      perform(op, {"SET", op.key, op.value});
    } else if (dice < 85) {
      op.kind = OpKind::kDel;
      op.key = pick(keys_.registers);
      perform(op, {"DEL", op.key});
    } else {
      op.kind = OpKind::kMvSet;
      op.key = pick(keys_.mvregs);
      op.value = prefix + std::to_string(serial++);
      std::vector<std::string> args = {"MVSET", op.key, op.value};
      if (rng.Chance(50)) {
        auto seen = client.Command({"MVGET", op.key});
        if (!seen.ok()) {
          client.Close();
          continue;
        }
        if (seen->elements.size() == 2 && !seen->elements[0].str.empty()) {
          args.push_back(seen->elements[0].str);
          op.with_token = true;
          for (const auto& v : seen->elements[1].elements) op.token_values.push_back(v.str);
        }
      }
      perform(op, args);
    }
    if (local.size() >= 256) {
      std::lock_guard lock(mu_);
      for (auto& o : local) history_.push_back(std::move(o));
      local.clear();
    }
  }
  std::lock_guard lock(mu_);
  for (auto& o : local) history_.push_back(std::move(o));
}

}  // namespace geokv::check
