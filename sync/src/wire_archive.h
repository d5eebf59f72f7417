// The payload layout of the sync wire format (described in
// posta/sync/wire.h), type by type: the cereal save shared by the portable
// binary archive and the JSON view, and next to it the bounded load that
// mirrors it. Change a save and its load together. Messages themselves are
// laid out in wire.cc.
//
// Why loads do not go through cereal's dispatch: cereal's stock string,
// vector and map loaders resize to whatever size tag they read, so a 20-byte
// message could ask for 2^60 elements. WireReader instead reads primitives
// through cereal's PortableBinaryInputArchive (which owns byte order) and
// checks every length against the bytes left and against WireLimits first.
//
// Why the saves live in the types' namespaces: cereal finds non-member save
// functions by argument-dependent lookup, so the ones for base::HlcStamp and
// storage's types must sit in posta::base and posta::storage. They exist
// only here, in sync's private sources, so base and storage stay free of
// cereal.
#pragma once

#include <algorithm>
#include <cereal/archives/portable_binary.hpp>
#include <cereal/cereal.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <cstddef>
#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <streambuf>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

// Debian 12's rapidjson 1.1.0 (under cereal's JSON archive) adds an offset
// to its stack's null pointer before the first allocation
// (Tencent/rapidjson#1724, fixed upstream after 1.1.0). Harmless, but it
// stops the sanitized fuzzer on every JSON view, so the functions declared
// by the JSON archive and rapidjson (cereal's core is included above) skip
// that one check.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("pointer-overflow"))), \
                             apply_to = function)
#endif
#include <cereal/archives/json.hpp>
#if defined(__clang__)
#pragma clang attribute pop
#endif

#include "posta/base/hlc.h"
#include "posta/base/random.h"
#include "posta/base/status.h"
#include "posta/storage/record.h"
#include "posta/storage/replication.h"
#include "posta/sync/wire.h"

namespace posta::sync::wire_internal {

using BinaryOut = cereal::PortableBinaryOutputArchive;
using JsonOut = cereal::JSONOutputArchive;
using StampMap = std::map<std::string, base::HlcStamp>;

template <class Archive>
inline constexpr bool kIsJson = std::is_same_v<Archive, JsonOut>;

// Record ids, conflict ids and facility ids are at most this long.
inline constexpr size_t kMaxIdBytes = 64;
// The largest wall_ms whose text form HlcStamp::Parse accepts (18 digits).
inline constexpr int64_t kMaxWallMs = 999'999'999'999'999'999;

// Lower bounds on the encoded size of one element, so that a count can be
// checked against the bytes left before anything is allocated. Each is at
// most the true minimum (a size tag is 8 bytes, a stamp's node id 1+).
inline constexpr size_t kMinStampBytes = 8 + 4 + 8 + 1;
inline constexpr size_t kMinFieldStampBytes = 8 + 1;
inline constexpr size_t kMinBaseStampBytes = 8 + kMinStampBytes;
inline constexpr size_t kMinRecordBytes =
    1 + (8 + 1) + 8 + 8 + kMinStampBytes + 8 + 1 + 8;
inline constexpr size_t kMinChangeBytes = 8 + kMinRecordBytes + 8;
inline constexpr size_t kMinConflictBytes = (8 + 1) + 1 + (8 + 1) + 8 + 8 +
                                            2 * (1 + kMinStampBytes) + 1 +
                                            kMinStampBytes + 8 + 8 + 8;

// True when `text` is well-formed UTF-8: no overlong forms, surrogates or
// code points past U+10FFFF.
bool IsUtf8(std::string_view text);  // in wire.cc

// ---- WireReader: bounded reads over one inflated payload ----

// Reads a payload front to back. The first error sticks: later reads
// return zero values without reading, and a count read after an error is 0,
// so a load runs to its end quickly and the caller reports status().
// Errors name the field by its path: "push_batch.changes[3].record.id".
class WireReader {
 public:
  // `payload` and `limits` must outlive the reader. `root` starts every
  // field path.
  WireReader(std::string_view payload, const WireLimits& limits,
             std::string_view root)
      : limits_(limits), buf_(payload), stream_(&buf_) {
    path_.push_back({root, -1});
    // cereal's endianness flag; Encode always writes little-endian (1).
    if (payload.empty() || payload[0] != 1) {
      Fail(Status::Malformed(root,
                             "payload does not start with the "
                             "little-endian archive flag"));
      return;
    }
    archive_.emplace(stream_);  // converts to this machine's byte order
  }
  WireReader(const WireReader&) = delete;
  WireReader& operator=(const WireReader&) = delete;

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  const WireLimits& limits() const { return limits_; }
  size_t remaining() const { return buf_.remaining(); }

