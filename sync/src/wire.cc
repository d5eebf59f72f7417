#include "posta/sync/wire.h"

#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <sstream>
#include <string>
#include <utility>

#include "posta/base/check.h"
#include "wire_archive.h"
#include "wire_frame.h"

// Message layouts. cereal finds these saves by argument-dependent lookup, so
// they live in posta::sync itself, not in an unnamed namespace.
namespace posta::sync {

using cereal::make_nvp;

template <class Archive>
void save(Archive& ar, const Hello& m) {
  ar(make_nvp("protocol_version", m.protocol_version),
     make_nvp("min_protocol_version", m.min_protocol_version),
     make_nvp("node_id", m.node_id), make_nvp("facility", m.facility),
     make_nvp("role", m.role), make_nvp("clock_ms", m.clock_ms),
     make_nvp("hlc", m.hlc), make_nvp("software", m.software));
  if (m.pending_changes) {
    ar(make_nvp("pending_changes", *m.pending_changes));
  }
}

template <class Archive>
void save(Archive& ar, const HelloReply& m) {
  ar(make_nvp("protocol_version", m.protocol_version),
     make_nvp("node_id", m.node_id), make_nvp("facility", m.facility),
     make_nvp("role", m.role), make_nvp("clock_ms", m.clock_ms),
     make_nvp("hlc", m.hlc), make_nvp("received_seq", m.received_seq),
     make_nvp("max_batch_bytes", m.max_batch_bytes));
  if (m.audit_received_seq) {
    ar(make_nvp("audit_received_seq", *m.audit_received_seq),
       make_nvp("audit_broken_seq", m.audit_broken_seq));
  }
}

template <class Archive>
void save(Archive& ar, const PushBatch& m) {
  ar(make_nvp("node_id", m.node_id), make_nvp("after_seq", m.after_seq),
     make_nvp("to_seq", m.to_seq), make_nvp("changes", m.changes),
     make_nvp("conflicts", m.conflicts));
  if (!m.audit_after_seq) return;
  ar(make_nvp("audit_after_seq", *m.audit_after_seq));
  if constexpr (wire_internal::kIsJson<Archive>) {
    ar(make_nvp("audit", m.audit));  // the view shows every entry whole
  } else {
    wire_internal::SavePushedAudit(ar, m.changes, m.audit);
  }
}

template <class Archive>
void save(Archive& ar, const PushAck& m) {
  ar(make_nvp("received_seq", m.received_seq), make_nvp("taken", m.taken),
     make_nvp("merged", m.merged), make_nvp("ignored", m.ignored),
     make_nvp("conflicts", m.conflicts));
  if (m.audit_received_seq) {
    ar(make_nvp("audit_received_seq", *m.audit_received_seq),
       make_nvp("audit_stored", m.audit_stored),
       make_nvp("audit_broken_seq", m.audit_broken_seq));
  }
}

template <class Archive>
void save(Archive& ar, const PullRequest& m) {
  ar(make_nvp("node_id", m.node_id), make_nvp("after_seq", m.after_seq),
     make_nvp("max_bytes", m.max_bytes));
  if (m.stored_seq) ar(make_nvp("stored_seq", *m.stored_seq));
}

template <class Archive>
void save(Archive& ar, const PullBatch& m) {
  ar(make_nvp("after_seq", m.after_seq), make_nvp("to_seq", m.to_seq),
     make_nvp("more", m.more), make_nvp("changes", m.changes),
     make_nvp("conflicts", m.conflicts));
}

template <class Archive>
void save(Archive& ar, const ErrorReply& m) {
  ar(make_nvp("code", m.code), make_nvp("message", m.message));
}

// The JSON view of a secret: its length only. A captured enrollment
// dumped for debugging must not hand out a working code or credential.
template <class Archive>
std::string Secret(const Archive&, const std::string& secret) {
  if constexpr (wire_internal::kIsJson<Archive>) {
    return "(secret, " + std::to_string(secret.size()) + " characters)";
  } else {
    return secret;
  }
}

template <class Archive>
void save(Archive& ar, const EnrollRequest& m) {
  ar(make_nvp("version", m.version), make_nvp("code", Secret(ar, m.code)),
     make_nvp("node_id", m.node_id), make_nvp("facility", m.facility),
     make_nvp("software", m.software));
}

template <class Archive>
void save(Archive& ar, const EnrollReply& m) {
  ar(make_nvp("version", m.version),
     make_nvp("credential", Secret(ar, m.credential)),
     make_nvp("facility", m.facility), make_nvp("hub_node_id", m.hub_node_id),
     make_nvp("clock_ms", m.clock_ms));
}

template <class Archive>
void save(Archive& ar, const AuditBatch& m) {
  ar(make_nvp("node_id", m.node_id), make_nvp("after_seq", m.after_seq),
     make_nvp("entries", m.entries));
}

template <class Archive>
void save(Archive& ar, const AuditAck& m) {
  ar(make_nvp("received_seq", m.received_seq), make_nvp("stored", m.stored),
     make_nvp("broken_seq", m.broken_seq),
     make_nvp("broken_why", m.broken_why));
}

namespace {

using wire_internal::BinaryOut;
using wire_internal::CheckFacility;
using wire_internal::CheckNodeId;
using wire_internal::CheckSeq;
using wire_internal::JsonOut;
using wire_internal::LoadStamp;
using wire_internal::WireReader;

// ---- Message loads, mirroring the saves above ----

void CheckRole(WireReader& r, std::string_view role) {
  r.Check(role == kRoleClinic || role == kRoleHub, "role",
          "not \"clinic\" or \"hub\"");
}

void CheckRange(WireReader& r, int64_t after_seq, int64_t to_seq) {
  CheckSeq(r, "after_seq", after_seq);
  CheckSeq(r, "to_seq", to_seq);
  r.Check(after_seq <= to_seq, "to_seq", "below after_seq");
}

void LoadBatchBody(WireReader& r, int64_t after_seq, int64_t to_seq,
                   std::vector<storage::ChangeEntry>& changes,
                   std::vector<storage::Conflict>& conflicts) {
  wire_internal::LoadBatchEntries(r, "changes", wire_internal::kMinChangeBytes,
                                  after_seq, to_seq, wire_internal::LoadChange,
                                  changes);
  wire_internal::LoadBatchEntries(
      r, "conflicts", wire_internal::kMinConflictBytes, after_seq, to_seq,
      wire_internal::LoadConflict, conflicts);
}

void LoadHello(WireReader& r, Hello& m) {
  m.protocol_version = r.U32("protocol_version");
  m.min_protocol_version = r.U32("min_protocol_version");
  r.Check(m.min_protocol_version >= 1, "min_protocol_version", "zero");
  r.Check(m.min_protocol_version <= m.protocol_version, "min_protocol_version",
          "above protocol_version");
  m.node_id = r.String("node_id");
  CheckNodeId(r, "node_id", m.node_id);
  m.facility = r.String("facility");
  CheckFacility(r, "facility", m.facility);
  m.role = r.String("role");
  CheckRole(r, m.role);
  m.clock_ms = r.I64("clock_ms");
  m.hlc = LoadStamp(r, "hlc", /*allow_zero=*/true);
  m.software = r.String("software");
  // The extension, when the sender wrote it.
  if (r.ok() && r.remaining() > 0) {
    m.pending_changes = r.I64("pending_changes");
    r.Check(*m.pending_changes >= 0, "pending_changes", "negative");
  }
}

void LoadHelloReply(WireReader& r, HelloReply& m) {
  m.protocol_version = r.U32("protocol_version");
  r.Check(m.protocol_version >= 1, "protocol_version", "zero");
  m.node_id = r.String("node_id");
  CheckNodeId(r, "node_id", m.node_id);
  m.facility = r.String("facility");
  CheckFacility(r, "facility", m.facility);
  m.role = r.String("role");
  CheckRole(r, m.role);
  m.clock_ms = r.I64("clock_ms");
  m.hlc = LoadStamp(r, "hlc", /*allow_zero=*/true);
  m.received_seq = r.I64("received_seq");
  CheckSeq(r, "received_seq", m.received_seq);
  m.max_batch_bytes = r.U64("max_batch_bytes");
  // The extension, when the hub wrote it.
  if (r.ok() && r.remaining() > 0) {
    m.audit_received_seq = r.I64("audit_received_seq");
    CheckSeq(r, "audit_received_seq", *m.audit_received_seq);
    m.audit_broken_seq = r.I64("audit_broken_seq");
    CheckSeq(r, "audit_broken_seq", m.audit_broken_seq);
    r.Check(m.audit_broken_seq <= *m.audit_received_seq, "audit_broken_seq",
            "above audit_received_seq");
  }
}

void LoadPushBatch(WireReader& r, PushBatch& m) {
  m.node_id = r.String("node_id");
  CheckNodeId(r, "node_id", m.node_id);
  m.after_seq = r.I64("after_seq");
  m.to_seq = r.I64("to_seq");
  CheckRange(r, m.after_seq, m.to_seq);
  LoadBatchBody(r, m.after_seq, m.to_seq, m.changes, m.conflicts);
  // The extension (protocol 5), when the sender wrote it.
  if (r.ok() && r.remaining() > 0) {
    m.audit_after_seq = r.I64("audit_after_seq");
    CheckSeq(r, "audit_after_seq", *m.audit_after_seq);
    wire_internal::LoadPushedAudit(r, m.node_id, *m.audit_after_seq, m.changes,
                                   m.audit);
  }
}

void LoadPushAck(WireReader& r, PushAck& m) {
  m.received_seq = r.I64("received_seq");
  CheckSeq(r, "received_seq", m.received_seq);
  for (auto [field, value] :
       {std::pair{"taken", &m.taken}, std::pair{"merged", &m.merged},
        std::pair{"ignored", &m.ignored},
        std::pair{"conflicts", &m.conflicts}}) {
    *value = r.I64(field);
    r.Check(*value >= 0, field, "negative");
  }
  // The extension, when the hub wrote it.
  if (r.ok() && r.remaining() > 0) {
    m.audit_received_seq = r.I64("audit_received_seq");
    CheckSeq(r, "audit_received_seq", *m.audit_received_seq);
    m.audit_stored = r.I64("audit_stored");
    r.Check(m.audit_stored >= 0, "audit_stored", "negative");
    m.audit_broken_seq = r.I64("audit_broken_seq");
    CheckSeq(r, "audit_broken_seq", m.audit_broken_seq);
    r.Check(m.audit_broken_seq <= *m.audit_received_seq, "audit_broken_seq",
            "above audit_received_seq");
  }
}

void LoadPullRequest(WireReader& r, PullRequest& m) {
  m.node_id = r.String("node_id");
  CheckNodeId(r, "node_id", m.node_id);
  m.after_seq = r.I64("after_seq");
  CheckSeq(r, "after_seq", m.after_seq);
  m.max_bytes = r.U64("max_bytes");
  // The extension, when the sender wrote it.
  if (r.ok() && r.remaining() > 0) {
    m.stored_seq = r.I64("stored_seq");
    CheckSeq(r, "stored_seq", *m.stored_seq);
    r.Check(*m.stored_seq <= m.after_seq, "stored_seq", "above after_seq");
  }
}

void LoadPullBatch(WireReader& r, PullBatch& m) {
  m.after_seq = r.I64("after_seq");
  m.to_seq = r.I64("to_seq");
  CheckRange(r, m.after_seq, m.to_seq);
  m.more = r.Bool("more");
  LoadBatchBody(r, m.after_seq, m.to_seq, m.changes, m.conflicts);
}

void LoadErrorReply(WireReader& r, ErrorReply& m) {
  m.code = r.String("code");
  r.Check(!m.code.empty() && m.code.size() <= 64 &&
              std::all_of(m.code.begin(), m.code.end(),
                          [](char c) {
                            return (c >= 'a' && c <= 'z') ||
                                   (c >= '0' && c <= '9') || c == '_';
                          }),
          "code", "not 1..64 chars of [a-z0-9_]");
  m.message = r.String("message");
}

void LoadEnrollRequest(WireReader& r, EnrollRequest& m) {
  m.version = r.U32("version");
  r.Check(m.version >= 1, "version", "zero");
  m.code = r.String("code");
  r.Check(m.code.size() <= 200, "code", "longer than 200 bytes");
  m.node_id = r.String("node_id");
  CheckNodeId(r, "node_id", m.node_id);
  m.facility = r.String("facility");
  CheckFacility(r, "facility", m.facility);
  m.software = r.String("software");
}

void LoadEnrollReply(WireReader& r, EnrollReply& m) {
  m.version = r.U32("version");
  r.Check(m.version >= 1, "version", "zero");
  m.credential = r.String("credential");
  r.Check(!m.credential.empty() && m.credential.size() <= 200 &&
              std::all_of(m.credential.begin(), m.credential.end(),
                          [](char c) { return c > ' ' && c < 127; }),
          "credential", "not 1..200 printable ASCII characters");
  m.facility = r.String("facility");
  CheckFacility(r, "facility", m.facility);
  r.Check(!m.facility.empty(), "facility", "empty");
  m.hub_node_id = r.String("hub_node_id");
  CheckNodeId(r, "hub_node_id", m.hub_node_id);
  m.clock_ms = r.I64("clock_ms");
}

void LoadAuditBatch(WireReader& r, AuditBatch& m) {
  m.node_id = r.String("node_id");
  CheckNodeId(r, "node_id", m.node_id);
  m.after_seq = r.I64("after_seq");
  CheckSeq(r, "after_seq", m.after_seq);
  wire_internal::LoadChainEntries(r, m.node_id, m.after_seq, m.entries);
}

void LoadAuditAck(WireReader& r, AuditAck& m) {
  m.received_seq = r.I64("received_seq");
  CheckSeq(r, "received_seq", m.received_seq);
  m.stored = r.I64("stored");
  r.Check(m.stored >= 0, "stored", "negative");
  m.broken_seq = r.I64("broken_seq");
  CheckSeq(r, "broken_seq", m.broken_seq);
  m.broken_why = r.String("broken_why");
}

// ---- Frame ----

struct ZstdCCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct ZstdDCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// Inflates one zstd frame with a hard cap on output. The frame's declared
// content size is trusted for nothing: streaming compressors leave it out,
// and a hostile sender can write anything there. It only sizes the first
// buffer, within the cap, so that an honest frame is inflated without the
// buffer growing (each growth fills and copies it again).
Result<std::string> Inflate(std::string_view input, const WireLimits& limits,
                            std::string_view what) {
  // The cap is the smaller of the absolute limit and the ratio's, so the
  // output buffer never grows past what this input may honestly inflate to.
  size_t max_bytes = limits.max_decoded_bytes;
  std::string why = "inflates past " + std::to_string(max_bytes) + " bytes";
  if (limits.max_inflate_ratio > 0) {
    const size_t by_ratio =
        input.size() > SIZE_MAX / limits.max_inflate_ratio
            ? SIZE_MAX
            : std::max(limits.ratio_floor_bytes,
                       input.size() * limits.max_inflate_ratio);
    if (by_ratio < max_bytes) {
      max_bytes = by_ratio;
      why = "inflates past " + std::to_string(max_bytes) + " bytes, over " +
            std::to_string(limits.max_inflate_ratio) + " times its " +
            std::to_string(input.size()) + " compressed bytes";
    }
  }
  std::unique_ptr<ZSTD_DCtx, ZstdDCtxFree> dctx(ZSTD_createDCtx());
  POSTA_CHECK(dctx != nullptr);
  // Security: bounds the decoder's window allocation, which the frame
  // header would otherwise choose (up to 128 MiB by default).
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax,
                         wire_internal::kMaxWindowLog);
  std::string out;
  const unsigned long long declared =
      ZSTD_getFrameContentSize(input.data(), input.size());
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN &&
      declared != ZSTD_CONTENTSIZE_ERROR && declared < max_bytes) {
    // One byte more: a frame that inflates past what it declared goes on
    // growing the buffer as any other.
    out.resize(static_cast<size_t>(declared) + 1);
  }
  size_t produced = 0;
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  while (true) {
    if (produced == out.size()) {
      // Room for one byte past the cap, so going over it is detected.
      const size_t room = max_bytes == SIZE_MAX ? max_bytes : max_bytes + 1;
      const size_t grown =
          std::min(room, std::max<size_t>(out.size() * 2, size_t{64} << 10));
      if (grown == out.size()) return Status::TooLarge(what, why);
      out.resize(grown);
    }
    ZSTD_outBuffer ob{out.data(), out.size(), produced};
    const size_t ret = ZSTD_decompressStream(dctx.get(), &ob, &in);
    produced = ob.pos;
    if (ZSTD_isError(ret)) {
      if (ZSTD_getErrorCode(ret) == ZSTD_error_frameParameter_windowTooLarge) {
        return Status::TooLarge(what, "zstd window over 16 MiB");
      }
      return Status::Malformed(what,
                               std::string("zstd: ") + ZSTD_getErrorName(ret));
    }
    if (produced > max_bytes) return Status::TooLarge(what, why);
    if (ret == 0) break;  // the frame is complete
    if (in.pos == in.size && ob.pos < ob.size) {
      return Status::Malformed(what, "zstd frame is truncated");
    }
  }
  if (in.pos != in.size) {
    return Status::Malformed(
        what, std::to_string(in.size - in.pos) + " bytes after the zstd frame");
  }
  out.resize(produced);
  return out;
}

