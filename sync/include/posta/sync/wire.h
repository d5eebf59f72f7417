// The sync wire format: how messages.h travels between nodes.
//
// An encoded message is an 8-byte header and a payload:
//
//   offset 0  4 bytes  magic "PSY1"
//          4  uint8    message kind (MessageKind)
//          5  uint8    codec: 1 = zstd (the only one)
//          6  2 bytes  reserved, zero
//          8  ...      one zstd frame (content checksum on) holding the
//                      message as a cereal portable binary archive
//
// The archive is little-endian: a first byte 1 (cereal's endianness flag),
// then the fields in declaration order. int64/uint32/uint64 as fixed-width
// integers; bool and enums as one byte; a string as a uint64 length and its
// bytes; a vector or map as a uint64 count and its elements.
//   HlcStamp:    int64 wall_ms, uint32 counter, string node.
//   Record:      uint8 type, string id, string facility, string content
//                (JSON text), stamp version, field stamps, bool deleted,
//                uint64 last_updated_ms - version.wall_ms (mod 2^64; usually
//                0). Field stamps: count, then per field in name order:
//                string name, uint8 tag (0: the stamp is `version` and is
//                omitted; 1: a stamp follows), [stamp].
//   ChangeEntry: int64 seq, record, base_stamps (count, then per field in
//                name order: string name, stamp).
//   Conflict:    string id, uint8 type, string record_id, string facility,
//                string field, winner, loser (each: bool has_value, [string
//                value], stamp), uint8 state, stamp state_stamp, string
//                resolution, string resolved_by, int64 seq.
//   EnrollRequest: uint32 version, string code, string node_id, string
//                facility, string software.
//   EnrollReply: uint32 version, string credential, string facility, string
//                hub_node_id, int64 clock_ms.
// The content type of an encoded message is kContentType.
//
// Decoding trusts nothing: the frame is inflated with a cap on its output,
// every length is checked against the bytes left and against WireLimits
// before anything is allocated, and the result is validated (ids, node ids,
// stamps, ranges of seqs, UTF-8). Hostile input gets Malformed (cannot be
// parsed, or breaks a rule of the format) or TooLarge (over a limit), with
// the field in the message: "push_batch.changes[3].record.id: empty".
// Decoding never throws and never aborts.
//
// Threading: every function here is safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "posta/base/status.h"
#include "posta/sync/messages.h"

