#include "ledger.h"

#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "posta/storage/replication.h"
#include "posta/sync/merge.h"

namespace posta::sim {
namespace {

using storage::ResourceType;

std::string Key(ResourceType type, const std::string& id) {
  return std::string(storage::ResourceTypeName(type)) + "/" + id;
}

// The value `field` holds in `record`, as FieldWrite::value spells it.
std::optional<std::string> FieldValue(const storage::Record& record,
                                      const std::string& field) {
  if (field == storage::kDeletedField) {
    return std::string(record.deleted ? "true" : "false");
  }
  nlohmann::json content = nlohmann::json::parse(record.content, nullptr,
                                                 /*allow_exceptions=*/false);
  if (!content.is_object() || !content.contains(field)) return std::nullopt;
  return content[field].dump();
}

// `text` as compact JSON, so that two spellings of one value compare equal.
std::optional<std::string> Normal(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  nlohmann::json v =
      nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return v.is_discarded() ? *text : v.dump();
}

std::string Show(const std::optional<std::string>& v) {
  return v ? v->substr(0, 80) : "(absent)";
}

// Every entry of `store`'s change log.
Result<std::vector<storage::Change>> WholeLog(storage::RecordStore& store) {
  std::vector<storage::Change> all;
  int64_t after = 0;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(std::vector<storage::Change> page,
                           store.ChangesSince(after, 1000));
    if (page.empty()) return all;
    after = page.back().seq;
    for (storage::Change& c : page) all.push_back(std::move(c));
  }
}

// Every entry of `node_id`'s audit chain held by `store`.
Result<std::vector<storage::AuditEntry>> WholeChain(
    storage::RecordStore& store, const std::string& node_id) {
  std::vector<storage::AuditEntry> all;
  int64_t after = 0;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(std::vector<storage::AuditEntry> page,
                           store.AuditChainSince(node_id, after, 1000));
    if (page.empty()) return all;
    after = page.back().seq;
    for (storage::AuditEntry& e : page) all.push_back(std::move(e));
  }
}

// Where `node`'s cursors at the hub stand, for a failure message.
std::string PeerNote(const NodeView& node) {
  Result<std::vector<storage::PeerState>> peers = node.store->ListPeers();
  if (!peers.ok()) return "";
  std::string note;
  for (const storage::PeerState& p : *peers) {
    note += "; its cursor at " + p.role + ": received " +
            std::to_string(p.received_seq) + ", acked " +
            std::to_string(p.acked_seq);
  }
  return note;
}

}  // namespace

std::string Ledger::RecordWrite(const std::string& node,
                                const storage::Record* before,
                                const storage::Record& after, bool tainted) {
  std::string failure;
  auto [last, fresh] = last_stamp_.try_emplace(node, after.version);
  if (!fresh) {
    if (!(after.version > last->second)) {
      failure = "I7: node " + node + " acknowledged version " +
                after.version.ToString() + " after " + last->second.ToString();
    } else {
      last->second = after.version;
    }
  }
  acks_.push_back({node, after.type, after.id, after.facility, after.version});
  const std::string key = Key(after.type, after.id);
  RecordLedger& r = records_[key];
  r.type = after.type;
  r.id = after.id;
  r.facility = after.facility;
  if (tainted) tainted_[key] = true;
  for (const auto& [field, stamp] : after.field_stamps) {
    if (stamp != after.version || field == storage::kFacilityField) continue;
    FieldWrite w;
    w.node = node;
    w.stamp = stamp;
    w.value = FieldValue(after, field);
    if (before != nullptr) {
      auto b = before->field_stamps.find(field);
      if (b != before->field_stamps.end()) w.base = b->second;
    }
    r.fields[field].push_back(std::move(w));
  }
  return failure;
}