template <class T>
std::string EncodeMessage(MessageKind kind, const T& message,
                          const EncodeOptions& options) {
  std::ostringstream os(std::ios::binary);
  {
    BinaryOut ar(os, BinaryOut::Options::LittleEndian());
    ar(message);
  }
  return wire_internal::EncodeFrame(kind, os.view(), options);
}

template <class T>
Result<T> DecodeMessage(std::string_view encoded, MessageKind kind,
                        const WireLimits& limits,
                        void (*load)(WireReader&, T&)) {
  try {
    Result<std::string> payload =
        wire_internal::DecodeFrame(encoded, kind, limits);
    if (!payload.ok()) return payload.status();
    WireReader reader(*payload, limits, MessageKindName(kind));
    T message;
    load(reader, message);
    reader.ExpectEnd();
    if (!reader.ok()) return reader.status();
    return message;
  } catch (const std::exception& e) {
    // The reader checks every length before cereal reads, so this is an
    // out-of-memory or a bug; either way the input is refused, not thrown.
    return Status::Malformed(MessageKindName(kind), e.what());
  }
}

template <class T>
std::string JsonOf(MessageKind kind, const T& message) {
  std::ostringstream os;
  {
    JsonOut ar(
        os,
        JsonOut::Options(
            RAPIDJSON_NAMESPACE::PrettyWriter<
                RAPIDJSON_NAMESPACE::OStreamWrapper>::kDefaultMaxDecimalPlaces,
            JsonOut::Options::IndentChar::space, 2));
    ar(make_nvp("kind", std::string(MessageKindName(kind))),
       make_nvp("message", message));
  }
  return os.str();
}