  int64_t I64(std::string_view field) { return Fixed<int64_t>(field); }
  uint64_t U64(std::string_view field) { return Fixed<uint64_t>(field); }
  uint32_t U32(std::string_view field) { return Fixed<uint32_t>(field); }
  uint8_t U8(std::string_view field) { return Fixed<uint8_t>(field); }

  bool Bool(std::string_view field) {
    const uint8_t b = U8(field);
    Check(b <= 1, field, "bool byte is not 0 or 1");
    return b == 1;
  }

  // A string of at most limits().max_string_bytes, valid UTF-8.
  std::string String(std::string_view field) {
    const uint64_t size = U64(field);
    if (!ok()) return {};
    if (size > remaining()) {  // security: checked before allocating
      Fail(Status::Malformed(Path(field),
                             "claims " + std::to_string(size) + " bytes, " +
                                 std::to_string(remaining()) + " left"));
      return {};
    }
    if (size > limits_.max_string_bytes) {
      Fail(Status::TooLarge(Path(field),
                            std::to_string(size) + " bytes, limit " +
                                std::to_string(limits_.max_string_bytes)));
      return {};
    }
    std::string s(static_cast<size_t>(size), '\0');
    (*archive_)(cereal::binary_data(s.data(), s.size()));
    Check(IsUtf8(s), field, "not UTF-8");
    return s;
  }

  // A vector or map count: no more elements than the bytes left could hold
  // at `min_element_bytes` each (Malformed), and at most `max_count`
  // (TooLarge). 0 after an error.
  uint64_t Count(std::string_view field, size_t max_count,
                 size_t min_element_bytes) {
    const uint64_t count = U64(field);
    if (!ok()) return 0;
    if (count >
        remaining() / min_element_bytes) {  // security: before allocating
      Fail(Status::Malformed(Path(field),
                             "claims " + std::to_string(count) + " elements, " +
                                 std::to_string(remaining()) + " bytes left"));
      return 0;
    }
    if (count > max_count) {
      Fail(Status::TooLarge(Path(field), std::to_string(count) +
                                             " elements, limit " +
                                             std::to_string(max_count)));
      return 0;
    }
    return count;
  }

  // Fails unless every byte was read.
  void ExpectEnd() {
    if (ok() && remaining() != 0) {
      Fail(Status::Malformed(
          Path({}), std::to_string(remaining()) + " bytes after the message"));
    }
  }

  // Records Malformed(path.field, why) unless `cond` holds.
  void Check(bool cond, std::string_view field, std::string_view why) {
    if (!cond && ok()) Fail(Status::Malformed(Path(field), why));
  }
  void Fail(Status status) {
    if (ok()) status_ = std::move(status);
  }

  // "push_batch.changes[3].record" + "." + field.
  std::string Path(std::string_view field) const {
    std::string out;
    for (const PathPart& part : path_) {
      if (!out.empty()) out += '.';
      out += part.name;
      if (part.index >= 0) out += "[" + std::to_string(part.index) + "]";
    }
    if (!field.empty()) {
      if (!out.empty()) out += '.';
      out += field;
    }
    return out;
  }

  // Names the fields read while it lives: Scope(r, "changes", 3) turns
  // "id" into "...changes[3].id".
  class Scope {
   public:
    Scope(WireReader& reader, std::string_view name, int64_t index = -1)
        : reader_(reader) {
      reader_.path_.push_back({name, index});
    }
    ~Scope() { reader_.path_.pop_back(); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    WireReader& reader_;
  };

