// Per-input check shared by bundle_fuzzer and the corpus replay test
// (tests/unit/sync/bundle_corpus_test.cc), for the sync bundle reader
// (posta/sync/bundle_file.h).
//
// Each input is tried two ways:
//  1. as a bundle file, read with the key of the fuzz credential
//     (FuzzBundleKey): header, MAC, every frame to the trailer, and each
//     frame's message through the wire's DumpJson. Mutations mostly fail
//     the MACs here, which is the point: nothing past a bad MAC is used.
//  2. as frames to sign: the first byte says where to cut the result
//     (odd: at byte/256 of its length; even: not at all), then chunks of
//     [kind byte][uint16 length][payload] are written with BundleWriter and
//     the fuzz key, and read back. So mutations reach the frame parser
//     behind the MACs: kinds out of range, trailers in the middle, lengths
//     over the limits, files cut anywhere.
// Either way reading must not throw or crash, every refusal carries a
// message, and in 2 no frame fails its MAC, every frame read back is the
// one written, and a file cut short is reported as truncated.
#pragma once

#include <cstdint>
#include <exception>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "posta/base/status.h"
#include "posta/sync/bundle_file.h"
#include "posta/sync/credentials.h"
#include "posta/sync/wire.h"

namespace posta::fuzz {

inline constexpr std::string_view kFuzzCredential =
    "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeed";

inline std::string FuzzBundleKey(sync::BundleDirection direction) {
  return sync::BundleKey(sync::HashSecret(kFuzzCredential), direction);
}

// Small limits, so one input stays cheap.
inline sync::BundleLimits BundleFuzzLimits() {
  sync::BundleLimits limits;
  limits.max_frame_bytes = size_t{1} << 20;
  limits.max_frames = 64;
  return limits;
}

inline sync::WireLimits BundleFuzzWireLimits() {
  sync::WireLimits limits;
  limits.max_encoded_bytes = size_t{1} << 20;
  limits.max_decoded_bytes = size_t{4} << 20;
  return limits;
}

namespace bundle_internal {

inline std::string Refusal(const Status& s) {
  if (s.message().empty()) return "refused without a message";
  if (s.code() != Status::Code::kMalformed &&
      s.code() != Status::Code::kTooLarge &&
      s.code() != Status::Code::kPermissionDenied &&
      s.code() != Status::Code::kVersionMismatch) {
    return "refused with " + s.ToString();
  }
  return {};
}

struct Read {
  std::string failure;  // a broken property; empty when none
  std::vector<sync::BundleFrame> frames;
  Status end;  // why reading stopped (Ok at the trailer)
  bool truncated = false;
};

inline Read ReadAll(std::string_view data) {
  Read out;
  std::istringstream in{std::string(data)};
  sync::BundleReader reader(in, BundleFuzzLimits());
  Result<sync::BundleHeader> header = reader.ReadHeader();
  if (!header.ok()) {
    out.end = header.status();
    out.failure = Refusal(out.end);
    return out;
  }
  if (Status s = reader.Verify(FuzzBundleKey(header->direction)); !s.ok()) {
    out.end = s;
    out.failure = Refusal(s);
    return out;
  }
  while (true) {
    Result<sync::BundleFrame> frame = reader.Next();
    if (!frame.ok()) {
      out.end = frame.status();
      out.truncated = reader.truncated();
      out.failure = Refusal(out.end);
      return out;
    }
    if (frame->kind != sync::BundleFrameKind::kTrailer) {
      // The messages inside are the wire's; its decoders are hardened on
      // their own (batch_fuzzer), this only checks they are reached safely.
      (void)sync::DumpJson(frame->message, BundleFuzzWireLimits());
    }
    out.frames.push_back(std::move(frame).value());
    if (out.frames.back().kind == sync::BundleFrameKind::kTrailer) {
      // Anything after the trailer is refused, never read as more frames.
      if (reader.Next().ok())
        out.failure = "a frame was read after the trailer";
      out.end = reader.ExpectEnd();
      if (!out.end.ok() && out.failure.empty()) out.failure = Refusal(out.end);
      return out;
    }
  }
}

}  // namespace bundle_internal

// The header every signed input (way 2) gets.
inline sync::BundleHeader FuzzHeader() {
  sync::BundleHeader h;
  h.direction = sync::BundleDirection::kClinicToHub;
  h.origin_node_id = "fuzzclinic";
  h.origin_facility = "north";
  h.destination_node_id = "fuzzhub";
  h.created_ms = 1763885524123;
  h.push_from = 40;
  h.pull_from = 7;
  return h;
}

// Way 2: the bundle `data` describes, signed with the fuzz key, and the
// chunks it was made of.
struct SignedInput {
  std::string bundle;
  std::vector<std::pair<uint8_t, std::string>> chunks;
  size_t cut = std::string::npos;  // where the bundle is cut; npos: not
};

inline SignedInput MakeSigned(std::string_view data) {
  SignedInput in;
  if (data.empty()) return in;
  const auto cut_byte = static_cast<uint8_t>(data[0]);
  size_t at = 1;
  while (at + 3 <= data.size()) {
    const auto kind = static_cast<uint8_t>(data[at]);
    size_t n = static_cast<uint8_t>(data[at + 1]) |
               (size_t{static_cast<uint8_t>(data[at + 2])} << 8);
    at += 3;
    n = std::min(n, data.size() - at);
    in.chunks.emplace_back(kind, std::string(data.substr(at, n)));
    at += n;
  }
  sync::BundleWriter writer(
      [&in](std::string_view b) {
        in.bundle.append(b);
        return Status::Ok();
      },
      FuzzBundleKey(sync::BundleDirection::kClinicToHub));
  (void)writer.Begin(FuzzHeader());
  for (const auto& [kind, payload] : in.chunks) {
    (void)writer.Add(static_cast<sync::BundleFrameKind>(kind), payload, 1);
  }
  (void)writer.Finish();
  if (cut_byte & 1) {
    in.cut = in.bundle.size() * cut_byte / 256;
    in.bundle.resize(in.cut);
  }
  return in;
}

// Empty when `data` passes both ways; otherwise what went wrong.
inline std::string CheckBundleInput(std::string_view data) {
  try {
    bundle_internal::Read raw = bundle_internal::ReadAll(data);
    if (!raw.failure.empty()) return "as a file: " + raw.failure;

    const SignedInput in = MakeSigned(data);
    if (in.bundle.empty()) return {};
    bundle_internal::Read back = bundle_internal::ReadAll(in.bundle);
    if (!back.failure.empty()) return "signed: " + back.failure;
    if (back.end.code() == Status::Code::kPermissionDenied) {
      return "signed: a signed frame failed its MAC: " + back.end.ToString();
    }
    for (size_t i = 0; i < back.frames.size(); ++i) {
      const sync::BundleFrame& f = back.frames[i];
      if (f.kind == sync::BundleFrameKind::kTrailer) {
        if (i != in.chunks.size()) {
          // Only a chunk written as a trailer of 12 bytes reads as one.
          if (in.chunks[i].first !=
                  static_cast<uint8_t>(sync::BundleFrameKind::kTrailer) ||
              in.chunks[i].second.size() != 12) {
            return "signed: a trailer where none was written";
          }
        }
        break;
      }
      if (i >= in.chunks.size() ||
          static_cast<uint8_t>(f.kind) != in.chunks[i].first ||
          f.message != in.chunks[i].second) {
        return "signed: frame " + std::to_string(i + 1) +
               " reads back differently";
      }
    }
    if (in.cut == std::string::npos && back.end.ok() &&
        (back.frames.empty() ||
         back.frames.back().kind != sync::BundleFrameKind::kTrailer)) {
      return "signed: a whole bundle ended without its trailer";
    }
    if (in.cut != std::string::npos && back.end.ok() &&
        back.frames.size() == in.chunks.size() + 1) {
      return "signed: a bundle cut short read to its end";
    }
    return {};
  } catch (const std::exception& e) {
    return std::string("threw: ") + e.what();
  } catch (...) {
    return "threw";
  }
}

}  // namespace posta::fuzz