// ---- Equality (storage's types define none) ----

bool SameRecord(const storage::Record& a, const storage::Record& b) {
  return a.type == b.type && a.id == b.id && a.facility == b.facility &&
         a.content == b.content && a.version == b.version &&
         a.field_stamps == b.field_stamps && a.deleted == b.deleted &&
         a.last_updated_ms == b.last_updated_ms;
}

bool SameChange(const storage::ChangeEntry& a, const storage::ChangeEntry& b) {
  return a.seq == b.seq && SameRecord(a.record, b.record) &&
         a.base_stamps == b.base_stamps;
}

bool SameSide(const storage::ConflictSide& a, const storage::ConflictSide& b) {
  return a.value == b.value && a.stamp == b.stamp;
}

bool SameConflict(const storage::Conflict& a, const storage::Conflict& b) {
  return a.id == b.id && a.type == b.type && a.record_id == b.record_id &&
         a.facility == b.facility && a.field == b.field &&
         SameSide(a.winner, b.winner) && SameSide(a.loser, b.loser) &&
         a.state == b.state && a.state_stamp == b.state_stamp &&
         a.resolution == b.resolution && a.resolved_by == b.resolved_by &&
         a.seq == b.seq;
}

bool SameAuditEntry(const storage::AuditEntry& a,
                    const storage::AuditEntry& b) {
  return a.seq == b.seq && a.at_ms == b.at_ms && a.node_id == b.node_id &&
         a.facility == b.facility && a.actor == b.actor && a.role == b.role &&
         a.remote_address == b.remote_address && a.action == b.action &&
         a.resource == b.resource && a.version == b.version &&
         a.outcome == b.outcome && a.detail == b.detail &&
         a.prev_hash == b.prev_hash && a.hash == b.hash;
}