 private:
  class MemoryBuf : public std::streambuf {
   public:
    explicit MemoryBuf(std::string_view data) {
      // The archive only reads: nothing writes through this pointer.
      char* p = const_cast<char*>(data.data());
      setg(p, p, p + data.size());
    }
    size_t remaining() const { return static_cast<size_t>(egptr() - gptr()); }
  };

  template <class T>
  T Fixed(std::string_view field) {
    T value{};
    if (!ok()) return value;
    if (remaining() < sizeof(T)) {
      Fail(Status::Malformed(
          Path(field), "truncated: needs " + std::to_string(sizeof(T)) +
                           " bytes, " + std::to_string(remaining()) + " left"));
      return value;
    }
    (*archive_)(value);
    return value;
  }

  struct PathPart {
    std::string_view name;
    int64_t index;
  };

  const WireLimits& limits_;
  MemoryBuf buf_;
  std::istream stream_;
  std::optional<cereal::PortableBinaryInputArchive> archive_;
  std::vector<PathPart> path_;
  Status status_;
};

using Scope = WireReader::Scope;

inline void CheckNodeId(WireReader& r, std::string_view field,
                        std::string_view id) {
  r.Check(base::IsValidNodeId(id), field,
          "not a node id (1..64 chars of [0-9a-z-])");
}

inline void CheckId(WireReader& r, std::string_view field,
                    std::string_view id) {
  r.Check(!id.empty(), field, "empty");
  r.Check(id.size() <= kMaxIdBytes, field, "longer than 64 bytes");
}

inline void CheckFacility(WireReader& r, std::string_view field,
                          std::string_view facility) {
  r.Check(facility.size() <= kMaxIdBytes, field, "longer than 64 bytes");
}

inline void CheckSeq(WireReader& r, std::string_view field, int64_t seq) {
  r.Check(seq >= 0, field, "negative");
}

// ---- HlcStamp: int64 wall_ms, uint32 counter, string node ----

inline base::HlcStamp LoadStamp(WireReader& r, std::string_view field,
                                bool allow_zero = false) {
  Scope scope(r, field);
  base::HlcStamp s;
  s.wall_ms = r.I64("wall_ms");
  s.counter = r.U32("counter");
  s.node = r.String("node");
  if (!r.ok() || (allow_zero && s.IsZero())) return s;
  r.Check(s.wall_ms >= 0 && s.wall_ms <= kMaxWallMs, "wall_ms",
          "outside 0..999999999999999999");
  CheckNodeId(r, "node", s.node);
  return s;
}

}  // namespace posta::sync::wire_internal

namespace posta::base {

inline void save(cereal::PortableBinaryOutputArchive& ar, const HlcStamp& s) {
  ar(s.wall_ms, s.counter, s.node);
}
// In the JSON view a stamp is its text form, as in meta.versionId.
inline std::string save_minimal(const cereal::JSONOutputArchive&,
                                const HlcStamp& s) {
  return s.ToString();
}

}  // namespace posta::base

// ---- Stamp maps ----

namespace posta::sync::wire_internal {

// field_stamps on the wire: count, then per field in name order: string
// name, uint8 tag (0: the stamp equals the record's version and is left
// out; 1: the stamp follows).
struct WireFieldStamps {
  const StampMap& stamps;
  const base::HlcStamp& version;
};
// base_stamps on the wire: count, then string name and stamp per field.
struct WireStampMap {
  const StampMap& stamps;
};
// A stamp map in the JSON view: {"field": "<stamp text>", ...}.
struct JsonStampObject {
  const StampMap& stamps;
};

inline void save(BinaryOut& ar, const WireFieldStamps& f) {
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(f.stamps.size())));
  for (const auto& [name, stamp] : f.stamps) {
    ar(name);
    if (stamp == f.version) {
      ar(uint8_t{0});
    } else {
      ar(uint8_t{1}, stamp);
    }
  }
}

inline void save(BinaryOut& ar, const WireStampMap& m) {
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(m.stamps.size())));
  for (const auto& [name, stamp] : m.stamps) ar(name, stamp);
}

inline void save(JsonOut& ar, const JsonStampObject& m) {
  for (const auto& [name, stamp] : m.stamps) ar(cereal::make_nvp(name, stamp));
}

