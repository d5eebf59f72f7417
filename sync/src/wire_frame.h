// The frame layer of the wire format (posta/sync/wire.h): header plus zstd
// around an opaque payload. Private to sync; tests and the batch fuzzer use
// it to build payloads by hand.
#pragma once

#include <string>
#include <string_view>

#include "posta/base/status.h"
#include "posta/sync/wire.h"

namespace posta::sync::wire_internal {

// The zstd window the decoder accepts: 2^24 bytes (16 MiB). zstd levels up
// to 19 stay within it for any payload.
inline constexpr int kMaxWindowLog = 24;

// Header for `kind`, then `payload` compressed at options.zstd_level.
std::string EncodeFrame(MessageKind kind, std::string_view payload,
                        const EncodeOptions& options = {});

// The payload of `encoded`, inflated with at most limits.max_decoded_bytes
// of output. Malformed on a bad header, another kind than `expected`, a
// damaged or truncated zstd frame, or bytes after it; TooLarge over
// max_encoded_bytes, max_decoded_bytes or the window cap.
Result<std::string> DecodeFrame(std::string_view encoded, MessageKind expected,
                                const WireLimits& limits);

}  // namespace posta::sync::wire_internal