void Ledger::CheckI1(const NodeView& node,
                     std::vector<std::string>& out) const {
  // I1 and I8: every version this node acknowledged is there, with its
  // audit entry in the node's own chain.
  Result<std::vector<storage::AuditEntry>> chain =
      WholeChain(*node.store, node.node_id);
  std::set<std::string> audited;
  if (!chain.ok()) {
    out.push_back("I8: " + node.node_id + ": " + chain.status().ToString());
  } else {
    for (const storage::AuditEntry& e : *chain) audited.insert(e.version);
  }
  for (const Ack& ack : acks_) {
    if (ack.node != node.node_id) continue;
    Result<storage::Record> v =
        node.store->GetVersion(ack.type, ack.id, ack.version);
    if (!v.ok()) {
      out.push_back("I1: " + node.node_id + " lost its acknowledged " +
                    Key(ack.type, ack.id) + " version " +
                    ack.version.ToString() + ": " + v.status().ToString());
    }
    if (chain.ok() && !audited.count(ack.version.ToString())) {
      out.push_back("I8: " + node.node_id + " has no audit entry for " +
                    Key(ack.type, ack.id) + " version " +
                    ack.version.ToString());
    }
  }
  // I2: no version twice in the change log (exactly-once effect).
  Result<std::vector<storage::Change>> log = WholeLog(*node.store);
  if (!log.ok()) {
    out.push_back("I2: " + node.node_id + ": " + log.status().ToString());
    return;
  }
  std::map<std::string, int> seen;
  for (const storage::Change& c : *log) {
    if (++seen[Key(c.type, c.id) + "@" + c.version.ToString()] == 2) {
      out.push_back("I2: " + node.node_id + " logged " + Key(c.type, c.id) +
                    " version " + c.version.ToString() + " twice");
    }
  }
  // I8: the chain holds.
  Result<storage::AuditVerification> verified = node.store->VerifyAudit();
  if (!verified.ok()) {
    out.push_back("I8: " + node.node_id + ": " + verified.status().ToString());
  } else {
    for (const storage::AuditBreak& b : verified->breaks) {
      out.push_back("I8: " + node.node_id + " holds a broken chain of " +
                    b.node_id + " at seq " + std::to_string(b.seq));
    }
  }
}