// Field names are read in strictly increasing order (as std::map writes
// them), so a duplicate cannot silently replace an earlier entry.
inline void CheckFieldOrder(WireReader& r, const StampMap& map,
                            const std::string& name) {
  r.Check(map.empty() || map.rbegin()->first < name, "name",
          "duplicate or out of order");
}

inline void LoadFieldStamps(WireReader& r, StampMap& out,
                            const base::HlcStamp& version) {
  const uint64_t count =
      r.Count("field_stamps", r.limits().max_fields, kMinFieldStampBytes);
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    Scope scope(r, "field_stamps", static_cast<int64_t>(i));
    std::string name = r.String("name");
    CheckFieldOrder(r, out, name);
    const uint8_t tag = r.U8("tag");
    base::HlcStamp stamp;
    if (tag == 0) {
      stamp = version;  // left out on the wire: restored here
    } else if (tag == 1) {
      stamp = LoadStamp(r, "stamp");
    } else {
      r.Check(false, "tag", "not 0 or 1");
    }
    if (r.ok()) out.emplace_hint(out.end(), std::move(name), std::move(stamp));
  }
}

inline void LoadStampMap(WireReader& r, std::string_view field, StampMap& out) {
  const uint64_t count =
      r.Count(field, r.limits().max_fields, kMinBaseStampBytes);
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    Scope scope(r, field, static_cast<int64_t>(i));
    std::string name = r.String("name");
    CheckFieldOrder(r, out, name);
    base::HlcStamp stamp = LoadStamp(r, "stamp");
    if (r.ok()) out.emplace_hint(out.end(), std::move(name), std::move(stamp));
  }
}

inline storage::ResourceType LoadResourceType(WireReader& r,
                                              std::string_view field) {
  const uint8_t byte = r.U8(field);
  for (storage::ResourceType type : storage::kAllResourceTypes) {
    if (static_cast<uint8_t>(type) == byte) return type;
  }
  r.Check(false, field, "unknown resource type " + std::to_string(byte));
  return storage::ResourceType::kPatient;
}

}  // namespace posta::sync::wire_internal

// ---- Record, ChangeEntry, ConflictSide, Conflict ----

