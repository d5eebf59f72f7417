#include "posta/sync/bundle_file.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <memory>
#include <utility>

#include "posta/base/hlc.h"
#include "posta/storage/replication.h"

namespace posta::sync {
namespace {

void PutLe(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

uint64_t GetLe(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= uint64_t{static_cast<uint8_t>(in[at + i])} << (8 * i);
  }
  return v;
}

// HMAC-SHA256 over the concatenation of `parts` (OpenSSL's EVP_MAC, so a
// 16 MiB frame is not copied to be authenticated).
std::string Hmac(std::string_view key,
                 std::initializer_list<std::string_view> parts) {
  struct MacFree {
    void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
    void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
  };
  std::unique_ptr<EVP_MAC, MacFree> mac(
      EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  std::unique_ptr<EVP_MAC_CTX, MacFree> ctx(mac ? EVP_MAC_CTX_new(mac.get())
                                                : nullptr);
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  std::array<unsigned char, kBundleMacBytes> out{};
  size_t out_len = 0;
  bool ok = ctx != nullptr &&
            EVP_MAC_init(ctx.get(),
                         reinterpret_cast<const unsigned char*>(key.data()),
                         key.size(), params) == 1;
  for (std::string_view part : parts) {
    ok = ok &&
         EVP_MAC_update(ctx.get(),
                        reinterpret_cast<const unsigned char*>(part.data()),
                        part.size()) == 1;
  }
  ok = ok && EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()) == 1;
  // Only an OpenSSL without HMAC-SHA256 fails here; an empty MAC then
  // matches nothing, so every bundle is refused rather than trusted.
  if (!ok || out_len != kBundleMacBytes) return {};
  return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

bool SameMac(std::string_view a, std::string_view b) {
  return a.size() == kBundleMacBytes && b.size() == kBundleMacBytes &&
         CRYPTO_memcmp(a.data(), b.data(), kBundleMacBytes) == 0;
}

// The header's fixed prefix and frame heads.
constexpr size_t kPrefixBytes = 8;
constexpr size_t kFrameHeadBytes = 5;
constexpr size_t kTrailerBytes = 12;
// Separates a frame head's MAC from a frame's.
constexpr std::string_view kHeadLabel = "head";

std::string FrameHead(uint32_t index, BundleFrameKind kind, uint32_t size) {
  std::string head;
  PutLe(head, index, 4);
  head.push_back(static_cast<char>(kind));
  PutLe(head, size, 4);
  return head;
}

}  // namespace

std::string_view BundleDirectionName(BundleDirection direction) {
  switch (direction) {
    case BundleDirection::kClinicToHub:
      return "clinic-to-hub";
    case BundleDirection::kHubToClinic:
      return "hub-to-clinic";
  }
  return "unknown";
}

std::string BundleKey(std::string_view credential_hash,
                      BundleDirection direction) {
  const std::string label =
      "posta sync bundle v1 " + std::string(BundleDirectionName(direction));
  return Hmac(credential_hash, {label});
}

// ---- BundleWriter ----

BundleWriter::BundleWriter(BundleSink sink, std::string key)
    : sink_(std::move(sink)), key_(std::move(key)) {}

Status BundleWriter::Put(std::string_view bytes) {
  POSTA_RETURN_IF_ERROR(sink_(bytes));
  bytes_ += bytes.size();
  return Status::Ok();
}

Status BundleWriter::Begin(const BundleHeader& header) {
  std::string body;
  for (const std::string* s : {&header.origin_node_id, &header.origin_facility,
                               &header.destination_node_id}) {
    body.push_back(static_cast<char>(std::min<size_t>(s->size(), 255)));
    body.append(s->substr(0, 255));
  }
  PutLe(body, static_cast<uint64_t>(header.created_ms), 8);
  PutLe(body, static_cast<uint64_t>(header.push_from), 8);
  PutLe(body, static_cast<uint64_t>(header.pull_from), 8);
  std::string head(kBundleMagic);
  head.push_back(static_cast<char>(kBundleFormatVersion));
  head.push_back(static_cast<char>(header.direction));
  PutLe(head, body.size(), 2);
  head += body;
  mac_ = Hmac(key_, {head});
  POSTA_RETURN_IF_ERROR(Put(head));
  return Put(mac_);
}

Status BundleWriter::Add(BundleFrameKind kind, std::string_view message,
                         int64_t records) {
  POSTA_RETURN_IF_ERROR(PutFrame(kind, message));
  ++frames_;
  records_ += static_cast<uint64_t>(std::max<int64_t>(records, 0));
  return Status::Ok();
}

Status BundleWriter::PutFrame(BundleFrameKind kind, std::string_view payload) {
  const uint32_t index = frames_ + 1;
  const std::string head =
      FrameHead(index, kind, static_cast<uint32_t>(payload.size()));
  const std::string head_mac = Hmac(key_, {mac_, kHeadLabel, head});
  mac_ = Hmac(key_, {head_mac, payload});
  POSTA_RETURN_IF_ERROR(Put(std::string_view(head).substr(4)));
  POSTA_RETURN_IF_ERROR(Put(head_mac));
  POSTA_RETURN_IF_ERROR(Put(payload));
  return Put(mac_);
}

Status BundleWriter::Finish() {
  std::string trailer;
  PutLe(trailer, frames_, 4);
  PutLe(trailer, records_, 8);
  return PutFrame(BundleFrameKind::kTrailer, trailer);
}

// ---- BundleReader ----

BundleReader::BundleReader(std::istream& in, BundleLimits limits)
    : in_(in), limits_(limits) {}

bool BundleReader::ReadExact(size_t n, std::string& out) {
  out.resize(n);
  if (n == 0) return true;
  in_.read(out.data(), static_cast<std::streamsize>(n));
  const auto got = static_cast<size_t>(in_.gcount());
  bytes_read_ += got;
  out.resize(got);
  return got == n;
}

Result<BundleHeader> BundleReader::ReadHeader() {
  constexpr std::string_view kWhat = "sync bundle";
  std::string prefix;
  if (!ReadExact(kPrefixBytes, prefix)) {
    return Status::Malformed(kWhat, prefix.empty()
                                        ? "the file is empty"
                                        : "the file ends inside its header");
  }
  if (std::string_view(prefix).substr(0, 4) != kBundleMagic) {
    return Status::Malformed(kWhat,
                             "not a posta sync bundle (no PSB1 magic at the "
                             "start; a FHIR Bundle or another file?)");
  }
  const auto version = static_cast<uint8_t>(prefix[4]);
  if (version != kBundleFormatVersion) {
    return Status::VersionMismatch(
        kWhat, "format version " + std::to_string(version) +
                   "; this posta reads version " +
                   std::to_string(kBundleFormatVersion) + "; upgrade it");
  }
  const auto direction = static_cast<uint8_t>(prefix[5]);
  if (direction != static_cast<uint8_t>(BundleDirection::kClinicToHub) &&
      direction != static_cast<uint8_t>(BundleDirection::kHubToClinic)) {
    return Status::Malformed(kWhat, "direction " + std::to_string(direction) +
                                        " is neither 1 nor 2");
  }
  const size_t length = GetLe(prefix, 6, 2);
  if (length > kMaxBundleHeaderBytes) {
    return Status::TooLarge(kWhat, "header of " + std::to_string(length) +
                                       " bytes, over " +
                                       std::to_string(kMaxBundleHeaderBytes));
  }
  std::string body;
  if (!ReadExact(length, body) || !ReadExact(kBundleMacBytes, header_mac_)) {
    truncated_ = true;
    return Status::Malformed(kWhat, "the file ends inside its header");
  }
  BundleHeader header;
  header.direction = static_cast<BundleDirection>(direction);
  size_t at = 0;
  for (std::string* s : {&header.origin_node_id, &header.origin_facility,
                         &header.destination_node_id}) {
    if (at >= body.size()) return Status::Malformed(kWhat, "header too short");
    const size_t n = static_cast<uint8_t>(body[at++]);
    if (n > body.size() - at) {
      return Status::Malformed(kWhat, "header too short");
    }
    *s = body.substr(at, n);
    at += n;
  }
  if (body.size() - at != 24) {
    return Status::Malformed(kWhat, "header has " +
                                        std::to_string(body.size() - at) +
                                        " bytes of cursors, not 24");
  }
  header.created_ms = static_cast<int64_t>(GetLe(body, at, 8));
  header.push_from = static_cast<int64_t>(GetLe(body, at + 8, 8));
  header.pull_from = static_cast<int64_t>(GetLe(body, at + 16, 8));
  if (!base::IsValidNodeId(header.origin_node_id)) {
    return Status::Malformed(kWhat, "origin node id is not a node id");
  }
  if (!base::IsValidNodeId(header.destination_node_id)) {
    return Status::Malformed(kWhat, "destination node id is not a node id");
  }
  if (!storage::IsValidFacilityId(header.origin_facility) &&
      header.origin_facility != storage::kSharedFacility) {
    return Status::Malformed(kWhat, "origin facility is not a facility id");
  }
  if (header.push_from < 0 || header.pull_from < 0) {
    return Status::Malformed(kWhat, "a cursor in the header is negative");
  }
  header_bytes_ = prefix + body;
  return header;
}

Status BundleReader::Verify(std::string key) {
  if (header_bytes_.empty()) {
    return Status::Internal("sync bundle", "Verify before ReadHeader");
  }
  key_ = std::move(key);
  if (!SameMac(Hmac(key_, {header_bytes_}), header_mac_)) {
    return Status::PermissionDenied(
        "sync bundle",
        "its header does not verify: the file was changed, or it was not "
        "made for this node's credential");
  }
  mac_ = header_mac_;
  verified_ = true;
  return Status::Ok();
}

Status BundleReader::ExpectEnd() {
  if (!ended_) {
    return Status::Internal("sync bundle", "ExpectEnd before the trailer");
  }
  std::string extra;
  if (ReadExact(1, extra) || !extra.empty()) {
    return Status::Malformed("sync bundle",
                             "bytes follow its trailer; the file was changed");
  }
  return Status::Ok();
}

Result<BundleFrame> BundleReader::Next() {
  constexpr std::string_view kWhat = "sync bundle";
  if (!verified_) return Status::Internal(kWhat, "Next before Verify");
  if (ended_) return Status::Malformed(kWhat, "read past the trailer");
  const uint32_t index = frames_ + 1;
  const std::string at = "frame " + std::to_string(index);
  std::string head;
  std::string head_mac;
  if (!ReadExact(kFrameHeadBytes, head) ||
      !ReadExact(kBundleMacBytes, head_mac)) {
    truncated_ = true;
    return Status::Malformed(kWhat, head.empty()
                                        ? "the file ends before " + at
                                        : "the file ends inside " + at);
  }
  const auto kind = static_cast<uint8_t>(head[0]);
  const auto size = static_cast<uint32_t>(GetLe(head, 1, 4));
  // The head is authenticated before its length is believed: a changed
  // length is refused, never taken for a file cut short.
  const std::string expected_head_mac =
      Hmac(key_, {mac_, kHeadLabel,
                  FrameHead(index, static_cast<BundleFrameKind>(kind), size)});
  if (!SameMac(expected_head_mac, head_mac)) {
    return Status::PermissionDenied(
        kWhat, at + " does not verify: the file was changed, or frames were "
                    "moved or taken from another bundle");
  }
  if (kind < static_cast<uint8_t>(BundleFrameKind::kPush) ||
      kind > static_cast<uint8_t>(BundleFrameKind::kTrailer)) {
    return Status::Malformed(
        kWhat, at + ": kind " + std::to_string(kind) + " is not 1..4");
  }
  const auto frame_kind = static_cast<BundleFrameKind>(kind);
  if (frame_kind == BundleFrameKind::kTrailer
          ? size != kTrailerBytes
          : size > limits_.max_frame_bytes) {
    return Status::TooLarge(
        kWhat, at + ": " + std::to_string(size) + " bytes is over the limit");
  }
  if (frame_kind != BundleFrameKind::kTrailer && index > limits_.max_frames) {
    return Status::TooLarge(
        kWhat, "more than " + std::to_string(limits_.max_frames) + " frames");
  }
  BundleFrame frame;
  frame.kind = frame_kind;
  frame.index = index;
  std::string mac;
  if (!ReadExact(size, frame.message) || !ReadExact(kBundleMacBytes, mac)) {
    truncated_ = true;
    return Status::Malformed(kWhat, "the file ends inside " + at);
  }
  const std::string next = Hmac(key_, {head_mac, frame.message});
  if (!SameMac(next, mac)) {
    return Status::PermissionDenied(
        kWhat, at + " does not verify: the file was changed, or frames were "
                    "moved or taken from another bundle");
  }
  mac_ = next;
  if (frame_kind == BundleFrameKind::kTrailer) {
    frame.frames = static_cast<uint32_t>(GetLe(frame.message, 0, 4));
    frame.records = GetLe(frame.message, 4, 8);
    frame.message.clear();
    // Authenticated, so only a bug on the writer's side gets here.
    if (frame.frames != frames_) {
      return Status::Malformed(
          kWhat, "the trailer counts " + std::to_string(frame.frames) +
                     " frames but " + std::to_string(frames_) + " came");
    }
    ended_ = true;
    return frame;
  }
  ++frames_;
  return frame;
}

}  // namespace posta::sync