bool SameBody(const std::vector<storage::ChangeEntry>& changes_a,
              const std::vector<storage::Conflict>& conflicts_a,
              const std::vector<storage::ChangeEntry>& changes_b,
              const std::vector<storage::Conflict>& conflicts_b) {
  return std::equal(changes_a.begin(), changes_a.end(), changes_b.begin(),
                    changes_b.end(), SameChange) &&
         std::equal(conflicts_a.begin(), conflicts_a.end(), conflicts_b.begin(),
                    conflicts_b.end(), SameConflict);
}

}  // namespace

std::string ChangeKey(const storage::Record& record) {
  return storage::RecordName(record.type, record.id) + " " +
         record.version.ToString();
}

std::string ChangeKey(const storage::AuditEntry& entry) {
  return entry.resource + " " + entry.version;
}

bool operator==(const PushBatch& a, const PushBatch& b) {
  return a.node_id == b.node_id && a.after_seq == b.after_seq &&
         a.to_seq == b.to_seq &&
         SameBody(a.changes, a.conflicts, b.changes, b.conflicts) &&
         a.audit_after_seq == b.audit_after_seq &&
         std::equal(a.audit.begin(), a.audit.end(), b.audit.begin(),
                    b.audit.end(), SameAuditEntry);
}

bool operator==(const AuditBatch& a, const AuditBatch& b) {
  return a.node_id == b.node_id && a.after_seq == b.after_seq &&
         std::equal(a.entries.begin(), a.entries.end(), b.entries.begin(),
                    b.entries.end(), SameAuditEntry);
}