namespace posta::storage {

// uint8 type, string id, string facility, string content, stamp version,
// field stamps, bool deleted, uint64 last_updated_ms - version.wall_ms.
template <class Archive>
void save(Archive& ar, const Record& r) {
  using cereal::make_nvp;
  using sync::wire_internal::kIsJson;
  if constexpr (kIsJson<Archive>) {
    ar(make_nvp("type", std::string(ResourceTypeName(r.type))));
  } else {
    ar(static_cast<uint8_t>(r.type));
  }
  ar(make_nvp("id", r.id), make_nvp("facility", r.facility),
     make_nvp("content", r.content), make_nvp("version", r.version));
  if constexpr (kIsJson<Archive>) {
    ar(make_nvp("field_stamps",
                sync::wire_internal::JsonStampObject{r.field_stamps}));
  } else {
    ar(sync::wire_internal::WireFieldStamps{r.field_stamps, r.version});
  }
  ar(make_nvp("deleted", r.deleted));
  if constexpr (kIsJson<Archive>) {
    ar(make_nvp("last_updated_ms", r.last_updated_ms));
  } else {
    // As the distance from version.wall_ms (usually 0), modulo 2^64 so any
    // pair of values survives.
    ar(static_cast<uint64_t>(r.last_updated_ms) -
       static_cast<uint64_t>(r.version.wall_ms));
  }
}

// int64 seq, record, base_stamps.
template <class Archive>
void save(Archive& ar, const ChangeEntry& e) {
  using cereal::make_nvp;
  ar(make_nvp("seq", e.seq), make_nvp("record", e.record));
  if constexpr (sync::wire_internal::kIsJson<Archive>) {
    ar(make_nvp("base_stamps",
                sync::wire_internal::JsonStampObject{e.base_stamps}));
  } else {
    ar(sync::wire_internal::WireStampMap{e.base_stamps});
  }
}

// bool has_value, [string value], stamp.
template <class Archive>
void save(Archive& ar, const ConflictSide& side) {
  using cereal::make_nvp;
  if constexpr (sync::wire_internal::kIsJson<Archive>) {
    if (side.value) {
      ar(make_nvp("value", *side.value));
    } else {
      ar(make_nvp("value", nullptr));
    }
  } else {
    ar(side.value.has_value());
    if (side.value) ar(*side.value);
  }
  ar(make_nvp("stamp", side.stamp));
}

// string id, uint8 type, string record_id, string facility, string field,
// side winner, side loser, uint8 state, stamp state_stamp, string
// resolution, string resolved_by, int64 seq.
template <class Archive>
void save(Archive& ar, const Conflict& c) {
  using cereal::make_nvp;
  using sync::wire_internal::kIsJson;
  ar(make_nvp("id", c.id));
  if constexpr (kIsJson<Archive>) {
    ar(make_nvp("type", std::string(ResourceTypeName(c.type))));
  } else {
    ar(static_cast<uint8_t>(c.type));
  }
  ar(make_nvp("record_id", c.record_id), make_nvp("facility", c.facility),
     make_nvp("field", c.field), make_nvp("winner", c.winner),
     make_nvp("loser", c.loser));
  if constexpr (kIsJson<Archive>) {
    ar(make_nvp(
        "state",
        std::string(c.state == ConflictState::kOpen ? "open" : "resolved")));
  } else {
    ar(static_cast<uint8_t>(c.state));
  }
  ar(make_nvp("state_stamp", c.state_stamp),
     make_nvp("resolution", c.resolution),
     make_nvp("resolved_by", c.resolved_by), make_nvp("seq", c.seq));
}

// int64 seq, int64 at_ms, then strings: node_id, facility, actor, role,
// remote_address, action, resource, version, outcome, detail, prev_hash,
// hash (docs/sync-protocol.md, "Audit").
template <class Archive>
void save(Archive& ar, const AuditEntry& e) {
  using cereal::make_nvp;
  ar(make_nvp("seq", e.seq), make_nvp("at_ms", e.at_ms),
     make_nvp("node_id", e.node_id), make_nvp("facility", e.facility),
     make_nvp("actor", e.actor), make_nvp("role", e.role),
     make_nvp("remote_address", e.remote_address), make_nvp("action", e.action),
     make_nvp("resource", e.resource), make_nvp("version", e.version),
     make_nvp("outcome", e.outcome), make_nvp("detail", e.detail),
     make_nvp("prev_hash", e.prev_hash), make_nvp("hash", e.hash));
}

}  // namespace posta::storage

namespace posta::sync::wire_internal {

// Two int64s and twelve strings of at least their size tag.
inline constexpr size_t kMinAuditEntryBytes = 8 + 8 + 12 * 8;

// An entry's fields from facility on: facility, actor, role,
// remote_address, action, resource, version, outcome, detail, prev_hash,
// hash. A pushed entry's hash may be left out (`hash_may_be_empty`).
inline void LoadAuditTexts(WireReader& r, storage::AuditEntry& e,
                           bool hash_may_be_empty) {
  e.facility = r.String("facility");
  CheckFacility(r, "facility", e.facility);
  for (auto [field, value] :
       {std::pair{"actor", &e.actor}, std::pair{"role", &e.role},
        std::pair{"remote_address", &e.remote_address},
        std::pair{"action", &e.action}, std::pair{"resource", &e.resource},
        std::pair{"version", &e.version}, std::pair{"outcome", &e.outcome},
        std::pair{"detail", &e.detail}}) {
    *value = r.String(field);
    // The store bounds what it writes (storage::AuditEntry); more is not
    // an entry posta made.
    r.Check(
        value->size() <= (std::string_view(field) == "detail" ? 1027u : 259u),
        field, "longer than an audit entry holds");
  }
  // Whole, or short (storage::ShortenAuditChain): a prev_hash may be left
  // empty, a hash cut to its beginning.
  e.prev_hash = r.String("prev_hash");
  r.Check((e.prev_hash.empty() || e.prev_hash.size() == 64) &&
              base::IsLowerHex(e.prev_hash),
          "prev_hash", "neither empty nor 64 lowercase hex digits");
  e.hash = r.String("hash");
  r.Check((e.hash.empty() && hash_may_be_empty) ||
              (e.hash.size() >= storage::kAuditShortHashDigits &&
               e.hash.size() <= 64 && base::IsLowerHex(e.hash)),
          "hash", "not 8 to 64 lowercase hex digits");
}

inline void LoadAuditEntry(WireReader& r, storage::AuditEntry& e) {
  e.seq = r.I64("seq");
  CheckSeq(r, "seq", e.seq);
  r.Check(e.seq >= 1, "seq", "below 1");
  e.at_ms = r.I64("at_ms");
  e.node_id = r.String("node_id");
  CheckNodeId(r, "node_id", e.node_id);
  LoadAuditTexts(r, e, /*hash_may_be_empty=*/false);
}

// An AuditBatch's entries: the sender's own chain, seq after_seq + 1, + 2,
// ... in order.
inline void LoadChainEntries(WireReader& r, const std::string& node_id,
                             int64_t after_seq,
                             std::vector<storage::AuditEntry>& out) {
  const uint64_t count =
      r.Count("entries", r.limits().max_changes, kMinAuditEntryBytes);
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    Scope scope(r, "entries", static_cast<int64_t>(i));
    storage::AuditEntry e;
    LoadAuditEntry(r, e);
    r.Check(!r.ok() || e.node_id == node_id, "node_id",
            "not the batch's node");
    r.Check(!r.ok() || e.seq == after_seq + 1 + static_cast<int64_t>(i), "seq",
            "not the next of the chain");
    if (r.ok()) out.push_back(std::move(e));
  }
}

