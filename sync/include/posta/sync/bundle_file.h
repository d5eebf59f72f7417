// Sync bundle files: the batches of network sync written to one file that
// a person carries between a clinic with no link and its hub (a USB stick).
// Not to be confused with the FHIR search Bundle of the API.
//
// This header is the file format only: a header naming origin and
// destination, then self-delimiting frames each holding one encoded wire
// message (wire.h), each with its own HMAC-SHA256 chained to the one
// before, then a trailer frame. bundle_exchange.h decides what goes in and
// applies what comes out. docs/sync-protocol.md "Sync bundles" has the
// rationale; the layout, all integers little-endian:
//
//   offset 0  4 bytes  magic "PSB1"
//          4  uint8    format version (kBundleFormatVersion)
//          5  uint8    direction (BundleDirection)
//          6  uint16   header length L (at most kMaxBundleHeaderBytes)
//          8  L bytes  header: origin node id, origin facility, destination
//                      node id (each uint8 length + bytes), int64
//                      created_ms, int64 push_from, int64 pull_from
//        8+L  32 bytes HMAC(key, bytes 0 .. 8+L)            = mac[0]
//   then frames i = 1, 2, ...:
//          uint8 kind (BundleFrameKind), uint32 length N,
//          32 bytes head_mac[i] = HMAC(key, mac[i-1] | "head" | uint32 i |
//                   kind | N),
//          N bytes payload,
//          32 bytes mac[i] = HMAC(key, head_mac[i] | payload)
//   the last frame is kTrailer: payload uint32 frames before it, uint64
//   records (changes) in them.
//
// The chain binds every frame to the header and to its place, so frames
// cannot be reordered, dropped from the middle or spliced from another
// bundle. The head's own MAC means a changed length is refused rather than
// mistaken for a file cut short; a file that is cut short verifies up to
// its last complete frame. The key
// (BundleKey) comes from the clinic's credential hash, which only that
// clinic and its hub hold.
//
// Nothing in a bundle names a path. Every length is checked against
// BundleLimits before anything is allocated. Reading never throws.
//
// Threading: a BundleWriter or BundleReader is used from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <string_view>

#include "posta/base/status.h"

namespace posta::sync {

inline constexpr std::string_view kBundleMagic = "PSB1";
inline constexpr uint8_t kBundleFormatVersion = 1;
inline constexpr size_t kBundleMacBytes = 32;
inline constexpr size_t kMaxBundleHeaderBytes = 1024;

enum class BundleDirection : uint8_t {
  kClinicToHub = 1,  // push batches and the clinic's pull cursor
  kHubToClinic = 2,  // the hub's ack of the clinic's pushes, pull batches
};

// "clinic-to-hub", "hub-to-clinic".
std::string_view BundleDirectionName(BundleDirection direction);

enum class BundleFrameKind : uint8_t {
  kPush = 1,     // an encoded PushBatch (clinic → hub)
  kPull = 2,     // an encoded PullBatch (hub → clinic)
  kAck = 3,      // clinic → hub: an encoded PullRequest (its pull cursor);
                 // hub → clinic: an encoded PushAck (what the hub applied)
  kTrailer = 4,  // the end: counts of what came before
};

struct BundleHeader {
  BundleDirection direction = BundleDirection::kClinicToHub;
  std::string origin_node_id;
  std::string origin_facility;
  std::string destination_node_id;
  int64_t created_ms = 0;  // the origin's wall clock when it wrote the file
  // Where the bundle's batches start: clinic → hub, push_from is the
  // after_seq of the first push batch (what the clinic knew the hub had
  // applied) and pull_from its pull cursor; hub → clinic, push_from is the
  // ack it carries and pull_from the after_seq of the first pull batch.
  int64_t push_from = 0;
  int64_t pull_from = 0;
};

struct BundleLimits {
  // One frame's payload (an encoded wire message). Default: 16 MiB, the
  // wire's max_encoded_bytes.
  size_t max_frame_bytes = size_t{16} << 20;
  // Frames in one bundle. Default: 1,000,000.
  uint32_t max_frames = 1000000;
};

// The HMAC-SHA256 key of a bundle of `direction` between a clinic and its
// hub: HMAC(credential_hash, "posta sync bundle v1 " + direction name),
// where credential_hash is the 64 hex digits HashSecret gives (the hub
// stores it; the clinic computes it from its credential).
std::string BundleKey(std::string_view credential_hash,
                      BundleDirection direction);

// Where a BundleWriter's bytes go (a file, a string in tests); its error
// is returned as is.
using BundleSink = std::function<Status(std::string_view bytes)>;

// Writes a bundle: Begin, Add per frame, Finish. Errors: the sink's.
class BundleWriter {
 public:
  BundleWriter(BundleSink sink, std::string key);
  Status Begin(const BundleHeader& header);
  // `message` is one encoded wire message; `records` counts its changes
  // for the trailer.
  Status Add(BundleFrameKind kind, std::string_view message, int64_t records);
  // Writes the trailer.
  Status Finish();

  uint32_t frames() const { return frames_; }
  uint64_t bytes() const { return bytes_; }

 private:
  Status Put(std::string_view bytes);
  Status PutFrame(BundleFrameKind kind, std::string_view payload);
  BundleSink sink_;
  const std::string key_;
  std::string mac_;  // the last MAC of the chain
  uint32_t frames_ = 0;
  uint64_t records_ = 0;
  uint64_t bytes_ = 0;
};

struct BundleFrame {
  BundleFrameKind kind = BundleFrameKind::kTrailer;
  uint32_t index = 0;   // 1 for the first frame
  std::string message;  // an encoded wire message (not for kTrailer)
  // kTrailer only: what the trailer counts.
  uint32_t frames = 0;
  uint64_t records = 0;
};

// Reads a bundle from a stream: ReadHeader, Verify with the key the
// header's origin leads to, then Next until the trailer.
class BundleReader {
 public:
  explicit BundleReader(std::istream& in, BundleLimits limits = {});

  // The header, not yet authenticated (its origin says which key to use).
  // Malformed for what is not a bundle (naming what is wrong),
  // VersionMismatch for another format version.
  Result<BundleHeader> ReadHeader();
  // Checks the header's MAC with `key`: PermissionDenied when it does not
  // match (the file was changed, or it was not made with this key).
  Status Verify(std::string key);
  // The next frame, authenticated. PermissionDenied when a frame's MAC
  // does not match (changed, reordered, or from another bundle); Malformed
  // when the file ends inside or before a frame (truncated() is then true)
  // or a frame is not of the form above; TooLarge over BundleLimits.
  // Malformed when called again after the trailer.
  Result<BundleFrame> Next();
  // After the trailer: Ok when the file ends there, Malformed when bytes
  // follow it.
  Status ExpectEnd();

  // True once Next found the file cut short.
  bool truncated() const { return truncated_; }
  // Frames verified so far (the trailer not counted).
  uint32_t frames() const { return frames_; }
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  // Reads exactly n bytes into `out`; false when the file ends first.
  bool ReadExact(size_t n, std::string& out);
  std::istream& in_;
  const BundleLimits limits_;
  std::string header_bytes_;  // bytes 0 .. 8+L, for Verify
  std::string header_mac_;
  std::string key_;
  std::string mac_;
  uint32_t frames_ = 0;
  uint64_t bytes_read_ = 0;
  bool verified_ = false;
  bool ended_ = false;
  bool truncated_ = false;
};

}  // namespace posta::sync