namespace posta::sync {

inline constexpr std::string_view kContentType = "application/x-posta-sync";
// The JSON view (ToJson, DumpJson), for debugging only; never decoded.
inline constexpr std::string_view kJsonContentType = "application/json";

inline constexpr std::string_view kWireMagic = "PSY1";
inline constexpr size_t kWireHeaderBytes = 8;
inline constexpr uint8_t kCodecZstd = 1;

enum class MessageKind : uint8_t {
  kHello = 1,
  kHelloReply = 2,
  kPushBatch = 3,
  kPushAck = 4,
  kPullRequest = 5,
  kPullBatch = 6,
  kErrorReply = 7,
  kEnrollRequest = 8,
  kEnrollReply = 9,
  kAuditBatch = 10,
  kAuditAck = 11,
};

// "push_batch", "hello_reply", ...
std::string_view MessageKindName(MessageKind kind);

// Bounds on what a decoder accepts. Every one is checked before the memory
// it guards is allocated.
struct WireLimits {
  // The whole encoded message. Default: 16 MiB.
  size_t max_encoded_bytes = size_t{16} << 20;
  // The inflated payload. Default: 64 MiB.
  size_t max_decoded_bytes = size_t{64} << 20;
  // The inflated payload may be at most this many times the compressed
  // bytes, once past ratio_floor_bytes: a small body that would inflate to
  // gigabytes is refused after ratio × its size, long before
  // max_decoded_bytes. Real batches of FHIR JSON compress 5 to 15 times.
  // Default: 100; 0 turns the check off.
  size_t max_inflate_ratio = 100;
  size_t ratio_floor_bytes = size_t{1} << 20;
  // Changes in one batch, and separately conflicts. Default: 100000.
  size_t max_changes = 100000;
  // One string (a record's content, a message). Default: 1 MiB.
  size_t max_string_bytes = size_t{1} << 20;
  // Entries of one record's field_stamps or one change's base_stamps.
  // Default: 256.
  size_t max_fields = 256;
};

struct EncodeOptions {
  // zstd level, clamped to 1..19 (higher levels need windows larger than
  // decoders accept). Default: 6, measured on a pull of 99,409 records:
  // 49 bytes a record against 53 at level 3, for about three times the
  // compressing time (some 2 µs a record), which the side that compresses
  // spends while the other stores the previous batch.
  int zstd_level = 6;
};

// Encoding cannot fail. Limits are the receiver's business: a message over
// the receiver's WireLimits is refused there with TooLarge.
std::string Encode(const Hello& message, const EncodeOptions& options = {});
std::string Encode(const HelloReply& message,
                   const EncodeOptions& options = {});
std::string Encode(const PushBatch& message, const EncodeOptions& options = {});
std::string Encode(const PushAck& message, const EncodeOptions& options = {});
std::string Encode(const PullRequest& message,
                   const EncodeOptions& options = {});
std::string Encode(const PullBatch& message, const EncodeOptions& options = {});
std::string Encode(const ErrorReply& message,
                   const EncodeOptions& options = {});
std::string Encode(const EnrollRequest& message,
                   const EncodeOptions& options = {});
std::string Encode(const EnrollReply& message,
                   const EncodeOptions& options = {});
std::string Encode(const AuditBatch& message,
                   const EncodeOptions& options = {});
std::string Encode(const AuditAck& message, const EncodeOptions& options = {});

// The kind named by the header of `encoded`. Checks the magic, kind, codec
// and reserved bytes only; Malformed when any is wrong.
Result<MessageKind> PeekKind(std::string_view encoded);

// Each Decode* refuses a message of another kind (Malformed), so a reply of
// the wrong type cannot be taken for the expected one.
Result<Hello> DecodeHello(std::string_view encoded,
                          const WireLimits& limits = {});
Result<HelloReply> DecodeHelloReply(std::string_view encoded,
                                    const WireLimits& limits = {});
Result<PushBatch> DecodePushBatch(std::string_view encoded,
                                  const WireLimits& limits = {});
Result<PushAck> DecodePushAck(std::string_view encoded,
                              const WireLimits& limits = {});
Result<PullRequest> DecodePullRequest(std::string_view encoded,
                                      const WireLimits& limits = {});
Result<PullBatch> DecodePullBatch(std::string_view encoded,
                                  const WireLimits& limits = {});
Result<ErrorReply> DecodeErrorReply(std::string_view encoded,
                                    const WireLimits& limits = {});
Result<EnrollRequest> DecodeEnrollRequest(std::string_view encoded,
                                          const WireLimits& limits = {});
Result<EnrollReply> DecodeEnrollReply(std::string_view encoded,
                                      const WireLimits& limits = {});
Result<AuditBatch> DecodeAuditBatch(std::string_view encoded,
                                    const WireLimits& limits = {});
Result<AuditAck> DecodeAuditAck(std::string_view encoded,
                                const WireLimits& limits = {});

// The JSON view: {"kind": "<MessageKindName>", "message": {...}} with the
// struct's fields by name, resource types by name, stamps in their text
// form and field stamps as an object (every field, including those the wire
// omits). Indented, for people and for kJsonContentType.
std::string ToJson(const Hello& message);
std::string ToJson(const HelloReply& message);
std::string ToJson(const PushBatch& message);
std::string ToJson(const PushAck& message);
std::string ToJson(const PullRequest& message);
std::string ToJson(const PullBatch& message);
std::string ToJson(const ErrorReply& message);
std::string ToJson(const EnrollRequest& message);
std::string ToJson(const EnrollReply& message);
std::string ToJson(const AuditBatch& message);
std::string ToJson(const AuditAck& message);

// Decodes a message of whatever kind its header names and returns its JSON
// view (`posta sync --dump FILE`). Fails as the matching Decode* does.
Result<std::string> DumpJson(std::string_view encoded,
                             const WireLimits& limits = {});

}  // namespace posta::sync