bool operator==(const PullBatch& a, const PullBatch& b) {
  return a.after_seq == b.after_seq && a.to_seq == b.to_seq &&
         a.more == b.more &&
         SameBody(a.changes, a.conflicts, b.changes, b.conflicts);
}

std::string_view MessageKindName(MessageKind kind) {
  switch (kind) {
    case MessageKind::kHello:
      return "hello";
    case MessageKind::kHelloReply:
      return "hello_reply";
    case MessageKind::kPushBatch:
      return "push_batch";
    case MessageKind::kPushAck:
      return "push_ack";
    case MessageKind::kPullRequest:
      return "pull_request";
    case MessageKind::kPullBatch:
      return "pull_batch";
    case MessageKind::kErrorReply:
      return "error_reply";
    case MessageKind::kEnrollRequest:
      return "enroll_request";
    case MessageKind::kEnrollReply:
      return "enroll_reply";
    case MessageKind::kAuditBatch:
      return "audit_batch";
    case MessageKind::kAuditAck:
      return "audit_ack";
  }
  return "unknown";
}

namespace wire_internal {

bool IsUtf8(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

std::string EncodeFrame(MessageKind kind, std::string_view payload,
                        const EncodeOptions& options) {
  std::unique_ptr<ZSTD_CCtx, ZstdCCtxFree> cctx(ZSTD_createCCtx());
  POSTA_CHECK(cctx != nullptr);
  const int level = std::clamp(options.zstd_level, 1, 19);
  POSTA_CHECK(!ZSTD_isError(
      ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level)));
  POSTA_CHECK(!ZSTD_isError(
      ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1)));
  std::string out(kWireHeaderBytes + ZSTD_compressBound(payload.size()), '\0');
  std::copy(kWireMagic.begin(), kWireMagic.end(), out.begin());
  out[4] = static_cast<char>(kind);
  out[5] = static_cast<char>(kCodecZstd);
  const size_t n = ZSTD_compress2(cctx.get(), out.data() + kWireHeaderBytes,
                                  out.size() - kWireHeaderBytes, payload.data(),
                                  payload.size());
  POSTA_CHECK(!ZSTD_isError(n));
  out.resize(kWireHeaderBytes + n);
  return out;
}

