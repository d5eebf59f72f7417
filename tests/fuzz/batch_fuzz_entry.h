// Per-input check shared by batch_fuzzer and the corpus replay test
// (tests/unit/sync/wire_corpus_test.cc), for the sync wire decoders.
//
// Each input is tried two ways:
//  1. as an encoded message (header and zstd frame): PeekKind, DumpJson and
//     the Decode* the header names;
//  2. as a payload: the first byte picks the kind (byte % 7 + 1), the rest
//     is framed with EncodeFrame and decoded as in 1. Mutations of a
//     compressed frame mostly die in zstd; this way they reach the archive
//     reader and its validation.
// Either way decoding must not throw or crash, a refusal must be Malformed
// or TooLarge with a message, and a message that decodes must re-encode to
// bytes that decode to an equal message (and re-encode identically), with
// a JSON view equal to DumpJson's.
#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "posta/base/status.h"
#include "posta/sync/messages.h"
#include "posta/sync/wire.h"
#include "wire_frame.h"

namespace posta::fuzz {

// Smaller than the defaults so a bomb seed costs milliseconds, not a
// 64 MiB buffer per run.
inline sync::WireLimits BatchFuzzLimits() {
  sync::WireLimits limits;
  limits.max_encoded_bytes = size_t{1} << 20;
  limits.max_decoded_bytes = size_t{4} << 20;
  return limits;
}

// The message form of payload input `data` (see 2. above); empty when
// `data` is.
inline std::string FramePayloadInput(std::string_view data) {
  if (data.empty()) return {};
  const auto kind =
      static_cast<sync::MessageKind>(static_cast<uint8_t>(data[0]) % 7 + 1);
  sync::EncodeOptions fast;
  fast.zstd_level = 1;
  return sync::wire_internal::EncodeFrame(kind, data.substr(1), fast);
}

namespace batch_internal {

template <class T>
std::string CheckKind(std::string_view data, const sync::WireLimits& limits,
                      Result<T> (*decode)(std::string_view,
                                          const sync::WireLimits&),
                      const Result<std::string>& dump) {
  const Result<T> decoded = decode(data, limits);
  if (decoded.ok() != dump.ok()) return "Decode* and DumpJson disagree";
  if (!decoded.ok()) {
    const Status& s = decoded.status();
    if (s.code() != Status::Code::kMalformed &&
        s.code() != Status::Code::kTooLarge) {
      return "refused with " + s.ToString();
    }
    if (s.message().empty()) return "refused without a message";
    return {};
  }
  if (sync::ToJson(*decoded) != *dump) return "JSON view differs from DumpJson";
  const std::string again = sync::Encode(*decoded);
  const Result<T> redecoded = decode(again, limits);
  if (!redecoded.ok()) {
    return "re-encoded message is refused: " + redecoded.status().ToString();
  }
  if (!(*redecoded == *decoded))
    return "re-encoded message decodes differently";
  if (sync::Encode(*redecoded) != again) return "encoding is not deterministic";
  return {};
}

}  // namespace batch_internal

// Empty when encoded-message input `data` passes; otherwise what went wrong.
inline std::string CheckBatchMessage(std::string_view data,
                                     const sync::WireLimits& limits) {
  using namespace sync;  // NOLINT: Decode* by the dozen
  const Result<MessageKind> kind = PeekKind(data);
  const Result<std::string> dump = DumpJson(data, limits);
  if (!kind.ok()) {
    if (dump.ok()) return "DumpJson accepted a bad header";
    return {};
  }
  switch (*kind) {
    case MessageKind::kHello:
      return batch_internal::CheckKind(data, limits, DecodeHello, dump);
    case MessageKind::kHelloReply:
      return batch_internal::CheckKind(data, limits, DecodeHelloReply, dump);
    case MessageKind::kPushBatch:
      return batch_internal::CheckKind(data, limits, DecodePushBatch, dump);
    case MessageKind::kPushAck:
      return batch_internal::CheckKind(data, limits, DecodePushAck, dump);
    case MessageKind::kPullRequest:
      return batch_internal::CheckKind(data, limits, DecodePullRequest, dump);
    case MessageKind::kPullBatch:
      return batch_internal::CheckKind(data, limits, DecodePullBatch, dump);
    case MessageKind::kErrorReply:
      return batch_internal::CheckKind(data, limits, DecodeErrorReply, dump);
    case MessageKind::kEnrollRequest:
      return batch_internal::CheckKind(data, limits, DecodeEnrollRequest,
                                       dump);
    case MessageKind::kEnrollReply:
      return batch_internal::CheckKind(data, limits, DecodeEnrollReply, dump);
    case MessageKind::kAuditBatch:
      return batch_internal::CheckKind(data, limits, DecodeAuditBatch, dump);
    case MessageKind::kAuditAck:
      return batch_internal::CheckKind(data, limits, DecodeAuditAck, dump);
  }
  return "PeekKind returned an unknown kind";
}

// Empty when `data` passes both ways; otherwise what went wrong.
inline std::string CheckBatchInput(std::string_view data) {
  try {
    const sync::WireLimits limits = BatchFuzzLimits();
    std::string failure = CheckBatchMessage(data, limits);
    if (!failure.empty()) return "as a message: " + failure;
    failure = CheckBatchMessage(FramePayloadInput(data), limits);
    if (!failure.empty()) return "as a payload: " + failure;
    return {};
  } catch (const std::exception& e) {
    return std::string("threw: ") + e.what();
  } catch (...) {
    return "threw";
  }
}

// For the corpus test's naming rules: whether `data` decodes as a message,
// and as a payload.
inline bool DecodesAsMessage(std::string_view data) {
  return sync::DumpJson(data, BatchFuzzLimits()).ok();
}
inline bool DecodesAsPayload(std::string_view data) {
  return sync::DumpJson(FramePayloadInput(data), BatchFuzzLimits()).ok();
}

}  // namespace posta::fuzz