// A PushBatch's audit entries (protocol 5), after audit_after_seq: a size
// tag, then per entry
//   int32 change   0 when the entry names none of the batch's changes;
//                  otherwise the step from the change the last naming entry
//                  named (from index -1) to the one it names, whose
//                  resource and version then travel empty;
//   int64 at_ms    the step from the entry before's (from 0);
// and its texts (LoadAuditTexts; the hash may be left out). seq and
// node_id travel not at all: the batch's node, audit_after_seq + 1, + 2,
// ... Written so, the entries of a day's work differ in a few bytes from
// one to the next, which zstd takes as repeats; the change's own id and
// version are in the frame already.
inline constexpr size_t kMinPushedAuditEntryBytes = 4 + 8 + 11 * 8;

inline void SavePushedAudit(BinaryOut& ar,
                            const std::vector<storage::ChangeEntry>& changes,
                            const std::vector<storage::AuditEntry>& audit) {
  std::unordered_map<std::string, int64_t> named;
  named.reserve(changes.size());
  for (size_t i = 0; i < changes.size(); ++i) {
    named.emplace(ChangeKey(changes[i].record), static_cast<int64_t>(i));
  }
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(audit.size())));
  int64_t last_named = -1;
  int64_t last_at = 0;
  for (const storage::AuditEntry& e : audit) {
    const auto it =
        e.version.empty() ? named.end() : named.find(ChangeKey(e));
    const bool names = it != named.end();
    ar(static_cast<int32_t>(names ? it->second - last_named : 0),
       static_cast<int64_t>(static_cast<uint64_t>(e.at_ms) -
                            static_cast<uint64_t>(last_at)));
    if (names) last_named = it->second;
    last_at = e.at_ms;
    const std::string none;
    ar(e.facility, e.actor, e.role, e.remote_address, e.action,
       names ? none : e.resource, names ? none : e.version, e.outcome,
       e.detail, e.prev_hash, e.hash);
  }
}