Result<std::string> DecodeFrame(std::string_view encoded, MessageKind expected,
                                const WireLimits& limits) {
  if (encoded.size() > limits.max_encoded_bytes) {
    return Status::TooLarge("sync message",
                            std::to_string(encoded.size()) + " bytes, limit " +
                                std::to_string(limits.max_encoded_bytes));
  }
  POSTA_ASSIGN_OR_RETURN(const MessageKind kind, PeekKind(encoded));
  if (kind != expected) {
    return Status::Malformed(
        "sync message", "expected " + std::string(MessageKindName(expected)) +
                            ", got " + std::string(MessageKindName(kind)));
  }
  return Inflate(encoded.substr(kWireHeaderBytes), limits,
                 std::string(MessageKindName(kind)) + " payload");
}

}  // namespace wire_internal

Result<MessageKind> PeekKind(std::string_view encoded) {
  constexpr std::string_view kWhat = "sync message header";
  if (encoded.size() < kWireHeaderBytes) {
    return Status::Malformed(
        kWhat, std::to_string(encoded.size()) + " bytes, a header has 8");
  }
  if (encoded.substr(0, 4) != kWireMagic) {
    return Status::Malformed(kWhat, "bad magic: not a posta sync message");
  }
  const auto kind = static_cast<uint8_t>(encoded[4]);
  if (kind < static_cast<uint8_t>(MessageKind::kHello) ||
      kind > static_cast<uint8_t>(MessageKind::kAuditAck)) {
    return Status::Malformed(kWhat,
                             "unknown message kind " + std::to_string(kind));
  }
  const auto codec = static_cast<uint8_t>(encoded[5]);
  if (codec != kCodecZstd) {
    return Status::Malformed(kWhat, "unknown codec " + std::to_string(codec));
  }
  if (encoded[6] != 0 || encoded[7] != 0) {
    return Status::Malformed(kWhat, "reserved bytes are not zero");
  }
  return static_cast<MessageKind>(kind);
}