void Ledger::CheckFields(const NodeView& hub,
                         std::vector<std::string>& out) const {
  // I2 + I4 at the hub: every acknowledged field value either won (the
  // field holds its stamp or its value), or a later write built on it, or
  // it is kept as the loser of a conflict.
  Result<std::vector<storage::Conflict>> conflicts =
      hub.store->ListConflicts(/*open_only=*/false, 1000000);
  if (!conflicts.ok()) {
    out.push_back("I4: hub conflicts: " + conflicts.status().ToString());
    return;
  }
  std::map<std::string, const storage::Conflict*> losers;
  for (const storage::Conflict& c : *conflicts) {
    losers[Key(c.type, c.record_id) + "|" + c.field + "|" +
           c.loser.stamp.ToString()] = &c;
  }
  for (const auto& [key, r] : records_) {
    if (tainted_.count(key)) continue;
    Result<storage::Record> now = hub.store->Get(r.type, r.id);
    if (!now.ok()) {
      out.push_back("I2: the hub lacks " + key + ": " +
                    now.status().ToString());
      continue;
    }
    for (const auto& [field, writes] : r.fields) {
      std::set<std::string> built_on;
      for (const FieldWrite& w : writes) built_on.insert(w.base.ToString());
      auto held = now->field_stamps.find(field);
      const std::optional<std::string> value = Normal(FieldValue(*now, field));
      for (const FieldWrite& w : writes) {
        if (built_on.count(w.stamp.ToString())) continue;  // superseded
        // A later write of the same value: when they met, neither lost
        // anything (no conflict is opened for equal values), so W's value
        // lives on as that one, which is checked in turn.
        bool same_later = false;
        for (const FieldWrite& o : writes) {
          if (o.stamp > w.stamp && Normal(o.value) == Normal(w.value)) {
            same_later = true;
          }
        }
        if (same_later) continue;
        if (held != now->field_stamps.end() && held->second == w.stamp) {
          continue;  // won
        }
        if (Normal(w.value) == value) continue;  // the same value won
        auto c = losers.find(key + "|" + field + "|" + w.stamp.ToString());
        if (c != losers.end() &&
            Normal(c->second->loser.value) == Normal(w.value)) {
          continue;  // kept as a conflict
        }
        // What the hub has of the field, to read the failure by.
        std::string seen;
        for (const auto& [k, cp] : losers) {
          if (cp->record_id == r.id && cp->field == field) {
            seen += "\n      conflict loser " + Show(cp->loser.value) + " @" +
                    cp->loser.stamp.ToString() + " winner " +
                    Show(cp->winner.value) + " @" + cp->winner.stamp.ToString();
          }
        }
        Result<std::vector<storage::Record>> versions =
            hub.store->History(r.type, r.id, 100);
        if (versions.ok()) {
          for (const storage::Record& v : *versions) {
            auto fs = v.field_stamps.find(field);
            seen += "\n      hub version " + v.version.ToString() + ": " +
                    Show(FieldValue(v, field)) + " @" +
                    (fs == v.field_stamps.end() ? std::string("-")
                                                : fs->second.ToString()) +
                    (v.deleted ? " (deleted)" : "");
          }
        }
        for (const FieldWrite& o : writes) {
          seen += "\n      ledger " + o.node + " " + Show(o.value) + " @" +
                  o.stamp.ToString() + " base " + o.base.ToString();
        }
        out.push_back("I4: " + key + " field " + field + " value " +
                      Show(w.value) + " written by " + w.node + " at " +
                      w.stamp.ToString() +
                      " is neither held, built on, nor in a conflict at the "
                      "hub (the hub holds " +
                      Show(value) + ")" + seen);
      }
    }
  }
}