inline void LoadPushedAudit(WireReader& r, const std::string& node_id,
                            int64_t after_seq,
                            const std::vector<storage::ChangeEntry>& changes,
                            std::vector<storage::AuditEntry>& out) {
  const uint64_t count =
      r.Count("audit", r.limits().max_changes, kMinPushedAuditEntryBytes);
  int64_t last_named = -1;
  int64_t last_at = 0;
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    Scope scope(r, "audit", static_cast<int64_t>(i));
    storage::AuditEntry e;
    e.seq = after_seq + 1 + static_cast<int64_t>(i);
    e.node_id = node_id;
    const int32_t step = static_cast<int32_t>(r.U32("change"));
    const int64_t change = last_named + step;
    r.Check(step == 0 ||
                (change >= 0 && change < static_cast<int64_t>(changes.size())),
            "change", "not one of the batch's changes");
    e.at_ms = static_cast<int64_t>(static_cast<uint64_t>(last_at) +
                                   static_cast<uint64_t>(r.I64("at_ms")));
    last_at = e.at_ms;
    LoadAuditTexts(r, e, /*hash_may_be_empty=*/i + 1 < count);
    if (r.ok() && step != 0) {
      r.Check(e.resource.empty() && e.version.empty(), "resource",
              "given as well as the change it names");
      const storage::Record& named = changes[static_cast<size_t>(change)].record;
      e.resource = storage::RecordName(named.type, named.id);
      e.version = named.version.ToString();
      last_named = change;
    }
    if (r.ok()) out.push_back(std::move(e));
  }
}

inline void LoadRecord(WireReader& r, storage::Record& rec) {
  rec.type = LoadResourceType(r, "type");
  rec.id = r.String("id");
  CheckId(r, "id", rec.id);
  rec.facility = r.String("facility");
  CheckFacility(r, "facility", rec.facility);
  rec.content = r.String("content");
  rec.version = LoadStamp(r, "version");
  LoadFieldStamps(r, rec.field_stamps, rec.version);
  rec.deleted = r.Bool("deleted");
  rec.last_updated_ms = static_cast<int64_t>(
      r.U64("last_updated_ms") + static_cast<uint64_t>(rec.version.wall_ms));
  r.Check(rec.last_updated_ms >= 0, "last_updated_ms", "negative");
}

inline void LoadChange(WireReader& r, storage::ChangeEntry& change) {
  change.seq = r.I64("seq");
  CheckSeq(r, "seq", change.seq);
  {
    Scope scope(r, "record");
    LoadRecord(r, change.record);
  }
  LoadStampMap(r, "base_stamps", change.base_stamps);
}

inline void LoadConflictSide(WireReader& r, std::string_view field,
                             storage::ConflictSide& side) {
  Scope scope(r, field);
  if (r.Bool("has_value")) side.value = r.String("value");
  side.stamp = LoadStamp(r, "stamp");
}

inline void LoadConflict(WireReader& r, storage::Conflict& c) {
  c.id = r.String("id");
  CheckId(r, "id", c.id);
  c.type = LoadResourceType(r, "type");
  c.record_id = r.String("record_id");
  CheckId(r, "record_id", c.record_id);
  c.facility = r.String("facility");
  CheckFacility(r, "facility", c.facility);
  c.field = r.String("field");
  r.Check(!c.field.empty(), "field", "empty");
  LoadConflictSide(r, "winner", c.winner);
  LoadConflictSide(r, "loser", c.loser);
  const uint8_t state = r.U8("state");
  r.Check(state <= static_cast<uint8_t>(storage::ConflictState::kResolved),
          "state", "unknown conflict state");
  c.state = static_cast<storage::ConflictState>(state);
  c.state_stamp = LoadStamp(r, "state_stamp");
  c.resolution = r.String("resolution");
  c.resolved_by = r.String("resolved_by");
  c.seq = r.I64("seq");
  CheckSeq(r, "seq", c.seq);
}

// A batch's changes or conflicts: each seq must lie in (after_seq, to_seq],
// the range the batch says it covers.
template <class T>
void LoadBatchEntries(WireReader& r, std::string_view field,
                      size_t min_element_bytes, int64_t after_seq,
                      int64_t to_seq, void (*load)(WireReader&, T&),
                      std::vector<T>& out) {
  const uint64_t count =
      r.Count(field, r.limits().max_changes, min_element_bytes);
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    Scope scope(r, field, static_cast<int64_t>(i));
    T entry;
    load(r, entry);
    r.Check(!r.ok() || (entry.seq > after_seq && entry.seq <= to_seq), "seq",
            "outside the batch's (after_seq, to_seq]");
    if (r.ok()) out.push_back(std::move(entry));
  }
}

}  // namespace posta::sync::wire_internal