std::string Encode(const Hello& m, const EncodeOptions& o) {
  return EncodeMessage(MessageKind::kHello, m, o);
}
std::string Encode(const HelloReply& m, const EncodeOptions& o) {
  return EncodeMessage(MessageKind::kHelloReply, m, o);
}
std::string Encode(const PushBatch& m, const EncodeOptions& o) {
  return EncodeMessage(MessageKind::kPushBatch, m, o);
}
std::string Encode(const PushAck& m, const EncodeOptions& o) {
  return EncodeMessage(MessageKind::kPushAck, m, o);
}
std::string Encode(const PullRequest& m, const EncodeOptions& o) {
  return EncodeMessage(MessageKind::kPullRequest, m, o);
}
std::string Encode(const PullBatch& m, const EncodeOptions& o) {
  return EncodeMessage(MessageKind::kPullBatch, m, o);
}
std::string Encode(const ErrorReply& m, const EncodeOptions& o) {
  return EncodeMessage(MessageKind::kErrorReply, m, o);
}
std::string Encode(const EnrollRequest& m, const EncodeOptions& o) {
  return EncodeMessage(MessageKind::kEnrollRequest, m, o);
}
std::string Encode(const EnrollReply& m, const EncodeOptions& o) {
  return EncodeMessage(MessageKind::kEnrollReply, m, o);
}
std::string Encode(const AuditBatch& m, const EncodeOptions& o) {
  return EncodeMessage(MessageKind::kAuditBatch, m, o);
}
std::string Encode(const AuditAck& m, const EncodeOptions& o) {
  return EncodeMessage(MessageKind::kAuditAck, m, o);
}