void Ledger::CheckReplicas(const NodeView& hub, const NodeView& clinic,
                           std::vector<std::string>& out) const {
  // I3: the clinic's scope equals the hub's copy of it.
  bool any_tainted = false;
  for (const auto& [key, r] : records_) {
    if (r.facility != clinic.facility) continue;
    if (tainted_.count(key)) {
      any_tainted = true;
      continue;
    }
    Result<storage::Record> h = hub.store->Get(r.type, r.id);
    Result<storage::Record> c = clinic.store->Get(r.type, r.id);
    if (!h.ok() || !c.ok()) {
      out.push_back("I3: " + key + " missing on " +
                    (h.ok() ? clinic.node_id : std::string("the hub")));
      continue;
    }
    if (!sync::SameState(*h, *c)) {
      out.push_back("I3: " + key + " differs between the hub (" +
                    h->content.substr(0, 120) + (h->deleted ? " deleted" : "") +
                    ") and " + clinic.node_id + " (" +
                    c->content.substr(0, 120) + (c->deleted ? " deleted" : "") +
                    ")");
    }
  }
  if (!any_tainted) {
    Result<std::string> h = hub.store->ReplicaDigest(clinic.facility);
    Result<std::string> c = clinic.store->ReplicaDigest(clinic.facility);
    if (!h.ok() || !c.ok() || *h != *c) {
      out.push_back("I3: digest of " + clinic.facility +
                    " differs between "
                    "the hub and " +
                    clinic.node_id);
    }
  }
  // Conflicts reach every replica of the scope, in the same state.
  Result<std::vector<storage::Conflict>> conflicts =
      hub.store->ListConflicts(/*open_only=*/false, 1000000);
  if (conflicts.ok()) {
    for (const storage::Conflict& hc : *conflicts) {
      if (hc.facility != clinic.facility) continue;
      if (tainted_.count(Key(hc.type, hc.record_id))) continue;
      Result<storage::Conflict> cc = clinic.store->GetConflict(hc.id);
      if (!cc.ok() || cc->state != hc.state) {
        out.push_back("I4: conflict " + hc.id + " on " +
                      Key(hc.type, hc.record_id) + " field " + hc.field +
                      (cc.ok() ? " is in another state" : " is missing") +
                      " on " + clinic.node_id + " (hub: seq " +
                      std::to_string(hc.seq) + ", loser @" +
                      hc.loser.stamp.ToString() + ", winner @" +
                      hc.winner.stamp.ToString() + ", state @" +
                      hc.state_stamp.ToString() + ")" + PeerNote(clinic));
      }
    }
  }
  // I2: the clinic has nothing left to deliver.
  Result<std::vector<storage::PeerState>> peers = clinic.store->ListPeers();
  if (peers.ok()) {
    for (const storage::PeerState& p : *peers) {
      if (p.role != "hub") continue;
      storage::ChangeFilter pending;
      pending.after_seq = p.acked_seq;
      pending.only_origin = clinic.node_id;
      Result<int64_t> n = clinic.store->CountChanges(pending);
      if (!n.ok() || *n != 0) {
        out.push_back("I2: " + clinic.node_id + " still has " +
                      (n.ok() ? std::to_string(*n) : n.status().ToString()) +
                      " changes the hub has not acknowledged");
      }
    }
  }
  // I8: the hub holds the clinic's chain, entry for entry.
  Result<std::vector<storage::AuditEntry>> mine =
      WholeChain(*clinic.store, clinic.node_id);
  Result<std::vector<storage::AuditEntry>> held =
      WholeChain(*hub.store, clinic.node_id);
  if (!mine.ok() || !held.ok()) {
    out.push_back("I8: reading " + clinic.node_id + "'s chain failed");
    return;
  }
  if (held->size() != mine->size()) {
    out.push_back("I8: the hub holds " + std::to_string(held->size()) + " of " +
                  std::to_string(mine->size()) + " entries of " +
                  clinic.node_id + "'s chain");
  }
  for (size_t i = 0; i < std::min(held->size(), mine->size()); ++i) {
    if ((*held)[i].seq != (*mine)[i].seq ||
        (*held)[i].hash != (*mine)[i].hash) {
      out.push_back("I8: entry " + std::to_string((*mine)[i].seq) + " of " +
                    clinic.node_id + "'s chain differs at the hub");
      break;
    }
  }
}

std::vector<std::string> Ledger::Check(const NodeView& hub,
                                       const std::vector<NodeView>& clinics,
                                       int64_t hub_now_ms,
                                       int64_t skew_ms) const {
  std::vector<std::string> out;
  CheckI1(hub, out);
  for (const NodeView& c : clinics) CheckI1(c, out);
  CheckFields(hub, out);
  for (const NodeView& c : clinics) CheckReplicas(hub, c, out);
  // I7 at the hub: no stamp it holds is further ahead than its bound, and
  // the far-future stamps it received are flagged.
  bool future_sent = false;
  for (const auto& [key, r] : records_) {
    for (const auto& [field, writes] : r.fields) {
      for (const FieldWrite& w : writes) {
        if (w.stamp.wall_ms > hub_now_ms + skew_ms) future_sent = true;
      }
    }
    Result<storage::Record> h = hub.store->Get(r.type, r.id);
    if (!h.ok()) continue;
    for (const auto& [field, stamp] : h->field_stamps) {
      if (stamp.wall_ms > hub_now_ms + skew_ms) {
        out.push_back("I7: the hub adopted " + key + " field " + field +
                      " stamped " + stamp.ToString() +
                      ", beyond its clock and bound");
      }
    }
  }
  if (future_sent) {
    Result<storage::StoreStats> stats = hub.store->Stats();
    if (!stats.ok() || stats->clock_flags == 0) {
      out.push_back("I7: far-future stamps reached the hub unflagged");
    }
  }
  return out;
}

}  // namespace posta::sim