Result<Hello> DecodeHello(std::string_view e, const WireLimits& l) {
  return DecodeMessage(e, MessageKind::kHello, l, LoadHello);
}
Result<HelloReply> DecodeHelloReply(std::string_view e, const WireLimits& l) {
  return DecodeMessage(e, MessageKind::kHelloReply, l, LoadHelloReply);
}
Result<PushBatch> DecodePushBatch(std::string_view e, const WireLimits& l) {
  return DecodeMessage(e, MessageKind::kPushBatch, l, LoadPushBatch);
}
Result<PushAck> DecodePushAck(std::string_view e, const WireLimits& l) {
  return DecodeMessage(e, MessageKind::kPushAck, l, LoadPushAck);
}
Result<PullRequest> DecodePullRequest(std::string_view e, const WireLimits& l) {
  return DecodeMessage(e, MessageKind::kPullRequest, l, LoadPullRequest);
}
Result<PullBatch> DecodePullBatch(std::string_view e, const WireLimits& l) {
  return DecodeMessage(e, MessageKind::kPullBatch, l, LoadPullBatch);
}
Result<ErrorReply> DecodeErrorReply(std::string_view e, const WireLimits& l) {
  return DecodeMessage(e, MessageKind::kErrorReply, l, LoadErrorReply);
}
Result<EnrollRequest> DecodeEnrollRequest(std::string_view e,
                                          const WireLimits& l) {
  return DecodeMessage(e, MessageKind::kEnrollRequest, l, LoadEnrollRequest);
}
Result<EnrollReply> DecodeEnrollReply(std::string_view e, const WireLimits& l) {
  return DecodeMessage(e, MessageKind::kEnrollReply, l, LoadEnrollReply);
}
Result<AuditBatch> DecodeAuditBatch(std::string_view e, const WireLimits& l) {
  return DecodeMessage(e, MessageKind::kAuditBatch, l, LoadAuditBatch);
}
Result<AuditAck> DecodeAuditAck(std::string_view e, const WireLimits& l) {
  return DecodeMessage(e, MessageKind::kAuditAck, l, LoadAuditAck);
}

std::string ToJson(const Hello& m) { return JsonOf(MessageKind::kHello, m); }
std::string ToJson(const HelloReply& m) {
  return JsonOf(MessageKind::kHelloReply, m);
}
std::string ToJson(const PushBatch& m) {
  return JsonOf(MessageKind::kPushBatch, m);
}
std::string ToJson(const PushAck& m) {
  return JsonOf(MessageKind::kPushAck, m);
}
std::string ToJson(const PullRequest& m) {
  return JsonOf(MessageKind::kPullRequest, m);
}
std::string ToJson(const PullBatch& m) {
  return JsonOf(MessageKind::kPullBatch, m);
}
std::string ToJson(const ErrorReply& m) {
  return JsonOf(MessageKind::kErrorReply, m);
}
std::string ToJson(const EnrollRequest& m) {
  return JsonOf(MessageKind::kEnrollRequest, m);
}
std::string ToJson(const EnrollReply& m) {
  return JsonOf(MessageKind::kEnrollReply, m);
}
std::string ToJson(const AuditBatch& m) {
  return JsonOf(MessageKind::kAuditBatch, m);
}
std::string ToJson(const AuditAck& m) {
  return JsonOf(MessageKind::kAuditAck, m);
}

namespace {

template <class T>
Result<std::string> DumpAs(Result<T> decoded) {
  if (!decoded.ok()) return decoded.status();
  return ToJson(*decoded);
}

}  // namespace

Result<std::string> DumpJson(std::string_view encoded,
                             const WireLimits& limits) {
  POSTA_ASSIGN_OR_RETURN(const MessageKind kind, PeekKind(encoded));
  switch (kind) {
    case MessageKind::kHello:
      return DumpAs(DecodeHello(encoded, limits));
    case MessageKind::kHelloReply:
      return DumpAs(DecodeHelloReply(encoded, limits));
    case MessageKind::kPushBatch:
      return DumpAs(DecodePushBatch(encoded, limits));
    case MessageKind::kPushAck:
      return DumpAs(DecodePushAck(encoded, limits));
    case MessageKind::kPullRequest:
      return DumpAs(DecodePullRequest(encoded, limits));
    case MessageKind::kPullBatch:
      return DumpAs(DecodePullBatch(encoded, limits));
    case MessageKind::kErrorReply:
      return DumpAs(DecodeErrorReply(encoded, limits));
    case MessageKind::kEnrollRequest:
      return DumpAs(DecodeEnrollRequest(encoded, limits));
    case MessageKind::kEnrollReply:
      return DumpAs(DecodeEnrollReply(encoded, limits));
    case MessageKind::kAuditBatch:
      return DumpAs(DecodeAuditBatch(encoded, limits));
    case MessageKind::kAuditAck:
      return DumpAs(DecodeAuditAck(encoded, limits));
  }
  return Status::Malformed("sync message header", "unknown message kind");
}

}  // namespace posta::sync
